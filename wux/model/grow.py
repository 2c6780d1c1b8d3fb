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


# Activations with f(0) = 0 and f'(0) != 0: a block started at 0 before one of them adds nothing, and trains.
GROWABLE_ACTIVATIONS = ("leaky_relu", "gelu", "elu", "tanh", "identity")


def check_growable(new: WaveUNetConfig) -> None:
    """An added block starts at 0 before its activation, which must map 0 to 0 with a gradient there."""
    if new.activation not in GROWABLE_ACTIVATIONS:
        raise ConfigError(f"cannot grow a {new.activation} model: a block started as the identity would sit where "
                          f"{new.activation}'s gradient is 0 and never train; fine-tune it with --init alone, or "
                          "train the larger config from scratch")


def load_grown(module, state_dict: dict, old: WaveUNetConfig) -> None:
    """The trained weights of a model of config `old` into `module` (a WaveUNet grown from it), the blocks
    the old model lacks set to start as the identity."""
    kept = len(old.bottleneck_dilations)
    loaded = module.load_state_dict(state_dict, strict=False)
    added = {f"context.{i}." for i in range(kept, len(module.context))}
    stray = [k for k in loaded.missing_keys if not any(k.startswith(a) for a in added)]
    if loaded.unexpected_keys or stray:
        raise ConfigError(f"the checkpoint's weights do not fit the grown model (unexpected "
                          f"{loaded.unexpected_keys[:3]}, missing {stray[:3]})")
    for block in list(module.context)[kept:]:
        block.start_as_identity()
