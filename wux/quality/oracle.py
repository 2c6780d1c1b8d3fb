"""The ideal ratio mask: what a magnitude-masking denoiser reaches when it knows the clean speech.

`wux eval --oracle` scores it beside the model, per noise kind and SNR band, so a figure like "+0.0 dB on
babble" can be read against what the files allow. It is a yardstick, not a ceiling: a model that predicts
the waveform or a complex mask can exceed it. The mask is the usual IRM, sqrt(|S|^2 / (|S|^2 + |N|^2)), with
S the clean speech and N = noisy - clean, in a 32 ms sqrt-Hann STFT with a quarter-frame hop."""

from __future__ import annotations

import numpy as np

ORACLE = "ideal-ratio-mask"  # the system's name in wux eval's tables and JSON
FRAME_SECONDS = 0.032
HOPS_PER_FRAME = 4


def frame_length(rate: int) -> int:
    """The power of two nearest 32 ms at `rate` (512 at 16 kHz)."""
    return 1 << int(round(np.log2(FRAME_SECONDS * rate)))


def analysis_window(n: int) -> np.ndarray:
    return np.sqrt(np.hanning(n + 1)[:n])  # periodic sqrt-Hann: analysis x synthesis = Hann


def stft(wave: np.ndarray, n: int) -> np.ndarray:
    """[frames, n // 2 + 1] spectra of sqrt-Hann frames every n / 4 samples; the wave padded by a frame each side
    so every sample is covered by a full set of frames."""
    hop = n // HOPS_PER_FRAME
    padded = np.pad(np.asarray(wave, dtype=np.float64), (n, n + (-len(wave)) % hop))
    starts = np.arange(0, len(padded) - n + 1, hop)
    frames = padded[starts[:, None] + np.arange(n)] * analysis_window(n)
    return np.fft.rfft(frames, axis=1)


def istft(spectra: np.ndarray, n: int, length: int) -> np.ndarray:
    """Weighted overlap-add, the summed squared window divided out: istft(stft(x)) == x."""
    hop, window = n // HOPS_PER_FRAME, analysis_window(n)
    frames = np.fft.irfft(spectra, n, axis=1) * window
    total = (len(frames) - 1) * hop + n
    out, envelope = np.zeros(total), np.zeros(total)
    for i, frame in enumerate(frames):
        out[i * hop: i * hop + n] += frame
        envelope[i * hop: i * hop + n] += window**2
    return (out / np.maximum(envelope, 1e-12))[n: n + length]


def ideal_ratio_mask(noisy: np.ndarray, clean: np.ndarray, rate: int) -> np.ndarray:
    """The noisy wave with each time-frequency bin scaled by the clean speech's share of its energy."""
    n = frame_length(rate)
    speech, noise, mixture = (stft(w, n) for w in (clean, noisy - clean, noisy))
    power = np.abs(speech) ** 2
    mask = np.sqrt(power / (power + np.abs(noise) ** 2 + 1e-20))
    return istft(mixture * mask, n, len(noisy)).astype(np.float32)
