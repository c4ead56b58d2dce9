"""`python -m longvt_plugins.miniature all|eval ...` - see longvt_plugins/miniature/run.py."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from longvt_plugins.miniature import run


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m longvt_plugins.miniature")
    ap.add_argument("what", choices=["all"])
    ap.add_argument("--work", type=Path, default=Path("runs/miniature"))
    ap.add_argument("--train-videos", type=int, default=run.TRAIN_VIDEOS)
    ap.add_argument("--test-videos", type=int, default=run.TEST_VIDEOS)
    ap.add_argument("--steps", type=int, default=run.SFT_STEPS)
    a = ap.parse_args(argv)
    report = run.run_all(a.work, train_videos=a.train_videos, test_videos=a.test_videos, steps=a.steps)
    print(json.dumps({k: v for k, v in report.items() if k.startswith("eval")}, indent=1))


if __name__ == "__main__":
    main()
