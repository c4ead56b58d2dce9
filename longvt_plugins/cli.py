"""The `longvt` command. Each sub-command lives in `longvt_plugins.commands.<name>`; imports stay lazy there."""

from __future__ import annotations

import warnings

import typer

from longvt_plugins import __version__
from longvt_plugins.commands import ask, data, doctor, mcp, pipeline, testing, train, view
from longvt_plugins.commands import eval as eval_commands  # as: `eval` is a builtin

# torch's CUDA module imports pynvml, whose deprecation notice would print two lines on stderr before any error of
# ours: an error must stay one line (`longvt ask -q`). Nothing the user can act on is hidden. (The sub-commands
# import torch lazily, inside their functions, so this runs first.)
warnings.filterwarnings("ignore", message="The pynvml package is deprecated", category=FutureWarning)

app = typer.Typer(
    name="longvt",
    help="LongVT plugins: think with long videos (agent, tools, rewards, data pipeline).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """LongVT plugins: think with long videos (agent, tools, rewards, data pipeline)."""


app.command("doctor")(doctor.doctor)
app.command("ask")(ask.ask)
app.command("view")(view.view)
app.command("mcp-serve")(mcp.mcp_serve)
app.add_typer(
    testing.app, name="testing", help="Build the tiny model and synthetic videos used by tests and demos."
)
app.add_typer(data.app, name="data", help="Convert data between LongVT, our pipeline, verl and lmms-engine.")
app.add_typer(train.app, name="train", help="Launch SFT / RFT (lmms-engine) training.")
app.add_typer(eval_commands.app, name="eval", help="Run lmms-eval with our tasks and models.")
app.add_typer(pipeline.app, name="pipeline", help="The data-curation pipeline.")


if __name__ == "__main__":
    app()
