import numpy as np
import pytest
import soundfile as sf

from wux.data.augment import (
    AugmentConfig,
    augment_pair,
    change_speed,
    fft_convolve,
    room_impulse_response,
    speed_steps,
)
from wux.data.dataset import (
    SegmentDataset,
    conversion_notes,
    list_pairs,
    load_pairs,
    noise_kind_weights,
    split_validation,
)
from wux.data.layout import Metadata
from wux.errors import DataError, UnreadableAudio


def test_loads_pairs_and_validation_split(tiny_corpus):
    pairs = load_pairs(tiny_corpus, "train")
    assert len(pairs) == 6 and all(len(p.clean) == len(p.noisy) for p in pairs)
    train, val = split_validation(pairs, 0.34)
    assert len(val) == 2 and not {p.name for p in train} & {p.name for p in val}


def test_missing_layout_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="clean_trainset_wav"):
        list_pairs(tmp_path, "train")


def test_segments_are_fixed_length_and_reproducible(tiny_corpus):
    pairs = load_pairs(tiny_corpus, "train")
    ds = SegmentDataset(pairs, segment=4096, augment=AugmentConfig(), seed=3)
    assert len(ds) == int(np.ceil(sum(len(p.clean) for p in pairs) / 4096))
    a, b = ds[5], ds[5]
    assert a[0].shape == (4096,) and a[1].shape == (4096,)
    np.testing.assert_array_equal(a[0], b[0])
    ds.epoch = 1
    assert not np.array_equal(ds[5][1], a[1])  # a new epoch draws new crops


def drawn(ds: SegmentDataset, draws: int = 1000) -> list[str]:
    rng = np.random.default_rng(7)
    return [ds.draw_pair(rng).name for _ in range(draws)]


def test_noise_kind_weights_draw_those_files_more_often(tiny_corpus):
    pairs = load_pairs(tiny_corpus, "train")
    meta = Metadata({p.name: "babble" if p.name == pairs[0].name else "white" for p in pairs}, {}, "corpus.json")
    weights = noise_kind_weights(pairs, meta, {"babble": 50.0}, tiny_corpus)
    assert list(weights) == [50.0] + [1.0] * (len(pairs) - 1)
    even = SegmentDataset(pairs, segment=4096, augment=AugmentConfig.off())
    favoured = SegmentDataset(pairs, segment=4096, augment=AugmentConfig.off(), draw_weights=weights)
    assert len(favoured) == len(even)  # an epoch is as long as before: only the mix changes
    # equal lengths: 1 in 6 draws unweighted, 50 in 55 weighted (seeded, so the counts are fixed)
    assert drawn(even).count(pairs[0].name) < 300 and drawn(favoured).count(pairs[0].name) > 800


@pytest.mark.parametrize("weights, message", [
    ({"bable": 3.0}, r"corpus.json: no training file has noise bable \(the kinds are: white\)"),
    ({"white": 0.0}, "positive and finite"),
    ({"white": float("inf")}, "positive and finite"),
])
def test_noise_kind_weights_refuse_what_would_train_silently_wrong(tiny_corpus, weights, message):
    pairs = load_pairs(tiny_corpus, "train")
    meta = Metadata({p.name: "white" for p in pairs}, {}, "corpus.json")
    with pytest.raises(DataError, match=message):
        noise_kind_weights(pairs, meta, weights, tiny_corpus)


def test_augmentations_keep_the_pair_consistent():
    rng = np.random.default_rng(0)
    clean = (0.1 * np.sin(np.arange(8000) / 7)).astype(np.float32)
    noise = (0.01 * rng.standard_normal(8000)).astype(np.float32)
    cfg = AugmentConfig(extra_noise=False, speed=True, reverb=True, gain=True, probability=1.0)
    c2, n2 = augment_pair(clean, clean + noise, cfg, np.random.default_rng(1))
    c3, _ = augment_pair(clean, clean, cfg, np.random.default_rng(1))
    assert c2.shape == n2.shape == (8000,)
    # the transforms are linear, so noisy - clean is the transformed noise: never zero, never huge
    residual = n2 - c2
    assert 0 < np.sqrt(np.mean(residual**2)) < 0.1
    np.testing.assert_allclose(c2, c3, atol=1e-6)  # same rng, same transform of the clean side


