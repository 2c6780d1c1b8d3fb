"""Growing a trained Wave-U-Net into a larger one that starts as exactly the model it grew from.

A config grows from another when the two differ only in widths and in `bottleneck_dilations`: every level and
the bottleneck at least as wide as before, and the new context stack beginning with the old one, at least one
of them larger. Every trained weight is kept where it was. A widened layer's new channels get fresh weights from
everything beneath them, but every old channel ignores them (its weights from them are zero), down to the head:
the model's output is the trained one's until training moves those zeros (their gradients are not zero). Each
appended residual block starts as the identity (its last affine step zeroed).
"""

from __future__ import annotations

import dataclasses

from wux.errors import ConfigError
from wux.model.config import WaveUNetConfig

# A tensor dimension's make-up: its parts in order (a decoder's input is the deeper level's output, then the
# skip), each as (channels before, channels after growing).
Layout = tuple[tuple[int, int], ...]


def widths(config: WaveUNetConfig) -> tuple[int, ...]:
    """Each level's channels, then the bottleneck's."""
    return (*config.level_channels, config.bottleneck)


def same_but_widths_and_stack(new: WaveUNetConfig, old: WaveUNetConfig) -> bool:
    """The two differ in nothing but their channel counts and their context stacks."""
    def rest(c: WaveUNetConfig) -> WaveUNetConfig:
        return dataclasses.replace(c, channels=(), growth=1, bottleneck_channels=0, bottleneck_dilations=())
    return rest(new) == rest(old)


def grows_from(new: WaveUNetConfig, old: WaveUNetConfig) -> bool:
    """True when `new` is `old` widened and/or with residual blocks appended to its bottleneck context stack."""
    if not same_but_widths_and_stack(new, old):
        return False
    old_stack = old.bottleneck_dilations
    wider = all(n >= o for n, o in zip(widths(new), widths(old)))
    larger = widened(new, old) or appended(new, old)
    return wider and larger and new.bottleneck_dilations[: len(old_stack)] == old_stack


def widened(new: WaveUNetConfig, old: WaveUNetConfig) -> bool:
    return widths(new) != widths(old)


def appended(new: WaveUNetConfig, old: WaveUNetConfig) -> bool:
    return len(new.bottleneck_dilations) > len(old.bottleneck_dilations)


# Activations with f(0) = 0 and f'(0) != 0: a block started at 0 before one of them adds nothing, and trains.
GROWABLE_ACTIVATIONS = ("leaky_relu", "gelu", "elu", "tanh", "identity")


def check_growable(new: WaveUNetConfig, old: WaveUNetConfig) -> None:
    """An appended block starts at 0 before its activation, which must map 0 to 0 with a gradient there; a
    widened model's old channels must be normalised on their own (group norm mixes channels in groups)."""
    if appended(new, old) and new.activation not in GROWABLE_ACTIVATIONS:
        raise ConfigError(f"cannot grow a {new.activation} model's context stack: a block started as the identity "
                          f"would sit where {new.activation}'s gradient is 0 and never train; widen it only, "
                          "fine-tune it with --init alone, or train the larger config from scratch")
    if widened(new, old) and new.norm == "group":
        raise ConfigError("cannot widen a group-norm model: its groups would mix the new channels into the old "
                          "ones; grow its context stack only, or train the wider config from scratch")


def channel_layouts(new: WaveUNetConfig, old: WaveUNetConfig) -> dict[str, tuple[Layout, Layout | None]]:
    """Each convolution's and norm's (output layout, input layout) by module name; norms have no input."""
    levels = [((o, n),) for o, n in zip(old.level_channels, new.level_channels)]
    audio, bottom = ((1, 1),), ((old.bottleneck, new.bottleneck),)
    layouts: dict[str, tuple[Layout, Layout | None]] = {}

    def block(name: str, out: Layout, into: Layout) -> None:
        layouts[f"{name}.conv"], layouts[f"{name}.norm"] = (out, into), (out, None)

    for i, into in enumerate([audio, *levels[:-1]]):
        block(f"encoders.{i}.block", levels[i], into)
    block("bottleneck", bottom, levels[-1])
    for i in range(len(old.bottleneck_dilations)):
        layouts[f"context.{i}.conv"], layouts[f"context.{i}.norm"] = (bottom, bottom), (bottom, None)
    deeper = [*levels[1:], bottom]
    for j, (below, level) in enumerate(reversed(list(zip(deeper, levels)))):
        block(f"decoders.{j}.block", level, below + level)
        upsampled = level if new.downsampling == "strided" else below
        layouts[f"decoders.{j}.up"] = (upsampled, upsampled)
    layouts["head"] = (audio, levels[0] + (audio if new.concat_input else ()))
    return layouts


def old_positions(layout: Layout) -> list[int]:
    """Where the old channels sit in the grown dimension: each part's old channels first within its part."""
    positions, start = [], 0
    for before, after in layout:
        positions += range(start, start + before)
        start += after
    return positions


def embedded(fresh, trained, out: Layout, into: Layout | None, transposed: bool):
    """`trained` placed at the old positions of `fresh` (a parameter or buffer of the grown module). New
    outputs keep their fresh values; old outputs take nothing from new inputs (zero weights)."""
    import torch

    if fresh.dim() == 0 or fresh.shape == trained.shape:
        return trained.clone()
    out_axis, in_axis = (1, 0) if transposed else (0, 1)
    rows = torch.tensor(old_positions(out), dtype=torch.long)
    if into is None or fresh.dim() == 1:
        return fresh.clone().index_copy_(0, rows, trained)
    cols = torch.tensor(old_positions(into), dtype=torch.long)
    old_rows = torch.zeros_like(fresh.index_select(out_axis, rows)).index_copy_(in_axis, cols, trained)
    return fresh.clone().index_copy_(out_axis, rows, old_rows)


def grown_state(module, state_dict: dict, new: WaveUNetConfig, old: WaveUNetConfig) -> dict:
    """The trained state of a model of config `old` laid out for `module` (config `new`), widened where it is
    wider; keys the old model lacks (appended blocks) are left out."""
    from torch import nn

    layouts = channel_layouts(new, old)
    fresh = module.state_dict()
    state = {}
    for key, trained in state_dict.items():
        name = key.rsplit(".", 1)[0]
        if key not in fresh or name not in layouts:
            state[key] = trained  # load_state_dict judges it
            continue
        out, into = layouts[name]
        transposed = isinstance(module.get_submodule(name), nn.ConvTranspose1d)
        state[key] = embedded(fresh[key], trained, out, into, transposed)
    return state


def load_grown(module, state_dict: dict, old: WaveUNetConfig) -> None:
    """The trained weights of a model of config `old` into `module` (a WaveUNet grown from it): widened layers
    keep their new channels' fresh weights but are cut off from the old ones, appended blocks start as the
    identity."""
    kept = len(old.bottleneck_dilations)
    try:
        state = grown_state(module, state_dict, module.config, old)
    except RuntimeError as e:  # a trained tensor that does not fit its old positions
        raise ConfigError(f"the checkpoint's weights do not fit the grown model ({e})") from None
    loaded = module.load_state_dict(state, strict=False)
    added = {f"context.{i}." for i in range(kept, len(module.context))}
    stray = [k for k in loaded.missing_keys if not any(k.startswith(a) for a in added)]
    if loaded.unexpected_keys or stray:
        raise ConfigError(f"the checkpoint's weights do not fit the grown model (unexpected "
                          f"{loaded.unexpected_keys[:3]}, missing {stray[:3]})")
    for block in list(module.context)[kept:]:
        block.start_as_identity()
