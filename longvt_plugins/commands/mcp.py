"""`longvt mcp-serve`: the crop_video tool over MCP (stdio), for clients that only speak MCP (lmms-eval)."""

from __future__ import annotations

from pathlib import Path

import typer


def mcp_serve(
    video_root: Path = typer.Option(
        ...,
        "--video-root",
        envvar="LONGVT_VIDEO_ROOT",
        exists=True,
        file_okay=False,
        dir_okay=True,
        help="Serve videos under this folder only; paths outside it (.., links, absolute) are refused.",
    ),
) -> None:
    """Serve crop_video(video_path, start_time, end_time) over MCP stdio, confined to --video-root."""
    from longvt_plugins.mcp_server import build_server  # heavy (mcp, decoders): only when the command runs

    build_server(video_root).run("stdio")
