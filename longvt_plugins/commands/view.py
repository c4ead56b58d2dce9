"""`longvt view INPUT`: one self-contained HTML page for a trace, an eval run's samples, or a verl rollout dump."""

from __future__ import annotations

from pathlib import Path

import typer


def view(
    source: Path = typer.Argument(
        ...,
        help="A trace .json, a .jsonl of traces or lmms-eval samples, or a verl rollout dump (file or dir).",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="HTML file to write [SOURCE with .html]."
    ),
    title: str | None = typer.Option(None, help="Page title."),
    thumbnails: bool = typer.Option(True, help="Embed frame thumbnails in the page."),
    from_video: bool = typer.Option(
        True,
        help="For traces saved without thumbnails, re-sample the frames from the video if it is on disk.",
    ),
) -> None:
    """Render traces as HTML: timeline of skim frames and crop windows, turns, frames, answer and score."""
    from rich.console import Console

    from longvt_plugins.core.trace import TraceFormatError
    from longvt_plugins.viewer import load_traces, write_html

    console = Console(stderr=True, soft_wrap=True)
    try:
        report = load_traces(source)
    except (FileNotFoundError, TraceFormatError, UnicodeDecodeError) as exc:
        console.print(f"[red]cannot read {source}: {exc}[/red]")
        raise typer.Exit(code=2) from None
    for line in report.skipped[:20]:
        console.print(f"skipped {line}", markup=False, style="yellow")
    if len(report.skipped) > 20:
        console.print(f"... and {len(report.skipped) - 20} more skipped", style="yellow")
    if not report.traces:
        console.print(f"[red]no traces found in {source}[/red]")
        raise typer.Exit(code=2)
    if not thumbnails:
        for t in report.traces:
            t.thumbnails = {}
    elif from_video:
        from longvt_plugins.viewer.frames import fill_thumbnails

        added = sum(fill_thumbnails(t) for t in report.traces)
        if added:
            console.print(f"re-sampled {added} frame thumbnails from the videos")
    if output is None:
        output = source.with_suffix(".html") if source.is_file() else source / "index.html"
    write_html(report.traces, output, title=title)
    console.print(f"{len(report.traces)} trace(s) -> {output}")
