"""Workarounds for lmms-engine 0.1.4 bugs that our runs would otherwise hit. The launcher applies them once.

Each is a no-op when the bug is absent, so a fixed lmms-engine release does not need a change here.
- `hf_trainer` reads `trainer_args.only_save_mm_adapter`, a field that does not exist: every run ended in an
  AttributeError at the final save (after training). We default it to False.
- `hf_trainer` + an iterable dataset: accelerate dispatches batches and slices every tensor to the batch size,
  which truncates the flat `pixel_values` and crashes the vision tower. We turn dispatching off for iterable
  datasets (each rank already reads its own shard) and say so in the log.
- After training, the packing report of our dataset (plan fill, realized fill, skipped rows) is logged and written to
  `<output_dir>/longvt_packing.json`.
"""

from __future__ import annotations

import json
import os

_APPLIED = False


def apply() -> None:
    global _APPLIED
    if _APPLIED:
        return
    from lmms_engine.train.config import TrainingArguments
    from lmms_engine.train.runner import TrainRunner
    from loguru import logger
    from torch.utils.data import IterableDataset

    if not hasattr(TrainingArguments, "only_save_mm_adapter"):
        TrainingArguments.only_save_mm_adapter = False

    build_trainer = TrainRunner._build_trainer

    def _build_trainer(self):
        args = self.config.trainer_args
        acc = getattr(args, "accelerator_config", None)
        if (
            self.config.trainer_type == "hf_trainer"
            and isinstance(self.train_dataset, IterableDataset)
            and acc is not None
            and getattr(acc, "dispatch_batches", None) is not False
        ):
            logger.warning(
                "longvt: hf_trainer + iterable dataset: setting accelerator_config.dispatch_batches=False"
            )
            acc.dispatch_batches = False
        return build_trainer(self)

    run = TrainRunner.run

    def _run(self, **kwargs):
        out = run(self, **kwargs)
        report = getattr(self.train_dataset, "packing_report", None)
        rank = int(os.environ.get("RANK", "0"))
        if callable(report):
            rep = report()
            logger.info(f"longvt packing report (rank {rank}): {rep}")
            path = os.path.join(self.config.trainer_args.output_dir, f"longvt_packing.rank{rank}.json")
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "w") as f:
                json.dump(rep, f, indent=1)
        return out

    TrainRunner._build_trainer = _build_trainer
    TrainRunner.run = _run
    _APPLIED = True
