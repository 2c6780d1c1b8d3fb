"""The task gate: SI-SNR improvement of an artifact against the reference's, on speech with clean references."""

import numpy as np

from wux.data.dataset import Pair
from wux.data.synth import RICH
from wux.metrics import improvement_drop_db, si_snr_db
from wux.model.config import WaveUNetConfig
from wux.model.info import waveunet_contract
from wux.runtime.base import Runner
from wux.verify.task import FileDrop, Improvements, TaskVerdict, eval_pairs
from wux.verify.tolerance import TASK_TOLERANCES, TaskTolerance

RATE = 16000


class Mix(Runner):
    """Out = a * input + b * fixed noise: an 'artifact' whose denoising we control exactly."""

    def __init__(self, keep: float, noise: float = 0.0):
        super().__init__()
        self.keep, self.noise = keep, noise

    def run(self, wave):
        rng = np.random.default_rng(1)
        return self.keep * wave + self.noise * rng.standard_normal(wave.shape).astype(np.float32)


def contract():
    return waveunet_contract(WaveUNetConfig(levels=3, growth=4), RATE).with_serving(chunk=2048)


def pairs(n=3, seconds=0.5):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        t = np.arange(int(RATE * seconds)) / RATE
        clean = (0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t)).astype(np.float32)
        out.append(Pair(f"f{i}", clean, clean + 0.1 * rng.standard_normal(len(t)).astype(np.float32)))
    return out


def test_the_reference_itself_loses_nothing_and_a_noisier_artifact_loses_what_it_adds():
    c, data = contract(), pairs()
    reference = Mix(1.0)
    improvements = Improvements(reference, data, c, batch=4)
    same = improvements.judge(Mix(1.0), TASK_TOLERANCES["int8"], "test")
    assert same.passed and abs(same.mean_drop_db) < 1e-6 and same.files[0].si_snr_vs_reference_db > 100
    worse = improvements.judge(Mix(1.0, noise=0.2), TASK_TOLERANCES["int8"], "test")
    assert not worse.passed and worse.mean_drop_db > 1 and all(f.drop_db > 0 for f in worse.files)
    assert any("below FP32 on average" in r for r in worse.reasons)
    # the tolerance that would pass is exactly the measured drops
    assert worse.would_pass_with == TaskTolerance(worse.mean_drop_db, worse.worst_drop_db)


def test_mean_and_worst_are_separate_limits():
    tol = TaskTolerance(0.3, 1.0)
    files = [FileDrop("a", 0, 10, 9.9, 0.1, 40), FileDrop("b", 0, 10, 8.8, 1.2, 30)]
    verdict = TaskVerdict("set", tol, files)  # mean 0.65: both limits crossed, the worst file named
    assert verdict.reasons[0].startswith("SI-SNR improvement 0.65 dB below FP32")
    assert "on b > 1 dB" in verdict.reasons[1]
    fine = TaskVerdict("set", tol, [FileDrop("a", 0, 10, 10.2, -0.2, 40), FileDrop("b", 0, 10, 9.5, 0.5, 30)])
    assert fine.passed and fine.would_pass_with.max_mean_drop_db == 0.15


def test_the_improvement_drop_does_not_depend_on_the_noisy_input():
    clean, noisy = pairs(1)[0].clean, pairs(1)[0].noisy
    rng = np.random.default_rng(2)
    reference = clean + 0.01 * rng.standard_normal(len(clean))
    artifact = clean + 0.05 * rng.standard_normal(len(clean))
    gain = [si_snr_db(out, clean) - si_snr_db(noisy, clean) for out in (reference, artifact)]
    assert np.isclose(improvement_drop_db(reference, artifact, clean), gain[0] - gain[1])
    assert improvement_drop_db(reference, artifact, clean) > 10  # 5x the noise: about 14 dB worse
    assert improvement_drop_db(reference, reference, clean) == 0.0


def test_the_limits_name_where_the_worst_drop_is_and_are_inclusive():
    tol = TaskTolerance(0.3, 1.0)
    assert tol.breaches(0.3, 1.0, "x") == []
    assert tol.breaches(0.2, 1.5, "the worst window") == ["1.50 dB below FP32 on the worst window > 1 dB"]
    assert len(tol.breaches(0.31, 1.01, "x")) == 2


def test_the_bundled_evaluation_set_is_speech_with_clean_references():
    data, label = eval_pairs(contract())
    assert len(data) == len(RICH.noise_families) and "bundled" in label  # one file per noise kind
    for p in data:
        assert len(p.clean) == len(p.noisy) > RATE and np.std(p.noisy - p.clean) > 1e-3
