import json

import numpy as np
import pytest

from wux.data.augment import AugmentConfig
from wux.data.dataset import Pair, SegmentDataset
from wux.data.fresh_babble import DEFAULT_TALKERS, babble_pool, corpus_talkers
from wux.data.layout import Metadata, read_metadata
from wux.errors import DataError

RATE = 16000
N = 8000


def tone(hz: float, level: float = 0.1) -> np.ndarray:
    return (level * np.sin(2 * np.pi * hz * np.arange(N) / RATE)).astype(np.float32)


def strongest_hz(x: np.ndarray) -> set[int]:
    """The frequencies (Hz, 2 Hz bins) holding at least a tenth of the largest peak's magnitude."""
    spectrum = np.abs(np.fft.rfft(x))
    return set(np.flatnonzero(spectrum > 0.1 * spectrum.max()) * RATE // N)


# "a" and "c" are one speaker (A), "b" another (B); each speaks a tone of its own. a's stored noise, babble by the
# record, is a 3 kHz tone: fresh babble under a's speech may hold B's 440 Hz only, never A's own 700 or 300 Hz.
PAIRS = [Pair("a", tone(300), tone(300) + tone(3000, 0.05)), Pair("b", tone(440), tone(440) + tone(5000, 0.05)),
         Pair("c", tone(700), tone(700) + tone(6000, 0.05))]
META = Metadata({"a": "babble", "b": "hum", "c": "hum"}, {}, "corpus.json", speaker={"a": "A", "b": "B", "c": "A"})
ONLY_FRESH = dict(extra_noise=False, speed=False, reverb=False, gain=False, remix=False)


def segments(fresh: float, pool=True, remix: bool = False, count: int = 60,
             gain: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    augment = AugmentConfig(**{**ONLY_FRESH, "remix": remix, "gain": gain}, probability=1.0, fresh_babble=fresh)
    ds = SegmentDataset(PAIRS, segment=N, augment=augment, seed=2, segments_per_epoch=count,
                        babble=babble_pool(["a", "b", "c"], META, "corpus") if pool else None)
    return [ds[i] for i in range(len(ds))]


def test_the_pool_knows_the_babble_files_and_whose_speech_may_babble_under_each():
    pool = babble_pool(["a", "b", "c"], META, "corpus", talkers=(2, 3))
    assert list(pool.is_babble) == [True, False, False] and pool.talkers == (2, 3)
    assert [list(o) for o in pool.others] == [[1], [0, 2], [1]]  # never the pair's own speaker


def test_fresh_babble_replaces_a_babble_files_noise_with_other_speakers_speech():
    made_anew = 0
    for clean, noisy in segments(fresh=1.0):
        noise = noisy.astype(np.float64) - clean
        own = next(p for p in PAIRS if np.allclose(clean, p.clean))
        if own.name == "a":  # its stored 3 kHz babble is gone; B's 440 Hz speech is there, A's own never
            assert strongest_hz(noise) == {440}
            made_anew += 1
        else:  # not babble: the file's own noise, untouched
            np.testing.assert_allclose(noisy, own.noisy, atol=1e-6)
    assert made_anew > 5


def test_fresh_babble_also_replaces_babble_that_a_remix_brings_and_only_at_its_chance():
    under_b = [noisy - clean for clean, noisy in segments(fresh=1.0, remix=True) if np.allclose(clean, PAIRS[1].clean)]
    # b's speech under remixed noise: a's stored babble (3 kHz) never, fresh babble of A (300 or 700 Hz) instead
    assert all(3000 not in strongest_hz(n) for n in under_b)
    assert any(strongest_hz(n) & {300, 700} for n in under_b)
    half = [strongest_hz(noisy - clean) for clean, noisy in segments(fresh=0.5, count=200)
            if np.allclose(clean, PAIRS[0].clean)]
    kept, renewed = sum(s == {3000} for s in half), sum(s == {440} for s in half)
    assert kept + renewed == len(half) and kept > 10 and renewed > 10


def test_without_fresh_babble_segments_are_what_they_were():
    same = segments(fresh=0.0, remix=True), segments(fresh=0.0, pool=False, remix=True)
    for (c1, n1), (c2, n2) in zip(*same):
        np.testing.assert_array_equal(c1, c2)
        np.testing.assert_array_equal(n1, n2)
    # a draw is spent only on a segment whose noise is babble (a's stored 3 kHz, its own or remixed): every other
    # segment is exactly the one fresh babble off gives, down to the random gain drawn after it
    off, on = segments(fresh=0.0, remix=True, gain=True), segments(fresh=1.0, remix=True, gain=True)
    untouched = [(a, b) for a, b in zip(off, on) if 3000 not in strongest_hz(a[1] - a[0])]
    assert 10 < len(untouched) < len(on)
    for (c0, n0), (c1, n1) in untouched:
        np.testing.assert_array_equal(c0, c1)
        np.testing.assert_array_equal(n0, n1)
    again = segments(fresh=1.0, remix=True)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(again, segments(fresh=1.0, remix=True)))  # seeded
    with pytest.raises(DataError, match="needs the pool"):
        segments(fresh=0.5, pool=False)


@pytest.mark.parametrize("meta, message", [
    (Metadata({"a": "babble", "b": "hum"}, {}, "c/corpus.json", speaker={"a": "A"}),
     r"c/corpus.json: --fresh-babble needs every training file's noise kind and speaker; 2 file\(s\) .*first: b\)"),
    (Metadata({"a": "hum", "b": "hum", "c": "hum"}, {}, "c/corpus.json", speaker={"a": "A", "b": "B", "c": "A"}),
     "no training file has noise babble"),
    (Metadata({"a": "babble", "b": "hum", "c": "hum"}, {}, None, speaker={"a": "A", "b": "A", "c": "A"}),
     "corpus/corpus.json: --fresh-babble needs training files of at least two speakers"),
    (Metadata({}, {}, None, "c/corpus.json", "not valid JSON"),  # a record there but broken: said so, not taken
     r"c/corpus.json: --fresh-babble needs every training file's noise kind and speaker, which this record does not "
     r"give \(not valid JSON\)"),  # for files without kinds
])
def test_the_pool_refuses_a_record_it_cannot_make_babble_from(meta, message):
    with pytest.raises(DataError, match=message):
        babble_pool(["a", "b", "c"], meta, "corpus")


def test_talkers_come_from_the_corpus_record(tmp_path):
    assert corpus_talkers(read_metadata(tmp_path)) == DEFAULT_TALKERS  # no record
    files = [{"name": "a", "noise": "babble"}]
    (tmp_path / "corpus.json").write_text(json.dumps({"recipe": {"babble_talkers": [3, 6]}, "utterances": files}))
    assert corpus_talkers(read_metadata(tmp_path)) == (3, 6)
    (tmp_path / "corpus.json").write_text(json.dumps({"recipe": {"babble_talkers": [6, 3]}, "utterances": files}))
    assert corpus_talkers(read_metadata(tmp_path)) == DEFAULT_TALKERS
