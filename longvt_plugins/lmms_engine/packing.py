"""Token-exact first-fit-decreasing packing, and the on-disk cache of per-row token lengths it plans from.

lmms-engine's iterable packer is next-fit over the stream (one open buffer: a sample that does not fit closes it),
so every pack loses the tail it could not fill. With every row's exact length known up front (text tokens plus the
vision tokens of its image / video grids), first-fit-decreasing fills packs to within a few tokens. FFD here runs in
O(n log n) with a max-segment-tree over the packs' free space, so planning 250k rows takes seconds.

Framework-free: no torch, no lmms-engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


def first_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Indices of `lengths` grouped into packs of total length <= capacity. Every length must be <= capacity."""
    n = len(lengths)
    if n == 0:
        return []
    if capacity <= 0:
        raise ValueError(f"capacity must be positive, got {capacity}")
    order = sorted(range(n), key=lambda i: (-lengths[i], i))  # stable: equal lengths keep row order
    size = 1
    while size < n:
        size *= 2
    free = [0] * (2 * size)  # max-tree of the free space of packs 0..size-1; an unopened pack has `capacity`
    for leaf in range(size):
        free[size + leaf] = capacity
    for node in range(size - 1, 0, -1):
        free[node] = max(free[2 * node], free[2 * node + 1])
    packs: list[list[int]] = []
    for i in order:
        need = lengths[i]
        if need > capacity:
            raise ValueError(f"item {i} has length {need} > capacity {capacity}")
        node = 1
        while node < size:  # descend to the leftmost pack with enough room: that is "first fit"
            node = 2 * node if free[2 * node] >= need else 2 * node + 1
        leaf = node - size
        if leaf == len(packs):
            packs.append([])
        packs[leaf].append(i)
        free[node] -= need
        node //= 2
        while node:
            free[node] = max(free[2 * node], free[2 * node + 1])
            node //= 2
    return packs


def next_fit(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """What lmms-engine 0.1.4's `first_fit` online packer does (kept here only for comparisons)."""
    packs: list[list[int]] = []
    used = 0
    for i, n in enumerate(lengths):
        if packs and used + n <= capacity:
            packs[-1].append(i)
            used += n
        else:
            packs.append([i])
            used = n
    return packs


@dataclass
class PackPlan:
    packing_length: int
    packs: list[list[int]]  # row indices per pack, in training order
    lengths: list[int]  # per row; -1 for rows that were rejected before measuring
    overlong: list[int] = field(default_factory=list)  # rows longer than packing_length (dropped or alone)
    rejected: list[int] = field(default_factory=list)  # rows that failed validation / measuring

    def pack_tokens(self, pack: list[int]) -> int:
        return sum(self.lengths[i] for i in pack)

    @property
    def fill(self) -> float:
        """Tokens in packs / (packs x packing_length), over packs that fit (an overlong row alone is not counted)."""
        fitted = [p for p in self.packs if self.pack_tokens(p) <= self.packing_length]
        if not fitted:
            return 0.0
        return sum(self.pack_tokens(p) for p in fitted) / (len(fitted) * self.packing_length)

    def summary(self) -> dict:
        return {
            "packing_length": self.packing_length,
            "rows": len(self.lengths),
            "packed_rows": sum(len(p) for p in self.packs),
            "packs": len(self.packs),
            "fill": round(self.fill, 5),
            "tokens": sum(self.pack_tokens(p) for p in self.packs),
            "overlong_rows": len(self.overlong),
            "rejected_rows": len(self.rejected),
        }


def plan_packs(
    lengths: Sequence[int], packing_length: int, *, filter_overlong: bool = True, seed: int = 42
) -> PackPlan:
    """FFD over the rows with a length (>= 0); packs are then shuffled (seeded) so training does not see the
    longest packs first. Rows with length < 0 are counted as rejected."""
    rejected = [i for i, n in enumerate(lengths) if n < 0]
    overlong = [i for i, n in enumerate(lengths) if n > packing_length]
    ok = [i for i, n in enumerate(lengths) if 0 <= n <= packing_length]
    packs = [[ok[j] for j in p] for p in first_fit_decreasing([lengths[i] for i in ok], packing_length)]
    if not filter_overlong:
        packs += [[i] for i in overlong]
    random.Random(seed).shuffle(packs)
    return PackPlan(packing_length, packs, list(lengths), overlong, rejected)


def shard_packs(packs: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """Round-robin packs over data-parallel ranks. Every rank gets the same count, ceil(packs / ranks): the last
    round wraps around to the first packs, so no rank runs out of batches (or has none at all, when there are fewer
    packs than ranks) while the others wait for it in a collective."""
    if not packs:
        return []
    want = -(-len(packs) // world_size)
    return [packs[(rank + k * world_size) % len(packs)] for k in range(want)]


class LengthCache:
    """Append-only `key<TAB>length` lines; a crash loses at most the line being written."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._d: dict[str, int] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                k, _, v = line.partition("\t")
                if k and v.lstrip("-").isdigit():
                    self._d[k] = int(v)

    def get(self, key: str) -> int | None:
        return self._d.get(key)

    def put_many(self, items: dict[str, int]) -> None:
        if not items:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.writelines(f"{k}\t{v}\n" for k, v in items.items())
        self._d.update(items)

    def __len__(self) -> int:
        return len(self._d)


def row_key(row: dict, row_id: str) -> str:
    """A row's identity for the length cache: its content (media are referenced by path, so lengths move only
    when the row or the sampling settings change, and the settings are in the cache's file name)."""
    blob = json.dumps({"id": row_id, "row": row}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()


def settings_fingerprint(settings: dict) -> str:
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]
