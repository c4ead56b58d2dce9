"""First-fit-decreasing packing: never over budget, every row exactly once, and the classic FFD result."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longvt_plugins.lmms_engine.packing import (
    LengthCache,
    first_fit_decreasing,
    next_fit,
    plan_packs,
    shard_packs,
)


def _reference_ffd(lengths, capacity):
    """The textbook O(n * packs) FFD, to check the segment-tree version against."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    packs, free = [], []
    for i in order:
        for k, f in enumerate(free):
            if f >= lengths[i]:
                packs[k].append(i)
                free[k] -= lengths[i]
                break
        else:
            packs.append([i])
            free.append(capacity - lengths[i])
    return packs


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 500).flatmap(
        lambda cap: st.tuples(st.just(cap), st.lists(st.integers(0, cap), max_size=80))
    )
)
def test_ffd_matches_the_textbook_algorithm_and_never_overfills(case):
    capacity, lengths = case
    packs = first_fit_decreasing(lengths, capacity)
    assert packs == _reference_ffd(lengths, capacity)
    assert sorted(i for p in packs for i in p) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in p) <= capacity for p in packs)


def test_ffd_beats_next_fit_on_a_mixed_stream():
    lengths = [700, 400, 300, 600, 200, 500, 100, 800, 300, 100] * 20
    ffd, nf = first_fit_decreasing(lengths, 1000), next_fit(lengths, 1000)
    assert len(ffd) == sum(lengths) // 1000  # perfectly full packs for this multiset
    assert len(nf) > len(ffd)


def test_next_fit_is_what_lmms_engine_first_fit_does():
    from lmms_engine.datasets.packing import build_online_packer

    lengths = [5, 3, 7, 2, 2, 9, 1, 4, 4, 6]
    packer = build_online_packer("first_fit", 10)
    theirs = [list(p) for i, n in enumerate(lengths) for p in packer.add(i, n)] + [
        list(p) for p in packer.flush()
    ]
    assert theirs == next_fit(lengths, 10)


def test_plan_drops_or_keeps_overlong_and_counts_rejected_rows():
    lengths = [10, 50, -1, 40, 7]
    dropped = plan_packs(lengths, 45, filter_overlong=True)
    assert dropped.overlong == [1] and dropped.rejected == [2]
    assert sorted(i for p in dropped.packs for i in p) == [0, 3, 4]
    kept = plan_packs(lengths, 45, filter_overlong=False)
    assert [1] in kept.packs
    assert dropped.fill == pytest.approx(57 / 90)
    assert dropped.summary()["rejected_rows"] == 1


@pytest.mark.parametrize("n_packs, ranks", [(7, 3), (6, 3), (1, 2), (2, 8), (0, 2)])
def test_every_rank_gets_the_same_number_of_packs(n_packs, ranks):
    packs = [[i] for i in range(n_packs)]
    shards = [shard_packs(packs, r, ranks) for r in range(ranks)]
    # A rank with fewer batches would leave the others hanging in a DDP collective.
    assert len({len(s) for s in shards}) == 1
    assert {p[0] for s in shards for p in s} == set(range(n_packs))  # nothing is lost
    if n_packs:
        assert all(s for s in shards)


def test_length_cache_survives_a_reopen_and_ignores_a_torn_last_line(tmp_path):
    path = tmp_path / "lengths.tsv"
    cache = LengthCache(path)
    cache.put_many({"a": 10, "b": 20})
    with open(path, "a") as f:
        f.write("c\t3")  # a crash mid-line leaves digits without a newline: still a whole value
        f.write("\nd\t")  # and a key with no value
    again = LengthCache(path)
    assert again.get("a") == 10 and again.get("b") == 20 and again.get("d") is None
