"""Wave-U-Net: a 1-D U-Net on raw waveforms, any input length, same-length output."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from wux.model.config import WaveUNetConfig


def make_activation(name: str) -> nn.Module:
    return {
        "relu": nn.ReLU,
        # 0.2 is the slope of the original Wave-U-Net (TensorFlow's leaky_relu default).
        "leaky_relu": lambda: nn.LeakyReLU(0.2),
        "gelu": nn.GELU,
        "elu": nn.ELU,
        "tanh": nn.Tanh,
        "identity": nn.Identity,
    }[name]()


def make_norm(kind: str, channels: int, groups: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(groups, channels), channels)
    return nn.Identity()


class ConvBlock(nn.Module):
    """Conv1d ("same" padding, or kernel - 1 zeros on the left when causal; optional stride) -> norm ->
    activation. A causal strided output t sees inputs up to stride * t, never later ones."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, cfg: WaveUNetConfig):
        super().__init__()
        self.left = kernel - 1 if cfg.causal else 0
        self.conv = nn.Conv1d(cin, cout, kernel, stride=stride, padding=0 if cfg.causal else kernel // 2)
        self.norm = make_norm(cfg.norm, cout, cfg.group_norm_groups)
        self.act = make_activation(cfg.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.left:  # a constant of the module: the non-causal graph has no Pad node at all
            x = F.pad(x, (self.left, 0))
        return self.finish(self.conv(x))

    def finish(self, h: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(h))


class Decimate(nn.Module):
    def __init__(self, factor: int):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.factor]


class LinearUpsample(nn.Module):
    def __init__(self, factor: int):
        super().__init__()
        self.factor = float(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.factor, mode="linear", align_corners=False)


def transposed_upsample(channels: int, factor: int) -> nn.ConvTranspose1d:
    # kernel = factor + 2 * (factor // 2) with padding factor // 2 gives exactly factor x length
    # and lets neighbouring output phases share inputs (less checkerboard than kernel = factor).
    half = factor // 2
    return nn.ConvTranspose1d(channels, channels, factor + 2 * half, stride=factor, padding=half)


def make_upsample(cfg: WaveUNetConfig, channels: int) -> nn.Module:
    if cfg.upsampling == "linear":
        return LinearUpsample(cfg.stride)
    if cfg.causal:  # no overlap: output f * t + j comes from input t alone (no later one)
        return nn.ConvTranspose1d(channels, channels, cfg.stride, stride=cfg.stride)
    return transposed_upsample(channels, cfg.stride)


class DecimateEncoder(nn.Module):
    """Original Wave-U-Net level: conv at full rate (the skip), then drop samples."""

    def __init__(self, cin: int, cout: int, cfg: WaveUNetConfig):
        super().__init__()
        self.block = ConvBlock(cin, cout, cfg.encoder_kernel, 1, cfg)
        self.down = Decimate(cfg.stride)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.block(x)
        return h, self.down(h)


class StridedEncoder(nn.Module):
    """Seed-style level: one strided conv; its output is both the skip and the next input."""

    def __init__(self, cin: int, cout: int, cfg: WaveUNetConfig):
        super().__init__()
        self.block = ConvBlock(cin, cout, cfg.encoder_kernel, cfg.stride, cfg)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.block(x)
        return h, h


class UpsampleThenMerge(nn.Module):
    """Mirror of DecimateEncoder: upsample to the skip's rate, concatenate, conv."""

    def __init__(self, cin: int, cskip: int, cout: int, cfg: WaveUNetConfig):
        super().__init__()
        self.up = make_upsample(cfg, cin)
        self.block = ConvBlock(cin + cskip, cout, cfg.decoder_kernel, 1, cfg)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.block(torch.cat([self.up(x), skip], dim=1))


class MergeThenUpsample(nn.Module):
    """Mirror of StridedEncoder: concatenate with the skip at its rate, conv, upsample."""

    def __init__(self, cin: int, cskip: int, cout: int, cfg: WaveUNetConfig):
        super().__init__()
        self.block = ConvBlock(cin + cskip, cout, cfg.decoder_kernel, 1, cfg)
        self.up = make_upsample(cfg, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.up(self.block(torch.cat([x, skip], dim=1)))


class DilatedResidual(nn.Module):
    """h + act(norm(conv(h))) with a 3-tap convolution dilated by `dilation`: context at the bottleneck."""

    def __init__(self, channels: int, dilation: int, cfg: WaveUNetConfig):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, dilation=dilation, padding=dilation)
        self.norm = make_norm(cfg.norm, channels, cfg.group_norm_groups)
        self.act = make_activation(cfg.activation)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.act(self.norm(self.conv(h)))

    @torch.no_grad()
    def start_as_identity(self) -> None:
        """Zero the block's last affine step (the norm's, or the convolution's without one): every activation
        maps 0 to 0, so the block adds nothing until training moves those weights (their gradients are not
        zero)."""
        last = self.conv if isinstance(self.norm, nn.Identity) else self.norm
        last.weight.zero_()
        last.bias.zero_()


class WaveUNet(nn.Module):
    """[batch, 1, samples] -> [batch, 1, samples] for any number of samples >= 1.

    The input is zero-padded on the right to a multiple of the total stride and the
    output cropped back. Shape arithmetic is written so that torch.export sees the
    output length as exactly `samples` (a negative pad crops) and no Python branch
    depends on data, so the model scripts, traces and exports with dynamic dims.
    """

    def __init__(self, config: WaveUNetConfig):
        super().__init__()
        self.config = config
        self.total_stride = config.total_stride
        self.concat_input = config.concat_input
        chans = config.level_channels
        strided = config.downsampling == "strided"
        encoder_cls = StridedEncoder if strided else DecimateEncoder
        decoder_cls = MergeThenUpsample if strided else UpsampleThenMerge

        self.encoders = nn.ModuleList(
            encoder_cls(cin, cout, config) for cin, cout in zip((1, *chans[:-1]), chans)
        )
        self.bottleneck = ConvBlock(chans[-1], config.bottleneck, config.encoder_kernel, 1, config)
        self.context = nn.Sequential(*(DilatedResidual(config.bottleneck, d, config)
                                       for d in config.bottleneck_dilations))
        deeper = (*chans[1:], config.bottleneck)
        # Stored deepest first, the order they run in: decoders[j] undoes encoders[-1 - j].
        self.decoders = nn.ModuleList(
            decoder_cls(cin, c, c, config) for cin, c in reversed(list(zip(deeper, chans)))
        )
        self.head = nn.Conv1d(chans[0] + (1 if config.concat_input else 0), 1, 1)
        self.out_act = make_activation(config.output_activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        samples = x.shape[-1]
        m = self.total_stride
        padded = ((samples + m - 1) // m) * m
        x = F.pad(x, (0, padded - samples))

        skips: list[torch.Tensor] = []
        h = x
        for enc in self.encoders:
            skip, h = enc(h)
            skips.append(skip)
        h = self.context(self.bottleneck(h))
        n = len(skips)
        for j, dec in enumerate(self.decoders):
            h = dec(h, skips[n - 1 - j])
        if self.concat_input:
            h = torch.cat([h, x], dim=1)
        y = self.out_act(self.head(h))
        return F.pad(y, (0, samples - padded))
