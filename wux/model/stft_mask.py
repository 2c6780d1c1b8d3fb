"""A masking model in a fixed STFT: wux's second architecture, for noise that overlaps speech in time.

Frames of 32 ms every 8 ms (n_fft 512, hop 128 at 16 kHz), log magnitudes of all bins in, a stack of dilated
residual convolutions over frames (two stacks of 1..32 see about a second each way), a bounded complex mask
out, applied to the noisy spectrum and overlap-added back. The transforms are convolutions with fixed DFT
bases, so the graph is Conv / ConvTranspose only: it scripts, traces and exports to ONNX like the Wave-U-Net
(TensorRT untried: no GPU here). Any input length; the output has the input's length. Train it in float32 or
bf16: its 1e-10 / 1e-8 guards vanish in float16.

It is built by wux's callable-model route (`--model wux.model.stft_mask:StftMask`, kwargs as below), the one
people's own models take, so every command loads, exports and serves it the same way.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from wux.contract import DEFAULT_SAMPLE_RATE

DILATIONS = (1, 2, 4, 8, 16, 32, 1, 2, 4, 8, 16, 32)


def dft_bases(n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Analysis and synthesis kernels [2 * bins, 1, n_fft] (real parts, then imaginary) with sqrt-Hann windows.
    Synthesis weighs the one-sided spectrum (1 for DC and Nyquist, 2 elsewhere, over n_fft)."""
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64).sqrt()
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64).view(-1, 1)
    n = torch.arange(n_fft, dtype=torch.float64).view(1, -1)
    angle = 2 * math.pi * k * n / n_fft
    cos, sin = torch.cos(angle), torch.sin(angle)
    analysis = torch.cat([cos, -sin]) * window
    side = torch.full_like(k, 2.0)
    side[0] = side[-1] = 1.0
    synthesis = torch.cat([cos * side, -sin * side]) * window / n_fft
    return analysis.float().unsqueeze(1), synthesis.float().unsqueeze(1)


class Residual(nn.Module):
    """h + PReLU(BatchNorm(conv3(h))), the convolution dilated over frames."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, dilation=dilation, padding=dilation)
        self.norm = nn.BatchNorm1d(channels)
        self.act = nn.PReLU(channels)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.act(self.norm(self.conv(h)))


class StftMask(nn.Module):
    """[batch, 1, samples] -> [batch, 1, samples]; `mask_limit` bounds the mask's magnitude."""

    def __init__(self, n_fft: int = 512, hop: int = 128, channels: int = 256, dilations: tuple = DILATIONS,
                 mask_limit: float = 1.2, sample_rate: int = DEFAULT_SAMPLE_RATE):
        super().__init__()
        if n_fft % hop or n_fft // hop < 2:
            raise ValueError(f"hop {hop} must divide n_fft {n_fft} at least twice (overlapping frames)")
        self.n_fft, self.hop, self.bins = n_fft, hop, n_fft // 2 + 1
        self.mask_limit = float(mask_limit)
        self.sample_rate = sample_rate  # what wux reads as the model's own rate
        analysis, synthesis = dft_bases(n_fft)
        self.register_buffer("analysis", analysis, persistent=False)
        self.register_buffer("synthesis", synthesis, persistent=False)
        self.register_buffer("window_sq", torch.hann_window(n_fft, periodic=True).view(1, 1, -1), persistent=False)
        self.inp = nn.Sequential(nn.Conv1d(self.bins, channels, 1), nn.BatchNorm1d(channels), nn.PReLU(channels))
        self.blocks = nn.Sequential(*(Residual(channels, int(d)) for d in dilations))
        self.out = nn.Conv1d(channels, 2 * self.bins, 1)

    def wux_contract(self) -> dict:
        """What the structure says, which a probe cannot measure well (a second of context each way outruns
        its probes): output shifts with the input by whole hops; sample t depends on the frames whose windows
        cover it, each of which sees `reach` frames each way, each frame n_fft samples wide."""
        reach = sum(int(b.conv.dilation[0]) for b in self.blocks)
        side = reach * self.hop + self.n_fft
        return {"length": {"multiple": 1, "minimum": 1}, "align": self.hop, "receptive_field": 2 * side + 1,
                "context": side, "context_exact": True, "causal": False, "lookahead": side}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        samples = x.shape[-1]
        hop, half = self.hop, self.n_fft // 2
        frames = (samples + hop - 1) // hop
        spec = F.conv1d(F.pad(x, (half, frames * hop - samples + half)), self.analysis, stride=hop)
        re, im = spec[:, : self.bins], spec[:, self.bins:]
        features = torch.log1p(100.0 * torch.sqrt(re * re + im * im + 1e-10))
        m = self.out(self.blocks(self.inp(features)))
        mr, mi = m[:, : self.bins], m[:, self.bins:]
        size = torch.sqrt(mr * mr + mi * mi + 1e-8)
        scale = self.mask_limit * torch.tanh(size) / size
        mr, mi = mr * scale, mi * scale
        y = F.conv_transpose1d(torch.cat([re * mr - im * mi, re * mi + im * mr], 1), self.synthesis, stride=hop)
        # the overlap-added analysis x synthesis windows: constant inside, smaller at the two ends
        envelope = F.conv_transpose1d(torch.ones_like(spec[:1, :1]), self.window_sq, stride=hop)
        return (y / envelope.clamp_min(1e-3))[..., half: half + samples]
