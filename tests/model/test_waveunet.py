import numpy as np
import pytest
import torch

from wux.model.config import DEFAULT, ORIGINAL, SEED, TINY, WaveUNetConfig
from wux.model.waveunet import WaveUNet

LENGTHS = [1, 2, 2**10 - 1, 2**10 + 1, 2**13 - 1, 2**13 + 1, 16_000, 160_000]
CONFIGS = {
    "tiny": TINY,
    "decimate-linear": WaveUNetConfig(levels=3, growth=8, downsampling="decimate", upsampling="linear"),
    "strided-linear-group": WaveUNetConfig(levels=3, growth=8, upsampling="linear", norm="group"),
    "decimate-transposed-batch": WaveUNetConfig(levels=3, growth=8, downsampling="decimate",
                                               norm="batch", stride=3, concat_input=False),
    "context-stack": WaveUNetConfig(levels=3, growth=8, norm="batch", bottleneck_dilations=(1, 2, 4, 8)),
}


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("samples", LENGTHS)
@pytest.mark.parametrize("batch", [1, 4])
def test_output_shape_equals_input_shape(name, samples, batch):
    model = WaveUNet(CONFIGS[name]).eval()
    with torch.inference_mode():
        y = model(torch.randn(batch, 1, samples))
    assert y.shape == (batch, 1, samples)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("samples", [1, 2**10 + 1, 160_000])
def test_default_model_any_length(samples):
    with torch.inference_mode():
        y = WaveUNet(DEFAULT).eval()(torch.randn(1, 1, samples))
    assert y.shape == (1, 1, samples)


def test_seed_encoder_reproduces_seed_shapes():
    model = WaveUNet(SEED).eval()
    h = torch.zeros(1, 1, 16_000)
    shapes = []
    for enc in model.encoders:
        _, h = enc(h)
        shapes.append(tuple(h.shape))
        conv = enc.block.conv
        assert (conv.kernel_size, conv.stride) == ((15,), (4,))
        assert isinstance(enc.block.norm, torch.nn.BatchNorm1d)
        assert isinstance(enc.block.act, torch.nn.ReLU)
    assert shapes == [(1, 32, 4000), (1, 64, 1000), (1, 128, 250)]


def test_original_topology():
    model = WaveUNet(ORIGINAL)
    assert len(model.encoders) == 12 and len(model.decoders) == 12
    assert [e.block.conv.out_channels for e in model.encoders] == [24 * (i + 1) for i in range(12)]
    assert model.bottleneck.conv.out_channels == 24 * 13
    assert all(e.block.conv.kernel_size == (15,) and e.down.factor == 2 for e in model.encoders)
    assert all(d.block.conv.kernel_size == (5,) for d in model.decoders)
    assert isinstance(model.encoders[0].block.act, torch.nn.LeakyReLU)
    assert model.head.in_channels == 24 + 1  # input waveform concatenated before the last conv
    assert isinstance(model.out_act, torch.nn.Tanh)
    assert model.total_stride == 4096


def test_scaling_input_changes_output():
    """The model is not trivially constant: a real network, not a stub."""
    model = WaveUNet(TINY).eval()
    x = torch.randn(1, 1, 4000)
    assert not torch.allclose(model(x), model(2 * x))


@pytest.mark.parametrize("name", ["tiny", "decimate-linear", "strided-linear-group"])
def test_script_and_trace_match_eager(name):
    model = WaveUNet(CONFIGS[name]).eval()
    scripted = torch.jit.script(model)
    traced = torch.jit.trace(model, torch.randn(2, 1, 4096))
    for samples in (1, 777, 5000):
        x = torch.randn(3, 1, samples)
        ref = model(x)
        assert torch.allclose(scripted(x), ref, atol=1e-6)
        # tracing records the shape arithmetic symbolically: other lengths still work
        assert torch.allclose(traced(x), ref, atol=1e-6)


@pytest.mark.parametrize("config", [TINY, DEFAULT, CONFIGS["decimate-linear"]], ids=["tiny", "default", "dec-lin"])
def test_torch_export_with_dynamic_batch_and_length(config):
    model = WaveUNet(config).eval()
    m = config.total_stride
    batch = torch.export.Dim("batch", min=1, max=64)
    # torch.export specialises a bottleneck of length 1: exported graphs take > one stride.
    samples = torch.export.Dim("samples", min=m + 1, max=1 << 22)
    ep = torch.export.export(model, (torch.randn(2, 1, 8 * m),), dynamic_shapes={"x": {0: batch, 2: samples}})
    for b, n in [(1, m + 1), (5, 3 * m + 7), (2, 16_001)]:
        x = torch.randn(b, 1, n)
        y = ep.module()(x)
        assert y.shape == (b, 1, n)
        np.testing.assert_allclose(y.detach().numpy(), model(x).detach().numpy(), atol=1e-6)


def test_a_causal_model_refuses_the_context_stack():
    from wux.errors import ConfigError

    with pytest.raises(ConfigError, match="causal model has no bottleneck context stack"):
        WaveUNetConfig(causal=True, bottleneck_dilations=(1, 2))
    with pytest.raises(ConfigError, match="bottleneck_dilations must be >= 1"):
        WaveUNetConfig(bottleneck_dilations=(0,))
