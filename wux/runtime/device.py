"""Whether the device a command was asked to run on is there (one wording for every command)."""

from __future__ import annotations

from wux.errors import MissingDependency

NO_CUDA_DEVICE = "--device cuda was asked for but torch sees no CUDA device"


def require_cuda(why: str) -> None:
    import torch

    if not torch.cuda.is_available():
        raise MissingDependency("a CUDA device", hint=why)


def require_device(device: str) -> None:
    """--device cuda (or cuda:N) on a machine, or a torch build, without CUDA: one line."""
    if device.startswith("cuda"):
        require_cuda(NO_CUDA_DEVICE)
