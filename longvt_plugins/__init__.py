"""longvt-plugins: LongVT ("thinking with long videos") as plugins for verl, lmms-engine and lmms-eval."""

__version__ = "0.1.0"
