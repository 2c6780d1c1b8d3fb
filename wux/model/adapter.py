"""Any waveform model as wux's one shape: [batch, 1, samples] in, the same shape out, at any length.

User models differ in layout ([batch, samples] or [batch, 1, samples], a tuple out, several output
channels) and in the lengths they accept. The adapter states those differences as constants fixed
at construction, so that scripting, tracing and torch.export record only tensor operations:
pad up to the model's valid length with `m * ceil(n / m)` and crop back with a negative pad, the
two forms under which torch.export keeps the output length exactly `samples`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from wux.contract import LengthRule
from wux.errors import ConfigError


@dataclass(frozen=True)
class Layout:
    """How a model takes and returns waveforms."""

    input_rank: int = 3  # 3: [batch, 1, samples]; 2: [batch, samples]
    tuple_output: bool = False  # it returns a tuple or list whose first element is the waveform
    output_channel: int = 0  # for [batch, C, samples] outputs: the channel holding the denoised speech

    def __post_init__(self) -> None:
        if self.input_rank not in (2, 3) or self.output_channel < 0:
            raise ConfigError(f"input_rank must be 3 ([batch, 1, samples]) or 2 ([batch, samples]) and "
                              f"output_channel >= 0, got {self.input_rank} / {self.output_channel}")

    def to_dict(self) -> dict:
        return asdict(self)


class WaveformAdapter(nn.Module):
    """[batch, 1, samples] -> [batch, 1, samples] around a model with its own layout and length rule."""

    def __init__(self, model: nn.Module, layout: Layout = Layout(), length: LengthRule = LengthRule()):
        super().__init__()
        self.model = model
        self.layout = layout
        self.multiple = length.multiple
        self.minimum = length.minimum

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        samples = x.shape[-1]
        pads = self.multiple > 1 or self.minimum > 1
        if pads:
            m = self.multiple
            padded = ((samples + m - 1) // m) * m
            if self.minimum > 1:
                padded = max(padded, self.minimum)
            x = F.pad(x, (0, padded - samples))
        y = self.model(x if self.layout.input_rank == 3 else x[:, 0])
        if self.layout.tuple_output:
            y = y[0]
        if y.dim() == 2:
            y = y.unsqueeze(1)
        if y.shape[1] != 1:
            c = self.layout.output_channel
            y = y[:, c: c + 1]
        if pads:
            y = F.pad(y, (0, samples - padded))
        return y
