"""What a Wave-U-Net sees and costs, derived from its config: receptive field, context, MACs."""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import replace

from wux.contract import AudioContract, round_up
from wux.model.config import WaveUNetConfig


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
    span += sum(2 * d for d in cfg.bottleneck_dilations) * jump  # its context stack: 3 taps, d apart
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


@contextmanager
def without_onednn():
    """oneDNN runs an LSTM as one fused op that torch's FLOP counter has no formula for; without oneDNN
    the LSTM's matrix products are counted like any other."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # setting the flags notes TF32 needs an Intel GPU
        with torch.backends.mkldnn.flags(enabled=False):
            yield


def count_macs(module, samples: int) -> int | None:
    """Multiply-accumulates of one [1, 1, samples] forward pass, from torch's FLOP counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    try:
        with torch.inference_mode(), without_onednn(), counter:
            module(torch.zeros(1, 1, samples))
    except Exception:  # noqa: BLE001 - an op the counter cannot follow: say unknown, not wrong
        return None
    return counter.get_total_flops() // 2


def macs_per_second(module, sample_rate: int, multiple: int = 1) -> int | None:
    """count_macs over one second of audio (rounded up to a length the module takes), per second."""
    samples = round_up(sample_rate, multiple)
    macs = count_macs(module, samples)
    return None if macs is None else round(macs * sample_rate / samples)


def waveunet_contract(cfg: WaveUNetConfig, sample_rate: int, macs_per_second: int | None = None) -> AudioContract:
    """The audio contract of a Wave-U-Net, from its config alone: it takes any length (it pads to its
    total stride itself), windows align to the total stride, context covers the receptive field."""
    rf = receptive_field(cfg)
    context = context_samples(cfg)
    lookahead = context
    if cfg.causal:  # the whole receptive field lies in the past: windows need all of it before them, none after
        context, lookahead = round_up(rf, cfg.total_stride), 0
    contract = AudioContract(sample_rate=sample_rate, align=cfg.total_stride, receptive_field=rf,
                             context=context or 0, context_exact=rf is not None, causal=cfg.causal,
                             lookahead=lookahead, macs_per_second=macs_per_second)
    if context is None:  # a global norm sees the whole input: an eighth of the window is a fair trade
        contract = replace(contract, context=round_up(contract.chunk // 8, contract.align))
    return contract
