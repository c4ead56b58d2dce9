"""`longvt doctor`: is this environment able to run LongVT? One table, and a non-zero exit if not.

It checks what a user would otherwise find out an hour into a job: versions against the pinned environment,
whether each host really imported our plugin (verl swallows plugin import errors), which video decoders decode a
real file, whether a GPU is visible, and whether the configured judge / policy endpoints answer.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import typer

# distribution name -> import name; which environments require it.
PACKAGES: dict[str, tuple[str, set[str]]] = {
    "torch": ("torch", {"core", "cpu-test", "gpu"}),
    "torchvision": ("torchvision", {"core", "cpu-test", "gpu"}),
    "transformers": ("transformers", {"core", "cpu-test", "gpu"}),
    "qwen-vl-utils": ("qwen_vl_utils", {"core", "cpu-test", "gpu"}),
    "decord": ("decord", {"cpu-test", "gpu"}),
    "av": ("av", {"core", "cpu-test", "gpu"}),
    "openai": ("openai", {"core", "cpu-test", "gpu"}),
    "verl": ("verl", {"cpu-test", "gpu"}),
    "lmms_engine": ("lmms_engine", {"cpu-test", "gpu"}),
    "lmms_eval": ("lmms_eval", {"cpu-test", "gpu"}),
    "mcp": ("mcp", {"cpu-test"}),
    "ray": ("ray", {"cpu-test", "gpu"}),
    "scenedetect": ("scenedetect", {"cpu-test"}),
    "datasets": ("datasets", {"cpu-test"}),
    "torchcodec": ("torchcodec", set()),
    "vllm": ("vllm", {"gpu"}),
    "sglang": ("sglang", set()),
}

# (entry-point group, our adapter module with check_registration(), what the host must import first)
HOST_REGISTRATIONS = [
    ("verl.plugins", "longvt_plugins.verl.plugin", "verl"),
    ("lmms_eval.models", "longvt_plugins.lmms_eval", "lmms_eval.models"),
    ("lmms_engine.plugins", "longvt_plugins.lmms_engine.register", "lmms_engine"),
]


@dataclass
class Check:
    section: str
    name: str
    ok: bool
    required: bool
    detail: str


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def read_pins(env: str) -> dict[str, str]:
    """Exact pins of an environment from install/<env>.txt (present in a checkout; absent in a plain wheel install)."""
    path = Path(__file__).resolve().parents[2] / "install" / f"{env}.txt"
    pins: dict[str, str] = {}
    if not path.exists():
        return pins
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_norm(name.split("[")[0])] = version.split(";")[0].strip()
    return pins


def check_packages(env: str) -> list[Check]:
    pins = read_pins(env)
    out = []
    for dist, (_, envs) in PACKAGES.items():
        required = env in envs
        try:
            installed = metadata.version(dist)
        except metadata.PackageNotFoundError:
            installed = None
        pin = pins.get(_norm(dist))
        if installed is None:
            out.append(Check("packages", dist, False, required, f"not installed (pinned {pin or '-'})"))
            continue
        # A local-version suffix (+cu130) is the build, not a different release.
        matches = pin is None or installed.split("+")[0] == pin.split("+")[0]
        detail = f"{installed}" + ("" if pin is None else f" (pinned {pin})")
        out.append(Check("packages", dist, matches, required and pin is not None, detail))
    return out


def check_registrations(env: str) -> list[Check]:
    try:
        ours = {ep.group: ep for ep in metadata.distribution("longvt-plugins").entry_points}
    except metadata.PackageNotFoundError:
        ours = {}
    out = []
    for group, adapter, host_module in HOST_REGISTRATIONS:
        required = env in {"cpu-test", "gpu"}
        if group not in ours:
            out.append(
                Check("plugins", group, False, required, "entry point not declared (reinstall the package)")
            )
            continue
        try:
            importlib.import_module(
                host_module
            )  # the host's own import is what must trigger our registration
            ok, detail = importlib.import_module(adapter).check_registration()
        except Exception as exc:  # report, never crash the doctor
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        out.append(Check("plugins", f"{group} -> {ours[group].value}", ok, required, detail))
    return out


def check_decoders() -> list[Check]:
    """Decode a real (tiny, freshly encoded) file with every backend the core sampler knows."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            from longvt_plugins.testing.videos import make_synthetic_video

            manifest = make_synthetic_video(
                Path(tmp) / "probe.mp4", duration=2.0, fps=4.0, width=64, height=48
            )
        except Exception as exc:
            return [Check("decoders", "encode probe video", False, True, f"{type(exc).__name__}: {exc}")]
        try:
            from longvt_plugins.core import video
        except Exception as exc:
            return [Check("decoders", "core.video", False, True, f"{type(exc).__name__}: {exc}")]
        status = video.available_backends()
        for name, why_not in status.items():
            if why_not is None:
                try:
                    got = video.sample_window(manifest.path, 0.0, 2.0, fps=2.0, backend=name)
                    ok, detail = len(got.frames) > 0, f"{len(got.frames)} frames decoded"
                except Exception as exc:
                    ok, detail = False, f"{type(exc).__name__}: {exc}"
            else:
                ok, detail = False, why_not
            out.append(Check("decoders", name, ok, name == "decord", detail))
    return out


