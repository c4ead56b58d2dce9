"""lmms-eval adapter: tool-calling chat models (entry point `lmms_eval.models`), task folders, protocol card.

Nothing here imports lmms_eval at module level: `longvt doctor` and the CLI import this package cheaply.
"""

from __future__ import annotations

from pathlib import Path

from longvt_plugins.lmms_eval.manifest import MODELS

# Every task, tag and group we ship starts with this: lmms-eval 0.7.3 silently prefers a built-in task of the
# same name over an --include_path one, and it already ships longvt*, videomme*, video_mmmu* and lvbench*.
TASK_PREFIX = "longvtp_"


def tasks_path() -> Path:
    """The folder to hand to lmms-eval as `--include_path`: `longvt_plugins/eval_tasks` (in a checkout a link
    to the repo's top-level `eval_tasks/`; in the wheel the folders themselves). Found by location, not imported:
    the task folders' `utils.py` import this adapter, not the other way round."""
    return (Path(__file__).resolve().parent.parent / "eval_tasks").resolve()


def check_registration() -> tuple[bool, str]:
    """(ok, message) for `longvt doctor`: after `import lmms_eval.models`, do our model ids resolve to our classes?"""
    try:
        import lmms_eval.models as models
    except Exception as exc:  # not installed, or broken (e.g. filelock>=4.3)
        return False, f"cannot import lmms_eval.models: {type(exc).__name__}: {exc}"
    problems = []
    for model_id, (class_path, aliases) in MODELS.items():
        for name in (model_id, *aliases):
            try:
                manifest = models.get_model_manifest(name)
            except Exception as exc:
                problems.append(f"{name}: not registered ({exc}); is longvt-plugins installed (entry point)?")
                continue
            if manifest.chat_class_path != class_path:
                problems.append(f"{name}: resolves to {manifest.chat_class_path}, expected {class_path}")
    if problems:
        return False, "; ".join(problems)
    names = ", ".join(MODELS)
    return True, f"lmms-eval models registered: {names}; tasks at {tasks_path()}"


__all__ = ["MODELS", "TASK_PREFIX", "check_registration", "tasks_path"]
