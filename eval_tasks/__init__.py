"""lmms-eval task folders shipped with longvt-plugins (pass this folder to lmms-eval as --include_path).

`longvt_plugins.lmms_eval.tasks_path()` returns it; `longvt eval run` adds it for you.
"""

from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent
