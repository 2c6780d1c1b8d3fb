import numpy as np
import pytest

from wux.metrics import si_snr_db
from wux.quality.oracle import frame_length, ideal_ratio_mask, istft, stft

RATE = 16_000


@pytest.mark.parametrize("n", [256, 512, 2048])
def test_the_stft_pair_gives_the_wave_back_to_the_last_sample(n):
    wave = np.random.default_rng(0).standard_normal(RATE + 37)  # no whole number of hops
    assert np.abs(istft(stft(wave, n), n, len(wave)) - wave).max() < 1e-12


def test_the_frame_is_the_power_of_two_nearest_32_ms():
    assert [frame_length(r) for r in (8_000, 16_000, 48_000)] == [256, 512, 2048]


def tone(hz: float, seconds: float = 1.0) -> np.ndarray:
    return np.sin(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE)


def test_without_noise_the_mask_keeps_everything():
    clean = np.random.default_rng(1).standard_normal(RATE)
    assert np.abs(ideal_ratio_mask(clean, clean, RATE) - clean).max() < 1e-5


def test_noise_in_other_bins_is_removed_and_noise_in_the_speechs_own_bins_is_not():
    clean = tone(500.0)
    apart = clean + tone(4_000.0)  # a whole 3.5 kHz away from the "speech": the mask separates them
    assert si_snr_db(apart, clean) == pytest.approx(0.0, abs=0.1)
    assert si_snr_db(ideal_ratio_mask(apart, clean, RATE), clean) > 40
    inside = clean + 0.5 * tone(500.0 + 3.0)  # 3 Hz away: the same bins, only a waveform model could part them
    gain = si_snr_db(ideal_ratio_mask(inside, clean, RATE), clean) - si_snr_db(inside, clean)
    assert abs(gain) < 3
