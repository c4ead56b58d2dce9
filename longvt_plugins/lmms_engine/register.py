"""Register our dataset and processor in lmms-engine's registries (the `lmms_engine.plugins` entry point).

lmms-engine has no plugin discovery: its registries are filled by decorators at import time. Our launcher imports
this module (and every other `lmms_engine.plugins` entry point) before running lmms-engine's CLI, in every rank.
Importing it twice is harmless.
"""

from __future__ import annotations

from lmms_engine.mapping_func import (
    DATAPROCESSOR_MAPPING,
    DATASET_MAPPING,
    register_dataset,
    register_processor,
)

from longvt_plugins.lmms_engine import DATASET_TYPE, PROCESSOR_TYPE
from longvt_plugins.lmms_engine.dataset import LongVTTraceDataset
from longvt_plugins.lmms_engine.processor import LongVTQwen25VLProcessor

if DATASET_TYPE not in DATASET_MAPPING:
    register_dataset(DATASET_TYPE)(LongVTTraceDataset)
if PROCESSOR_TYPE not in DATAPROCESSOR_MAPPING:
    register_processor(PROCESSOR_TYPE)(LongVTQwen25VLProcessor)


def check_registration() -> tuple[bool, str]:
    from importlib.metadata import version

    got = {
        f"dataset {DATASET_TYPE}": DATASET_MAPPING.get(DATASET_TYPE) is LongVTTraceDataset,
        f"processor {PROCESSOR_TYPE}": DATAPROCESSOR_MAPPING.get(PROCESSOR_TYPE) is LongVTQwen25VLProcessor,
    }
    missing = [name for name, ok in got.items() if not ok]
    if missing:
        return False, f"not registered in lmms-engine: {', '.join(missing)}"
    return True, f"{', '.join(got)} registered in lmms-engine {version('lmms-engine')}"
