"""What a model costs and sees: parameters, MACs, total stride, receptive field."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from wux.constants import SAMPLE_RATE
from wux.model.config import WaveUNetConfig


@dataclass(frozen=True)
class ModelInfo:
    parameters: int
    macs_per_second_audio: int
    total_stride: int
    receptive_field_samples: int | None  # None: a global norm makes every output see the whole input
    receptive_field_ms: float | None
    sample_rate: int

    def to_dict(self) -> dict:
        return asdict(self)


def receptive_field(cfg: WaveUNetConfig) -> int | None:
    """Upper bound on the input samples one output sample depends on.

    The path through the bottleneck passes through every layer a skip path does,
    so its span bounds them all. `jump` is the input-sample spacing at the current
    resolution. Strided layers are not shift-invariant: depending on the output's
    phase modulo the total stride the span moves by less than one stride per
    resampling step on each side, so 2 * (total_stride - 1) covers every phase.
    """
    if cfg.norm == "group":
        return None
    span, jump, s = 1, 1, cfg.stride
    for _ in range(cfg.levels):
        span += (cfg.encoder_kernel - 1) * jump
        jump *= s
    span += (cfg.encoder_kernel - 1) * jump  # bottleneck
    up_taps = 2 if cfg.upsampling == "linear" else math.ceil((s + 2 * (s // 2)) / s)
    merge_first = cfg.downsampling == "strided"
    for _ in range(cfg.levels):
        if merge_first:
            span += (cfg.decoder_kernel - 1) * jump
        span += (up_taps - 1) * jump
        jump //= s
        if not merge_first:
            span += (cfg.decoder_kernel - 1) * jump
    return span + 2 * (cfg.total_stride - 1)


def context_samples(cfg: WaveUNetConfig) -> int | None:
    """Context each side of a window that makes windowed output equal whole-input output.

    Half the receptive field, rounded up to the total stride so that windows stay
    aligned to the stride grid (strided models are not shift-invariant).
    """
    rf = receptive_field(cfg)
    if rf is None:
        return None
    m = cfg.total_stride
    return -(-((rf + 1) // 2) // m) * m


def count_macs(model, samples: int) -> int:
    """Multiply-accumulates of one forward pass on [1, 1, samples], counted per conv layer."""
    import torch
    from torch import nn

    total = 0

    def conv_hook(mod, inputs, output):
        nonlocal total
        if isinstance(mod, nn.ConvTranspose1d):
            total += inputs[0].numel() * mod.out_channels * mod.kernel_size[0] // mod.groups
        else:
            total += output.numel() * mod.in_channels * mod.kernel_size[0] // mod.groups

    handles = [
        m.register_forward_hook(conv_hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d))
    ]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 1, samples))
    finally:
        for h in handles:
            h.remove()
    return total


def model_info(model, sample_rate: int = SAMPLE_RATE) -> ModelInfo:
    cfg: WaveUNetConfig = model.config
    rf = receptive_field(cfg)
    return ModelInfo(
        parameters=sum(p.numel() for p in model.parameters()),
        macs_per_second_audio=count_macs(model, sample_rate),
        total_stride=cfg.total_stride,
        receptive_field_samples=rf,
        receptive_field_ms=None if rf is None else round(1000.0 * rf / sample_rate, 2),
        sample_rate=sample_rate,
    )
