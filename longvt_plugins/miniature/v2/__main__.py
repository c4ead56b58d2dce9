"""`python -m longvt_plugins.miniature.v2 sets|rows` (task family v2; docs/miniature.md, "Task family v2").

sets --work runs/v2 --items 80          every held-out set (>= 80 questions each), scored by the oracle
                                        teacher and the two baselines -> <work>/v2-sets.json
rows --work runs/v2 --split train --videos 800
                                        stage 7 + export over a split -> <work>/pipeline-v2-<split>/export/
data --work runs/v2 --videos 800 --shards 16
                                        training traces + reading drills (v2.train) -> <work>/data/
sft --work runs/v2 --size s --drill-steps 400 --steps 1500 [--gpu]
                                        `longvt train sft` from the untrained student -> <work>/sft-<size>/
evaluate --work runs/v2 --model runs/v2/sft-s --items 80 [--gpu]
                                        every held-out set (+ no-tool on set a) -> <work>/eval-<model>.json
rl-data --work runs/v2 --videos 800 --val-videos 32
                                        GRPO rows of the rft / val splits (v2.rl) -> <work>/rl_{train,val}.parquet
probe --work runs/v2 --model runs/v2/sft-s --items 20 [--gpu]
                                        teacher-forced accuracy per turn and token kind on each held-out set's
                                        oracle traces (v2.probe) -> <work>/probe-<model>.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _table(report: dict) -> str:
    lines = ["| set | policy | accuracy | mean IoU | valid calls | none rate |", "|---|---|---|---|---|---|"]

    def f(x, pct=True):
        return "-" if x is None else (f"{100 * x:.1f} %" if pct else f"{x:.3f}")

    for name, by_policy in report.items():
        for policy, s in by_policy.items():
            lines.append(
                f"| {name} | {policy} | {f(s['accuracy'])} ({s['correct']}/{s['items']}) | "
                f"{f(s['mean_iou'], False)} | {f(s['valid_call_rate'])} | {f(s['none_rate'])} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m longvt_plugins.miniature.v2")
    ap.add_argument("what", choices=["sets", "rows", "data", "sft", "evaluate", "probe", "rl-data"])
    ap.add_argument("--work", type=Path, default=Path("runs/v2"))
    ap.add_argument("--items", type=int, default=80, help="sets: questions per held-out set")
    ap.add_argument("--split", default="train", help="rows: the split to make rows of")
    ap.add_argument("--videos", type=int, default=800, help="rows: videos (one question each)")
    ap.add_argument("--val-videos", type=int, default=32, help="rl-data: validation videos")
    ap.add_argument("--shards", type=int, default=1, help="data: processes that render and trace")
    ap.add_argument("--size", default="s", help="sft: student size (v2.student.SIZES)")
    ap.add_argument("--drill-steps", type=int, default=400, help="sft: steps on the drills alone (0: none)")
    ap.add_argument("--steps", type=int, default=1500, help="sft: steps on traces + drills")
    ap.add_argument("--lr", type=float, default=1e-3, help="sft: learning rate")
    ap.add_argument("--gpu", action="store_true", help="sft / evaluate: on CUDA")
    ap.add_argument("--model", type=Path, help="evaluate / probe: the checkpoint")
    ap.add_argument("--name", help="sft: the run's folder is <work>/sft-<name> (default: the size)")
    ap.add_argument("--tie-case", action="store_true", help="sft: ' Red'/' RED' start as ' red' (v2.student)")
    ap.add_argument("--frame-marker", type=float, default=0.0,
                    help="sft: frames carry a shared 'frame' direction besides their colour word (0: none)")  # fmt: skip
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="sft: a trainer override, e.g. trainer_args.per_device_train_batch_size=8 (repeatable)",
    )
    a = ap.parse_args(argv)
    work = a.work.resolve()
    if a.what == "rl-data":
        from longvt_plugins.miniature.v2.rl import build_rl_data

        print(json.dumps(build_rl_data(work, videos=a.videos, val_videos=a.val_videos), indent=1))
        return
    if a.what == "probe":
        from longvt_plugins.miniature.v2.probe import held_out_traces, probe_rows
        from longvt_plugins.miniature.v2.splits import HELD_OUT_SETS

        device = "cuda" if a.gpu else "cpu"
        out = {
            n: probe_rows(a.model, held_out_traces(work, n, a.items), device=device) for n in HELD_OUT_SETS
        }
        (work / f"probe-{a.model.name}.json").write_text(json.dumps(out, indent=1))
        print(json.dumps(out, indent=1))
        return
    if a.what in ("data", "sft", "evaluate"):
        from longvt_plugins.miniature.v2 import train

        if a.what == "data":
            out = train.build_training_rows(work, a.videos, shards=a.shards)
        elif a.what == "sft":
            out = train.sft(work, a.size, drill_steps=a.drill_steps, steps=a.steps, gpu=a.gpu, lr=a.lr,
                            extra=tuple(a.set), name=a.name, frame_marker=a.frame_marker, tie_case=a.tie_case)  # fmt: skip
            out = {k: v for k, v in out.items() if k not in ("drills", "sft")} | {
                k: {"wall_s": out[k]["wall_s"], "last": out[k]["history"][-1:]}
                for k in ("drills", "sft")
                if k in out
            }
        else:
            out = train.evaluate_sets(a.model, work, items=a.items, device="cuda" if a.gpu else "cpu")
            (work / f"eval-{a.model.name}.json").write_text(json.dumps(out, indent=1))
        print(json.dumps(out, indent=1))
        return
    if a.what == "sets":
        from longvt_plugins.miniature.v2.baselines import measure_sets

        report = measure_sets(work, items=a.items)
        work.mkdir(parents=True, exist_ok=True)
        (work / "v2-sets.json").write_text(json.dumps(report, indent=1))
        print(_table(report))
        return
    from longvt_plugins.miniature.v2.data import build_rows
    from longvt_plugins.miniature.v2.splits import make_split

    items = make_split(work / "videos", a.split, a.videos)
    out = build_rows(work / f"pipeline-v2-{a.split}", items, split=a.split)
    print(json.dumps({k: out[k] for k in ("sft", "eval", "rl", "rejections")}, indent=1))


if __name__ == "__main__":
    main()
