"""A doc's identity across lmms-eval's two copies of it: the key under which our model files a sample's record
and our `process_results` takes it back (see `traces`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def _plain(value: Any) -> bool:
    if isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def doc_key(doc: dict) -> str:
    """A content hash of a doc that the model and process_results compute alike.

    The model reads docs from the full dataset, lmms-eval scores docs from a copy with the image columns
    removed; so only plain JSON fields count, and None (what an image column holds when empty) is skipped.
    """
    plain = {k: v for k, v in doc.items() if v is not None and _plain(v)}
    blob = json.dumps(plain, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]
