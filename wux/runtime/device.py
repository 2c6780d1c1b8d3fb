"""Whether the device a command was asked to run on is there (one wording for every command), and what it offers."""

from __future__ import annotations

from pathlib import Path

from wux.errors import MissingDependency

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo's names for bfloat16 arithmetic in hardware

NO_CUDA_DEVICE = "--device cuda was asked for but torch sees no CUDA device"


def require_cuda(why: str) -> None:
    import torch

    if not torch.cuda.is_available():
        raise MissingDependency("a CUDA device", hint=why)


def require_device(device: str) -> None:
    """--device cuda (or cuda:N) on a machine, or a torch build, without CUDA: one line."""
    if device.startswith("cuda"):
        require_cuda(NO_CUDA_DEVICE)


def cpu_has_bf16() -> bool | None:
    """Whether /proc/cpuinfo lists bfloat16 instructions (None where there is no such file: not Linux)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return None
    return any(flag in flags for flag in CPU_BF16_FLAGS)
