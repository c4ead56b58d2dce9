"""Placeholder: `longvt mcp-serve` is built by the crop-tool issue."""

from __future__ import annotations

import typer


def mcp_serve() -> None:
    """Not built yet."""
    raise typer.Exit(code=2)
