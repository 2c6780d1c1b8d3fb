import dataclasses

import pytest
import torch

from wux.errors import ConfigError
from wux.model.config import ACTIVATIONS, CONTEXT, LONG_CONTEXT, TINY, WaveUNetConfig
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
    assert not grows_from(dataclasses.replace(SMALL, bottleneck_dilations=(1, 2, 4), growth=8), SMALL)
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
            check_growable(dataclasses.replace(SMALL, activation=activation))


def test_weights_that_do_not_fit_the_grown_model_are_refused():
    old = trained(SMALL)
    state = {**old.state_dict(), "extra.weight": torch.zeros(1)}
    with pytest.raises(ConfigError, match="do not fit the grown model"):
        load_grown(WaveUNet(dataclasses.replace(SMALL, bottleneck_dilations=(1, 2, 4))), state, SMALL)
    del state["extra.weight"], state["head.weight"]
    with pytest.raises(ConfigError, match="missing"):
        load_grown(WaveUNet(dataclasses.replace(SMALL, bottleneck_dilations=(1, 2, 4))), state, SMALL)
