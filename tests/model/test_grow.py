import dataclasses

import pytest
import torch

from wux.errors import ConfigError
from wux.model.config import (
    ACTIVATIONS,
    CONTEXT,
    LONG_CONTEXT,
    TINY,
    WIDE_CONTEXT,
    WIDER_CONTEXT,
    WaveUNetConfig,
    preset,
)
from wux.model.grow import GROWABLE_ACTIVATIONS, check_growable, grows_from, load_grown
from wux.model.waveunet import WaveUNet, make_activation

SMALL = dataclasses.replace(TINY, bottleneck_dilations=(1, 2), norm="batch")


def trained(config: WaveUNetConfig) -> WaveUNet:
    """A model whose weights are not their initial values (BatchNorm's affine moved off 1 and 0 as well)."""
    torch.manual_seed(0)
    model = WaveUNet(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def test_long_context_grows_from_context_and_only_by_appending_dilations():
    assert grows_from(LONG_CONTEXT, CONTEXT)
    assert not grows_from(CONTEXT, CONTEXT)  # nothing added
    assert not grows_from(CONTEXT, LONG_CONTEXT)  # shrinking
    assert not grows_from(dataclasses.replace(SMALL, bottleneck_dilations=(2, 1, 4)), SMALL)  # old stack reordered
    assert not grows_from(dataclasses.replace(SMALL, bottleneck_dilations=(1, 2, 4), encoder_kernel=7), SMALL)
    assert grows_from(dataclasses.replace(SMALL, bottleneck_dilations=(1, 2, 4), growth=8), SMALL)  # growth unused
    assert grows_from(dataclasses.replace(SMALL, bottleneck_dilations=(1, 2, 4)), SMALL)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_a_grown_model_starts_as_exactly_the_trained_one_and_its_new_blocks_train(norm):
    old_cfg = dataclasses.replace(SMALL, norm=norm)
    new_cfg = dataclasses.replace(old_cfg, bottleneck_dilations=(1, 2, 4, 8))
    old = trained(old_cfg)
    new = WaveUNet(new_cfg)
    load_grown(new, old.state_dict(), old_cfg)
    new.eval()
    x = torch.randn(2, 1, 3000)
    with torch.no_grad():
        assert torch.equal(new(x), old(x))
    new.train()
    new(x).square().mean().backward()
    for block in list(new.context)[2:]:
        zeroed = block.conv if norm == "none" else block.norm  # where each added block starts at 0
        assert zeroed.weight.grad.abs().sum() > 0 and zeroed.bias.grad.abs().sum() > 0


def test_an_untouched_model_differs_from_the_trained_one():
    """The check above can fail: without load_grown the grown model computes something else."""
    old = trained(SMALL)
    new = WaveUNet(dataclasses.replace(SMALL, bottleneck_dilations=(1, 2, 4))).eval()
    with torch.no_grad():
        x = torch.randn(1, 1, 2000)
        assert not torch.allclose(new(x), old(x))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_only_activations_an_added_block_can_start_at_and_train_from_grow(activation):
    """f(0) = 0 keeps the grown model the trained one; f'(0) != 0 lets the added block's gradient through."""
    f = make_activation(activation)
    zero = torch.zeros(1, requires_grad=True)
    out = f(zero)
    out.backward()
    safe = out.item() == 0 and zero.grad.item() != 0
    assert (activation in GROWABLE_ACTIVATIONS) == safe
    if not safe:
        with pytest.raises(ConfigError, match=f"cannot grow a {activation} model"):
            check_growable(dataclasses.replace(SMALL, activation=activation, bottleneck_dilations=(1, 2, 4)),
                           dataclasses.replace(SMALL, activation=activation))
        check_growable(dataclasses.replace(SMALL, activation=activation, channels=(6, 8)),  # widening alone is
                       dataclasses.replace(SMALL, activation=activation))                  # safe with any


def test_weights_that_do_not_fit_the_grown_model_are_refused():
    old = trained(SMALL)
    state = {**old.state_dict(), "extra.weight": torch.zeros(1)}
    with pytest.raises(ConfigError, match="do not fit the grown model"):
        load_grown(WaveUNet(dataclasses.replace(SMALL, bottleneck_dilations=(1, 2, 4))), state, SMALL)
    del state["extra.weight"], state["head.weight"]
    with pytest.raises(ConfigError, match="missing"):
        load_grown(WaveUNet(dataclasses.replace(SMALL, bottleneck_dilations=(1, 2, 4))), state, SMALL)


WIDER = {  # each with a context stack, widened everywhere it can be: every level, the bottleneck, the stack
    "strided-transposed": dataclasses.replace(SMALL, channels=(4, 8, 12), levels=3, bottleneck_channels=12),
    "decimate-transposed": WaveUNetConfig(levels=3, growth=4, downsampling="decimate", norm="batch",
                                          bottleneck_dilations=(1, 2)),
    "decimate-linear-no-input": WaveUNetConfig(levels=3, growth=4, downsampling="decimate", upsampling="linear",
                                               concat_input=False, bottleneck_dilations=(1, 2)),
    "strided-none": WaveUNetConfig(levels=3, growth=4, norm="none", bottleneck_dilations=(1, 2)),
}


@pytest.mark.parametrize("name", WIDER)
@pytest.mark.parametrize("appended", [(), (4, 8)])
def test_a_widened_model_starts_as_exactly_the_trained_one_and_its_new_channels_train(name, appended):
    old_cfg = WIDER[name]
    new_cfg = dataclasses.replace(old_cfg, channels=tuple(c + 3 for c in old_cfg.level_channels),
                                  bottleneck_channels=old_cfg.bottleneck + 5,
                                  bottleneck_dilations=old_cfg.bottleneck_dilations + appended)
    assert grows_from(new_cfg, old_cfg) and not grows_from(old_cfg, new_cfg)
    check_growable(new_cfg, old_cfg)
    old = trained(old_cfg)
    new = WaveUNet(new_cfg)
    load_grown(new, old.state_dict(), old_cfg)
    x = torch.randn(2, 1, 3000)
    for mode in (False, True):  # inference, and training (BatchNorm on the batch's own statistics)
        old.train(mode), new.train(mode)
        with torch.no_grad():  # the same sums with zeros added: equal to float rounding (more terms, other order)
            assert (new(x) - old(x)).abs().max() < 1e-6
    new.train()
    new(x).square().mean().backward()
    first = new.config.level_channels[0]
    assert new.head.weight.grad[:, old_cfg.level_channels[0]:first].abs().sum() > 0  # the new channels' way out


def test_the_context_presets_widen_one_into_the_next():
    """context -> wide-context -> wider-context: each a growth of the one before (the bundled model's path)."""
    assert grows_from(WIDE_CONTEXT, CONTEXT) and grows_from(WIDER_CONTEXT, WIDE_CONTEXT)
    assert grows_from(WIDER_CONTEXT, CONTEXT) and not grows_from(WIDE_CONTEXT, WIDER_CONTEXT)
    assert WIDER_CONTEXT.level_channels == (40, 80, 120, 160, 200) and WIDER_CONTEXT.bottleneck == 240
    assert preset("wide-context") is WIDE_CONTEXT and preset("wider-context") is WIDER_CONTEXT  # the CLI's names
    assert sum(p.numel() for p in WaveUNet(WIDER_CONTEXT).parameters()) == 4_252_202
    check_growable(WIDER_CONTEXT, WIDE_CONTEXT)


def test_an_untouched_wider_model_differs_and_group_norm_or_narrowing_is_refused():
    """Without load_grown a wider model computes something else; narrowing is not growing."""
    old = trained(WIDER["strided-none"])
    cfg = dataclasses.replace(WIDER["strided-none"], channels=(5, 8, 12), bottleneck_channels=16)
    assert grows_from(cfg, WIDER["strided-none"])
    with torch.no_grad():
        x = torch.randn(1, 1, 2000)
        assert not torch.allclose(WaveUNet(cfg).eval()(x), old(x))
    narrower = dataclasses.replace(cfg, channels=(5, 8, 10))  # one level narrower, the rest wider or the same
    assert not grows_from(narrower, WIDER["strided-none"])
    group = dataclasses.replace(WIDER["strided-none"], norm="group")
    with pytest.raises(ConfigError, match="cannot widen a group-norm model"):
        check_growable(dataclasses.replace(group, channels=(5, 8, 12)), group)
