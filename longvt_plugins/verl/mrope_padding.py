"""Backport for verl 0.9.1: Qwen-VL mRoPE position ids of a batch whose sequences all have the same length.

verl 0.9.1's `left_right_2_no_padding` builds the nested `position_ids` with `torch.nested.as_nested_tensor` from
per-row `(4, L_i)` tensors. torch picks the ragged dimension as the one whose sizes differ; when every `L_i` is the
same, none differs and it picks the rope dimension (4) instead. `update_actor` then fails with `split_with_sizes
expects split_sizes to sum exactly to N ... got split_sizes=[4, 4, 4, 4]`, or the model sees `(B*4, L)` positions.
Equal lengths are common in smoke runs (scripted or forced outputs, short answers). Fixed upstream after 0.9.1
(verl PR #7901; issues #5829, #6073); this module rebuilds that one tensor with the sequence dimension ragged.

`install()` runs from our `verl.plugins` entry point, i.e. inside `import verl`, before `ray_trainer` imports the
function by name. It does nothing on a verl other than 0.9.1.
"""

from __future__ import annotations

import functools
import sys
from importlib.metadata import version

AFFECTED_VERL = "0.9.1"
_PATCHED_ATTR = "__longvt_mrope_fix__"
# The modules that bind `left_right_2_no_padding` by name at import time.
_IMPORTERS = ("verl.workers.utils.padding", "verl.trainer.ppo.ray_trainer")


def nested_positions(position_ids, attention_mask):
    """Per-row valid positions as a jagged tensor, ragged along the sequence (last) dimension."""
    from verl.utils.tensordict_utils import nested_tensor_from_tensor_list

    rows = [position_ids[i][:, attention_mask[i].bool()] for i in range(attention_mask.shape[0])]
    return nested_tensor_from_tensor_list(rows, ragged_idx=rows[0].dim())


def fixed(original):
    @functools.wraps(original)
    def left_right_2_no_padding(data):
        position_ids, attention_mask = data["position_ids"], data["attention_mask"]
        out = original(data)
        if position_ids.dim() == 3:  # (bs, 4, seq_len): mRoPE
            out["position_ids"] = nested_positions(position_ids, attention_mask)
        return out

    setattr(left_right_2_no_padding, _PATCHED_ATTR, True)
    return left_right_2_no_padding


def install() -> bool:
    """Patch verl 0.9.1 in this process. Returns whether the fix is active."""
    if version("verl") != AFFECTED_VERL:
        return False
    import verl.workers.utils.padding as padding

    current = padding.left_right_2_no_padding
    if not getattr(current, _PATCHED_ATTR, False):
        current = fixed(current)
    for name in _IMPORTERS:
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "left_right_2_no_padding"):
            module.left_right_2_no_padding = current
    return True


def active() -> bool:
    """Is the fix in place where `ray_trainer` will look it up (always True on a verl that needs no fix)?"""
    if version("verl") != AFFECTED_VERL:
        return True
    import verl.workers.utils.padding as padding

    return getattr(padding.left_right_2_no_padding, _PATCHED_ATTR, False)
