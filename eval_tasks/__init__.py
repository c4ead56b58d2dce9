"""lmms-eval task folders shipped with longvt-plugins, installed as `longvt_plugins/eval_tasks/`.

Pass this folder to lmms-eval as --include_path: `longvt eval path` prints it, `longvt eval run` adds it for you.
"""
