"""A causal dilated-convolution denoiser (Conv-TasNet's TCN, shrunk) in one file outside any package.

    wux export --model path/to/tcn_denoiser.py:build --model-kwargs '{"channels": 16}' --weights w.pt \\
        --sample-rate 16000

By construction it is causal and sees 1 + (kernel - 1) * (1 + 2 + ... + 2**(layers - 1)) samples:
63 with the defaults (kernel 3, 5 layers), all of them in the past.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int):
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation)
        self.act = nn.PReLU(channels)

    def forward(self, x):
        return x + self.act(self.conv(F.pad(x, (self.pad, 0))))


class TCNDenoiser(nn.Module):
    """[batch, samples] in, a mask applied to the input, [batch, samples] out."""

    def __init__(self, channels: int = 16, layers: int = 5, kernel: int = 3):
        super().__init__()
        self.inp = nn.Conv1d(1, channels, 1)
        self.blocks = nn.Sequential(*(CausalBlock(channels, kernel, 2**i) for i in range(layers)))
        self.mask = nn.Conv1d(channels, 1, 1)

    def forward(self, wave):
        x = wave.unsqueeze(1)
        mask = torch.sigmoid(self.mask(self.blocks(self.inp(x))))
        return (x * mask).squeeze(1)


def build(channels: int = 16, layers: int = 5, kernel: int = 3) -> TCNDenoiser:
    return TCNDenoiser(channels, layers, kernel)
