"""Placeholder: `longvt view` is built by the agent issue."""

from __future__ import annotations

import typer


def view() -> None:
    """Not built yet."""
    raise typer.Exit(code=2)
