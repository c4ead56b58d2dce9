"""Framework-free core of longvt-plugins: video sampling, the crop tool, tool-call parsing, answers, judge, rewards,
the agent loop and prompts. Nothing here imports verl, lmms-engine, lmms-eval, ray or scenedetect.

Import the submodule you need (`from longvt_plugins.core.video import sample_window`); this package itself
imports nothing, so `import longvt_plugins.core` stays cheap.
"""
