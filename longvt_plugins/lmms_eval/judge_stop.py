"""How a judge that fails mid-run stops lmms-eval: one line on stderr, no traceback, exit code `JUDGE_STOP_EXIT`.

core's scoring chain raises `JudgeUnreachable` (policy "stop"). Raised as it is from `process_results`, lmms-eval
0.7.3 retries the call five times (tenacity, asking the judge again each time), then prints a `RetryError`
traceback and ends with no results. Any `Exception` takes that road; a `SystemExit` does not: tenacity does not
retry it, lmms-eval's `except Exception` does not catch it, its process-results thread pool hands it to the main
thread, and the interpreter exits with its code. Parallel docs that fail too raise it silently: the first one
says why. The answers are already on disk by then (`answer_store`).
"""

from __future__ import annotations

import sys
import threading

from tqdm import tqdm

from longvt_plugins.lmms_eval.answer_store import saved_answers_note

JUDGE_STOP_EXIT = 3  # `longvt eval run` knows this code: the line was printed, nothing to add

_lock = threading.Lock()
_said = False


class JudgeStopped(SystemExit):
    """The judge gave no verdict under `--judge-fallback stop`: the lmms-eval process ends here."""


def judge_stopped(problem: Exception) -> JudgeStopped:
    """Print the one line (first caller only) and return the exit to raise."""
    global _said
    with _lock:
        first, _said = not _said, True
    if first:
        from longvt_plugins.lmms_eval.scoring import judge_identity

        where = judge_identity().get("base_url") or "(not configured)"
        # core's message may carry its own advice after the reason; the line below gives all of it once.
        reason = str(problem).split("; the run stops", 1)[0]
        line = (
            f"longvt: the judge at {where} failed mid-run ({reason}); the run stops rather than score open "
            f"answers by rule. {saved_answers_note()}, or with --judge-fallback rule to score by rule (counted)."
        )
        # tqdm.write: lmms-eval's progress bar is on screen; a plain print would land after it, mid-line.
        tqdm.write(" ".join(line.split()), file=sys.stderr)
    return JudgeStopped(JUDGE_STOP_EXIT)
