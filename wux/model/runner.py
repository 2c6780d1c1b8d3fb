"""Eager PyTorch as a Runner: the reference every other runtime is compared with."""

from __future__ import annotations

import numpy as np


class TorchRunner:
    name = "pytorch"

    def __init__(self, model, device: str = "cpu"):
        self.model = model.to(device).eval()
        self.device = device

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)).to(self.device)
            y = self.model(x.unsqueeze(1)).squeeze(1)
        return y.float().cpu().numpy()
