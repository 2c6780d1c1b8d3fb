"""The Wave-U-Net of the article that started wux, as a user would write it with their own code.

The encoder block is exactly the article's (stride-4 convolutions, BatchNorm, ReLU; 1 -> 32 -> 64 -> 128,
so 1 x 16000 becomes 128 x 250). The decoder follows its description: transposed convolutions restore
the time resolution step by step, and skip connections join each level's encoder features. Nothing
here knows about wux: its rules (lengths must be multiples of 64; what it sees) are for wux to find.
"""

import torch
import torch.nn as nn


class WaveUNetEncoderBlock(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=15, stride=4):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)
        self.bn = nn.BatchNorm1d(out_channels)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class WaveUNetDecoderBlock(nn.Module):
    def __init__(self, in_channels, skip_channels, out_channels, stride=4):
        super().__init__()
        self.up = nn.ConvTranspose1d(in_channels, out_channels, kernel_size=stride, stride=stride)
        self.conv = nn.Conv1d(out_channels + skip_channels, out_channels, 5, padding=2)
        self.bn = nn.BatchNorm1d(out_channels)
        self.relu = nn.ReLU()

    def forward(self, x, skip):
        x = torch.cat([self.up(x), skip], dim=1)
        return self.relu(self.bn(self.conv(x)))


class ArticleWaveUNet(nn.Module):
    def __init__(self, channels=(1, 32, 64, 128)):
        super().__init__()
        self.encoder = nn.ModuleList(
            WaveUNetEncoderBlock(channels[i], channels[i + 1]) for i in range(len(channels) - 1))
        self.bottleneck = nn.Sequential(nn.Conv1d(channels[-1], channels[-1], 15, padding=7),
                                        nn.BatchNorm1d(channels[-1]), nn.ReLU())
        widths = list(channels[1:])  # 32, 64, 128
        decoder = []
        for skip, below in zip(reversed([channels[0]] + widths[:-1]), reversed(widths)):
            decoder.append(WaveUNetDecoderBlock(below, skip, max(skip, 16)))
        self.decoder = nn.ModuleList(decoder)
        self.head = nn.Conv1d(16, 1, 1)

    def forward(self, x):
        skips = [x]
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        x = self.bottleneck(skips.pop())
        for block in self.decoder:
            x = block(x, skips.pop())
        return torch.tanh(self.head(x))
