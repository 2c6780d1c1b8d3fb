import numpy as np
import pytest
import torch

from wux import windowing
from wux.contract import WindowPlan
from wux.denoise import denoise_wave
from wux.errors import ConfigError
from wux.model.config import DEFAULT, TINY, WaveUNetConfig
from wux.model.info import waveunet_contract
from wux.model.waveunet import WaveUNet
from wux.runtime.eager import TorchRunner

CONFIGS = {
    "tiny": TINY,
    "default": DEFAULT,
    "decimate-linear-batchnorm": WaveUNetConfig(levels=3, growth=6, downsampling="decimate",
                                                upsampling="linear", norm="batch"),
}


def runner_for(config, seed=0):
    torch.manual_seed(seed)
    model = WaveUNet(config)
    if config.norm == "batch":  # non-trivial running statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    return TorchRunner(model)


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("samples", [50, 4096, 9001, 40_000])
def test_windowed_equals_whole_file(name, samples):
    config = CONFIGS[name]
    runner = runner_for(config)
    contract = waveunet_contract(config, 16000)
    plan = contract.with_serving(chunk=4096 if name != "default" else 8192, crossfade=64).window
    wave = np.random.default_rng(samples).standard_normal(samples).astype(np.float32) * 0.3
    # Windows are always a whole chunk (as the fixed-shape core models take them): an input shorter
    # than one chunk is the model's output for it padded with silence, longer ones the whole-file output.
    padded = np.pad(wave, (0, max(0, plan.window - samples)))
    whole = runner(padded[None])[0][:samples]
    windowed = denoise_wave(runner, wave, plan, batch_size=3)
    assert windowed.shape == whole.shape
    assert np.abs(windowed - whole).max() < 1e-5


def test_too_little_context_is_not_exact_but_crossfaded():
    """The check above can fail: with context below the receptive field, outputs differ."""
    runner = runner_for(TINY)
    plan = WindowPlan(window=512, context=8, crossfade=16, align=TINY.total_stride)
    wave = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    err = np.abs(denoise_wave(runner, wave, plan) - runner(wave[None])[0]).max()
    assert err > 1e-4


def test_fixed_windows_all_have_the_window_length():
    plan = WindowPlan(window=1024, context=128, crossfade=64, align=32)
    for n in (1, 100, 1024, 1025, 5000):
        windows, starts = windowing.split(np.ones(n, dtype=np.float32), plan, fixed=True)
        assert windows.shape[1] == 1024
        assert all(s % 32 == 0 for s in starts)
        covered = np.zeros(windowing.round_up(n, 32) + 1024)
        for s in starts:
            covered[s: s + 1024] = 1
        assert covered[:n].all()


def test_weights_sum_to_one_in_the_interior():
    plan = WindowPlan(window=1024, context=128, crossfade=64, align=32)
    n = 5000
    starts = windowing.window_starts(n, plan)
    total = np.zeros(starts[-1] + 1024)
    for i, s in enumerate(starts):
        total[s: s + 1024] += windowing.window_weights(1024, plan, i == 0, i == len(starts) - 1)
    assert np.all(total[:n] > 0)
    regular = total[: starts[-1] + plan.context]  # before the last (re-aligned) window fades in
    np.testing.assert_allclose(regular, 1.0)


def test_plan_validation():
    with pytest.raises(ConfigError, match="too short"):
        WindowPlan(window=256, context=128, crossfade=64, align=32)
    with pytest.raises(ConfigError, match="not a multiple"):
        WindowPlan(window=1000, context=128, crossfade=64, align=32)
    # the contract rounds context and crossfade up to the alignment grid
    from wux.contract import AudioContract

    plan = AudioContract(align=32, context=100, crossfade=10, chunk=1024).window
    assert (plan.context, plan.crossfade, plan.hop) == (128, 32, 1024 - 256 - 32)


def test_a_long_context_gets_a_longer_default_window():
    """1.024 s unless the two contexts would take more than a quarter of it; a declared chunk is kept."""
    from wux.contract import MAX_CONTEXT_SHARE, AudioContract

    short = AudioContract(align=32, context=640)
    assert short.chunk == 16384
    long = AudioContract(align=32, context=4704)
    assert long.chunk % 32 == 0 and 2 * 4704 / long.chunk <= MAX_CONTEXT_SHARE < 2 * 4704 / (long.chunk - 32)
    assert AudioContract(align=32, context=4704, chunk=16384).chunk == 16384


@pytest.mark.parametrize("rate", [0, -16000, 768001, 10**12])
def test_a_contract_rate_no_audio_has_is_refused(rate):
    from wux.contract import AudioContract

    with pytest.raises(ConfigError, match=f"sample rate of 1 to 768000 Hz; got 1 channel.s. at {rate} Hz"):
        AudioContract(sample_rate=rate)
    assert AudioContract(sample_rate=768000).sample_rate == 768000