def test_reverb_without_noise_puts_the_speech_alone_in_the_room():
    rng = np.random.default_rng(0)
    clean = (0.1 * np.sin(np.arange(8000) / 7)).astype(np.float32)
    noise = (0.01 * rng.standard_normal(8000)).astype(np.float32)
    reverb_and_gain = dict(extra_noise=False, speed=False, remix=False, probability=1.0)
    both = augment_pair(clean, clean + noise, AugmentConfig(**reverb_and_gain), np.random.default_rng(1))
    speech = augment_pair(clean, clean + noise, AugmentConfig(**reverb_and_gain, reverb_noise=False),
                          np.random.default_rng(1))
    # the draws, as wux always made them: the reverb's chance, its room, the gain's chance, the gain
    draws = np.random.default_rng(1)
    draws.random()
    rir = room_impulse_response(draws)
    draws.random()
    g = 10 ** (draws.uniform(-6, 6) / 20)
    room = fft_convolve(clean.astype(np.float64), rir)
    np.testing.assert_allclose(both[0], g * room, atol=1e-6)
    np.testing.assert_allclose(both[1], g * fft_convolve((clean + noise).astype(np.float64), rir), atol=1e-6)
    np.testing.assert_allclose(speech[0], g * room, atol=1e-6)  # the same room and gain, drawn the same way
    np.testing.assert_allclose(speech[1], g * (room + noise), atol=1e-6)  # under the noise as it was


def test_augmentation_off_is_identity():
    rng = np.random.default_rng(0)
    clean = rng.standard_normal(1000).astype(np.float32) * 0.1
    noisy = clean + 0.01
    c, n = augment_pair(clean, noisy, AugmentConfig.off(), rng)
    np.testing.assert_array_equal(c, clean)
    np.testing.assert_allclose(n, noisy, atol=1e-7)


def test_speed_and_rir_properties():
    x = np.sin(2 * np.pi * 200 * np.arange(16000) / 16000)
    assert len(change_speed(x, 50 / 45)) == 14400
    assert len(change_speed(x, 50 / 55)) == 17600
    faster = change_speed(x, 50 / 45)  # a 200 Hz tone played 1.11x faster is a 222 Hz tone
    peak_hz = np.argmax(np.abs(np.fft.rfft(faster))) * 16000 / len(faster)
    assert peak_hz == pytest.approx(200 * 50 / 45, abs=1.5)
    rir = room_impulse_response(np.random.default_rng(0))
    assert rir[0] == rir.max() and np.isclose(np.sum(rir**2), 1.0)


def test_speed_range_widens_the_speed_changes_and_keeps_the_default_draw():
    """--speed-range 10 draws the grid steps wux always drew (45 .. 55); 40 moves a tone's pitch further than 10 %
    ever does, the pair kept in step and its length kept."""
    assert speed_steps(10) == (45, 56) and AugmentConfig().speed_percent == 10
    assert speed_steps(40) == (35, 84)  # 50/35 = 1.43x .. 50/83 = 0.60x
    tone = np.sin(2 * np.pi * 400 * np.arange(16000) / 16000).astype(np.float32)
    only_speed = dict(extra_noise=False, reverb=False, gain=False, remix=False, probability=1.0)

    def pitch_ratios(percent: float) -> list[float]:
        ratios = []
        for seed in range(12):
            cfg = AugmentConfig(**only_speed, speed_percent=percent)
            clean, noisy = augment_pair(tone, tone, cfg, np.random.default_rng(seed))
            assert len(clean) == len(tone) and np.array_equal(clean, noisy)
            ratios.append(np.argmax(np.abs(np.fft.rfft(clean))) / 400)  # 1 Hz bins
        return ratios

    default, wide = pitch_ratios(10), pitch_ratios(40)
    assert 0.9 <= min(default) and max(default) <= 1.12
    assert min(wide) < 0.85 or max(wide) > 1.15


def test_remix_puts_another_files_noise_under_the_speech():
    from wux.data.augment import REMIX_SNR_DB
    from wux.data.dataset import Pair

    rng = np.random.default_rng(0)
    speech = [(0.1 * np.sin(np.arange(8000) / (5 + k))).astype(np.float32) for k in range(2)]
    # file 0 is noisy with a high tone, file 1 with white noise: a remix of file 0 carries white noise
    tone = (0.05 * np.sin(2 * np.pi * 3000 * np.arange(8000) / 16000)).astype(np.float32)
    hiss = (0.05 * rng.standard_normal(8000)).astype(np.float32)
    pairs = [Pair("a", speech[0], speech[0] + tone), Pair("b", speech[1], speech[1] + hiss)]
    only_remix = AugmentConfig(extra_noise=False, speed=False, reverb=False, gain=False, remix=True, probability=1.0)
    ds = SegmentDataset(pairs, segment=8000, augment=only_remix, seed=1, segments_per_epoch=40)
    remixed = 0
    for i in range(len(ds)):
        clean, noisy = ds[i]
        noise = noisy.astype(np.float64) - clean
        snr = 10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / np.sum(noise**2))
        assert REMIX_SNR_DB[0] - 0.1 <= snr <= REMIX_SNR_DB[1] + 0.1
        spectrum = np.abs(np.fft.rfft(noise))
        tonal = spectrum.max() > 30 * np.median(spectrum)
        remixed += not tonal and np.allclose(clean, speech[0])  # file 0's speech under file 1's hiss
    assert remixed > 0
    off = SegmentDataset(pairs, segment=8000, augment=AugmentConfig.off(), seed=1, segments_per_epoch=4)
    for i in range(len(off)):
        clean, noisy = off[i]
        assert any(np.allclose(noisy, p.noisy) for p in pairs)  # without remix the pair is the file's own


