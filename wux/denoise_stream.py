"""Denoise files as a live stream would: frame by frame through a causal model's step model, in-process (the
model, or an export's step file) or through Triton's streaming model. The same files-and-folders handling as
wux.denoise; the audio equals the offline causal forward (and each of these three ways gives the same)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wux.clients.streaming import TritonStreamer
from wux.denoise import DenoiseReport, denoise_files
from wux.errors import WuxError
from wux.export.manifest import read_manifest
from wux.export.step import StreamingRecord, load_step
from wux.model.load import ModelSource, load_model
from wux.model.streaming import StreamingWaveUNet, frame_samples, stream_through, stream_wave
from wux.triton_repo.generate import stream_model_name


def stream_locally(inputs: list[Path], output: Path, source: ModelSource | None, frame_ms: float,
                   downmix: bool = False, resample: bool = False, progress: Callable | None = None) -> DenoiseReport:
    model = load_model(source, require_weights=True)
    if not (hasattr(model.module, "config") and getattr(model.module.config, "causal", False)):
        raise WuxError(f"{model.source.label()} is not a causal model: only a causal model streams "
                       "(--checkpoint causal, or train one with --preset causal)")
    step = StreamingWaveUNet(model.module).eval()
    rate = model.contract.sample_rate
    frame = frame_samples(frame_ms, rate, step.total_stride)
    files = denoise_files(inputs, output, lambda w: stream_wave(step, w, frame), rate, downmix, resample, progress)
    return DenoiseReport(f"{model.source.label()} streamed in {frame_ms:g} ms frames", files)


def stream_exported(inputs: list[Path], output: Path, folder: Path, fmt: str, frame_ms: float,
                    downmix: bool = False, resample: bool = False, progress: Callable | None = None) -> DenoiseReport:
    manifest = read_manifest(folder)
    if not manifest.streaming:
        raise WuxError("this export has no step model (it was not made from a causal model)", folder)
    record = StreamingRecord.from_dict(manifest.streaming)
    run = load_step(folder, record, fmt)
    frame = frame_samples(frame_ms, record.sample_rate, record.frame_multiple)
    files = denoise_files(inputs, output, lambda w: stream_through(run, w, frame, record.state_size),
                          record.sample_rate, downmix, resample, progress)
    return DenoiseReport(f"{folder} {fmt} step model streamed in {frame_ms:g} ms frames", files)


def stream_served(inputs: list[Path], output: Path, url: str, model: str, frame_ms: float, downmix: bool = False,
                  resample: bool = False, progress: Callable | None = None) -> DenoiseReport:
    name = stream_model_name(model)
    with TritonStreamer(url, name) as probe:
        info = probe.info
    frame = frame_samples(frame_ms, info.contract.sample_rate, info.frame_multiple)

    def one_stream(wave):
        with TritonStreamer(url, name) as streamer:  # one stream (correlation id) per file and channel
            return streamer.stream(wave, frame)

    files = denoise_files(inputs, output, one_stream, info.contract.sample_rate, downmix, resample, progress)
    return DenoiseReport(f"triton {url} {name} streamed in {frame_ms:g} ms frames", files)
