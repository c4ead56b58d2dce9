"""The ground every other test stands on: the package's entry points, the tiny real model, the synthetic videos."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _our_entry_points() -> dict[str, metadata.EntryPoint]:
    eps = metadata.distribution("longvt-plugins").entry_points
    return {ep.group: ep for ep in eps}


def test_entry_points_are_declared_and_importable():
    eps = _our_entry_points()
    assert set(eps) >= {"verl.plugins", "lmms_eval.models", "lmms_engine.plugins", "console_scripts"}
    assert eps["console_scripts"].value == "longvt_plugins.cli:app"
    for group in ("verl.plugins", "lmms_engine.plugins", "lmms_eval.models"):
        eps[group].load()  # a typo in pyproject.toml fails here, not silently inside a host


def test_tokenizer_carries_every_qwen_token_as_one_id(tiny_model_dir):
    from transformers import AutoTokenizer

    from longvt_plugins.testing.tiny_model import QWEN_ADDED_TOKENS, QWEN_SPECIAL_TOKENS

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    for t in QWEN_SPECIAL_TOKENS + QWEN_ADDED_TOKENS:
        ids = tok.encode(t, add_special_tokens=False)
        assert len(ids) == 1, (t, ids)
        assert tok.convert_ids_to_tokens(ids[0]) == t
    text = 'The video lasts 120.0 seconds. {"start_time": 12.5}'
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_chat_template_renders_tools_calls_and_image_tool_responses(tiny_model_dir):
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_model_dir)
    tools = [{"type": "function", "function": {"name": "crop_video", "parameters": {"type": "object"}}}]
    messages = [
        {"role": "user", "content": [{"type": "video", "video": "v.mp4"}, {"type": "text", "text": "Q?"}]},
        {
            "role": "assistant",
            "content": "<think>look closer</think>",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "crop_video", "arguments": {"start_time": 1}},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "c1",
            "content": [
                {"type": "text", "text": "<1.0s>"},
                {"type": "image", "image": "x"},
                {"type": "text", "text": "1 frame"},
            ],
        },
    ]
    text = proc.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
    assert '<tools>\n{"type": "function", "function": {"name": "crop_video"' in text
    assert (
        '<think>look closer</think>\n<tool_call>\n{"name": "crop_video", "arguments": {"start_time": 1}}\n</tool_call><|im_end|>'
        in text
    )
    assert (
        "<|im_start|>user\n<tool_response>\n<1.0s><|vision_start|><|image_pad|><|vision_end|>1 frame\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    ) in text
    assert text.endswith("<|im_start|>assistant\n")


def test_tiny_qwen25vl_generates_from_a_real_video(tiny_model_dir, short_video):
    import torch
    from qwen_vl_utils import process_vision_info
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    proc = AutoProcessor.from_pretrained(tiny_model_dir)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir)
    video = {
        "type": "video",
        "video": short_video.path,
        "video_start": 3.5,
        "video_end": 8.0,
        "fps": 2.0,
        "min_pixels": 28 * 28 * 4,
        "max_pixels": 56 * 56 * 4,
    }
    messages = [{"role": "user", "content": [video, {"type": "text", "text": "What colour is the shape?"}]}]
    _, videos, kwargs = process_vision_info(messages, return_video_kwargs=True)
    text = proc.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # qwen-vl-utils hands fps as a list, which transformers 5 rejects: pass a float.
    inputs = proc(
        text=[text], videos=videos, fps=float(kwargs["fps"][0]), do_sample_frames=False, return_tensors="pt"
    )
    t, h, w = inputs["video_grid_thw"][0].tolist()
    n_video_tokens = int((inputs["input_ids"] == model.config.video_token_id).sum())
    assert n_video_tokens == t * h * w // 4  # spatial merge 2x2
    out = model.generate(**inputs, max_new_tokens=6)
    assert out.shape[1] > inputs["input_ids"].shape[1]
    loss = model(**inputs, labels=inputs["input_ids"]).loss
    loss.backward()
    assert torch.isfinite(loss)


def test_tiny_qwen3vl_generates_from_a_real_video(tiny_qwen3_dir, short_video):
    from qwen_vl_utils import process_vision_info
    from transformers import AutoModelForImageTextToText, AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_qwen3_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_qwen3_dir)
    assert model.config.model_type == "qwen3_vl"
    video = {
        "type": "video",
        "video": short_video.path,
        "video_start": 2.0,
        "video_end": 6.0,
        "fps": 2.0,
        "min_pixels": 32 * 32 * 4,
        "max_pixels": 64 * 64 * 4,
    }
    messages = [{"role": "user", "content": [video, {"type": "text", "text": "Describe."}]}]
    _, videos, _ = process_vision_info(
        messages, image_patch_size=16, return_video_kwargs=True, return_video_metadata=True
    )
    frames, metas = zip(*videos, strict=True)
    text = proc.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = proc(
        text=[text],
        videos=list(frames),
        video_metadata=list(metas),
        do_sample_frames=False,
        do_resize=False,
        return_tensors="pt",
    )
    out = model.generate(**inputs, max_new_tokens=4)
    assert out.shape[1] > inputs["input_ids"].shape[1]


def test_synthetic_video_matches_its_manifest(short_video):
    import decord

    vr = decord.VideoReader(short_video.path)
    assert len(vr) == short_video.num_frames == 288
    assert abs(len(vr) / vr.get_avg_fps() - short_video.duration) < 1e-6
    assert short_video.cuts == [4.0, 8.0]
    for t in (0.5, 3.9, 4.0, 6.0, 8.0, 11.9):
        idx = int(round(t * short_video.fps))
        frame = vr[idx].asnumpy()
        # the background (a corner away from text and shape) is the scene's own brightness
        patch = frame[40:60, -20:].astype(float).mean()
        assert abs(patch - short_video.scene_at(t).background) < 12, (t, patch, short_video.scene_at(t))
    backgrounds = [s.background for s in short_video.scenes]
    assert len(set(backgrounds)) == len(backgrounds)  # every cut changes brightness


def test_synthetic_video_is_readable_by_pyav(short_video):
    import av

    with av.open(short_video.path) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        n = sum(1 for _ in c.decode(stream))
    assert n == short_video.num_frames


def test_synthetic_mpeg4_video(tmp_path):
    from longvt_plugins.testing.videos import make_synthetic_video

    m = make_synthetic_video(tmp_path / "m.mp4", duration=3, fps=5, codec="mpeg4", scene_lengths=[1, 2])
    import decord

    vr = decord.VideoReader(m.path)
    assert len(vr) == 15
    assert np.asarray(vr[0].asnumpy()).dtype == np.uint8
    assert json.loads(Path(m.path + ".json").read_text())["cuts"] == [1.0]


def test_cli_makes_fixtures(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "longvt_plugins.cli",
            "testing",
            "make-video",
            str(tmp_path / "v.mp4"),
            "--duration",
            "4",
            "--scenes",
            "2",
            "--fps",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "v.mp4").stat().st_size > 0
    assert json.loads((tmp_path / "v.mp4.json").read_text())["cuts"] == [2.0]


@pytest.mark.slow
def test_wheel_ships_tasks_templates_and_prompts(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    wheel = next(tmp_path.glob("longvt_plugins-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "longvt_plugins/templates/qwen2_5_vl_tools.jinja" in names
    assert any(n.startswith("longvt_plugins/eval_tasks/") and n.endswith(".yaml") for n in names), (
        "the task folders must ship in the wheel, under our own namespace"
    )
    assert not any(n.startswith("eval_tasks/") for n in names), "no generic top-level package in the wheel"
    assert any(n.startswith("longvt_plugins/core/prompts/") and n.endswith(".txt") for n in names)
    entry = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry[0]).decode()
    for group in ("[verl.plugins]", "[lmms_eval.models]", "[lmms_engine.plugins]", "[console_scripts]"):
        assert group in text


@pytest.mark.slow
def test_doctor_sees_all_three_hosts_and_our_registrations():
    out = subprocess.run(
        [sys.executable, "-m", "longvt_plugins.cli", "doctor", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    checks = json.loads(out.stdout)
    by_name = {c["name"]: c for c in checks}
    for dist in ("verl", "lmms_engine", "lmms_eval", "transformers", "torch"):
        assert by_name[dist]["ok"], by_name[dist]
    plugins = [c for c in checks if c["section"] == "plugins"]
    assert len(plugins) == 3 and all(c["ok"] for c in plugins), plugins
    assert any(c["section"] == "decoders" and c["name"] == "decord" and c["ok"] for c in checks)
    assert out.returncode == 0, out.stdout[-2000:]


def test_core_imports_no_host_framework():
    code = (
        "import importlib, pkgutil, sys\n"
        "import longvt_plugins.core as core\n"
        "for m in pkgutil.iter_modules(core.__path__):\n"
        "    importlib.import_module('longvt_plugins.core.' + m.name)\n"
        "bad = sorted(h for h in ('verl', 'lmms_engine', 'lmms_eval', 'ray', 'scenedetect') if h in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "", f"core pulled in host frameworks: {out.stdout.strip()}"


# ------------------------------------------------------------------------------------------ version: one place
def test_version_is_one_value_everywhere():
    from longvt_plugins import __version__
    from longvt_plugins.lmms_eval.protocol import versions

    out = subprocess.run(
        [sys.executable, "-m", "longvt_plugins.cli", "--version"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == __version__
    assert versions()["longvt-plugins"] == __version__  # what every protocol card records
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'attr = "longvt_plugins.__version__"' in pyproject
    assert f"## [{__version__}]" in (ROOT / "CHANGELOG.md").read_text()
    assert "Apache License" in (ROOT / "LICENSE").read_text() and 'license = "Apache-2.0"' in pyproject


# ------------------------------------------------------------------------------------------ import layering
# Every top-level part of the package sits on a layer. A module imports its own part, the package root
# (`__version__`) and lower layers only; two parts on one layer (the host adapters) never import each other.
LAYERS = {
    "core": 0,  # framework-free; imports nothing else of ours
    "templates": 0,  # data only (the chat template)
    "viewer": 1,
    "mcp_server": 1,
    "verl": 1,
    "lmms_engine": 1,
    "lmms_eval": 1,
    "pipeline": 1,
    "eval_tasks": 2,  # lmms-eval task folders: call into lmms_eval.tasklib
    "testing": 3,  # fixtures and test doubles may use anything below
    "miniature": 4,  # the miniature recipe: pipeline + testing's loopback server; `longvt ask` runs its checkpoint
    "commands": 5,
    "cli": 6,
}
# Imports across the rule that are meant, with the reason. Each must still exist (a stale entry fails too).
ALLOWED = {
    # The export stage writes verl's RL rows with the verl adapter's converter, which imports no verl.
    ("longvt_plugins.pipeline.stages.export", "longvt_plugins.verl.convert"),
}


def _modules(package: Path) -> dict[str, Path]:
    """Module name -> file, following links (the task folders are a link in a checkout)."""
    import os

    mods = {}
    for folder, _, files in os.walk(package, followlinks=True):
        for f in files:
            if f.endswith(".py"):
                parts = Path(folder, f).relative_to(package.parent).with_suffix("").parts
                name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                mods[name] = Path(folder, f)
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """Our modules that `name` imports anywhere in its file, inside functions too."""
    import ast

    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            candidates = [f"{base}.{a.name}" for a in node.names] + [base]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        for c in candidates:
            while c and c not in mods:
                c = c.rpartition(".")[0]
            if c and c != name and not name.startswith(c + "."):
                out.add(c)
                break  # `from a.b import c`: the module c if it is one, else a.b
    return out


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def import_problems(package: Path, layers: dict[str, int], allowed: set) -> list[str]:
    mods = _modules(package)
    root = package.name
    graph = {m: _imports(m, p, mods) for m, p in mods.items()}
    problems = [f"import circle: {' <-> '.join(c)}" for c in _circles(graph)]
    used = set()
    for src, targets in sorted(graph.items()):
        part = src.split(".")[1] if "." in src else None
        if part is None:
            continue
        if part not in layers:
            problems.append(f"{src}: part {part!r} has no layer (add it to LAYERS)")
            continue
        for dst in sorted(targets):
            other = dst.split(".")[1] if "." in dst else None
            if dst == root or other == part:
                continue
            if other not in layers or layers[other] >= layers[part]:
                if (src, dst) in allowed:
                    used.add((src, dst))
                    continue
                problems.append(f"{src} -> {dst}: against the layering ({part} may not import {other})")
    problems += [f"stale ALLOWED entry (remove it): {a} -> {b}" for a, b in sorted(set(allowed) - used)]
    return problems


def test_import_layering_has_no_circle_and_no_upward_import():
    assert import_problems(ROOT / "longvt_plugins", LAYERS, ALLOWED) == []


def test_import_layering_check_finds_circles_upward_and_sideways_imports(tmp_path):
    pkg = tmp_path / "pkg"
    files = {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/a.py": "def f():\n    from pkg.core import b\n",  # a circle made inside a function is one too
        "core/b.py": "from . import a\n",
        "core/c.py": "import pkg.verl.tool\n",  # upward
        "verl/__init__.py": "",
        "verl/tool.py": "from pkg.pipeline.run import x\nfrom pkg.core.a import f\n",  # sideways; down is fine
        "pipeline/__init__.py": "",
        "pipeline/run.py": "x = 1\n",
    }
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    layers = {"core": 0, "verl": 1, "pipeline": 1}
    assert import_problems(pkg, layers, set()) == [
        "import circle: pkg.core.a <-> pkg.core.b",
        "pkg.core.c -> pkg.verl.tool: against the layering (core may not import verl)",
        "pkg.verl.tool -> pkg.pipeline.run: against the layering (verl may not import pipeline)",
    ]
    allowed = {("pkg.verl.tool", "pkg.pipeline.run"), ("pkg.core.c", "pkg.verl")}
    assert (
        import_problems(pkg, layers, allowed)[-1] == "stale ALLOWED entry (remove it): pkg.core.c -> pkg.verl"
    )
