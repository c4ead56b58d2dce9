"""`longvt_imcott`: lmms-engine iterable dataset of tool-integrated traces, packed first-fit-decreasing.

Reads the same inputs as lmms-engine's `vision_iterable` (dataset_format yaml with inline `datasets:` of
parquet / json / jsonl, `messages` as a list or a JSON string), in our trace schema (data/schemas/sft_trace.md),
which also covers LongVT's released rows. Use it with processor_type `longvt_qwen2_5_vl`.

dataset_config.extra_kwargs:
  on_bad_row: "skip" (default: log the row id and reason, count it, go on) or "raise" (stop before training).
  crop_budget: {fps, min_frames, max_frames, min_pixels, max_pixels, ...} for replayed crop_video turns; must be
    the budget the RL tool uses, or SFT shows the model other frames than RL does.
  length_cache: file of cached token lengths (default: $LONGVT_CACHE/lmms_engine/lengths-<settings>.tsv).
"""

from __future__ import annotations

import os
from typing import Any

import torch.distributed as dist
from datasets import Dataset as HFDataset
from lmms_engine.datasets.collator import VisionCollator
from lmms_engine.datasets.iterable.vision_iterable_dataset import VisionSFTIterableDataset
from loguru import logger
from torch.utils.data import get_worker_info

from longvt_plugins.core.paths import cache_root
from longvt_plugins.core.trace_rows import BadRow, parse_row
from longvt_plugins.lmms_engine.media import MediaLoader
from longvt_plugins.lmms_engine.packing import (
    LengthCache,
    PackPlan,
    plan_packs,
    row_key,
    settings_fingerprint,
    shard_packs,
)
from longvt_plugins.lmms_engine.sources import dataset_files, load_checked


class LongVTCollator(VisionCollator):
    """lmms-engine's collator, plus `mm_token_type_ids` (Qwen3-VL) padded like `input_ids`: its own collator
    concatenates unknown keys, which only works for one sample per batch."""

    def __call__(self, instances):
        if isinstance(instances[0], list):
            instances = [inst for instance in instances for inst in instance]
        if "mm_token_type_ids" not in instances[0]:
            return super().__call__(instances)
        types = [inst["mm_token_type_ids"] for inst in instances]
        rest = [{k: v for k, v in inst.items() if k != "mm_token_type_ids"} for inst in instances]
        batch = super().__call__(rest)
        batch["mm_token_type_ids"] = self.pad_sequence(types, batch_first=True, padding_value=0)
        return batch