def check_gpu() -> list[Check]:
    try:
        import torch

        if torch.cuda.is_available():
            names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
            return [Check("hardware", "gpu", True, False, names)]
        return [Check("hardware", "gpu", False, False, "no CUDA device (CPU only)")]
    except Exception as exc:
        return [Check("hardware", "gpu", False, False, f"{type(exc).__name__}: {exc}")]


def check_endpoints(timeout: float = 5.0) -> list[Check]:
    out = []
    for label, var in (("judge", "LONGVT_JUDGE_BASE_URL"), ("policy", "LONGVT_POLICY_BASE_URL")):
        url = os.environ.get(var) or (os.environ.get("LLM_AS_A_JUDGE_BASE") if label == "judge" else None)
        if not url:
            out.append(Check("endpoints", label, True, False, f"not configured (${var})"))
            continue
        try:
            from openai import OpenAI

            client = OpenAI(
                base_url=url, api_key=os.environ.get("LONGVT_JUDGE_API_KEY", "EMPTY"), timeout=timeout
            )
            models = [m.id for m in client.models.list().data]
            out.append(Check("endpoints", label, True, True, f"{url} serves {models}"))
        except Exception as exc:
            out.append(Check("endpoints", label, False, True, f"{url}: {type(exc).__name__}: {exc}"))
    return out


FAMILY_NOTES = {
    "qwen2_5_vl": "Qwen2.5-VL: '<t s>' before each frame; our tool chat template (templates/qwen2_5_vl_tools.jinja)",
    "qwen3_vl": "Qwen3-VL: its processor's '<t seconds>' before each pair of frames; the checkpoint's own template",
}


def check_model(model: str) -> list[Check]:
    """The model family every host will pick for `model`, read from its config (core/families.py)."""
    from longvt_plugins.core.checkpoints import CheckpointNotFound
    from longvt_plugins.core.families import UnknownFamily, checkpoint_family

    try:
        family = checkpoint_family(model)
    except (CheckpointNotFound, UnknownFamily, OSError, ValueError) as exc:
        return [Check("model", "family", False, True, f"{model}: {exc}")]
    return [Check("model", "family", True, True, f"{family} ({FAMILY_NOTES[family]})")]


def run_checks(env: str, *, decoders: bool = True, model: str | None = None) -> list[Check]:
    checks = check_packages(env) + check_registrations(env)
    if model:
        checks += check_model(model)
    if decoders:
        checks += check_decoders()
    return checks + check_gpu() + check_endpoints()


def doctor(
    env: str = typer.Option("cpu-test", help="Environment to check against: cpu-test, gpu, core, ..."),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
    decoders: bool = typer.Option(True, help="Decode a real file with every backend."),
    model: str | None = typer.Option(
        None, "--model", help="A checkpoint folder or Hub id: report its family (timestamps, template)."
    ),
) -> None:
    """Check versions, plugin registrations, video decoders, GPU and endpoints (and a checkpoint's family)."""
    # Hosts print banners and warnings to stdout when imported; keep stdout for our table / JSON alone.
    with contextlib.redirect_stdout(sys.stderr):
        checks = run_checks(env, decoders=decoders, model=model)
    failed = [c for c in checks if c.required and not c.ok]
    if as_json:
        typer.echo(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"longvt doctor (environment: {env})")
        for col in ("section", "check", "status", "detail"):
            table.add_column(col)
        for c in checks:
            status = "[green]ok[/]" if c.ok else ("[red]FAIL[/]" if c.required else "[yellow]-[/]")
            table.add_row(c.section, c.name, status, c.detail)
        Console(width=160).print(table)
        typer.echo(f"{len(failed)} required check(s) failed" if failed else "all required checks passed")
    raise typer.Exit(code=1 if failed else 0)
