"""The one log line that says a rule score stands in for a judge verdict, written only where that is true.

The client cannot know: it hands back the rule score marked ``fallback`` and the caller decides. verl's reward
uses it; ``longvt eval`` under ``--judge-fallback stop`` stops the run instead. When the client wrote this line,
a stopping run logged "using the rule-based score" for a fallback it never made. So the code that really puts
the rule score in a sample's place calls ``log_rule_fallback``; the count is per process, as the client's was.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)
_lock = threading.Lock()
_count = 0


def log_rule_fallback(reason: str) -> None:
    """Warn for the first five fallbacks of the process and every hundredth after (the metric counts them all)."""
    global _count
    with _lock:
        _count += 1
        n = _count
    if n <= 5 or n % 100 == 0:
        log.warning("judge fallback #%d (%s); this sample is scored by rule", n, reason)
