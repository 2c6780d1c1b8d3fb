import numpy as np
import pytest

from wux.data.audio import read_audio
from wux.errors import WuxError
from wux.metrics import si_snr_db
from wux.quality.baselines import baseline
from wux.resources import SAMPLE_CLEAN, bundled


@pytest.fixture(scope="module")
def speech():
    return read_audio(bundled(SAMPLE_CLEAN), 16000)


def best_lag(output, reference, span=200):
    padded = np.pad(output, (span, span))
    return int(np.argmax(np.correlate(padded, reference, "valid"))) - span


def test_rnnoise_output_is_aligned_and_removes_white_noise(speech):
    rnnoise = baseline("rnnoise", 16000)
    out = rnnoise(speech)
    assert out.shape == speech.shape and out.dtype == np.float32
    assert best_lag(out, speech) == 0  # its 20 ms delay is taken out, to the sample
    noisy = (speech + 0.03 * np.random.default_rng(0).standard_normal(len(speech))).astype(np.float32)
    assert si_snr_db(rnnoise(noisy), speech) > si_snr_db(noisy, speech) + 3


def test_spectral_gating_keeps_length_and_alignment(speech):
    gate = baseline("spectral-gating", 16000)
    noisy = (speech + 0.03 * np.random.default_rng(0).standard_normal(len(speech))).astype(np.float32)
    out = gate(noisy)
    assert out.shape == speech.shape and np.all(np.isfinite(out))
    assert best_lag(out, speech) == 0


def test_unknown_baseline_names_the_choices():
    with pytest.raises(WuxError, match="choose from rnnoise, spectral-gating"):
        baseline("wiener", 16000)


def test_a_missing_baseline_package_names_its_extra(monkeypatch):
    import importlib.util
    import sys

    from wux.errors import MissingDependency

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyrnnoise" else
                        real_find_spec(name, *a))
    monkeypatch.setitem(sys.modules, "noisereduce", None)  # import noisereduce now raises ImportError
    for name, extra in (("rnnoise", "rnnoise"), ("spectral-gating", "spectral-gating")):
        with pytest.raises(MissingDependency, match=rf"pip install 'wux\[{extra}\]'"):
            baseline(name, 16000)
