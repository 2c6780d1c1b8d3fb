"""Growing a trained Wave-U-Net: a longer bottleneck context stack that starts as the model it grew from.

A config grows from another when the two differ only in `bottleneck_dilations` and the new stack begins with the
old one. Every trained weight is kept where it was; each added residual block starts as the identity (its last
affine step zeroed), so the grown model computes exactly what the trained one did until training moves it.
"""

from __future__ import annotations

import dataclasses

from wux.errors import ConfigError
from wux.model.config import WaveUNetConfig


def grows_from(new: WaveUNetConfig, old: WaveUNetConfig) -> bool:
    """True when `new` is `old` with residual blocks appended to its bottleneck context stack."""
    old_stack, new_stack = old.bottleneck_dilations, new.bottleneck_dilations
    same_rest = dataclasses.replace(new, bottleneck_dilations=old_stack) == old
    return same_rest and len(new_stack) > len(old_stack) and new_stack[: len(old_stack)] == old_stack


def check_growable(new: WaveUNetConfig) -> None:
    """An added block starts at 0 before its activation: ReLU's gradient there is 0, so it would never train."""
    if new.activation == "relu":
        raise ConfigError("cannot grow a ReLU model: a block started as the identity sits at ReLU's kink, where its "
                          "gradient is 0, and would never train")


def load_grown(module, state_dict: dict, old: WaveUNetConfig) -> None:
    """The trained weights of a model of config `old` into `module` (a WaveUNet grown from it), the blocks
    the old model lacks set to start as the identity."""
    module.load_state_dict(state_dict, strict=False)
    for block in list(module.context)[len(old.bottleneck_dilations):]:
        block.start_as_identity()