class LongVTTraceDataset(VisionSFTIterableDataset):
    # ------------------------------------------------------------------------------------------------ build
    def _build_from_config(self):
        ext = self.config.extra_kwargs or {}
        self.on_bad_row = ext.get("on_bad_row", "skip")
        if self.on_bad_row not in ("skip", "raise"):
            raise ValueError(f"extra_kwargs.on_bad_row must be 'skip' or 'raise', got {self.on_bad_row!r}")
        self.bad_rows: list[tuple[str, str]] = []
        self.stats = {"packs": 0, "tokens": 0, "length_mismatches": 0, "skipped_rows": 0}
        files = dataset_files(self.config)
        if files is not None:  # json / jsonl / parquet: read and checked by us (sources.py says why)
            loaded = load_checked(files, "raise" if self.on_bad_row == "raise" else "skip")
            self.data_list = HFDataset.from_list(loaded.rows)
            self.data_folder = loaded.folders
            for skip in loaded.skipped:
                self._bad(BadRow(skip.row_id or skip.where, f"{skip.reason} ({skip.where})"))
        else:
            shuffle, self.config.shuffle = self.config.shuffle, False  # we shuffle packs (or rows) ourselves
            super()._build_from_config()
            self.config.shuffle = shuffle
        if not isinstance(self.data_list, HFDataset):  # top-level json / jsonl give a python list
            self.data_list = HFDataset.from_list(list(self.data_list))
        if getattr(self, "data_folder", None) is None:
            self.data_folder = [None] * len(self.data_list)
        ids = self.data_list["id"] if "id" in self.data_list.column_names else [None] * len(self.data_list)
        self.row_ids = [str(r) if r not in (None, "") else f"#{i}" for i, r in enumerate(ids)]
        self.crop_budget = ext.get("crop_budget") or {}
        self._loaders: dict[Any, MediaLoader] = {}
        self.plan: PackPlan | None = None

    def build(self):
        super().build()
        if self.config.packing:
            self.plan = self._plan()

    def get_collator(self):
        return LongVTCollator(self.processor)

    def _loader(self, folder) -> MediaLoader:
        if folder not in self._loaders:
            c = self.config
            video = {"fps": c.fps, "max_frames": c.video_max_frames, "min_pixels": c.video_min_pixels}
            video["max_pixels"] = c.video_max_pixels
            self._loaders[folder] = MediaLoader(
                folder or None, video, self.crop_budget, family=self.processor.family
            )
        return self._loaders[folder]

    # ------------------------------------------------------------------------------------------------ rows
    def _row(self, i: int):
        row = self.data_list[i]
        return row, parse_row(row, self.row_ids[i])

    def sample(self, i: int) -> dict[str, Any]:
        """Row i as a training sample (input_ids, labels, pixels). Raises BadRow."""
        _, trace = self._row(i)
        try:
            material = self._loader(self.data_folder[i]).load(trace)
            return self.processor.encode_sample(material, trace.tools)
        except BadRow:
            raise
        except Exception as e:  # a decoder / processor failure is still this row's problem, reported as such
            raise BadRow(trace.row_id, f"{type(e).__name__}: {e}") from e

    def measure(self, i: int) -> int:
        """Exact token length of row i (text + vision tokens) without decoding its videos. Raises BadRow."""
        _, trace = self._row(i)
        try:
            msgs, img, vid, times = self._loader(self.data_folder[i]).measure(trace, self.processor.processor)
            return self.processor.count_tokens(msgs, img, vid, trace.tools, video_times=times)
        except BadRow:
            raise
        except Exception as e:
            raise BadRow(trace.row_id, f"{type(e).__name__}: {e}") from e

    def _bad(self, err: BadRow) -> None:
        if self.on_bad_row == "raise":
            raise err
        self.bad_rows.append((err.row_id, err.reason))
        self.stats["skipped_rows"] += 1
        logger.warning(f"longvt_imcott: skipping row {err.row_id}: {err.reason}")

    # ------------------------------------------------------------------------------------------------ plan
    def settings(self) -> dict[str, Any]:
        c = self.config
        proc = self.processor.processor
        return {
            "processor": self.processor_config.processor_name,
            "template": self.processor.chat_template,
            "image_size": dict(proc.image_processor.size),
            "video_size": dict(proc.video_processor.size),
            "video": [c.fps, c.video_max_frames, c.video_min_pixels, c.video_max_pixels],
            "crop_budget": self.crop_budget,
        }

    def _cache(self) -> LengthCache:
        path = (self.config.extra_kwargs or {}).get("length_cache")
        if not path:
            path = cache_root() / "lmms_engine" / f"lengths-{settings_fingerprint(self.settings())}.tsv"
        return LengthCache(path)

    def _measure_all(self, cache: LengthCache, first: bool) -> list[int]:
        """Lengths of all rows (-1: rejected). Only the first rank logs bad rows and writes the cache; with
        on_bad_row=raise every rank raises on the first bad row, so no rank is left waiting in a collective."""
        lengths, new = [], {}
        try:
            for i in range(len(self.data_list)):
                key = row_key(self.data_list[i], self.row_ids[i])
                n = cache.get(key)
                if n is None:
                    try:
                        n = self.measure(i)
                        new[key] = n
                    except BadRow as e:
                        if self.on_bad_row == "raise" or first:
                            self._bad(e)
                        n = -1
                lengths.append(n)
        finally:
            if first:
                cache.put_many(new)
        return lengths

    def _plan(self) -> PackPlan:
        distributed = dist.is_available() and dist.is_initialized()
        first = not distributed or dist.get_rank() == 0
        lengths, failure = None, None
        if first:
            try:
                lengths = self._measure_all(self._cache(), first=True)
            except BadRow as e:
                failure = e
        if distributed:
            dist.barrier()  # rank 0 has written the cache; the others read it instead of measuring again
            if not first:
                lengths = self._measure_all(self._cache(), first=False)
        if failure is not None:
            raise failure
        c = self.config
        plan = plan_packs(
            lengths, c.packing_length, filter_overlong=c.filter_overlong, seed=c.data_seed or 42
        )
        for i in plan.overlong:
            what = "dropped (filter_overlong)" if c.filter_overlong else "trained alone"
            logger.warning(
                f"longvt_imcott: row {self.row_ids[i]} has {lengths[i]} tokens > {c.packing_length}: {what}"
            )
        s = plan.summary()
        logger.info(
            f"longvt_imcott packing plan: {s['packed_rows']} rows -> {s['packs']} packs of <= {s['packing_length']} "
            f"tokens, fill {s['fill']:.2%} (first-fit-decreasing on exact lengths); {s['overlong_rows']} overlong, "
            f"{s['rejected_rows']} rejected"
        )
        return plan

    # ------------------------------------------------------------------------------------------------ iterate
    def _my_units(self) -> list[list[int]]:
        units = self.plan.packs if self.plan is not None else [[i] for i in range(len(self.data_list))]
        if self.plan is None and self.config.shuffle:
            import random

            random.Random(self.config.data_seed or 42).shuffle(units)
        mine = shard_packs(units, self.rank, self.world_size)
        info = get_worker_info()
        if info is not None:
            per = -(-len(mine) // info.num_workers)
            mine = mine[info.id * per : (info.id + 1) * per]
        return mine

    def __iter__(self):
        units = self._my_units()
        if not self._resuming:
            self.cur_idx = 0
        self._resuming = False
        limit = self.config.packing_length if self.plan is not None else None
        try:
            while self.cur_idx < len(units):
                unit = units[self.cur_idx]
                self.cur_idx += 1
                pack, used = [], 0
                for i in unit:
                    try:
                        s = self.sample(i)
                    except BadRow as e:
                        self._bad(e)
                        continue
                    n = int(s["input_ids"].shape[0])
                    if self.plan is not None and n != self.plan.lengths[i]:
                        self.stats["length_mismatches"] += 1
                        logger.warning(
                            f"longvt_imcott: row {self.row_ids[i]} planned {self.plan.lengths[i]}, got {n}"
                        )
                    if limit is not None and pack and used + n > limit:  # never exceed packing_length
                        yield from self._emit(pack, used)
                        pack, used = [], 0
                    pack.append(s)
                    used += n
                if pack:
                    yield from self._emit(pack, used)
        finally:
            if self.plan is not None and self.stats["packs"]:
                logger.info(f"longvt_imcott packing: {self.packing_report()}")

    def _emit(self, pack: list[dict[str, Any]], used: int):
        self.stats["packs"] += 1
        self.stats["tokens"] += used
        yield pack if self.plan is not None else pack[0]

    def packing_report(self) -> dict[str, Any]:
        """The plan's fill and what was really yielded so far (tokens / (packs x packing_length))."""
        rep = dict(self.plan.summary()) if self.plan is not None else {}
        rep.update(self.stats)
        if self.plan is not None and self.stats["packs"]:
            rep["realized_fill"] = round(
                self.stats["tokens"] / (self.stats["packs"] * self.plan.packing_length), 5
            )
        rep["bad_rows"] = [{"id": r, "reason": why} for r, why in self.bad_rows[:50]]
        rep["pid"] = os.getpid()
        return rep
