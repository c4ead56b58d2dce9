"""Miniature LongVT: a synthetic long-video task family where the skim cannot answer and a crop can, the data
path through the pipeline's traces stage, a tiny Qwen2.5-VL trained with `longvt train sft`, and its evaluation.
See docs/miniature.md."""
