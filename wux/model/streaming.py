"""Exact streaming of a causal Wave-U-Net: a step model with explicit state, one frame in, one frame out.

A causal model's convolutions are padded with kernel - 1 zeros on the left. Streamed, each such convolution
keeps the last kernel - 1 samples of its input (at its own level's rate) from the frames before: that is the
whole state, zeros at the start of a stream exactly like the offline padding. Frames are a multiple of the
total stride, so decimation and strided convolutions keep the phase they have offline, and non-overlapping
transposed convolutions need no state at all. Fed a file frame by frame, the step model returns what the
offline forward returns, up to float rounding; each frame costs its own work only.

The state travels as one flat tensor [batch, state_size] (each convolution's buffer flattened, in the order
the layers run): one input and one output beside the audio for an exported step model or a Triton sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from wux.errors import ConfigError
from wux.model.waveunet import ConvBlock, DecimateEncoder, MergeThenUpsample, WaveUNet


@dataclass(frozen=True)
class StreamPlan:
    """What a stream of one causal model needs: its frame grid and the size of its state."""

    frame_multiple: int  # frames are multiples of this (the total stride), in samples
    state_size: int  # floats per stream
    sample_rate: int

    def frame_samples(self, frame_ms: float) -> int:
        return frame_samples(frame_ms, self.sample_rate, self.frame_multiple)

    def latency_ms(self, frame: int) -> float:
        """Algorithmic latency of streaming with `frame`-sample frames: the frame must be heard before it is
        denoised (a causal model needs no sample after it)."""
        return 1000.0 * frame / self.sample_rate


MAX_FRAME_MS = 10_000.0  # a live stream's frame is milliseconds long; ten seconds is already no stream


def frame_samples(frame_ms: float, sample_rate: int, frame_multiple: int) -> int:
    """The frame for `frame_ms` milliseconds, which must fall on the frame grid."""
    if not 0 < frame_ms <= MAX_FRAME_MS:  # NaN and infinity too
        raise ConfigError(f"--frame-ms must be a positive length up to {MAX_FRAME_MS:g} ms, got {frame_ms:g}")
    n = round(sample_rate * frame_ms / 1000)
    if n <= 0 or n % frame_multiple or abs(n - sample_rate * frame_ms / 1000) > 1e-6:
        raise ConfigError(f"a {frame_ms:g} ms frame is not a multiple of {frame_multiple} samples "
                          f"({1000 * frame_multiple / sample_rate:g} ms) at {sample_rate} Hz")
    return n


def frame_on_grid(frame_ms: float, sample_rate: int, frame_multiple: int) -> int:
    """The smallest frame on the grid that lasts at least `frame_ms` (the default frame of an export or report)."""
    return -(-round(sample_rate * frame_ms / 1000) // frame_multiple) * frame_multiple


class StreamingWaveUNet(nn.Module):
    """(frame [batch, 1, F], state [batch, state_size]) -> (denoised frame [batch, 1, F], next state)."""

    def __init__(self, model: WaveUNet):
        super().__init__()
        if not model.config.causal:
            raise ConfigError("only a causal model streams exactly (its config says causal: false)")
        self.model = model
        self.total_stride = model.total_stride
        blocks = [enc.block for enc in model.encoders] + [model.bottleneck] + [dec.block for dec in model.decoders]
        self.buffers = [(b.conv.in_channels, b.left) for b in blocks]  # in the order the layers run
        self.sizes = [c * n for c, n in self.buffers]
        self.state_size = sum(self.sizes)

    def initial_state(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros(batch, self.state_size)

    def forward(self, frame: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Shapes from constants only (split sizes, -1 for the batch, slices from the end): the exported graph has
        # no shape arithmetic, half the nodes of one that reads the batch size (each node costs at a 20 ms frame).
        states = [s.reshape(-1, c, n) if n else None  # a 1-tap convolution keeps nothing
                  for s, (c, n) in zip(torch.split(state, self.sizes, dim=1), self.buffers)]
        updated: list[torch.Tensor] = []

        def conv(block: ConvBlock, x: torch.Tensor) -> torch.Tensor:
            i = len(updated)
            if not block.left:
                updated.append(x[:, :, :0])
                return block.finish(block.conv(x))
            seen = torch.cat([states[i], x], dim=-1)
            updated.append(seen[:, :, -block.left:])
            return block.finish(block.conv(seen))

        m = self.model
        skips: list[torch.Tensor] = []
        h = frame
        for enc in m.encoders:
            skip = conv(enc.block, h)
            skips.append(skip)
            h = enc.down(skip) if isinstance(enc, DecimateEncoder) else skip
        h = conv(m.bottleneck, h)
        for j, dec in enumerate(m.decoders):
            skip = skips[len(skips) - 1 - j]
            if isinstance(dec, MergeThenUpsample):
                h = dec.up(conv(dec.block, torch.cat([h, skip], dim=1)))
            else:
                h = conv(dec.block, torch.cat([dec.up(h), skip], dim=1))
        if m.concat_input:
            h = torch.cat([h, frame], dim=1)
        out = m.out_act(m.head(h))
        return out, torch.cat([u.flatten(1) for u in updated], dim=1)

    def plan(self, sample_rate: int) -> StreamPlan:
        return StreamPlan(self.total_stride, self.state_size, sample_rate)


def stream_wave(step: StreamingWaveUNet, wave: np.ndarray, frame: int) -> np.ndarray:
    """A whole waveform through the step model, `frame` samples at a time (the last frame zero-padded), as a
    live stream would be; the output has the input's length."""
    if frame % step.total_stride:
        raise ConfigError(f"frame {frame} is not a multiple of the model's total stride {step.total_stride}")

    def run(x: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            y, s = step(torch.from_numpy(x), torch.from_numpy(state))
        return y.numpy(), s.numpy()

    return stream_through(run, wave, frame, step.state_size)


def stream_through(run, wave: np.ndarray, frame: int, state_size: int) -> np.ndarray:
    """A whole waveform through any step runner, `(frame [1, 1, F], state [1, S]) -> (denoised, next state)` on
    numpy arrays (the model, an exported step file), frame by frame from a zero state; the last frame is
    zero-padded and the output has the input's length."""
    n = len(wave)
    padded = np.zeros(-(-n // frame) * frame, dtype=np.float32)
    padded[:n] = wave
    state = np.zeros((1, state_size), dtype=np.float32)
    out = np.empty_like(padded)
    for start in range(0, len(padded), frame):
        y, state = run(padded[None, None, start: start + frame], state)
        out[start: start + frame] = y.reshape(-1)
    return out[:n]


def streaming_macs_per_second(step: StreamingWaveUNet, frame: int, sample_rate: int) -> int | None:
    """Multiply-accumulates per second of audio when streamed with `frame`-sample frames."""
    from wux.model.info import count_macs

    class OneFrame(nn.Module):
        def forward(self, x):
            return step(x, step.initial_state(x.shape[0]))[0]

    macs = count_macs(OneFrame(), frame)
    return None if macs is None else round(macs * sample_rate / frame)


DEFAULT_FRAME_MS = 20.0  # the frame people stream speech in (RNNoise: 10 ms, most codecs and WebRTC: 20 ms)


def streaming_summary(module: nn.Module, sample_rate: int, frame_ms: float = DEFAULT_FRAME_MS) -> dict | None:
    """For `wux info`: how a causal Wave-U-Net streams (frame grid, state, latency, cost beside offline); None
    for any other model."""
    from wux.model.info import count_macs

    if not isinstance(module, WaveUNet) or not module.config.causal:
        return None
    step = StreamingWaveUNet(module)
    grid = step.total_stride
    frame = frame_on_grid(frame_ms, sample_rate, grid)
    offline = count_macs(module, sample_rate)
    return {"frame_multiple_samples": grid, "frame_multiple_ms": round(1000 * grid / sample_rate, 3),
            "state_floats": step.state_size, "frame_samples": frame,
            "algorithmic_latency_ms": round(step.plan(sample_rate).latency_ms(frame), 3),
            "macs_per_second_streaming": streaming_macs_per_second(step, frame, sample_rate),
            "macs_per_second_offline": offline}
