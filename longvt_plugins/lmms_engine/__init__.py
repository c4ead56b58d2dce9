"""lmms-engine adapter: the `longvt_imcott` dataset and `longvt_qwen2_5_vl` processor, FFD packing, a launcher.

Importing this package imports nothing from lmms-engine; `longvt_plugins.lmms_engine.register` does (and registers).
"""

DATASET_TYPE = "longvt_imcott"
PROCESSOR_TYPE = "longvt_qwen2_5_vl"


def check_registration() -> tuple[bool, str]:
    """For `longvt doctor`: are our names in lmms-engine's registries (imports lmms-engine, ~20 s)."""
    from longvt_plugins.lmms_engine.register import check_registration as check

    return check()
