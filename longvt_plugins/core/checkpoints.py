"""Where an in-process checkpoint lives: a local folder, or a Hugging Face repo id found through the hub cache.

`resolve_checkpoint` is the one place that turns what a user typed (`longvt ask --model`, lmms-eval's
`longvt_agent_hf pretrained=`, `longvt eval run`'s early check) into a folder, so an id such as
`longvideotool/LongVT-RFT` works everywhere transformers would take it, and a miss reads the same everywhere:
one line saying whether the id is not cached (offline), unknown to the Hub, or unreachable, and how to give a
local folder instead.
"""

from __future__ import annotations

import os
from pathlib import Path

# Other frameworks' weights and pickled duplicates: transformers loads safetensors, so a download skips these.
NOT_LOADED = "*.bin *.pth *.pt *.ckpt *.h5 *.msgpack *.onnx *.gguf *.ot original/*".split()

LOCAL_HINT = (
    "give its local folder instead of the id (--model /path/to/folder; lmms-eval: pretrained=/path/to/folder)"
)


class CheckpointNotFound(ValueError):
    """The checkpoint is neither a local folder nor a usable Hub repo id. The message is one line that says why."""


def hub_offline() -> bool:
    """HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE, read now (huggingface_hub reads them once, at its import)."""
    from huggingface_hub import constants

    now = any(
        os.environ.get(k, "").upper() in ("1", "ON", "YES", "TRUE")
        for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )
    return now or constants.HF_HUB_OFFLINE


def resolve_checkpoint(model: str | Path) -> Path:
    """The folder holding `model`'s config.json: `model` itself if it is a local path, else the hub-cache snapshot
    of the repo id `model` (downloaded first when online, as transformers would). Raises CheckpointNotFound."""
    local = Path(model).expanduser()
    if local.exists():
        if not local.is_dir():
            raise CheckpointNotFound(
                f"{model} is a file, not a checkpoint folder (give the folder with config.json)"
            )
        return _with_config(local, str(model))
    folder = _from_hub(str(model))
    return _with_config(folder, f"{model} (cached at {folder})")


def _with_config(folder: Path, label: str) -> Path:
    if not (folder / "config.json").exists():
        raise CheckpointNotFound(f"{label} is not a model checkpoint directory (no config.json)")
    return folder


def _from_hub(repo_id: str) -> Path:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise CheckpointNotFound(
            f"{repo_id}: no such checkpoint directory (and not a Hugging Face repo id such as org/name)"
        ) from None
    offline = hub_offline()
    cache = f"the Hugging Face cache ({constants.HF_HUB_CACHE})"
    fetch = f"download it where there is network (hf download {repo_id}) or "
    try:
        return Path(snapshot_download(repo_id, local_files_only=offline, ignore_patterns=NOT_LOADED))
    except IncompleteSnapshotError:
        why = f"is only partly in {cache}: finish the download (hf download {repo_id}) or "
    except LocalEntryNotFoundError as exc:
        if offline:
            why = f"is not in {cache} and downloads are off (HF_HUB_OFFLINE=1): {fetch}"
        else:  # snapshot_download chains the network error it fell back from
            cause = type(exc.__cause__ or exc).__name__
            why = f"is not in {cache} and the Hub ({constants.ENDPOINT}) cannot be reached ({cause}): {fetch}"
    except GatedRepoError:
        why = "is a gated model on the Hugging Face Hub this login cannot read (hf auth login): "
    except RepositoryNotFoundError:
        why = "is not a model on the Hugging Face Hub (or a private one: hf auth login): "
    except HfHubHTTPError as exc:
        why = f"could not be fetched from the Hugging Face Hub ({str(exc).splitlines()[0]}): "
    raise CheckpointNotFound(f"{repo_id} is not a local folder, and {why}{LOCAL_HINT}")
