"""Training-time augmentation of (clean, noisy) pairs; every transform keeps the pair consistent."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from wux.contract import DEFAULT_SAMPLE_RATE
from wux.data import DEFAULT_SPEED_PERCENT
from wux.data import noise as noises
from wux.data.resample import fit_length, resample_poly


@dataclass(frozen=True)
class AugmentConfig:
    extra_noise: bool = True  # add white or pink noise to the noisy side only
    speed: bool = True  # change speed (and pitch and formants) by up to +-speed_percent
    speed_percent: float = DEFAULT_SPEED_PERCENT  # wider: more timbres from the same speakers
    reverb: bool = True  # convolve both sides with a synthetic room impulse response
    # False: only the speech is in that room; the noise (noisy - clean) stays as it was, as in the rich corpus's
    # reverberant files (a talker in a room, a noise close to the microphone); True: both, as wux always has
    reverb_noise: bool = True
    gain: bool = True  # scale both sides by the same random gain
    remix: bool = True  # replace the noise by another training file's noise, at a new SNR (dynamic mixing)
    probability: float = 0.5  # chance that each enabled transform is applied
    # chance that a segment whose noise is babble gets new babble instead, of other training speakers' speech
    # (wux.data.fresh_babble; 0: the corpus's own babble files only, as wux trained before 2026-12-05)
    fresh_babble: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def off(cls) -> AugmentConfig:
        return cls(extra_noise=False, speed=False, reverb=False, gain=False, remix=False)


REMIX_SNR_DB = (-5.0, 20.0)


def remix(clean: np.ndarray, noise: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A new noisy side: this clean speech under another file's noise, at an SNR drawn from REMIX_SNR_DB."""
    return noises.mix_at_snr(clean.astype(np.float64), noise.astype(np.float64), rng.uniform(*REMIX_SNR_DB))


SPEED_GRID = 50  # speed factors are 50/k so the resampler's filters stay small and cached


def speed_steps(percent: float) -> tuple[int, int]:
    """The grid steps k (factor 50/k) of speed changes up to about +-percent % (wux.data.SPEED_PERCENT_RANGE), as
    rng.integers bounds (the second excluded): 10 % gives k 45 .. 55, factors 0.91 .. 1.11."""
    return int(SPEED_GRID / (1 + percent / 100)), int(SPEED_GRID / (1 - percent / 100)) + 1


def change_speed(wave: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster (length / factor), factor rounded to the 50/k grid."""

    out_rate = int(round(SPEED_GRID / factor))
    return resample_poly(wave, SPEED_GRID, out_rate).astype(np.float64)


def room_impulse_response(rng: np.random.Generator, sample_rate: int = DEFAULT_SAMPLE_RATE,
                          rt60: float | None = None) -> np.ndarray:
    """Direct path plus exponentially decaying diffuse tail; RT60 `rt60` s, or drawn between 0.15 and 0.6 s."""
    rt60 = rng.uniform(0.15, 0.6) if rt60 is None else rt60
    n = int(rt60 * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * rng.uniform(0.1, 0.5)
    tail[: int(0.002 * sample_rate)] = 0.0  # a short gap before early reflections
    tail[0] = 1.0
    return tail / np.sqrt(np.sum(tail**2))


def fft_convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = len(x) + len(h) - 1
    size = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)[: len(x)]


def pair_in_room(clean: np.ndarray, noisy: np.ndarray, rir: np.ndarray,
                 with_noise: bool) -> tuple[np.ndarray, np.ndarray]:
    """The pair as a microphone in a room hears it: both sides through the room's impulse response `rir`, or, when
    not `with_noise`, the speech alone, under the same noise as before (noisy - clean)."""
    speech = fft_convolve(clean, rir)
    if with_noise:
        return speech, fft_convolve(noisy, rir)
    return speech, speech + (noisy - clean)


def augment_pair(clean: np.ndarray, noisy: np.ndarray, cfg: AugmentConfig,
                 rng: np.random.Generator, sample_rate: int = DEFAULT_SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """Apply the enabled transforms; output lengths equal input lengths."""
    n = len(clean)
    clean, noisy = clean.astype(np.float64), noisy.astype(np.float64)
    p = cfg.probability
    if cfg.speed and rng.random() < p:
        factor = SPEED_GRID / rng.integers(*speed_steps(cfg.speed_percent))
        clean, noisy = (fit_length(change_speed(w, factor), n) for w in (clean, noisy))
    if cfg.reverb and rng.random() < p:
        clean, noisy = pair_in_room(clean, noisy, room_impulse_response(rng, sample_rate), cfg.reverb_noise)
    if cfg.extra_noise and rng.random() < p:
        extra = noises.white(rng, n) if rng.random() < 0.5 else noises.pink(rng, n)
        noisy = noisy + (noises.mix_at_snr(noisy, extra, rng.uniform(5, 25)) - noisy)
    if cfg.gain and rng.random() < p:
        g = 10 ** (rng.uniform(-6, 6) / 20)
        clean, noisy = clean * g, noisy * g
    clean, noisy = noises.within_full_scale(clean, noisy)
    return clean.astype(np.float32), noisy.astype(np.float32)

