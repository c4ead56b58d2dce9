"""An LLM judge over any OpenAI-compatible server (vLLM, SGLang, hosted APIs) that never stalls or crashes.

The parts, one concern each:

- ``config``: ``JudgeConfig`` (from arguments and ``LONGVT_JUDGE_*``) and ``JudgeResult``;
- ``replies``: the prompts and how a reply is read (``parse_grade`` 0/0.5/1, ``parse_verdict`` TRUE/FALSE);
- ``limiter``: ``ProcessLimiter``, the concurrency bound shared by every loop and thread;
- ``cache``: ``JudgeCache``, verdicts in SQLite shared by processes;
- ``transport``: the SDK client of one loop and how each HTTP failure is classified for retry;
- ``client``: ``JudgeClient``, which puts them together;
- ``fallback_log``: the warning that a rule score replaced a verdict, written by the caller that used it;
- ``loop``: the judge loop where synchronous callers' verdicts run (``run_sync``);
- ``sync``: the one way callers share a client (``shared_client``), and the exit hook that closes every pool.
"""

from longvt_plugins.core.judge.cache import JudgeCache, cache_key
from longvt_plugins.core.judge.client import JudgeClient
from longvt_plugins.core.judge.config import JudgeConfig, JudgeResult
from longvt_plugins.core.judge.fallback_log import log_rule_fallback
from longvt_plugins.core.judge.limiter import ProcessLimiter
from longvt_plugins.core.judge.loop import run_sync
from longvt_plugins.core.judge.replies import (
    EQUIVALENCE_PROMPT,
    GRADE_PROMPT,
    parse_grade,
    parse_verdict,
    render_prompt,
    strip_thinking,
)
from longvt_plugins.core.judge.sync import shared_client

__all__ = [
    "EQUIVALENCE_PROMPT",
    "GRADE_PROMPT",
    "JudgeCache",
    "JudgeClient",
    "JudgeConfig",
    "JudgeResult",
    "ProcessLimiter",
    "cache_key",
    "log_rule_fallback",
    "parse_grade",
    "parse_verdict",
    "render_prompt",
    "run_sync",
    "shared_client",
    "strip_thinking",
]
