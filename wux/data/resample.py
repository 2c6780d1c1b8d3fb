"""Polyphase resampling with a Kaiser-windowed sinc low-pass (no scipy needed)."""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np

ZERO_CROSSINGS = 16  # filter half-width in zero crossings of the narrower band
KAISER_BETA = 8.6  # about 80 dB stop-band attenuation
ROLLOFF = 0.94  # cut-off as a share of the lower Nyquist frequency, leaves room for the transition


@lru_cache(maxsize=128)  # every speed step of the widest --speed-range (68), and the corpus rates
def _polyphase_filter(up: int, down: int) -> tuple[np.ndarray, int]:
    """Filter taps arranged [taps_per_phase, up] and the centre delay (upsampled samples)."""
    band = max(up, down)
    half = ZERO_CROSSINGS * band
    t = np.arange(-half, half + 1, dtype=np.float64)
    cutoff = ROLLOFF * 0.5 / band  # cycles per upsampled sample
    h = 2 * cutoff * np.sinc(2 * cutoff * t) * np.kaiser(len(t), KAISER_BETA)
    h *= up / h.sum()  # unit DC gain after zero-stuffing by `up`
    taps = -(-len(h) // up)
    padded = np.zeros(taps * up)
    padded[: len(h)] = h
    return padded.reshape(taps, up), half


def resample_poly(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample a 1-D signal from rate_in to rate_out; output length ceil(n * out / in)."""
    if rate_in == rate_out:
        return np.asarray(x, dtype=np.float32)
    g = gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    bank, delay = _polyphase_filter(up, down)
    x = np.asarray(x, dtype=np.float64)
    n_out = -(-len(x) * up // down)
    # Output n sits at position n*down + delay of the zero-stuffed, filtered signal;
    # only every up-th tap meets a real input sample, so each output needs bank[:, phase].
    pos = np.arange(n_out, dtype=np.int64) * down + delay
    phase, base = pos % up, pos // up
    y = np.zeros(n_out)
    for j in range(bank.shape[0]):
        idx = base - j
        valid = (idx >= 0) & (idx < len(x))
        y[valid] += bank[j, phase[valid]] * x[idx[valid]]
    return y.astype(np.float32)


def fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    """The first n samples, zero-padded at the end when shorter."""
    return wave[:n] if len(wave) >= n else np.pad(wave, (0, n - len(wave)))


def processed_at_rate(process, wave: np.ndarray, rate: int, work_rate: int) -> np.ndarray:
    """`process` (wave -> wave, a denoiser) run on a 1-D wave brought from `rate` to `work_rate`, its output
    brought back to `rate` at the wave's own length: how a model at one rate answers audio at another (`wux
    denoise --resample`, the gateway)."""
    y = np.asarray(process(resample_poly(wave, rate, work_rate)), dtype=np.float32).reshape(-1)
    return fit_length(resample_poly(y, work_rate, rate), len(wave))


def processed_channels(process, samples: np.ndarray, rate: int, work_rate: int) -> np.ndarray:
    """(frames, channels) samples at any rate, each channel run through `process` at `work_rate` on its own and
    brought back: the input's rate, length and channels (what `wux denoise` writes and the gateway answers)."""
    out = np.empty_like(samples)
    for c in range(samples.shape[1]):
        out[:, c] = processed_at_rate(process, np.ascontiguousarray(samples[:, c]), rate, work_rate)
    return out
