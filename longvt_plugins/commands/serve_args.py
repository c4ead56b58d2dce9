"""`longvt eval serve-args`: the vLLM limits that fit a protocol (for recipes/eval/run_eval.sh)."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace

import typer


def serve_args(
    protocol: str = typer.Option("upstream", "--protocol", help="upstream or longvt-plugins."),
    model: str | None = typer.Option(
        None, "--model", help="The checkpoint (an SFT checkpoint gets upstream's 512 frames)."
    ),
    style: str = typer.Option("all", "--style", help="tool, think, non_think, or all (one server for all)."),
    patch_size: int | None = typer.Option(
        None,
        "--patch-size",
        help="Default: the family of --model's config (14 Qwen2.5-VL, 16 Qwen3-VL), else 14.",
    ),
    template: bool | None = typer.Option(
        None,
        "--template/--no-template",
        help="Also print --chat-template. Default: by --model's config (Qwen3-VL serves its own template).",
    ),
    model_max_len: int | None = typer.Option(
        None,
        "--model-max-len",
        help="The model's own position limit: the context is capped there (with a note).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the numbers and how they were sized, as JSON."),
) -> None:
    """Print the protocol's `--chat-template` (with `--chat-template-content-format openai`) and the
    `--limit-mm-per-prompt` / `--max-model-len` that fit it."""
    from importlib import resources

    from longvt_plugins.core.families import PATCH_SIZES, QWEN3_VL, local_family
    from longvt_plugins.core.protocols import get_protocol
    from longvt_plugins.core.protocols.context import serve_limits, serve_limits_all

    # The checkpoint's config decides, when --model is a local folder: Qwen3-VL keeps its own template.
    family = local_family(model)
    if patch_size is None:
        patch_size = PATCH_SIZES[family]
    if template is None:
        template = family != QWEN3_VL
    try:
        proto = get_protocol(protocol).for_model(model)
        limits = (
            serve_limits_all(proto, patch_size=patch_size)
            if style == "all"
            else serve_limits(proto, style, patch_size=patch_size)
        )
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    if model_max_len and limits.max_model_len > model_max_len:
        typer.echo(
            f"note: {proto.name} needs a {limits.max_model_len}-token context but the model allows {model_max_len}; "
            f"serving at {model_max_len}: a turn past it ends its sample as context_exhausted",
            err=True,
        )
        limits = replace(limits, max_model_len=model_max_len)
    # Frames and texts are separate content parts that the templates place one by one (ours interleaves each
    # frame with its time label). vLLM renders parts only in its "openai" content format; its "string" format
    # joins the texts with "\n" and puts every image first. Newer vLLM detects "openai" from our templates, LongVT's
    # vLLM 0.12.0 did not: say it (tests/test_serving_content_format.py shows both renders).
    args = ["--chat-template-content-format", "openai", *limits.vllm_args()]
    path = str(resources.files("longvt_plugins.templates").joinpath(proto.chat_template))
    if template:
        args = ["--chat-template", path, *args]
    if as_json:
        typer.echo(json.dumps({**limits.to_dict(), "chat_template": path}, indent=2))
    else:
        typer.echo(shlex.join(args))
