"""longvt-plugins: LongVT ("thinking with long videos") as plugins for verl, lmms-engine and lmms-eval."""

__version__ = "0.1.0"  # the one place: the wheel (pyproject dynamic), `longvt --version`, eval protocol cards
