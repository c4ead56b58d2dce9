"""`longvt eval check-data`: validate local benchmark copies against the fields and files our tasks read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer


def check_data(
    data: list[str] = typer.Option(
        ..., "--data", help="BENCHMARK=PATH (jsonl / json / parquet / saved dataset dir). Repeatable."
    ),
    videos: Path | None = typer.Option(
        None, "--videos", help="Folder holding each benchmark's video folder (sets LONGVT_EVAL_VIDEO_ROOT)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the reports as JSON."),
) -> None:
    """Report what a run would miss (fields, videos, subtitles) before it starts; exit 1 if anything is missing."""
    from longvt_plugins.lmms_eval.datacheck import check_benchmark
    from longvt_plugins.lmms_eval.runner import parse_data

    if videos is not None:
        os.environ["LONGVT_EVAL_VIDEO_ROOT"] = str(videos.expanduser().resolve())
    try:
        pairs = parse_data(data)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    reports = [check_benchmark(bench, path) for bench, path in pairs.items()]
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        for r in reports:
            typer.echo(f"{r.benchmark}: {'OK' if r.ok else 'PROBLEMS'} ({r.rows} rows from {r.source})")
            for err in r.errors:
                typer.echo(f"  error: {err}")
            for name, n in r.missing_fields.items():
                if n:
                    typer.echo(f"  field {name!r} missing in {n} rows (the task reads it)")
            for name, n in r.missing_optional.items():
                if n:
                    typer.echo(f"  field {name!r} missing in {n} rows (only the results breakdown uses it)")
            if r.missing_videos:
                typer.echo(f"  {r.missing_videos} rows have no video file, e.g.:")
                for example in r.video_examples:
                    typer.echo(f"    {example}")
            if r.missing_subtitles:
                typer.echo(f"  {r.missing_subtitles} videos have no subtitle file")
            if r.option_layouts:
                typer.echo("  options: " + ", ".join(f"{k} {n}" for k, n in r.option_layouts.items()))
            for note in r.protocol_notes:
                typer.echo(f"  note (--protocol upstream): {note}")
            for kind, counts in r.question_types.items():
                typer.echo(
                    f"  question_type {kind!r}: {counts.get('rows', 0)} rows, "
                    f"{counts.get('with_options', 0)} with options"
                )
    if not all(r.ok for r in reports):
        raise typer.Exit(1)
