"""verl 0.9.1 + Qwen-VL: a batch whose sequences all have the same length must keep mRoPE positions per token.

Seen on the GPU host: `update_actor` failed with `split_with_sizes expects split_sizes to sum exactly to N ... got
split_sizes=[4, 4, 4, 4]` when every rollout of a step had the same length. The conversion runs on CPU as it does
in the trainer, so the bug and our backport are checked here with verl's own functions.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("verl")


def left_right_batch(lengths: list[int], width: int = 8):
    """A left/right-padded batch as verl's trainer hands it over: (bs, 4, width) mRoPE positions."""
    from tensordict import TensorDict

    bs = len(lengths)
    attention_mask = torch.zeros(bs, width, dtype=torch.long)
    position_ids = torch.zeros(bs, 4, width, dtype=torch.long)
    for i, n in enumerate(lengths):
        attention_mask[i, width - n :] = 1  # left padding (prompt side)
        position_ids[i, :, width - n :] = torch.arange(n) + 100 * (i + 1) + torch.arange(4)[:, None] * 1000
    return TensorDict(
        {
            "input_ids": torch.arange(bs * width).reshape(bs, width),
            "attention_mask": attention_mask,
            "response_mask": torch.ones(bs, 2, dtype=torch.long),
            "position_ids": position_ids,
        },
        batch_size=[bs],
    )


@pytest.mark.parametrize("lengths", [[5, 5, 5, 5], [3, 6, 2, 5]])
def test_positions_stay_per_token_whatever_the_lengths(lengths):
    import verl  # noqa: F401 - the entry point installs the backport
    from verl.utils import tensordict_utils as tu
    from verl.workers.utils.padding import left_right_2_no_padding

    out = left_right_2_no_padding(left_right_batch(lengths))
    positions = out["position_ids"]
    # What the FSDP engine feeds the model with remove_padding: (4, total_tokens).
    assert tuple(positions.values().shape) == (4, sum(lengths))
    # What update_actor does to split a batch into micro-batches (the call that raised on 0.9.1).
    parts = tu.chunk_tensordict(out, chunks=2)
    rows = [row for part in parts for row in part["position_ids"].unbind(0)]
    assert [tuple(r.shape) for r in rows] == [(4, n) for n in lengths]
    for i, (row, n) in enumerate(zip(rows, lengths, strict=True)):
        assert row[0].tolist() == [100 * (i + 1) + k for k in range(n)]
        assert row[3, 0].item() == 3000 + 100 * (i + 1)


def test_the_trainer_module_sees_the_fixed_function():
    from verl.trainer.ppo import ray_trainer
    from verl.workers.utils import padding

    from longvt_plugins.verl import mrope_padding

    assert mrope_padding.active()
    assert ray_trainer.left_right_2_no_padding is padding.left_right_2_no_padding


def test_unpatched_verl_breaks_on_equal_lengths():
    """The check above can fail: verl's own function, unpatched, still loses the per-token layout."""
    from verl.workers.utils import padding

    from longvt_plugins.verl import mrope_padding

    if not mrope_padding.active() or mrope_padding.version("verl") != mrope_padding.AFFECTED_VERL:
        pytest.skip("only verl 0.9.1 has the bug")
    original = padding.left_right_2_no_padding.__wrapped__
    out = original(left_right_batch([5, 5, 5, 5]))
    assert tuple(out["position_ids"].values().shape) != (4, 20)
