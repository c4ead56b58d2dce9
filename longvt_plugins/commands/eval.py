"""`longvt eval`: run lmms-eval with our tasks and models, and keep a protocol card with every result."""

from __future__ import annotations

from pathlib import Path

import typer

from longvt_plugins.commands import check_data, serve_args

app = typer.Typer(no_args_is_help=True)
app.command("check-data")(check_data.check_data)
app.command("serve-args")(serve_args.serve_args)

MODELS_HELP = (
    "longvt_agent (OpenAI-compatible server) or longvt_agent_hf (in-process); any lmms-eval model works."
)


@app.command("run")
def run_cmd(
    tasks: str = typer.Option(
        ..., "--tasks", "-t", help="Comma-separated tasks, tags or groups (see `longvt eval tasks`)."
    ),
    model: str = typer.Option("longvt_agent", "--model", "-m", help=MODELS_HELP),
    model_args: str = typer.Option(
        "",
        "--model-args",
        "-a",
        help="lmms-eval model args, e.g. base_url=http://host:8000/v1,model_version=NAME.",
    ),
    protocol: str = typer.Option(
        "longvt-plugins",
        "--protocol",
        help="upstream: what LongVT's released checkpoints were evaluated with (prompts, schema, frames, budgets, "
        "scoring); longvt-plugins: ours. See docs/protocols.md.",
    ),
    judge_fallback: str = typer.Option(
        "stop",
        "--judge-fallback",
        help="stop: a judge that gives no verdict (at the start or mid-run) stops the run with one line, the "
        "generated answers saved for --resume; rule: score by rule instead, every fallback counted.",
    ),
    output: Path = typer.Option(Path("eval_logs"), "--output", "-o", help="lmms-eval --output_path."),
    data: list[str] = typer.Option(
        [],
        "--data",
        help="BENCHMARK=PATH: use a local copy (jsonl / parquet / saved dataset dir). Repeatable.",
    ),
    videos: Path | None = typer.Option(
        None, "--videos", help="Folder holding each benchmark's video folder (sets LONGVT_EVAL_VIDEO_ROOT)."
    ),
    limit: float | None = typer.Option(
        None, "--limit", help="lmms-eval --limit (docs per task, or a fraction)."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Score the answers an earlier run with the same --output saved (OUTPUT/longvt_answers) instead of "
        "generating them again; docs not saved there are generated. For a run the judge stopped.",
    ),
    extra: list[str] = typer.Argument(None, help="Anything after -- goes to lmms-eval unchanged."),
) -> None:
    """Run lmms-eval with our task folder on its include path; print where the results and cards are."""
    from rich.console import Console

    from longvt_plugins.core.protocols import get_protocol
    from longvt_plugins.lmms_eval.judge_stop import JUDGE_STOP_EXIT
    from longvt_plugins.lmms_eval.overlay import OverlayError
    from longvt_plugins.lmms_eval.runner import EvalRun, parse_data, run
    from longvt_plugins.lmms_eval.scoring import judge_identity

    console = Console(stderr=True, soft_wrap=True)
    try:
        chosen = get_protocol(protocol)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if judge_fallback not in ("stop", "rule"):
        raise typer.BadParameter("--judge-fallback must be 'stop' or 'rule'")
    try:
        spec = EvalRun(
            model=model,
            tasks=[t.strip() for t in tasks.split(",") if t.strip()],
            output=output,
            model_args=model_args,
            protocol=chosen.name,
            judge_fallback=judge_fallback,
            data=parse_data(data),
            video_root=str(videos) if videos else None,
            limit=limit,
            extra_args=list(extra or []),
            resume=resume,
        )
        command = spec.command()
    except (ValueError, OverlayError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    missing = missing_checkpoint(model, model_args)
    if missing:  # one line now, not a traceback from inside lmms-eval after its start-up
        console.print(f"cannot load the checkpoint: {missing}", style="red", markup=False, highlight=False)
        raise typer.Exit(2)
    judge = judge_identity()
    if not judge.get("configured"):
        console.print(
            "[yellow]No judge configured (LONGVT_JUDGE_BASE_URL): open answers are scored by rule and counted in "
            "judge_fallback. The paper's numbers use an LLM judge.[/yellow]"
        )
    elif judge_fallback == "stop":
        problem = judge_unreachable(judge)
        if problem:
            console.print(
                f"[red]The judge at {judge.get('base_url')} is unreachable ({problem}). Start it (recipes/judge), "
                "or run with --judge-fallback rule to score open answers by rule (counted).[/red]"
            )
            raise typer.Exit(2)
    console.print("[bold]lmms-eval:[/bold] " + " ".join(command))
    code, written = run(spec)
    for path in written:
        card = path.with_name(path.name.replace("_results.json", "_protocol.json"))
        console.print(f"[green]results[/green] {path}")
        for samples in sorted(path.parent.glob(path.name.replace("_results.json", "_samples_*.jsonl"))):
            console.print(f"[green]samples[/green] {samples}")
        if card.exists():
            console.print(f"[green]protocol[/green] {card}")
    if code == JUDGE_STOP_EXIT:  # the judge failed mid-run: lmms-eval printed the one line that says so
        raise typer.Exit(code)
    if code != 0:
        console.print(f"[red]lmms-eval exited with {code}[/red]")
        raise typer.Exit(code)
    if not written:
        console.print("[red]lmms-eval wrote no results file[/red]")
        raise typer.Exit(1)


def missing_checkpoint(model: str, model_args: str) -> str | None:
    """Why longvt_agent_hf's `pretrained=` (a folder or a Hub repo id) cannot be loaded; None when it can."""
    if model != "longvt_agent_hf":
        return None
    from longvt_plugins.core.checkpoints import CheckpointNotFound, resolve_checkpoint

    args = dict(a.strip().split("=", 1) for a in model_args.split(",") if "=" in a)
    name = args.get("pretrained") or args.get("model_version")  # what LongVTAgentHF loads
    if not name:
        return None  # LongVTAgentHF itself says it needs pretrained=
    try:  # online, this downloads it once; lmms-eval then finds it in the hub cache
        resolve_checkpoint(name)
    except CheckpointNotFound as exc:
        return str(exc)
    return None


def judge_unreachable(judge: dict) -> str | None:
    """Why the configured judge server cannot be used now (None when it lists its models)."""
    import openai

    client = openai.OpenAI(base_url=judge["base_url"], api_key="EMPTY", timeout=10.0, max_retries=0)
    try:
        client.models.list()
    except openai.OpenAIError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None


@app.command("tasks")
def tasks_cmd() -> None:
    """List our tasks (benchmark, style, token budget) and groups."""
    from rich.console import Console
    from rich.table import Table

    from longvt_plugins.lmms_eval.runner import list_tasks

    tasks, groups = list_tasks()
    table = Table("benchmark", "style", "max_new_tokens")
    table.add_column("task", no_wrap=True)
    for t in tasks:
        table.add_row(t.benchmark, t.style, str(t.max_new_tokens), t.name)
    console = Console()
    console.print(table)
    for name, members in groups.items():
        console.print(f"group [bold]{name}[/bold]: {', '.join(members)}")
    console.print("tags: longvtp_non_think, longvtp_think, longvtp_tool, longvtp_all")


@app.command("path")
def path_cmd() -> None:
    """Print the task folder, for `lmms-eval --include_path $(longvt eval path)`."""
    from longvt_plugins.lmms_eval import tasks_path

    typer.echo(str(tasks_path()))


@app.command("card")
def card_cmd(
    results: Path = typer.Argument(..., exists=True, dir_okay=False, help="An lmms-eval *_results.json."),
) -> None:
    """Attach the protocol cards of a plain `lmms-eval ... --log_samples` run to its results file."""
    from longvt_plugins.lmms_eval.runner import attach_cards

    if not results.name.endswith("_results.json"):
        raise typer.BadParameter(f"{results} is not an lmms-eval *_results.json file")
    out = attach_cards(results)
    if out is None:
        typer.echo(
            "no protocol card in the samples beside it (not a longvt model, or run without --log_samples)"
        )
        raise typer.Exit(1)
    typer.echo(str(out))
