"""Noise families for the synthetic corpus and for augmentation, all from one numpy Generator."""

from __future__ import annotations

import numpy as np

from wux.contract import DEFAULT_SAMPLE_RATE


def white(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.standard_normal(n)


def colored(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power spectral density ~ 1/f**exponent (1: pink, 2: brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spectrum / f ** (exponent / 2), n)


def pink(rng: np.random.Generator, n: int) -> np.ndarray:
    return colored(rng, n, 1.0)


def hum(rng: np.random.Generator, n: int, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Mains hum: 50 or 60 Hz with odd-heavy harmonics, slow amplitude drift and a little hiss."""
    t = np.arange(n) / sample_rate
    base = rng.choice([50.0, 60.0]) * rng.uniform(0.995, 1.005)
    out = np.zeros(n)
    for k in range(1, 12):
        amp = rng.uniform(0.2, 1.0) / k ** (0.6 if k % 2 else 1.2)
        out += amp * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi))
    drift = 1.0 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 2 * np.pi))
    return out * drift + 0.02 * rng.standard_normal(n)


def clicks(rng: np.random.Generator, n: int, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Impulsive noise: random clicks and crackles with short exponential decays."""
    out = np.zeros(n)
    count = max(1, int(rng.uniform(2, 15) * n / sample_rate))
    for _ in range(count):
        start = int(rng.integers(0, n))
        length = int(rng.integers(8, 400))
        decay = np.exp(-np.arange(length) / rng.uniform(3, 80))
        burst = rng.standard_normal(length) * decay * rng.uniform(0.2, 1.0)
        end = min(n, start + length)
        out[start:end] += burst[: end - start]
    return out


def babble(rng: np.random.Generator, n: int, others: list[np.ndarray]) -> np.ndarray:
    """Several other utterances on top of each other, each at a random offset and level."""
    out = np.zeros(n)
    for _ in range(int(rng.integers(3, 7))):
        src = others[int(rng.integers(0, len(others)))]
        offset = int(rng.integers(0, max(1, len(src))))
        tiled = np.resize(np.roll(src, -offset), n)  # loops short utterances
        out += tiled * rng.uniform(0.5, 1.0) / (np.sqrt(np.mean(src**2)) + 1e-9)
    return out


NOISE_FAMILIES = ("white", "pink", "brown", "babble", "hum", "clicks")


def make_noise(family: str, rng: np.random.Generator, n: int, others: list[np.ndarray],
               sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    if family == "white":
        return white(rng, n)
    if family == "pink":
        return pink(rng, n)
    if family == "brown":
        return colored(rng, n, 2.0)
    if family == "babble":
        return babble(rng, n, others)
    if family == "hum":
        return hum(rng, n, sample_rate)
    if family == "clicks":
        return clicks(rng, n, sample_rate)
    raise ValueError(f"unknown noise family {family!r}")


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """clean + noise scaled so that the clean-to-noise power ratio is snr_db."""
    p_clean = np.mean(clean**2) + 1e-12
    p_noise = np.mean(noise**2) + 1e-12
    return clean + noise * np.sqrt(p_clean / (p_noise * 10 ** (snr_db / 10)))
