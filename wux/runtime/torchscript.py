"""TorchScript modules (what Triton's pytorch_libtorch backend serves)."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from wux.runtime.base import Runner, ShapeLimits


@contextmanager
def quiet_jit():
    """torch 2.13 marks torch.jit as deprecated, but it is still what Triton's libtorch backend serves."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # wux checks every trace at the shapes it claims (wux.export.check); the tracer's guesses add nothing
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


class TorchScriptRunner(Runner):
    name = "torchscript"

    def __init__(self, path: Path, device: str = "cpu", limits: ShapeLimits | None = None):
        super().__init__(limits)
        self.path, self.device = Path(path), device
        self.module = None

    def load(self) -> None:
        import torch

        with quiet_jit():
            self.module = torch.jit.load(str(self.path), map_location=self.device).eval()

    def run(self, wave: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(wave).to(self.device)
            return self.module(x.unsqueeze(1)).squeeze(1).float().cpu().numpy()

    def release(self) -> None:
        self.module = None
