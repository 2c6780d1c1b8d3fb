"""Exact streaming of causal Wave-U-Nets: streamed frame by frame == the offline forward, for every causal
configuration of the family; state kept per stream; the contract says causal, and the probe agrees."""

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from wux.errors import ConfigError
from wux.metrics import si_snr_db
from wux.model.config import CAUSAL, WaveUNetConfig
from wux.model.streaming import StreamingWaveUNet, stream_wave, streaming_summary
from wux.model.waveunet import WaveUNet

CAUSAL_CONFIGS = [
    WaveUNetConfig(levels=levels, growth=6, encoder_kernel=k, decoder_kernel=5, downsampling=down, stride=stride,
                   norm=norm, concat_input=concat, causal=True)
    for (levels, stride, k), down, norm, concat in itertools.product(
        ((2, 2, 15), (3, 4, 7), (4, 2, 1)), ("strided", "decimate"), ("none", "batch"), (True, False))
]


def built(cfg: WaveUNetConfig, seed: int = 0) -> WaveUNet:
    """Random weights and, for batch norm, random running statistics (a trained model's are not 0 / 1)."""
    torch.manual_seed(seed)
    model = WaveUNet(cfg).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return model


def offline(model: WaveUNet, wave: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(wave).view(1, 1, -1)).view(-1).numpy()


def speechlike(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    return (0.3 * np.sin(2 * np.pi * 180 * t) * np.sin(2 * np.pi * 3 * t) + 0.05 * rng.standard_normal(n)).astype(
        np.float32)


@pytest.mark.parametrize("cfg", CAUSAL_CONFIGS, ids=lambda c: f"{c.levels}x{c.stride}k{c.encoder_kernel}-"
                         f"{c.downsampling}-{c.norm}-{'concat' if c.concat_input else 'noconcat'}")
def test_streamed_equals_offline_for_every_causal_configuration(cfg):
    model = built(cfg)
    step = StreamingWaveUNet(model)
    wave = speechlike(4000 + 37)  # not a multiple of any frame: the last frame is padded
    reference = offline(model, wave)
    for frame in (cfg.total_stride, 5 * cfg.total_stride, 320 if 320 % cfg.total_stride == 0 else 3 * cfg.total_stride):
        streamed = stream_wave(step, wave, frame)
        assert streamed.shape == wave.shape
        assert si_snr_db(streamed, reference) >= 60 and np.abs(streamed - reference).max() < 1e-5, frame


def test_the_default_causal_model_streams_10_s_exactly_at_20_ms():
    model = built(CAUSAL)
    wave = speechlike(160_000, seed=3)
    assert si_snr_db(stream_wave(StreamingWaveUNet(model), wave, 320), offline(model, wave)) >= 60


def test_each_stream_keeps_its_own_state():
    """Two streams interleaved frame by frame in one batch give what each gives alone."""
    model = built(dataclasses.replace(CAUSAL, levels=3, growth=8))
    step = StreamingWaveUNet(model)
    a, b, frame = speechlike(3200, 1), speechlike(3200, 2), 320
    state = step.initial_state(2)
    outs = []
    with torch.inference_mode():
        for i in range(0, 3200, frame):
            batch = torch.from_numpy(np.stack([a[i: i + frame], b[i: i + frame]])).view(2, 1, frame)
            y, state = step(batch, state)
            outs.append(y.view(2, -1).numpy())
    together = np.concatenate(outs, axis=1)
    assert np.abs(together[0] - stream_wave(step, a, frame)).max() < 1e-6
    assert np.abs(together[1] - stream_wave(step, b, frame)).max() < 1e-6
    assert np.abs(together[0] - together[1]).max() > 1e-3  # different inputs, different outputs: not shared


def test_cost_per_frame_is_the_frames_own_work():
    summary = streaming_summary(built(CAUSAL), 16000)
    assert summary["frame_samples"] == 320 and summary["algorithmic_latency_ms"] == 20.0
    # streamed: no window recomputed; the same multiply-accumulates per second of audio as offline
    assert summary["macs_per_second_streaming"] == pytest.approx(summary["macs_per_second_offline"], rel=0.01)


def test_what_cannot_stream_is_refused():
    with pytest.raises(ConfigError, match="only a causal model"):
        StreamingWaveUNet(WaveUNet(dataclasses.replace(CAUSAL, causal=False)))
    with pytest.raises(ConfigError, match="group norm"):
        dataclasses.replace(CAUSAL, norm="group")
    with pytest.raises(ConfigError, match="transposed"):
        dataclasses.replace(CAUSAL, upsampling="linear")
    step = StreamingWaveUNet(built(CAUSAL))
    with pytest.raises(ConfigError, match="not a multiple of the model's total stride 32"):
        stream_wave(step, speechlike(1000), 100)
    with pytest.raises(ConfigError, match="15 ms frame is not a multiple of 32 samples"):
        step.plan(16000).frame_samples(15)
    assert step.plan(16000).frame_samples(20) == 320
    assert streaming_summary(WaveUNet(dataclasses.replace(CAUSAL, causal=False)), 16000) is None


def test_the_contract_says_causal_and_the_probe_measures_it(tmp_path):
    from tests.conftest import make_checkpoint
    from wux.api import probe
    from wux.model.load import ModelSource, load_model

    cfg = dataclasses.replace(CAUSAL, levels=3, growth=8)
    loaded = load_model(ModelSource(checkpoint=make_checkpoint(tmp_path / "c.wux.pt", cfg)))
    c = loaded.contract
    assert c.causal and c.lookahead == 0 and c.latency_ms == 0.0
    measured = probe(loaded)
    assert measured.causal and measured.strict.future == 0
    assert measured.strict.past <= c.context  # windows carry all the past the model can see
