"""`longvt testing ...`: build the offline fixtures (tiny random Qwen2.5-VL, synthetic long videos)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("make-model")
def make_model(
    out_dir: Path = typer.Argument(..., help="Where to write the checkpoint."),
    shape: str = typer.Option(
        None, help="A cost stand-in with a real model's shapes instead of the tiny fixture: qwen2.5-vl-7b."
    ),
    weights: str = typer.Option(
        "none", help="Stand-in only: 'none' (for vllm --load-format dummy) or 'random' (for a trainer)."
    ),
    device: str = typer.Option("cuda", help="Stand-in with --weights random: where to initialise them."),
) -> None:
    """Write a tiny random-weight Qwen2.5-VL checkpoint (loads with the real from_pretrained), or with --shape a
    cost stand-in: the real model's sizes and vocabulary, no knowledge (docs/architecture.md, "Cost stand-in")."""
    if shape:
        from longvt_plugins.testing.cost_standin import make_cost_standin

        typer.echo(str(make_cost_standin(out_dir, shape, weights=weights, device=device)))
        return
    from longvt_plugins.testing.tiny_model import make_tiny_qwen25vl

    typer.echo(str(make_tiny_qwen25vl(out_dir)))


@app.command("make-video")
def make_video(
    out: Path = typer.Argument(..., help="Output .mp4; the ground-truth manifest goes to OUT.json."),
    duration: float = typer.Option(120.0, help="Seconds."),
    fps: float = typer.Option(4.0),
    width: int = typer.Option(160),
    height: int = typer.Option(96),
    scenes: int = typer.Option(6, help="Number of scenes of equal length."),
    codec: str = typer.Option("h264", help="h264 or mpeg4."),
) -> None:
    """Encode a synthetic multi-scene video with burnt-in labels and a JSON ground truth."""
    from longvt_plugins.testing.videos import make_synthetic_video

    m = make_synthetic_video(
        out,
        duration=duration,
        fps=fps,
        width=width,
        height=height,
        scene_lengths=[duration / scenes] * scenes,
        codec=codec,
    )
    typer.echo(f"{m.path}  {m.duration:.1f}s  cuts={m.cuts}")
