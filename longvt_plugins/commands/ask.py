"""`longvt ask [VIDEO QUESTION]`: run the global-to-local loop on one video and show what the model looked at.

With no VIDEO it runs the embedded demo. By default (`--demo miniature`) that is the miniature LongVT model shipped
in the package - a 0.8M-parameter Qwen2.5-VL trained through our own SFT path on synthetic colour videos
(docs/miniature.md) - on a held-apart demo video it never saw, with the miniature budgets: it skims, crops the
scene the question names, reads the returned frames and answers from them (40/40 on held-out synthetic videos).
`--demo random` runs the tiny random-weight model on the 2-minute sample video
instead (the machinery without the intelligence). `--model PATH` runs a real checkpoint the same way (a folder,
or a Hugging Face repo id such as longvideotool/LongVT-RFT, found through the hub cache);
`--base-url` talks to an OpenAI-compatible server (vLLM / SGLang / hosted) instead.

`-q` silences progress, never errors: every failure is one line on stderr and a non-zero exit.
"""

from __future__ import annotations

from pathlib import Path

import typer

from longvt_plugins.commands.budget_flags import budget_flags
from longvt_plugins.core.budget import SKIM, CropBudget

# Real-model defaults (LongVT-scale: the skim is budget.SKIM) and the demo's (seconds on 2 CPU cores); an option
# given wins over both.
REAL_DEFAULTS = {
    "skim_max_frames": SKIM.max_frames,
    "max_turns": 6,
    "max_new_tokens": 4096,
    "max_total_tokens": 16384,
}
DEMO_DEFAULTS = {"skim_max_frames": 16, "max_turns": 3, "max_new_tokens": 48, "max_total_tokens": 144}
DEMO_LABEL = (
    "RANDOM-WEIGHT DEMO: a tiny Qwen2.5-VL with random weights, built locally. It shows the machinery "
    "(skim, tool calls, crops, limits, trace, viewer), not the intelligence; its text is noise. "
    "Run with --model PATH (e.g. a LongVT-7B checkpoint) or --base-url URL for the real thing."
)

MINI_LABEL = (
    "MINIATURE DEMO: a 0.8M-parameter Qwen2.5-VL trained on synthetic colour videos through this package's own "
    "pipeline and SFT path (docs/miniature.md). It skims, crops the scene the question names and answers from the "
    "crop's frames (40/40 on held-out synthetic videos, 35 % without the crop; BENCHMARKS.md); it knows nothing "
    "about real videos. Use --model PATH or --base-url URL for a real model."
)


def demo_question(manifest) -> tuple[str, str]:
    """A question about the sample video's shortest scene (the one a sparse skim is most likely to miss)."""
    scene = min(manifest.scenes, key=lambda s: (s.end - s.start, s.index))
    question = (
        f"Which coloured shape is shown in the scene that starts at {scene.start:.0f} seconds? "
        "Answer with its colour and shape."
    )
    return question, f"{scene.colour} {scene.shape}"


