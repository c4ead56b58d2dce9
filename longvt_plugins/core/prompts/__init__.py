"""Every prompt text lives here as `<name>.txt`, loaded by name (and cached), so they can be read and diffed."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_prompt(name: str) -> str:
    """The text of `<name>.txt`, without its final newline. Raises FileNotFoundError naming what exists."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"prompt names are plain file stems, got {name!r}")
    res = resources.files(__package__).joinpath(f"{name}.txt")
    if not res.is_file():
        known = sorted(p.name[:-4] for p in resources.files(__package__).iterdir() if p.name.endswith(".txt"))
        raise FileNotFoundError(f"no prompt named {name!r}; known prompts: {', '.join(known)}")
    return res.read_text(encoding="utf-8").rstrip("\n")
