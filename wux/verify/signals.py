"""Inputs that parity is checked on: speech, noise, silence, near-full-scale audio, impulses."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from wux.data.audio import read_audio
from wux.resources import SAMPLE_NOISY, bundled

SIGNALS = ("speech", "white_noise", "silence", "full_scale", "impulses")


@lru_cache(maxsize=1)
def speech_source() -> np.ndarray:
    """The bundled noisy sample: synthetic-corpus speech in noise (used as a waveform at any rate)."""
    return read_audio(bundled(SAMPLE_NOISY))


def make_signal(kind: str, batch: int, samples: int, seed: int = 0) -> np.ndarray:
    """[batch, samples] float32; rows differ (other offsets / seeds) so batching bugs show."""
    rng = np.random.default_rng((seed, batch, samples, SIGNALS.index(kind)))
    if kind == "silence":
        return np.zeros((batch, samples), dtype=np.float32)
    if kind == "white_noise":
        return (0.1 * rng.standard_normal((batch, samples))).astype(np.float32)
    if kind == "impulses":
        x = np.zeros((batch, samples), dtype=np.float32)
        for row in x:
            idx = rng.integers(0, samples, size=max(1, samples // 4000))
            row[idx] = rng.choice([-0.95, 0.95], size=len(idx))
        return x
    source = speech_source()
    rows = []
    for _ in range(batch):
        offset = int(rng.integers(0, len(source)))
        rows.append(np.resize(np.roll(source, -offset), samples))
    x = np.stack(rows).astype(np.float32)
    if kind == "full_scale":
        # speech driven into clipping: the loudest input a 16-bit file can hold
        x = np.clip(x / (np.abs(x).max(axis=1, keepdims=True) + 1e-9) * 1.5, -0.999, 0.999)
    return x.astype(np.float32)
