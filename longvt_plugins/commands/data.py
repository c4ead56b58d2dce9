"""`longvt data`: convert between LongVT's released data, our pipeline's output and the hosts' formats."""

from __future__ import annotations

from pathlib import Path

import typer

from longvt_plugins.commands.budget_flags import budget_flags
from longvt_plugins.core.budget import SKIM

app = typer.Typer(no_args_is_help=True)


def _path_map(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old:
            raise typer.BadParameter(f"--path-map takes OLD=NEW, got {pair!r}")
        mapping[old] = new
    return mapping


@app.command("to-verl")
@budget_flags("video", SKIM, "verl's initial video", prefix="", exclude=("total_pixels", "patch_size"))
def to_verl(
    inputs: list[Path] = typer.Argument(
        ..., help="QA files: .jsonl / .json / .parquet (ours or LongVT's RL rows)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="The verl RL parquet to write."),
    source: str = typer.Option(
        "auto", help="auto | qa (our pipeline) | longvt (LongVT's released RL parquet)."
    ),
    split: str = typer.Option("train", help="Stored in extra_info.split."),
    style: str = typer.Option("tool", help="Prompt style: tool (crop_video) | think | non_think."),
    video_root: Path | None = typer.Option(None, help="Directory that relative video paths are relative to."),
    path_map: list[str] = typer.Option([], help="OLD=NEW: rewrite a video path prefix (repeatable)."),
    strict: bool = typer.Option(False, help="Exit with status 1 when any sample was rejected."),
    on_bad_row: str = typer.Option(
        "raise",
        help="A line that is not a JSON object or a field of the wrong type: raise (stop, naming file and line) "
        "| skip (reject it, counted and listed with the other rejected samples).",
    ),
    initial_video: str = typer.Option(
        "video",
        help="How the prompt shows the video: video (a native video part) | frames (the skim decoded now, a "
        "'<t s>' label before each frame image, as SFT rows and evaluation show it).",
    ),
    video: dict | None = None,  # the frame-budget flags given (budget_flags)
) -> None:
    """Write verl `RLHFDataset` rows (prompt with <video> + videos, or with --initial-video frames timestamped
    <image>s + images; tools_kwargs, reward_model, extra_info).

    Samples that cannot be used (missing video, empty answer, segment outside the video...) are not written; they
    are listed with their reason in OUT.rejected.jsonl.
    """
    from itertools import chain

    from rich.console import Console

    from longvt_plugins.commands.budget_flags import budget_or_exit
    from longvt_plugins.core.budget import FrameBudget
    from longvt_plugins.core.style import STYLES
    from longvt_plugins.verl.convert import INITIAL_VIDEO_MODES, convert, read_samples

    console = Console(stderr=True, soft_wrap=True)  # an error stays one line, whatever the width
    if source not in ("auto", "qa", "longvt"):
        raise typer.BadParameter("--source must be auto, qa or longvt")
    if style not in STYLES:
        raise typer.BadParameter(f"--style must be one of {', '.join(STYLES)}")
    if initial_video not in INITIAL_VIDEO_MODES:
        raise typer.BadParameter(f"--initial-video must be one of {', '.join(INITIAL_VIDEO_MODES)}")
    if on_bad_row not in ("raise", "skip"):
        raise typer.BadParameter("--on-bad-row must be raise or skip")
    budget = budget_or_exit(FrameBudget, video or {}, SKIM)
    try:
        samples = chain.from_iterable(read_samples(path, source, on_bad_row) for path in inputs)
        report = convert(
            samples,
            out,
            video=budget,
            split=split,
            style=style,
            video_root=video_root,
            path_map=_path_map(path_map),
            initial_video=initial_video,
        )
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"wrote {report.written} rows to {report.out_path}")
    if report.rejected:
        reasons: dict[str, int] = {}
        for item in report.rejected:
            key = item["reason"].split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        console.print(
            f"[yellow]rejected {len(report.rejected)} samples[/yellow] (listed in {report.rejected_path}):"
        )
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            console.print(f"  {count:6d}  {reason}")
        if strict:
            raise typer.Exit(1)


@app.command("check")
def check(
    inputs: list[Path] = typer.Argument(..., help="Row files: .jsonl / .json / .parquet."),
    kind: str = typer.Option(
        "auto", help="sft (SFT/RFT trace rows) | rl (QA / RL records) | auto (by the first row of each file)."
    ),
    show: int = typer.Option(20, help="How many problems to list (all are counted)."),
) -> None:
    """Check row files the way the hosts will read them (the lmms-engine dataset, the verl converter): every
    line that is not a JSON object, every row that breaks the trace grammar or has a field of the wrong type,
    each with FILE:LINE and the reason. Exit 1 when any row is bad."""
    from longvt_plugins.core.row_kinds import KINDS, validator
    from longvt_plugins.core.rowfile import RowFileError, check_rows

    if kind not in KINDS:
        raise typer.BadParameter(f"--kind must be one of {', '.join(KINDS)}")
    bad, total = [], 0
    for path in inputs:
        try:
            checked = check_rows(path, validator(kind, path), on_bad="skip")
        except RowFileError as exc:  # the file as a whole: missing, empty, not parseable
            bad.append(str(exc))
            continue
        total += checked.total
        bad += [str(skip) for skip in checked.skipped]
        typer.echo(f"{path}: {checked.summary()}")
    for line in bad[:show]:
        typer.echo(f"  {line}")
    if len(bad) > show:
        typer.echo(f"  ... and {len(bad) - show} more")
    if bad:
        raise typer.Exit(1)
