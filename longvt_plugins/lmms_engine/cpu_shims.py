"""CPU-only shims so lmms-engine's `hf_trainer` runs without a GPU (tests, laptops). Off unless asked for:
the launcher applies them only with LONGVT_CPU_SHIMS=1 (`longvt train ... --cpu-shims`).

lmms-engine 0.1.4 builds its device mesh on "cuda" unconditionally, asks torch.cuda for the device name in every
loss computation, and calls torch.cuda.synchronize() before the final save. On a machine with CUDA these shims do
nothing, because each one only steps in when CUDA is not available.
"""

from __future__ import annotations

ENV_FLAG = "LONGVT_CPU_SHIMS"


def apply() -> None:
    import torch
    import torch.distributed.device_mesh as device_mesh
    from lmms_engine.parallel import process_group_manager as pgm

    if torch.cuda.is_available():
        return
    real_mesh = device_mesh.init_device_mesh

    def init_device_mesh(device_type, *args, **kwargs):
        return real_mesh("cpu" if device_type == "cuda" else device_type, *args, **kwargs)

    pgm.init_device_mesh = init_device_mesh
    torch.cuda.get_device_name = lambda *a, **k: "cpu"
    torch.cuda.synchronize = lambda *a, **k: None