def test_validation_by_speaker_holds_out_whole_voices():
    from wux.data.dataset import Pair, speaker_of

    wave = np.zeros(10, dtype=np.float32)
    pairs = [Pair(f"p{s:03d}_{k:03d}", wave, wave) for s in range(40) for k in range(3)]
    train, val = split_validation(pairs, 0.05, by="speaker")
    held = {speaker_of(p.name) for p in val}
    assert held == {"p010", "p030"}  # every 20th speaker
    assert len(val) == 6 and not held & {speaker_of(p.name) for p in train}
    by_file = split_validation(pairs, 0.05)[1]
    assert len(by_file) == 6 and len({speaker_of(p.name) for p in by_file}) == 6  # spread over speakers
    with pytest.raises(DataError, match="choose from file, speaker"):
        split_validation(pairs, 0.05, by="voice")


def test_validation_by_speaker_takes_the_corpus_records_speakers_and_refuses_to_hold_out_none(tmp_path):
    import json

    from tests.conftest import write_corpus
    from wux.data.dataset import Pair
    from wux.data.layout import read_metadata

    wave = np.zeros(10, dtype=np.float32)
    pairs = [Pair(f"p{s:03d}_{k:03d}", wave, wave) for s in range(40) for k in range(3)]
    # forty voice indices, four timbres: en-us+f1 and en-gb+f1 are one speaker with two accents
    voices = {p.name: ("en-us", "en-gb")[int(p.name[1:4]) % 2] + f"+f{int(p.name[1:4]) % 4}" for p in pairs}
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "corpus.json").write_text(json.dumps({"utterances": [
        {"name": n, "noise": "hum", "voice": v, "engine": "espeak"} for n, v in voices.items()]}))
    speakers = read_metadata(corpus).speaker
    assert len(set(speakers.values())) == 4
    train, val = split_validation(pairs, 0.5, by="speaker", speakers=speakers)
    assert {speakers[p.name] for p in val}.isdisjoint({speakers[p.name] for p in train})
    assert len(val) == 60  # two whole timbres of four, each of them under ten voice indices
    with pytest.raises(DataError, match="4 speaker.* hold out none .* raise --val-share or use --val-by file"):
        split_validation(pairs, 0.05, by="speaker", speakers=speakers)
    assert read_metadata(write_corpus(tmp_path / "bare", files=2)).speaker == {}


def test_load_pairs_reads_no_further_than_its_limit(tmp_path):
    from tests.conftest import write_corpus

    corpus = write_corpus(tmp_path / "c", files=3)
    (corpus / "noisy_testset_wav" / "p002_001.wav").write_bytes(b"not a wav file")
    assert [p.name for p in load_pairs(corpus, "test", limit=2)] == ["p000_001", "p001_001"]
    with pytest.raises(UnreadableAudio, match="p002_001.wav"):  # the file that was not read
        load_pairs(corpus, "test")


def test_load_pairs_tells_what_it_resampled_and_downmixed(tmp_path):
    rng = np.random.default_rng(0)
    stored = {"a": (16_000, 1, 1), "b": (48_000, 1, 1), "c": (48_000, 1, 2), "d": (22_050, 1, 1), "e": (16_000, 2, 2)}
    for name, (rate, clean_channels, noisy_channels) in stored.items():
        for kind, channels in (("clean", clean_channels), ("noisy", noisy_channels)):
            folder = tmp_path / f"{kind}_testset_wav"
            folder.mkdir(exist_ok=True)
            sf.write(folder / f"{name}.wav", 0.1 * rng.standard_normal((rate // 2, channels)), rate)
    pairs = load_pairs(tmp_path, "test", 16_000)
    assert [len(p.noisy) for p in pairs] == [8000] * 5  # all at the model's rate, mono
    assert conversion_notes(pairs, 16_000) == [
        "3 of 5 file pairs resampled to the model's 16000 Hz (stored at 22050 Hz, 48000 Hz)",
        "2 of 5 file pairs downmixed to mono (stored with 2 channels)"]
    assert conversion_notes(pairs[:1], 16_000) == []
    assert conversion_notes(pairs, 48_000)[0] == ("3 of 5 file pairs resampled to the model's 48000 Hz (stored at "
                                                  "16000 Hz, 22050 Hz)")
