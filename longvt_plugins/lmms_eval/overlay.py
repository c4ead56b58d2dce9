"""Point our task folders at local copies of the data, keeping the task names.

lmms-eval reads `dataset_path` from the YAML and has no flag to change it, and two include paths may not define
the same task. So `longvt eval run --data BENCH=PATH` copies `eval_tasks/` to a run folder and rewrites the
dataset keys of the named benchmark there. The copy is plain text editing of our own files: comments, `!function`
tags and everything else stay as shipped, and the copy is what `--include_path` gets.

PATH may be a `.jsonl` / `.json` / `.parquet` file, a folder written by `datasets.save_to_disk`, or, for a
benchmark whose variants name a subset (`dataset_name:`, VideoMMMU), a folder with one file per subset
(`adaptation.jsonl`, `comprehension.parquet`, ...). Video paths in the data may be absolute; relative ones are
looked up under $LONGVT_EVAL_VIDEO_ROOT/<cache_dir> (see `tasklib.video_root`).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from longvt_plugins.lmms_eval import tasks_path

_DATA_SUFFIXES = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}
_TASK_FILES = ("*.yaml", "_default_template_yaml", "*.py")


class OverlayError(ValueError):
    """A --data argument that cannot be used; the message says which and why."""


def benchmarks(root: Path | None = None) -> list[str]:
    root = root or tasks_path()
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "_default_template_yaml").is_file())


def _dataset_block(path: Path, split: str) -> str:
    if path.is_dir():
        if not ((path / "dataset_dict.json").is_file() or (path / "dataset_info.json").is_file()):
            raise OverlayError(f"{path} is a folder but not one written by datasets.save_to_disk")
        return f"dataset_path: {path}\ndataset_kwargs:\n  load_from_disk: true\n"
    builder = _DATA_SUFFIXES.get(path.suffix.lower())
    if builder is None:
        raise OverlayError(f"{path}: expected .jsonl, .json, .parquet or a saved dataset folder")
    return f"dataset_path: {builder}\ndataset_kwargs:\n  data_files:\n    {split}: {path}\n"


def _split_of(text: str, source: Path) -> str:
    m = re.search(r"^test_split:\s*(\S+)", text, re.MULTILINE)
    if not m:
        raise OverlayError(f"{source} has no test_split line")
    return m.group(1)


def _replace_dataset_keys(text: str, block: str, source: Path) -> str:
    """Swap the top-level dataset_path / dataset_kwargs (and its indented body) for `block`."""
    lines = text.splitlines(keepends=True)
    out, skipping, inserted = [], False, False
    for line in lines:
        top = re.match(r"^(dataset_path|dataset_kwargs|dataset_name):", line)
        if top:
            skipping = True
            if not inserted:
                out.append(block)
                inserted = True
            continue
        if skipping and (line.startswith((" ", "\t")) or not line.strip()):
            continue
        skipping = False
        out.append(line)
    if not inserted:
        raise OverlayError(f"{source} has no dataset_path to replace")
    return "".join(out)


def _subset_file(folder: Path, subset: str) -> Path:
    for suffix in (".jsonl", ".json", ".parquet"):
        candidate = folder / f"{subset.lower()}{suffix}"
        if candidate.is_file():
            return candidate
    raise OverlayError(f"{folder}: no {subset.lower()}.jsonl / .json / .parquet for subset {subset!r}")


def build_overlay(dest: str | Path, data: dict[str, str | Path]) -> Path:
    """Copy our tasks to `dest` with the benchmarks in `data` ({folder name: local path}) rewired; returns dest."""
    src = tasks_path()
    known = benchmarks(src)
    for bench in data:
        if bench not in known:
            raise OverlayError(f"unknown benchmark {bench!r}; known: {', '.join(known)}")
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    for bench in known:
        (dest / bench).mkdir(parents=True)
        for pattern in _TASK_FILES:
            for f in (src / bench).glob(pattern):
                shutil.copy2(f, dest / bench / f.name)
    for bench, raw in data.items():
        path = Path(raw).expanduser().resolve()
        if not path.exists():
            raise OverlayError(f"--data {bench}={raw}: no such file or folder")
        folder = dest / bench
        template = folder / "_default_template_yaml"
        text = template.read_text()
        split = _split_of(text, template)
        variants = {f: f.read_text() for f in folder.glob("*.yaml")}
        subsets = {
            f: m.group(1) for f, t in variants.items() if (m := re.search(r"^dataset_name:\s*(\S+)", t, re.M))
        }
        if subsets and not (path.is_dir() and not (path / "dataset_dict.json").is_file()):
            raise OverlayError(
                f"{bench} has subsets ({', '.join(sorted(set(subsets.values())))}); give a folder "
                "with one file per subset, e.g. adaptation.jsonl"
            )
        if subsets:
            # The template keeps no dataset keys; each variant reads its own subset's file.
            template.write_text(_replace_dataset_keys(text, "", template))
            for f, subset in subsets.items():
                block = _dataset_block(_subset_file(path, subset), split)
                f.write_text(_replace_dataset_keys(variants[f], block, f))
        else:
            template.write_text(_replace_dataset_keys(text, _dataset_block(path, split), template))
    return dest
