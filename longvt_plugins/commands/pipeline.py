"""`longvt pipeline run|stage|status`: the data-curation pipeline (scenes -> captions -> events -> QA -> filters ->
iMCoTT traces -> SFT / RL / eval rows). Every stage resumes where it stopped; see docs/pipeline.md."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    no_args_is_help=True, help="The data-curation pipeline (resumable; local pool, shards or Ray)."
)

ConfigArg = typer.Argument(..., help="Pipeline YAML (see data/configs/).", exists=False)
# Typer has no optional-value options, so a local Ray is asked for by name: `--ray local`.
RayOpt = typer.Option(
    None,
    "--ray",
    metavar="ADDRESS",
    help="Run units as Ray tasks: `--ray local` starts a local Ray, `--ray ADDRESS` joins a cluster (`auto`, "
    "`ray://head:10001`).",
)
ShardsOpt = typer.Option(
    1, "--num-shards", min=1, help="Static sharding by video id (job arrays without Ray)."
)
ShardOpt = typer.Option(0, "--shard-index", min=0, help="Which shard this process runs, 0-based.")
RetryOpt = typer.Option(
    False, "--retry-failed", help="Run failed units again (default: keep their failure records)."
)
WorkersOpt = typer.Option(
    None, "--workers", min=1, help="Parallel units (default: stage's concurrency / workers)."
)
WorkdirOpt = typer.Option(None, "--workdir", help="Override the config's workdir.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress bars.")


def _load(config: Path, workdir: Path | None):
    from longvt_plugins.pipeline.config import ConfigError, PipelineConfig

    try:
        return PipelineConfig.load(config, {"workdir": str(workdir.resolve())} if workdir else None)
    except ConfigError as exc:
        typer.secho(f"config error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc


def _run(cfg, stages, ray, num_shards, shard_index, retry_failed, workers, quiet) -> None:
    from rich.console import Console

    from longvt_plugins.pipeline.config import ConfigError
    from longvt_plugins.pipeline.runner import StageNotReady, run_stage

    console = Console(stderr=True)
    summaries = []
    for name in stages:
        try:
            summaries.append(
                run_stage(
                    cfg,
                    name,
                    engine="ray" if ray else "local",
                    ray_address=ray,
                    num_shards=num_shards,
                    shard_index=shard_index,
                    retry_failed=retry_failed,
                    workers=workers,
                    progress=not quiet and console.is_terminal,
                )
            )
        except (ConfigError, StageNotReady, ValueError) as exc:
            _print_summaries(summaries)
            typer.secho(f"stage {name}: {exc}", fg="red", err=True)
            raise typer.Exit(2) from exc
        if not quiet:
            s = summaries[-1]
            console.print(
                f"[bold]{name}[/]: {s.records} records, {s.failures} failures "
                f"({s.ran} units run, {s.skipped} already done) in {s.seconds:.1f}s"
            )
    _print_summaries(summaries)


def _print_summaries(summaries) -> None:
    from rich.console import Console
    from rich.table import Table

    if not summaries:
        return
    table = Table(title="pipeline run")
    for col in ("stage", "units", "already done", "ran", "records", "failures", "seconds"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for s in summaries:
        table.add_row(
            s.stage,
            str(s.units),
            str(s.skipped),
            str(s.ran),
            str(s.records),
            str(s.failures),
            f"{s.seconds:.1f}",
        )
    console = Console()
    console.print(table)
    for s in summaries:
        for reason, n in sorted(s.failure_reasons.items(), key=lambda kv: -kv[1])[:5]:
            console.print(f"  [red]{s.stage}[/] x{n}: {reason}")


@app.command("run")
def run(
    config: Path = ConfigArg,
    stages: str = typer.Option("", "--stages", help="Comma-separated subset (default: all, in order)."),
    ray: str | None = RayOpt,
    num_shards: int = ShardsOpt,
    shard_index: int = ShardOpt,
    retry_failed: bool = RetryOpt,
    workers: int | None = WorkersOpt,
    workdir: Path | None = WorkdirOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Run every stage (or --stages) in order; each skips the units it already finished."""
    from longvt_plugins.pipeline.config import STAGE_ORDER

    cfg = _load(config, workdir)
    wanted = [s.strip() for s in stages.split(",") if s.strip()] or list(STAGE_ORDER)
    unknown = [s for s in wanted if s not in STAGE_ORDER]
    if unknown:
        typer.secho(f"unknown stage(s) {unknown}; stages: {', '.join(STAGE_ORDER)}", fg="red", err=True)
        raise typer.Exit(2)
    if num_shards > 1:
        wanted = [s for s in wanted if s != "export"]  # export gathers all shards: run it once at the end
    _run(
        cfg,
        [s for s in STAGE_ORDER if s in wanted],
        ray,
        num_shards,
        shard_index,
        retry_failed,
        workers,
        quiet,
    )


@app.command("stage")
def stage(
    name: str = typer.Argument(
        ..., help="detect, caption, merge, qa, filter-text, filter-vl, traces or export."
    ),
    config: Path = ConfigArg,
    ray: str | None = RayOpt,
    num_shards: int = ShardsOpt,
    shard_index: int = ShardOpt,
    retry_failed: bool = RetryOpt,
    workers: int | None = WorkersOpt,
    workdir: Path | None = WorkdirOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Run (or resume) one stage."""
    from longvt_plugins.pipeline.config import STAGE_ORDER

    if name not in STAGE_ORDER:
        typer.secho(f"unknown stage {name!r}; stages: {', '.join(STAGE_ORDER)}", fg="red", err=True)
        raise typer.Exit(2)
    cfg = _load(config, workdir)
    _run(cfg, [name], ray, num_shards, shard_index, retry_failed, workers, quiet)


@app.command("status")
def status(
    config: Path = ConfigArg,
    workdir: Path | None = WorkdirOpt,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Per stage: finished units, records, failures (and whether the stage completed), over all shards."""
    import json

    from rich.console import Console
    from rich.table import Table

    from longvt_plugins.pipeline.status import pipeline_status

    cfg = _load(config, workdir)
    rows = pipeline_status(cfg.workdir)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"pipeline status: {cfg.workdir}")
    for col in ("stage", "state", "units done", "records", "failures", "shards"):
        table.add_column(col, justify="left" if col in ("stage", "state") else "right")
    for r in rows:
        table.add_row(
            r["stage"],
            r["state"],
            str(r["units_done"]),
            str(r["records"]),
            str(r["failures"]),
            str(r["shards"]),
        )
    Console().print(table)
