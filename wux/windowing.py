"""Fixed-length windows with context and crossfade, and their overlap-add.

numpy only: the Triton models wux generates import this too (with wux.contract beside it).

Every window starts on the model's stride grid (strided layers are not
shift-invariant), interior windows drop `context` samples at each side where they
meet a neighbour, and neighbours crossfade linearly over `crossfade` samples. When
`context` covers the receptive field, each kept sample equals whole-input inference,
so the stitched output equals it too; the crossfade only matters when it does not.
"""

from __future__ import annotations

import numpy as np

from wux.contract import WindowPlan, round_up

__all__ = ["WindowPlan", "window_starts", "split", "overlap_add"]


def window_starts(samples: int, plan: WindowPlan) -> list[int]:
    """Start of every window for an input of `samples` (padded to the stride grid)."""
    padded = round_up(max(samples, 1), plan.align)
    if padded <= plan.window:
        return [0]
    starts = list(range(0, padded - plan.window, plan.hop))
    starts.append(padded - plan.window)  # last window ends exactly on the padded end
    return starts


def split(wave: np.ndarray, plan: WindowPlan, fixed: bool = True) -> tuple[np.ndarray, list[int]]:
    """[windows, length] zero-padded to the stride grid; `fixed` pads a short input to `window`."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    starts = window_starts(len(wave), plan)
    padded = round_up(len(wave), plan.align)
    length = plan.window if (fixed or padded > plan.window) else padded
    source = np.zeros(max(padded, length), dtype=np.float32)
    source[: len(wave)] = wave
    return np.stack([source[s: s + length] for s in starts]), starts


def window_weights(length: int, plan: WindowPlan, first: bool, last: bool) -> np.ndarray:
    w = np.ones(length, dtype=np.float64)
    ramp = (np.arange(plan.crossfade) + 0.5) / max(plan.crossfade, 1)
    c, f = plan.context, plan.crossfade
    if not first:
        w[:c] = 0.0
        w[c: c + f] = ramp
    if not last:
        w[length - c - f: length - c] = np.minimum(w[length - c - f: length - c], ramp[::-1])
        w[length - c:] = 0.0
    return w


def overlap_add(outputs: np.ndarray, starts: list[int], plan: WindowPlan, samples: int) -> np.ndarray:
    """Stitch [windows, length] outputs back into `samples` samples."""
    length = outputs.shape[1]
    total = max(starts[-1] + length, samples)
    acc = np.zeros(total, dtype=np.float64)
    norm = np.zeros(total, dtype=np.float64)
    for i, (start, out) in enumerate(zip(starts, outputs)):
        w = window_weights(length, plan, first=i == 0, last=i == len(starts) - 1)
        acc[start: start + length] += w * out
        norm[start: start + length] += w
    return (acc[:samples] / norm[:samples]).astype(np.float32)
