"""`python -m longvt_plugins.miniature all|rft|checkpoint|rl-data` - see longvt_plugins/miniature/run.py (rl-data:
miniature/rl.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from longvt_plugins.core.families import FAMILIES, QWEN2_5_VL
from longvt_plugins.miniature import rl, run


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m longvt_plugins.miniature")
    ap.add_argument("what", choices=["all", "rft", "checkpoint", "rl-data"],
                    help="all: data + SFT + eval; rft: one RFT round after `all`; checkpoint: `all`, then copy "
                    "the SFT model into the package (the shipped demo checkpoint); rl-data: rl_train.parquet and "
                    "rl_val.parquet for verl GRPO (recipes/rl/profile/miniature_1gpu.yaml)")  # fmt: skip
    ap.add_argument("--work", type=Path, default=Path("runs/miniature"))
    ap.add_argument("--train-videos", type=int, default=run.TRAIN_VIDEOS)
    ap.add_argument("--test-videos", type=int, default=run.TEST_VIDEOS)
    ap.add_argument("--steps", type=int, default=None, help="SFT (or RFT) optimizer steps")
    ap.add_argument("--arch", choices=FAMILIES, default=QWEN2_5_VL,
                    help="all: the student's model family (one --work per family; rft follows the checkpoint)")  # fmt: skip
    ap.add_argument(
        "--videos", type=int, default=rl.RL_TRAIN_VIDEOS, help="rl-data: training videos (one question each)"
    )
    ap.add_argument("--val-videos", type=int, default=rl.RL_VAL_VIDEOS, help="rl-data: validation videos")
    a = ap.parse_args(argv)
    if a.what == "checkpoint" and a.arch != QWEN2_5_VL:
        ap.error(
            "the shipped demo checkpoint is the Qwen2.5-VL student: use `all --arch ...` for another family"
        )
    if a.what == "rl-data":
        print(json.dumps(rl.build_rl_data(a.work, videos=a.videos, val_videos=a.val_videos), indent=1))
        return
    if a.what == "rft":
        report = run.run_rft(a.work, steps=a.steps or run.RFT_STEPS)
    else:
        report = run.run_all(a.work, train_videos=a.train_videos, test_videos=a.test_videos,
                             steps=a.steps or run.SFT_STEPS, arch=a.arch)  # fmt: skip
        if a.what == "checkpoint":
            print("shipped:", run.ship(a.work / "sft"))
    print(json.dumps({k: v for k, v in report.items() if k.startswith("eval")}, indent=1))


if __name__ == "__main__":
    main()