@budget_flags("skim", SKIM, "skim of the whole video (demo: max_frames 16)")
@budget_flags("crop", CropBudget(), "each crop_video call")
def ask(
    video: Path | None = typer.Argument(
        None, help="Video file. Omit for the built-in demo video and question."
    ),
    question: str | None = typer.Argument(None, help="The question (required with VIDEO)."),
    model: str | None = typer.Option(
        None,
        "--model",
        help="Checkpoint folder or Hugging Face repo id (e.g. longvideotool/LongVT-RFT) run in-process; "
        "with --base-url, the served model name.",
    ),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        envvar="LONGVT_POLICY_BASE_URL",
        help="OpenAI-compatible server, e.g. http://host:8000/v1.",
    ),
    api_key: str | None = typer.Option(None, "--api-key", envvar="LONGVT_POLICY_API_KEY"),
    hermes_text: bool = typer.Option(
        False,
        "--hermes-text",
        help="Server without a tool parser: describe the tool in the prompt, parse <tool_call> text.",
    ),
    device: str | None = typer.Option(
        None, help="In-process device (cpu, cuda, cuda:1); default: cuda if present."
    ),
    dtype: str | None = typer.Option(None, help="In-process dtype (float32, bfloat16); default by device."),
    answer: str | None = typer.Option(
        None,
        "--answer",
        help="Ground truth: scored by the judge if LONGVT_JUDGE_BASE_URL is set, else by rule.",
    ),
    style: str = typer.Option(
        "tool", help="tool (skim + crop_video), think (no tool), non_think (short answer)."
    ),
    demo_model: str = typer.Option(
        "miniature",
        "--demo",
        help="Without VIDEO: 'miniature' (the trained miniature model) or 'random' (random weights).",
    ),
    max_turns: int | None = typer.Option(None, help="Max assistant turns [6; demo 3]."),
    max_new_tokens: int | None = typer.Option(None, help="Max tokens per turn [4096; demo 48]."),
    max_total_tokens: int | None = typer.Option(
        None, help="Max generated tokens over all turns [16384; demo 144]."
    ),
    temperature: float = typer.Option(0.0),
    seed: int | None = typer.Option(None),
    timeout: float = typer.Option(300.0, help="Seconds per server request."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the trace JSON here."),
    html_out: Path | None = typer.Option(None, "--html", help="Write the HTML trace viewer here."),
    thumbnails: bool = typer.Option(True, help="Keep small frame thumbnails in the trace (for the viewer)."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No live progress; print only the answer (errors are still printed)."
    ),
    skim: dict | None = None,  # the --skim-* flags given (budget_flags)
    crop: dict | None = None,  # the --crop-* flags given
) -> None:
    """Skim a video, crop the windows that matter, answer - and show what the model looked at."""
    from rich.console import Console

    from longvt_plugins.core.agent import AgentBudgets, run_agent, score_trace
    from longvt_plugins.core.backends import BackendError, GenerationParams, make_backend
    from longvt_plugins.core.budget import FrameBudget
    from longvt_plugins.core.style import STYLES
    from longvt_plugins.core.video import VideoError, probe

    console = Console(stderr=True, quiet=quiet, soft_wrap=True)  # progress: -q silences it
    errors = Console(stderr=True, soft_wrap=True)  # failures: never silenced, one line each
    out = Console()
    if style not in STYLES:
        raise typer.BadParameter(f"style must be one of {', '.join(STYLES)}", param_hint="--style")
    if video is not None and not question:
        raise typer.BadParameter(
            "give the QUESTION after VIDEO (or neither, for the demo)", param_hint="QUESTION"
        )

    demo = video is None
    meta: dict = {}
    if demo_model not in ("miniature", "random"):
        raise typer.BadParameter("choose miniature or random", param_hint="--demo")
    mini = demo and demo_model == "miniature" and model is None and base_url is None
    if mini:
        from longvt_plugins.miniature.demo import demo_item, shipped_checkpoint

        with console.status("preparing the miniature demo video (built once, then cached)..."):
            item = demo_item()
        video, question, model = Path(item.path), item.question, str(shipped_checkpoint())
        answer = answer if answer is not None else item.answer
        meta.update(demo_video=True, miniature=True, evidence=[item.start, item.end])
        console.print(f"[bold cyan]{MINI_LABEL}[/bold cyan]")
    elif demo:
        from longvt_plugins.testing.videos import sample_video

        with console.status("preparing the demo video (built once, then cached)..."):
            manifest = sample_video()
        video = Path(manifest.path)
        question, default_truth = demo_question(manifest)
        answer = answer if answer is not None else default_truth
        meta["demo_video"] = True
    try:
        probe(video)
    except VideoError as exc:
        _fail(errors, f"cannot use {video}: {exc}", code=2)

    random_model = model is None and base_url is None
    if random_model:
        from longvt_plugins.testing.tiny_model import tiny_qwen25vl

        with console.status("preparing the tiny random-weight model (built once, then cached)..."):
            model = str(tiny_qwen25vl())
        meta["random_weights"] = True
        console.print(f"[bold yellow]{DEMO_LABEL}[/bold yellow]")

    defaults = DEMO_DEFAULTS if random_model else REAL_DEFAULTS
    try:
        if mini:  # the budgets the miniature model was trained and evaluated with; a flag given still wins
            from longvt_plugins.miniature.task import agent_budgets

            base = agent_budgets()
            skim_base, crop_base = base.skim, base.crop
            defaults = {k: getattr(base, k) for k in ("max_turns", "max_new_tokens", "max_total_tokens")}
        else:
            skim_base, crop_base = SKIM.replace(max_frames=defaults["skim_max_frames"]), CropBudget()
        budgets = AgentBudgets(
            skim=FrameBudget.from_dict(skim, skim_base),
            crop=CropBudget.from_dict(crop, crop_base),
            max_turns=max_turns or defaults["max_turns"],
            max_new_tokens=max_new_tokens or defaults["max_new_tokens"],
            max_total_tokens=max_total_tokens or defaults["max_total_tokens"],
        )
        budgets.validate()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None

    # The hub's download bars and transformers' "Loading weights" bar are progress too.
    if quiet and base_url is None:
        from huggingface_hub.utils import disable_progress_bars
        from transformers.utils import logging as transformers_logging

        disable_progress_bars()
        transformers_logging.disable_progress_bar()
    try:
        with console.status(f"loading {'server ' + base_url if base_url else model}..."):
            backend = make_backend(
                model=model,
                base_url=base_url,
                api_key=api_key,
                device=device,
                dtype=dtype,
                timeout=timeout,
                native_tools=not hermes_text,
            )
    except BackendError as exc:  # a local folder or Hub id that is not there says so (core/checkpoints.py)
        _fail(errors, f"cannot start the model: {exc}", code=2)

    console.print(f"[bold]Question:[/bold] {question}")
    trace = run_agent(
        video,
        question,
        backend,
        budgets,
        style=style,
        params=GenerationParams(temperature=temperature, seed=seed, timeout=timeout),
        ground_truth=answer,
        thumbnails=thumbnails,
        on_event=_progress(console),
        meta=meta,
    )
    if answer is not None and trace.stop_reason not in ("backend_error", "video_error"):
        score_trace(trace)

    try:
        if json_out:
            trace.save(json_out)
            console.print(f"trace: {json_out}")
        if html_out:
            from longvt_plugins.viewer import write_html

            write_html([trace], html_out, title="LongVT demo trace" if random_model else None)
            console.print(f"viewer: {html_out}")
    except OSError as exc:
        _fail(errors, f"cannot write {exc.filename or json_out or html_out}: {exc.strerror or exc}", code=1)
    _summary(console, trace)
    if trace.stop_reason in ("backend_error", "video_error"):
        # No answer line on stdout: a script reading it must not take an empty line for the model's answer.
        what = "the model" if trace.stop_reason == "backend_error" else f"the video {video}"
        _fail(errors, f"{what} failed mid-run ({trace.stop_reason}): {trace.error}", code=1)
    out.print(trace.final_answer if trace.final_answer is not None else "", markup=False, highlight=False)


