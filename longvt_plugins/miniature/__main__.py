"""`python -m longvt_plugins.miniature all|rft|checkpoint` - see longvt_plugins/miniature/run.py."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from longvt_plugins.miniature import run


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m longvt_plugins.miniature")
    ap.add_argument("what", choices=["all", "rft", "checkpoint"],
                    help="all: data + SFT + eval; rft: one RFT round after `all`; checkpoint: `all`, then copy "
                    "the SFT model into the package (the shipped demo checkpoint)")  # fmt: skip
    ap.add_argument("--work", type=Path, default=Path("runs/miniature"))
    ap.add_argument("--train-videos", type=int, default=run.TRAIN_VIDEOS)
    ap.add_argument("--test-videos", type=int, default=run.TEST_VIDEOS)
    ap.add_argument("--steps", type=int, default=None, help="SFT (or RFT) optimizer steps")
    a = ap.parse_args(argv)
    if a.what == "rft":
        report = run.run_rft(a.work, steps=a.steps or run.RFT_STEPS)
    else:
        report = run.run_all(a.work, train_videos=a.train_videos, test_videos=a.test_videos,
                             steps=a.steps or run.SFT_STEPS)  # fmt: skip
        if a.what == "checkpoint":
            print("shipped:", run.ship(a.work / "sft"))
    print(json.dumps({k: v for k, v in report.items() if k.startswith("eval")}, indent=1))


if __name__ == "__main__":
    main()
