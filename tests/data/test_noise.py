import numpy as np
import pytest

from wux.data import noise as noises


@pytest.mark.parametrize("family", noises.ALL_FAMILIES)
def test_every_family_is_finite_full_length_and_seeded(family):
    others = [np.sin(np.arange(8000) / (3 + k)) for k in range(4)]
    a = noises.make_noise(family, np.random.default_rng(1), 24000, others)
    b = noises.make_noise(family, np.random.default_rng(1), 24000, others)
    c = noises.make_noise(family, np.random.default_rng(2), 24000, others)
    assert a.shape == (24000,) and np.all(np.isfinite(a)) and np.std(a) > 0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_everyday_noises_have_their_character():
    rng = np.random.default_rng(0)
    n, rate = 48000, 16000

    def low_share(x, hz):  # share of power below hz
        p = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x), 1 / rate)
        return p[f < hz].sum() / p.sum()

    assert low_share(noises.traffic(rng, n, rate), 1000) > 0.5  # rumble and tyres: mostly low
    assert low_share(noises.white(rng, n), 1000) < 0.2
    typing = noises.keyboard(rng, n, rate)
    frame = np.abs(typing[: n // 160 * 160]).reshape(-1, 160).max(axis=1)
    assert np.sum(frame > 5 * np.median(frame)) >= 6  # separate keystrokes stand out of the room
    music = noises.music(rng, n, rate)
    spectrum = np.abs(np.fft.rfft(music))
    assert spectrum.max() > 20 * np.median(spectrum)  # tonal: a few strong partials


def test_babble_talker_count_follows_the_range():
    # each talker is one unit-RMS sinusoid at its own frequency: count the spectral peaks
    others = [np.sin(2 * np.pi * (200 + 150 * k) * np.arange(16000) / 16000) for k in range(12)]
    for talkers in ((2, 2), (8, 8)):
        out = noises.babble(np.random.default_rng(5), 16000, others, talkers)
        spectrum = np.abs(np.fft.rfft(out))
        peaks = np.sum(spectrum > 0.2 * spectrum.max())
        assert 1 <= peaks <= talkers[1]
    many = noises.babble(np.random.default_rng(5), 16000, others, (8, 8))
    few = noises.babble(np.random.default_rng(5), 16000, others, (2, 2))
    assert np.std(many) > np.std(few)  # more talkers, more summed power


def test_a_mixture_louder_than_full_scale_is_scaled_with_its_clean_side_never_clipped():
    clean = 0.5 * np.sin(np.arange(16000) / 7)
    loud = noises.mix_at_snr(clean, noises.clicks(np.random.default_rng(0), 16000), -5)
    assert np.max(np.abs(loud)) > 1
    ref, noisy = noises.within_full_scale(clean, loud)
    gain = noises.FULL_SCALE_PEAK / np.max(np.abs(loud))
    np.testing.assert_allclose(noisy, loud * gain)
    np.testing.assert_allclose(ref, clean * gain)  # the same gain: the pair still matches
    quiet_ref, quiet = noises.within_full_scale(clean, 0.5 * clean)
    assert quiet_ref is clean and np.array_equal(quiet, 0.5 * clean)  # already fits: untouched
