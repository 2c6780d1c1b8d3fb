"""The one interface every runtime shares: a batch of waveforms in, a batch out."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Runner(Protocol):
    name: str

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        """[batch, samples] float32 -> [batch, samples] float32."""
        ...
