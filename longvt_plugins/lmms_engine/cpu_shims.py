"""CPU-only shims so lmms-engine's `hf_trainer` runs without a GPU (tests, laptops). Off unless asked for:
the launcher applies them only with LONGVT_CPU_SHIMS=1 (`longvt train ... --cpu-shims`).

lmms-engine 0.1.4 builds its device mesh on "cuda" unconditionally, asks torch.cuda for the device name in every
loss computation, calls torch.cuda.synchronize() before the final save, and every 10th step puts its MFU
figure on `device=args.local_rank`, which is -1 in a single CPU process (so runs longer than 9 steps crashed). On a machine with CUDA these shims do
nothing, because each one only steps in when CUDA is not available.
"""

from __future__ import annotations

ENV_FLAG = "LONGVT_CPU_SHIMS"


def apply() -> None:
    import torch
    import torch.distributed.device_mesh as device_mesh
    from lmms_engine.parallel import process_group_manager as pgm
    from lmms_engine.train.hf import trainer as hf_trainer

    if torch.cuda.is_available():
        return
    real_mesh = device_mesh.init_device_mesh

    def init_device_mesh(device_type, *args, **kwargs):
        return real_mesh("cpu" if device_type == "cuda" else device_type, *args, **kwargs)

    pgm.init_device_mesh = init_device_mesh
    hf_trainer.torch = _TorchWithCpuTensors()
    torch.cuda.get_device_name = lambda *a, **k: "cpu"
    torch.cuda.synchronize = lambda *a, **k: None


class _TorchWithCpuTensors:
    """`torch` for lmms-engine's trainer module, except that a tensor asked for on device -1 lands on the CPU."""

    def __getattr__(self, name):
        import torch

        return getattr(torch, name)

    @staticmethod
    def tensor(data, *args, device=None, **kwargs):
        import torch

        if isinstance(device, int):  # a local rank: no CUDA here (the shims are only applied without it)
            device = "cpu"
        return torch.tensor(data, *args, device=device, **kwargs)
