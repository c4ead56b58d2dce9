"""`longvt train sft|rft`: run lmms-engine through our launcher (registers the LongVT dataset and processor).

    longvt train sft --config recipes/sft/longvt_7b_sft.yaml --nproc 8
    longvt train rft --config my_rft.yaml trainer_args.max_steps=100 trainer_args.output_dir=./runs/rft

Extra `key.path=value` arguments override the YAML (nested keys work; the launcher folds them into the config).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)

_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}
LAUNCH_MODULE = "longvt_plugins.lmms_engine.launch"


def default_config(stage: str) -> Path | None:
    """The recipe YAML in a source checkout (recipes/ is not inside the wheel)."""
    path = Path(__file__).resolve().parents[2] / "recipes" / stage / f"longvt_7b_{stage}.yaml"
    return path if path.exists() else None


def build_command(
    config: Path, overrides: list[str], nproc: int, master_port: int | None = None
) -> list[str]:
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
        if master_port:
            cmd.append(f"--master_port={master_port}")
        cmd += ["-m", LAUNCH_MODULE]
    else:
        cmd = [sys.executable, "-m", LAUNCH_MODULE]
    return cmd + [f"config_yaml={config}", *overrides]


def _run(
    stage: str, ctx: typer.Context, config: Path | None, nproc: int, cpu_shims: bool, dry_run: bool, port
):
    config = config or default_config(stage)
    if config is None:
        raise typer.BadParameter(
            f"no default {stage} recipe found here; pass --config", param_hint="--config"
        )
    if not config.exists():
        raise typer.BadParameter(f"{config} does not exist", param_hint="--config")
    bad = [a for a in ctx.args if "=" not in a]
    if bad:
        raise typer.BadParameter(f"overrides must look like key.path=value, got {bad}")
    cmd = build_command(config.resolve(), list(ctx.args), nproc, port)
    env = dict(os.environ)
    # qwen-vl-utils' torchvision reader is gone in torchvision >= 0.28
    env.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if cpu_shims:
        env["LONGVT_CPU_SHIMS"] = "1"
    shown = ("LONGVT_CPU_SHIMS=1 " if cpu_shims else "") + shlex.join(cmd)
    if dry_run:
        typer.echo(shown)
        return
    typer.echo(f"+ {shown}", err=True)
    raise typer.Exit(subprocess.call(cmd, env=env))


_CONFIG = typer.Option(
    None, "--config", "-c", help="lmms-engine YAML (default: the LongVT-7B recipe of this stage)."
)
_NPROC = typer.Option(1, help="Processes (GPUs) on this node; >1 runs under torchrun.")
_SHIMS = typer.Option(False, "--cpu-shims", help="Let hf_trainer run without CUDA (tests, laptops).")
_DRY = typer.Option(False, "--dry-run", help="Print the command instead of running it.")
_PORT = typer.Option(None, help="torchrun --master_port.")


@app.command("sft", context_settings=_EXTRA)
def sft(ctx: typer.Context, config: Path = _CONFIG, nproc: int = _NPROC, cpu_shims: bool = _SHIMS,
        dry_run: bool = _DRY, master_port: int = _PORT) -> None:  # fmt: skip
    """Cold-start SFT on tool-integrated traces (LongVT: 3,000 steps, packing 51,200)."""
    _run("sft", ctx, config, nproc, cpu_shims, dry_run, master_port)


@app.command("rft", context_settings=_EXTRA)
def rft(ctx: typer.Context, config: Path = _CONFIG, nproc: int = _NPROC, cpu_shims: bool = _SHIMS,
        dry_run: bool = _DRY, master_port: int = _PORT) -> None:  # fmt: skip
    """Reinforcement fine-tuning: SFT data plus self-distilled traces (LongVT: 1,600 steps)."""
    _run("rft", ctx, config, nproc, cpu_shims, dry_run, master_port)
