"""Eager PyTorch: the reference every other runtime is compared with."""

from __future__ import annotations

import numpy as np

from wux.runtime.base import Runner, ShapeLimits


class TorchRunner(Runner):
    """A [batch, 1, samples] -> [batch, 1, samples] module (wux models, or a user model in its adapter)."""

    name = "pytorch"

    def __init__(self, module, device: str = "cpu", limits: ShapeLimits | None = None):
        super().__init__(limits)
        self.module, self.device = module, device

    def load(self) -> None:
        self.module = self.module.to(self.device).eval()

    def run(self, wave: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(wave).to(self.device)
            return self.module(x.unsqueeze(1)).squeeze(1).float().cpu().numpy()
