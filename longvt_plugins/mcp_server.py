"""An MCP server exposing `crop_video(video_path, start_time, end_time)` and `zoom_frame(video_path, time, bbox)` for
clients that only speak MCP (lmms-eval's `async_openai` model with `mcp_server_path=`), confined to one video root.

MCP passes the file as an argument, so the path is the attack surface: it is resolved to its real path (symlinks
and `..` followed) and refused unless it lies inside `--video-root`. Everything else - argument checks, clamping,
sampling, timestamps - is the in-process tools' (core.crop_tool, core.tools.zoom_frame). Each tool is declared here
with its typed MCP signature (the registry's schemas have no `video_path`), so a new registry tool is one more
function below, not an automatic listing.

Run:  longvt mcp-serve --video-root DIR        (stdio)
      python -m longvt_plugins.mcp_server --video-root DIR
      LONGVT_VIDEO_ROOT=DIR python /path/to/longvt_plugins/mcp_server.py   (lmms-eval starts `python <path>`)
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and sys.path and sys.path[0].rstrip("/").endswith("longvt_plugins"):
    # Started as a plain script (lmms-eval does `python <path>`): our folder must not shadow top-level packages
    # (our `verl/`, `lmms_eval/` subpackages would hide the real ones).
    sys.path.pop(0)

import base64  # noqa: E402
import io  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated  # noqa: E402

from mcp.server.mcpserver import MCPServer  # noqa: E402
from mcp.server.mcpserver.exceptions import ToolError  # noqa: E402
from mcp.types import ImageContent, TextContent  # noqa: E402
from pydantic import Field  # noqa: E402

from longvt_plugins.core.budget import ZoomBudget  # noqa: E402
from longvt_plugins.core.crop_tool import CropBudget, CropVideoTool, format_timestamps  # noqa: E402
from longvt_plugins.core.prompts import load_prompt  # noqa: E402
from longvt_plugins.core.tools.zoom_frame import ZoomFrameTool  # noqa: E402

SERVER_NAME = "longvt-crop-video"
ROOT_ENV = "LONGVT_VIDEO_ROOT"
DESCRIPTION = (
    "Crop a video to the window from start_time to end_time (seconds) and return its frames, sampled more "
    "densely, each preceded by its timestamp. video_path is relative to the server's video root (an absolute "
    "path inside the root also works)."
)

ZOOM_DESCRIPTION = (
    load_prompt("zoom_frame_description")
    + " video_path is relative to the server's video root (an absolute path inside the root also works)."
)


class PathRefused(ValueError):
    """The requested path is not a file inside the video root. The message never reveals what lies outside."""


def resolve_inside(root: Path, requested: object) -> Path:
    """The real path of `requested` (relative to root, or absolute) if it is a file inside `root`; else
    PathRefused. Symlinks are followed before the check, so a link pointing out of the root is refused."""
    if not isinstance(requested, str) or not requested.strip():
        raise PathRefused("video_path must be a non-empty string naming a video inside the video root.")
    text = requested.strip()
    if text.startswith("file://"):
        text = text[len("file://") :]
    if "\x00" in text:
        raise PathRefused("video_path contains a NUL byte.")
    candidate = Path(text) if os.path.isabs(text) else root / text
    real = Path(os.path.realpath(candidate))
    if real != root and root not in real.parents:
        raise PathRefused(
            f"video_path {requested!r} is outside the video root; give a path relative to the root "
            "(no '..', no links leading out of it)."
        )
    if not real.is_file():
        raise PathRefused(f"video_path {requested!r} is not a file inside the video root.")
    return real


def encode_png(image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def build_server(video_root: str | os.PathLike, budget: CropBudget | None = None) -> MCPServer:
    """An MCPServer (mcp 2.x) with `crop_video` and `zoom_frame`, serving videos under `video_root` only."""
    root = Path(os.path.realpath(video_root))
    if not root.is_dir():
        raise NotADirectoryError(f"--video-root {video_root} is not a directory")
    # stdout is the protocol channel; keep qwen_vl_utils' per-call INFO lines out of the server's stderr log too.
    logging.getLogger("qwen_vl_utils").setLevel(logging.WARNING)
    # The server is shared by many conversations; a per-conversation cap belongs to the client.
    budget = budget or CropBudget(max_calls=sys.maxsize)
    server = MCPServer(SERVER_NAME, instructions=f"Videos are read from {root} only.")

    @server.tool(name="crop_video", description=DESCRIPTION)
    def crop_video(
        video_path: Annotated[str, Field(description="Path of the video, relative to the video root.")],
        start_time: Annotated[float | str, Field(description="Start of the window, in seconds.")],
        end_time: Annotated[float | str, Field(description="End of the window in seconds, > start_time.")],
    ) -> list[TextContent | ImageContent]:
        try:
            path = resolve_inside(root, video_path)
        except PathRefused as e:
            raise ToolError(f"crop_video error: {e}") from None
        result = CropVideoTool(path, budget).execute({"start_time": start_time, "end_time": end_time})
        if not result.ok:
            raise ToolError(result.text)
        content: list[TextContent | ImageContent] = []
        for label, frame in zip(format_timestamps(result.timestamps), result.frames, strict=True):
            content.append(TextContent(type="text", text=f"<{label}s>"))
            content.append(ImageContent(type="image", data=encode_png(frame), mime_type="image/png"))
        content.append(TextContent(type="text", text=result.text))
        return content

    zoom_budget = ZoomBudget(max_calls=sys.maxsize)

    @server.tool(name="zoom_frame", description=ZOOM_DESCRIPTION)
    def zoom_frame(
        video_path: Annotated[str, Field(description="Path of the video, relative to the video root.")],
        time: Annotated[float | str, Field(description=load_prompt("zoom_frame_time"))],
        bbox: Annotated[list[float | str] | str, Field(description=load_prompt("zoom_frame_bbox"))],
    ) -> list[TextContent | ImageContent]:
        try:
            path = resolve_inside(root, video_path)
        except PathRefused as e:
            raise ToolError(f"zoom_frame error: {e}") from None
        result = ZoomFrameTool(path, zoom_budget).execute({"time": time, "bbox": bbox})
        if not result.ok:
            raise ToolError(result.text)
        (label,) = format_timestamps(result.timestamps)
        return [
            TextContent(type="text", text=f"<{label}s>"),
            ImageContent(type="image", data=encode_png(result.frames[0]), mime_type="image/png"),
            TextContent(type="text", text=result.text),
        ]

    return server


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="longvt-mcp-server", description=__doc__.splitlines()[0])
    parser.add_argument("--video-root", default=os.environ.get(ROOT_ENV), help=f"default: ${ROOT_ENV}")
    args = parser.parse_args(argv)
    if not args.video_root:
        parser.error(f"--video-root (or ${ROOT_ENV}) is required")
    build_server(args.video_root).run("stdio")


if __name__ == "__main__":
    main()
