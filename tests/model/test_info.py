import pytest
import torch

from wux.model.config import DEFAULT, SEED, TINY, WaveUNetConfig
from wux.model.info import context_samples, count_macs, receptive_field, waveunet_contract
from wux.model.waveunet import WaveUNet

CONFIGS = [
    TINY, SEED,
    WaveUNetConfig(levels=3, growth=4, downsampling="decimate", upsampling="linear"),
    WaveUNetConfig(levels=3, growth=4, downsampling="decimate", upsampling="transposed", stride=3),
    WaveUNetConfig(levels=4, growth=4, upsampling="linear", decoder_kernel=7),
    WaveUNetConfig(levels=3, growth=4, bottleneck_dilations=(1, 2, 4)),  # the context stack (preset "context")
]


def measured_extent(config: WaveUNetConfig, phase: int) -> tuple[int, int]:
    """(left, right) input span that output sample t depends on, from the gradient."""
    torch.manual_seed(0)
    model = WaveUNet(config).double().eval()
    rf = receptive_field(config)
    m = config.total_stride
    n = -(-(4 * rf + 4 * m) // m) * m
    x = torch.randn(1, 1, n, dtype=torch.double, requires_grad=True)
    t = (n // 2 // m) * m + phase
    model(x)[0, 0, t].backward()
    nz = (x.grad[0, 0] != 0).nonzero().flatten()
    return t - int(nz.min()), int(nz.max()) - t


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.downsampling}-{c.upsampling}-s{c.stride}-l{c.levels}")
def test_receptive_field_bounds_every_phase(config):
    rf, ctx = receptive_field(config), context_samples(config)
    spans = []
    for phase in range(config.total_stride):
        left, right = measured_extent(config, phase)
        spans.append(left + right + 1)
        assert left + right + 1 <= rf
        assert max(left, right) <= ctx
    # and the bound is tight to within the phase allowance, not a huge overestimate
    assert rf - max(spans) <= 3 * config.total_stride


def test_group_norm_has_global_receptive_field():
    cfg = WaveUNetConfig(levels=2, growth=4, norm="group")
    assert receptive_field(cfg) is None and context_samples(cfg) is None


def test_macs_match_hand_count_for_tiny():
    # TINY: levels 2, channels (4, 8), bottleneck 8, stride 2, enc k 15, dec k 5, concat input.
    n = 1024
    expected = (
        (n // 2) * 4 * 1 * 15          # encoder 0, strided conv, output n/2
        + (n // 4) * 8 * 4 * 15        # encoder 1
        + (n // 4) * 8 * 8 * 15        # bottleneck
        + (n // 4) * 8 * (8 + 8) * 5   # decoder for level 1: merge conv at n/4
        + (n // 4) * 8 * 8 * 4         # its transposed upsample: input elements * cout * kernel
        + (n // 2) * 4 * (8 + 4) * 5   # decoder for level 0: 8 channels from below + 4 skip
        + (n // 2) * 4 * 4 * 4         # transposed upsample to n
        + n * 1 * 5                    # head: 1x1 conv on 4 + 1 channels
    )
    assert count_macs(WaveUNet(TINY), n) == expected


def test_the_default_contract_follows_from_its_config():
    c = waveunet_contract(DEFAULT, 16000, count_macs(WaveUNet(DEFAULT), 16000))
    assert (c.align, c.length.multiple, c.causal, c.context_exact) == (32, 1, False, True)
    assert c.receptive_field == receptive_field(DEFAULT) and c.context == context_samples(DEFAULT) == c.lookahead
    assert 1.0e9 < c.macs_per_second < 1.3e9
    assert c.chunk == 16384 and c.window.hop == 16384 - 2 * 640 - 256
    grouped = waveunet_contract(WaveUNetConfig(levels=2, growth=4, norm="group"), 16000)
    assert grouped.receptive_field is None and not grouped.context_exact and grouped.context == 16384 // 8
