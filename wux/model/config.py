"""The Wave-U-Net family's configuration: one frozen dataclass, JSON in and out."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wux.errors import ConfigError

DOWNSAMPLING = ("decimate", "strided")
UPSAMPLING = ("linear", "transposed")
NORMS = ("none", "batch", "group")
ACTIVATIONS = ("relu", "leaky_relu", "gelu", "elu", "tanh", "identity")
# Bounds past any Wave-U-Net worth building: a typo (levels 1000000) is refused, not built until memory runs out.
# Inputs are padded to a multiple of the total stride: 65536 samples is 4 s at 16 kHz (the original's is 4096).
MAX_TOTAL_STRIDE = 2**16
MAX_LEVELS = MAX_TOTAL_STRIDE.bit_length() - 1  # as many as stride 2, the least, allows
MAX_CHANNELS = 4096


@dataclass(frozen=True)
class WaveUNetConfig:
    """Topology of one Wave-U-Net.

    `channels` lists each encoder level's output channels; when empty, level i
    has `growth * (i + 1)` channels (the original paper's additive +24 rule).
    The bottleneck has `bottleneck_channels`, or one more growth step when 0.
    """

    levels: int = 5
    channels: tuple[int, ...] = ()
    growth: int = 24
    bottleneck_channels: int = 0
    encoder_kernel: int = 15
    decoder_kernel: int = 5
    downsampling: str = "strided"
    upsampling: str = "transposed"
    stride: int = 2
    norm: str = "none"
    activation: str = "leaky_relu"
    output_activation: str = "tanh"
    concat_input: bool = True
    group_norm_groups: int = 8
    # Past context only: convolutions padded on the left, upsampling without overlap. Such a model streams
    # exactly, frame by frame (wux.model.streaming), with no look-ahead.
    causal: bool = False
    # A context stack after the bottleneck: one residual 3-tap convolution per entry, dilated by it. Each
    # widens the receptive field by 2 * dilation * total_stride samples at little cost (the bottleneck runs
    # at 1/total_stride of the sample rate): (1, 2, ..., 64) at stride 32 sees half a second more.
    bottleneck_dilations: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "bottleneck_dilations", tuple(int(d) for d in self.bottleneck_dilations))
        self.validate()

    def validate(self) -> None:
        for ok, message in ((self.levels >= 1, f"levels must be >= 1, got {self.levels}"),
                            (self.stride >= 2, f"stride must be >= 2, got {self.stride}")):
            if not ok:  # first: the size check below raises stride to the power of levels
                raise ConfigError(f"invalid model config: {message}")
        self.check_size()
        checks = [
            (not self.channels or len(self.channels) == self.levels,
             f"channels has {len(self.channels)} entries but levels is {self.levels}"),
            (all(c > 0 for c in self.channels), "channels must be positive"),
            (self.channels or self.growth > 0, "growth must be positive"),
            (self.encoder_kernel % 2 == 1 and self.decoder_kernel % 2 == 1,
             "encoder_kernel and decoder_kernel must be odd"),
            (self.downsampling in DOWNSAMPLING, f"downsampling must be one of {DOWNSAMPLING}"),
            (self.upsampling in UPSAMPLING, f"upsampling must be one of {UPSAMPLING}"),
            (self.norm in NORMS, f"norm must be one of {NORMS}"),
            (self.activation in ACTIVATIONS, f"activation must be one of {ACTIVATIONS}"),
            (self.output_activation in ACTIVATIONS,
             f"output_activation must be one of {ACTIVATIONS}"),
            (not self.causal or self.norm != "group",
             "a causal model cannot use group norm (it normalises over the whole input, future included)"),
            (all(d >= 1 for d in self.bottleneck_dilations), "bottleneck_dilations must be >= 1"),
            (not self.causal or not self.bottleneck_dilations,
             "a causal model has no bottleneck context stack yet (its streaming state does not cover it)"),
            (not self.causal or self.upsampling == "transposed",
             "a causal model upsamples with transposed convolutions (linear interpolation needs the next sample)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"invalid model config: {message}")

    def check_size(self) -> None:
        """Levels, stride and widths within bounds, checked before anything is computed from them."""
        if self.levels > MAX_LEVELS:  # checked alone: stride ** 1000000 would take minutes to compute
            raise ConfigError(f"invalid model config: levels must be at most {MAX_LEVELS} (inputs are padded to a "
                              f"multiple of stride ** levels, at most {MAX_TOTAL_STRIDE}), got {self.levels}")
        if self.total_stride > MAX_TOTAL_STRIDE:
            raise ConfigError(f"invalid model config: stride ** levels must be at most {MAX_TOTAL_STRIDE} (inputs are "
                              f"padded to a multiple of it), got {self.stride} ** {self.levels}")
        widths = (*self.level_channels, self.bottleneck)
        if max(widths) > MAX_CHANNELS:
            raise ConfigError(f"invalid model config: at most {MAX_CHANNELS} channels a level, got {max(widths)}")

    @property
    def level_channels(self) -> tuple[int, ...]:
        if self.channels:
            return self.channels
        return tuple(self.growth * (i + 1) for i in range(self.levels))

    @property
    def bottleneck(self) -> int:
        if self.bottleneck_channels:
            return self.bottleneck_channels
        if self.channels:
            return self.channels[-1]
        return self.growth * (self.levels + 1)

    @property
    def total_stride(self) -> int:
        """Input lengths are padded to a multiple of this."""
        return self.stride**self.levels

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["channels"] = list(self.channels)
        d["bottleneck_dilations"] = list(self.bottleneck_dilations)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path | None = None) -> WaveUNetConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown model config field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
                source,
            )
        try:
            return cls(**data)
        except ConfigError as e:
            raise ConfigError(str(e), source) from None
        except (TypeError, ValueError) as e:
            raise ConfigError(f"invalid model config: {e}", source) from None


def load_config_json(path: Path) -> WaveUNetConfig:
    """Read a WaveUNetConfig (or a preset name under "preset") from a JSON file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError("config file not found", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"not a readable JSON config ({e})", path) from None
    if not isinstance(data, dict):
        raise ConfigError("config JSON must be an object", path)
    if "preset" in data:
        base = preset(data.pop("preset"), source=path).to_dict()
        base.update(data)
        data = base
    return WaveUNetConfig.from_dict(data, source=path)


# The seed project's model: three strided blocks, BatchNorm + ReLU, 1->32->64->128,
# so one second at 16 kHz becomes 128 x 250 at the bottom of the encoder.
SEED = WaveUNetConfig(
    levels=3, channels=(32, 64, 128), bottleneck_channels=128, encoder_kernel=15,
    decoder_kernel=5, downsampling="strided", upsampling="transposed", stride=4,
    norm="batch", activation="relu", output_activation="tanh", concat_input=True,
)

# Stoller et al. 2018 (Wave-U-Net M4-like): 12 levels, +24 channels a level,
# decimation down, linear interpolation up, LeakyReLU, input concatenated, tanh out.
ORIGINAL = WaveUNetConfig(
    levels=12, growth=24, encoder_kernel=15, decoder_kernel=5, downsampling="decimate",
    upsampling="linear", stride=2, norm="none", activation="leaky_relu",
    output_activation="tanh", concat_input=True,
)

# The bundled classic model (the default until 2026-12-01; the default now is WIDER_CONTEXT, below): small enough
# to train on 2 CPU cores in under half an hour,
# strided/transposed resampling because it exports to a small, fast ONNX graph, BatchNorm
# (as in the seed) because it trains markedly faster and is a per-channel affine at inference.
DEFAULT = WaveUNetConfig(
    levels=5, growth=24, encoder_kernel=15, decoder_kernel=5, downsampling="strided",
    upsampling="transposed", stride=2, norm="batch", activation="leaky_relu",
    output_activation="tanh", concat_input=True,
)

# The default preset with half a second of context (the bundled default model was trained as this, then widened
# into WIDE_CONTEXT and WIDER_CONTEXT): a dilated residual stack at
# the bottleneck (receptive field about 0.6 s instead of 78 ms), so it can tell the voice it follows from the
# voices around it.
CONTEXT = dataclasses.replace(DEFAULT, bottleneck_dilations=(1, 2, 4, 8, 16, 32, 64))

# CONTEXT with its context stack run twice (receptive field 1.09 s), and more weights where the bottleneck
# runs at 1/32 of the sample rate (cheap): what CONTEXT grows into (wux train --init ... --preset long-context).
LONG_CONTEXT = dataclasses.replace(CONTEXT, bottleneck_dilations=CONTEXT.bottleneck_dilations * 2)

# CONTEXT a third wider (growth 32: levels of 32 ... 160 channels, a 192-channel bottleneck): 2.72 M parameters
# and 2.42 GMAC per second of audio instead of 1.53 M and 1.36. What CONTEXT widens into (wux train --init
# CKPT --preset wide-context: the new channels start cut off from the old ones, wux.model.grow); the bundled
# default model on 2026-12-05.
WIDE_CONTEXT = dataclasses.replace(CONTEXT, growth=32)

# WIDE_CONTEXT a quarter wider again (growth 40: levels of 40 ... 200 channels, a 240-channel bottleneck): 4.25 M
# parameters (a 17 MB checkpoint, under issue 11's 20 MB) and 3.79 GMAC per second of audio; what WIDE_CONTEXT
# widens into (wux train --init CKPT --preset wider-context); the bundled default model since 2026-12-05, late evening.
WIDER_CONTEXT = dataclasses.replace(CONTEXT, growth=40)

TINY = WaveUNetConfig(levels=2, channels=(4, 8), bottleneck_channels=8, stride=2)

# The default's causal twin, for streaming: the same levels and widths, past context only. Its total stride
# (32 samples, 2 ms at 16 kHz) is the smallest frame it streams; a 20 ms frame is 10 of them.
CAUSAL = dataclasses.replace(DEFAULT, causal=True)

PRESETS: dict[str, WaveUNetConfig] = {
    "default": DEFAULT, "seed": SEED, "original": ORIGINAL, "tiny": TINY, "causal": CAUSAL, "context": CONTEXT,
    "long-context": LONG_CONTEXT, "wide-context": WIDE_CONTEXT, "wider-context": WIDER_CONTEXT,
}


def preset(name: str, source: str | Path | None = None) -> WaveUNetConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}", source) from None