def _fail(errors, message: str, *, code: int):
    """One line on stderr (shown with -q too; markup off, so a path with brackets prints as it is), then exit."""
    errors.print(" ".join(str(message).split()), style="red", markup=False, highlight=False)
    raise typer.Exit(code=code)


def _progress(console):
    from longvt_plugins.core.agent import AgentEvent

    def on_event(event: AgentEvent) -> None:
        d = event.data
        if event.kind == "skim":
            console.print(
                f"skim: {d['frames']} frames of a {d['duration']:.1f}s video ({d['elapsed_s']:.2f}s)"
            )
        elif event.kind == "turn":
            r = d["record"]
            calls = ", ".join(f"{c['name']}({_args(c['arguments'])})" for c in r.tool_calls) or "no tool call"
            console.print(
                f"turn {r.index}: {r.completion_tokens} tokens in {r.generate_s:.2f}s "
                f"[{r.finish_reason}] -> {calls}",
                markup=False,
            )
            for err in r.tool_call_errors:
                console.print(f"  malformed call: {err}", markup=False, style="yellow")
        elif event.kind == "crop":
            c = d["crop"]
            if c.ok:
                console.print(f"  crop #{c.index}: {c.start:.1f}s-{c.end:.1f}s -> {len(c.timestamps)} frames")
            else:
                console.print(f"  crop #{c.index} refused: {c.error}", markup=False, style="yellow")

    return on_event


def _args(arguments: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in arguments.items())


def _summary(console, trace) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None)
    table.add_row("stop", trace.stop_reason + (f" ({trace.error})" if trace.error else ""))
    table.add_row("answer", str(trace.final_answer))
    if trace.ground_truth is not None:
        table.add_row("truth", trace.ground_truth)
    if trace.score:
        table.add_row("score", f"{trace.score['score']} ({trace.score['method']})")
    usage = trace.usage
    table.add_row(
        "cost",
        f"{len(trace.turns)} turns, {len(trace.crops)} crops, {trace.frames_seen} frames, "
        f"{usage['prompt_tokens']}+{usage['completion_tokens']} tokens, {trace.timings.get('total_s', 0):.1f}s",
    )
    console.print(table)
