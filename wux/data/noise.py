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


def babble(rng: np.random.Generator, n: int, others: list[np.ndarray],
           talkers: tuple[int, int] = (3, 6)) -> np.ndarray:
    """`talkers` (inclusive range) other utterances on top of each other, each at a random offset and level."""
    out = np.zeros(n)
    for _ in range(int(rng.integers(talkers[0], talkers[1] + 1))):
        src = others[int(rng.integers(0, len(others)))]
        offset = int(rng.integers(0, max(1, len(src))))
        tiled = np.resize(np.roll(src, -offset), n)  # loops short utterances
        out += tiled * rng.uniform(0.5, 1.0) / (np.sqrt(np.mean(src**2)) + 1e-9)
    return out


def one_pole_lowpass(x: np.ndarray, cutoff_hz: float, sample_rate: int) -> np.ndarray:
    """First-order low-pass, done in the frequency domain (the noise is synthetic, edges do not matter)."""
    spectrum = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / sample_rate)
    return np.fft.irfft(spectrum / np.sqrt(1 + (f / cutoff_hz) ** 2), len(x))


def band(rng: np.random.Generator, n: int, low_hz: float, high_hz: float, sample_rate: int) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sample_rate)
    spectrum[(f < low_hz) | (f > high_hz)] = 0
    return np.fft.irfft(spectrum, n)


def fan(rng: np.random.Generator, n: int, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """A fan or air conditioner: low-passed broadband rush, a blade-pass tone with harmonics, slow wobble."""
    t = np.arange(n) / sample_rate
    rush = one_pole_lowpass(rng.standard_normal(n), rng.uniform(300, 2500), sample_rate)
    rush /= np.std(rush) + 1e-12
    blade = rng.uniform(40, 200)
    tone = sum(rng.uniform(0.1, 0.5) / k * np.sin(2 * np.pi * blade * k * t + rng.uniform(0, 2 * np.pi))
               for k in range(1, 5))
    wobble = 1.0 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.2, 2.0) * t)
    return (rush + tone) * wobble


def traffic(rng: np.random.Generator, n: int, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Street noise: low rumble with passing vehicles (swells of road noise) and the odd horn."""
    t = np.arange(n) / sample_rate
    out = colored(rng, n, 2.0)
    out /= np.std(out) + 1e-12
    for _ in range(max(1, int(rng.uniform(0.2, 0.8) * n / sample_rate))):
        centre, width = rng.uniform(0, n / sample_rate), rng.uniform(0.5, 2.5)
        swell = np.exp(-0.5 * ((t - centre) / (width / 2)) ** 2)
        out += rng.uniform(1, 3) * swell * band(rng, n, 60, rng.uniform(800, 3000), sample_rate) * 3
    if rng.random() < 0.3:
        start = int(rng.integers(0, n))
        length = min(n - start, int(rng.uniform(0.2, 0.8) * sample_rate))
        horn = rng.uniform(300, 500)
        k = np.arange(length) / sample_rate
        out[start: start + length] += 2 * (np.sin(2 * np.pi * horn * k) + 0.5 * np.sin(2 * np.pi * 1.26 * horn * k))
    return out


def keyboard(rng: np.random.Generator, n: int, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Typing: bursts of keystrokes (a click and a damped resonance each) over a quiet room."""
    out = 0.01 * pink(rng, n)
    pos = int(rng.uniform(0, 0.3) * sample_rate)
    while pos < n:
        length = int(rng.uniform(0.01, 0.04) * sample_rate)
        k = np.arange(length)
        body = np.sin(2 * np.pi * rng.uniform(800, 4000) * k / sample_rate) * np.exp(-k / rng.uniform(20, 120))
        stroke = (body + 0.6 * rng.standard_normal(length) * np.exp(-k / 15)) * rng.uniform(0.3, 1.0)
        end = min(n, pos + length)
        out[pos:end] += stroke[: end - pos]
        # keystrokes come every 80-250 ms, with a pause now and then
        pos += int(rng.uniform(0.08, 0.25) * sample_rate) + (int(rng.uniform(0.3, 1.0) * sample_rate)
                                                                if rng.random() < 0.1 else 0)
    return out


def music(rng: np.random.Generator, n: int, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Background music: chords and a melody of harmonic tones with attack/decay envelopes."""
    beat = int(60 / rng.uniform(70, 150) * sample_rate)
    root = 110 * 2 ** (int(rng.integers(0, 12)) / 12)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16])
    out = np.zeros(n)
    for start in range(0, n, beat):
        length = min(n - start, beat * int(rng.integers(1, 3)))
        k = np.arange(length) / sample_rate
        envelope = np.minimum(1.0, k / 0.01) * np.exp(-k / rng.uniform(0.2, 0.8))
        notes = [root * 2 ** (s / 12) for s in rng.choice(scale, size=3, replace=False)]
        notes.append(2 * root * 2 ** (int(rng.choice(scale)) / 12))  # the melody, an octave up
        for f in notes:
            for h in range(1, 5):
                if f * h < sample_rate / 2:
                    out[start: start + length] += envelope * np.sin(2 * np.pi * f * h * k) / h**1.5
    return out


NOISE_FAMILIES = ("white", "pink", "brown", "babble", "hum", "clicks")
# Recorded-like noises of rooms and streets (the rich corpus recipe adds these).
EVERYDAY_FAMILIES = ("fan", "traffic", "keyboard", "music")
ALL_FAMILIES = NOISE_FAMILIES + EVERYDAY_FAMILIES


def make_noise(family: str, rng: np.random.Generator, n: int, others: list[np.ndarray],
               sample_rate: int = DEFAULT_SAMPLE_RATE, babble_talkers: tuple[int, int] = (3, 6)) -> np.ndarray:
    if family == "white":
        return white(rng, n)
    if family == "pink":
        return pink(rng, n)
    if family == "brown":
        return colored(rng, n, 2.0)
    if family == "babble":
        return babble(rng, n, others, babble_talkers)
    if family == "hum":
        return hum(rng, n, sample_rate)
    if family == "clicks":
        return clicks(rng, n, sample_rate)
    everyday = {"fan": fan, "traffic": traffic, "keyboard": keyboard, "music": music}
    if family in everyday:
        return everyday[family](rng, n, sample_rate)
    raise ValueError(f"unknown noise family {family!r}")


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """clean + noise scaled so that the clean-to-noise power ratio is snr_db."""
    p_clean = np.mean(clean**2) + 1e-12
    p_noise = np.mean(noise**2) + 1e-12
    return clean + noise * np.sqrt(p_clean / (p_noise * 10 ** (snr_db / 10)))


FULL_SCALE_PEAK = 0.99  # a mixture louder than this would clip in a 16-bit file


def within_full_scale(clean: np.ndarray, noisy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pair scaled together so the noisy side fits FULL_SCALE_PEAK: scale both, never clip one."""
    peak = float(np.max(np.abs(noisy), initial=0.0))
    if peak <= FULL_SCALE_PEAK:
        return clean, noisy
    return clean * (FULL_SCALE_PEAK / peak), noisy * (FULL_SCALE_PEAK / peak)
