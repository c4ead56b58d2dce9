"""Placeholder: `longvt ask` is built by the agent issue."""

from __future__ import annotations

import typer


def ask() -> None:
    """Not built yet."""
    raise typer.Exit(code=2)
