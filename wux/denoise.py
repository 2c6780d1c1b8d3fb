"""Denoise waveforms and files in-process, window by window, the way the served models do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from wux import windowing
from wux.clients.triton import TritonDenoiser
from wux.contract import WindowPlan
from wux.data.audio import (
    AUDIO_SUFFIXES,
    list_audio_files,
    output_subtype,
    read_channels_as_stored,
    samples_beyond_full_scale,
    write_audio,
)
from wux.data.resample import processed_channels
from wux.errors import WuxError
from wux.export.formats import get_format
from wux.export.manifest import artifact_path, read_manifest
from wux.fsutil import check_writable
from wux.model.load import LoadedModel, ModelSource, load_model
from wux.runtime.base import Runner

Denoiser = Callable[[np.ndarray], np.ndarray]


def denoise_wave(runner: Runner, wave: np.ndarray, plan: WindowPlan, batch_size: int = 8) -> np.ndarray:
    """Run `runner` over the chunk-length windows of `wave` in batches and stitch the result.

    Every window is padded to the full chunk, as the Triton front model sends it: a model that
    looks at a whole window (a level, a recurrent state) then gives the same output here and there."""
    windows, starts = windowing.split(wave, plan, fixed=True)
    outputs = np.concatenate(
        [runner(windows[i: i + batch_size]) for i in range(0, len(windows), batch_size)]
    )
    return windowing.overlap_add(outputs, starts, plan, len(wave))


def model_denoiser(model: LoadedModel, device: str = "cpu", batch_size: int = 8) -> Denoiser:
    """The model in eager PyTorch with its contract's windows."""
    runner, plan = model.runner(device), model.contract.window
    return lambda wave: denoise_wave(runner, wave, plan, batch_size)


def export_denoiser(folder: Path, fmt: str = "onnx", precision: str = "fp32", device: str = "cpu",
                    threads: int | None = None, batch_size: int | None = None) -> Denoiser:
    """An exported artifact with the manifest's windows: what a Triton model serving it returns, computed here."""
    manifest = read_manifest(folder)
    art = manifest.artifact(get_format(fmt).name, precision)
    if art is None:
        raise WuxError(f"the export has no {fmt} {precision} artifact", folder)
    runner = get_format(art.format).runner(artifact_path(folder, art), art.io, device,
                                           art.session.with_threads(threads), art.limits)
    plan = manifest.contract.window
    batch = batch_size or art.batch or manifest.max_batch
    return lambda wave: denoise_wave(runner, wave, plan, batch)


@dataclass(frozen=True)
class DenoisedFile:
    input: str
    output: str
    samples: int
    seconds: float
    sample_format: str  # the output's: the input's where its container holds it (output_subtype)
    clipped: int  # output samples (of all channels) beyond full scale that an integer format cut to +-1
    channels: int = 1  # the output's: the input's, each denoised on its own, or 1 with --downmix

    def to_dict(self) -> dict:
        return asdict(self)


def output_paths(inputs: list[Path], output: Path) -> list[tuple[Path, Path]]:
    """Pair each input file with its output path (a file, or a folder mirroring the inputs)."""
    files = unique_files(list_audio_files(inputs))
    if not files:
        kinds, where = " or ".join(AUDIO_SUFFIXES), ", ".join(map(str, inputs))
        raise WuxError(f"holds no {kinds} files", where) if len(inputs) == 1 else \
            WuxError(f"no {kinds} files found in {where}")
    single = len(files) == 1 and not inputs[0].is_dir()
    if single and output.suffix.lower() in AUDIO_SUFFIXES:
        pairs = [(files[0], output)]
    elif output.suffix.lower() in AUDIO_SUFFIXES and not output.is_dir():
        raise WuxError("several files or a folder are denoised into a folder, and this is a file name; give -o a "
                       "folder", output)
    else:
        pairs = [(f, output / relative_name(f, inputs)) for f in files]
    check_nothing_overwritten(pairs)
    return pairs


def relative_name(f: Path, inputs: list[Path]) -> Path:
    """The file's path below the input folder it was found in, or its name when it was given itself."""
    root = next((p for p in inputs if p.is_dir() and p in f.parents), None)
    return f.relative_to(root) if root else Path(f.name)


def unique_files(files: list[Path]) -> list[Path]:
    """Each file once, in order, however often the inputs name it (a file and its folder, or twice)."""
    seen: set[Path] = set()
    out = []
    for f in files:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            out.append(f)
    return out


def check_nothing_overwritten(pairs: list[tuple[Path, Path]]) -> None:
    """Refuse, before any work, an output that is its own input or that two inputs would both write."""
    writers: dict[Path, Path] = {}
    for src, dst in pairs:
        key = dst.resolve()
        if key == src.resolve():
            raise WuxError("the output would overwrite this input; choose another --out", src)
        if key in writers:
            raise WuxError(f"{writers[key]} and {src} would both be written there; denoise them into separate "
                           "folders", dst)
        writers[key] = src


def check_outputs(inputs: list[Path], output: Path) -> None:
    """Refuse, before a model loads or a server is asked, inputs that pair badly with their outputs and outputs
    that cannot be written (one probe per folder)."""
    for dst in {dst.parent: dst for _, dst in output_paths(inputs, output)}.values():
        check_writable(dst)


def validated_inputs(pairs: list[tuple[Path, Path]], sample_rate: int, resample: bool) -> dict[Path, tuple]:
    """Read (and so validate) every input before anything is written, keeping only the last one read: a folder
    of long recordings need not fit in memory, and a single file is read once."""
    last: dict[Path, tuple] = {}
    for src, _ in pairs:
        last = {src: read_channels_as_stored(src, sample_rate, resample=resample)}
    return last


def denoise_files(inputs: list[Path], output: Path, denoise: Denoiser, sample_rate: int, downmix: bool = False,
                  resample: bool = False, progress: Callable[[Path, int], None] | None = None) -> list[DenoisedFile]:
    """Denoise every input file into `output` with `denoise(wave) -> wave` (mono, at `sample_rate`, the model's);
    each file is written atomically with its input's rate (`resample`: brought to the model's and back), length,
    channels (each denoised on its own; `downmix`: averaged to one first) and sample format.

    `denoise` is in-process windowed inference or a Triton client: the file handling is the same.
    """
    pairs = output_paths(inputs, output)
    kept = validated_inputs(pairs, sample_rate, resample)
    results = []
    for src, dst in pairs:
        samples, stored = kept.pop(src, None) or read_channels_as_stored(src, sample_rate, resample=resample)
        if downmix:
            samples = samples.mean(axis=1, keepdims=True)
        out = processed_channels(denoise, samples, stored.rate, sample_rate)
        subtype = output_subtype(stored.subtype, dst.suffix[1:].upper())
        write_audio(dst, out, stored.rate, subtype)
        results.append(DenoisedFile(str(src), str(dst), len(out), len(out) / stored.rate, subtype,
                                    samples_beyond_full_scale(out, subtype), out.shape[1]))
        if progress:
            progress(src, len(pairs))  # the file done, of how many
    return results


@dataclass(frozen=True)
class DenoiseReport:
    source: str  # what denoised: a model, or a Triton model at a URL
    files: list[DenoisedFile]
    spectrogram: str | None = None  # `--plot`: the PNG of the input and output spectrograms

    def to_dict(self) -> dict:
        return asdict(self)


def denoise_locally(inputs: list[Path], output: Path, source: ModelSource | None = None, chunk: int | None = None,
                    device: str = "cpu", batch_size: int = 8, downmix: bool = False, resample: bool = False,
                    progress: Callable[[Path, int], None] | None = None) -> DenoiseReport:
    """Files or folders through the model in eager PyTorch, with its contract's windows (or `chunk`-long ones)."""
    model = load_model(source, require_weights=True)
    if chunk is not None:
        model.contract = model.contract.with_serving(chunk=chunk)
    files = denoise_files(inputs, output, model_denoiser(model, device, batch_size), model.contract.sample_rate,
                          downmix, resample, progress)
    return DenoiseReport(model.source.label(), files)


def denoise_exported(inputs: list[Path], output: Path, folder: Path, fmt: str = "onnx", precision: str = "fp32",
                     device: str = "cpu", batch_size: int | None = None, downmix: bool = False,
                     resample: bool = False, progress: Callable[[Path, int], None] | None = None) -> DenoiseReport:
    """Files or folders through an exported artifact (its tuned onnxruntime settings), in-process."""
    denoise = export_denoiser(folder, fmt, precision, device, batch_size=batch_size)
    files = denoise_files(inputs, output, denoise, read_manifest(folder).contract.sample_rate, downmix, resample,
                          progress)
    return DenoiseReport(f"{folder} {fmt} {precision}", files)


def denoise_served(inputs: list[Path], output: Path, urls: list[str], model: str = "waveunet", protocol: str = "grpc",
                   mode: str = "server", shared_memory: bool = False, downmix: bool = False, resample: bool = False,
                   progress: Callable[[Path, int], None] | None = None) -> DenoiseReport:
    """Files or folders through a wux front model on a Triton server (its contract comes from the server), or
    on several replicas of it: each file goes to the least busy, and to another if its replica goes away."""
    where = f"triton {', '.join(urls)} {model} ({protocol}, {mode})"
    if len(urls) > 1:
        if mode != "server" or shared_memory:
            raise WuxError("several --url replicas take whole files (--mode server, no --shared-memory)")
        from wux.clients.replicas import ReplicaSet

        with ReplicaSet(urls, model, protocol) as replicas:
            files = denoise_files(inputs, output, replicas.denoise, replicas.contract.sample_rate, downmix,
                                  resample, progress)
        return DenoiseReport(where, files)
    with TritonDenoiser(urls[0], model, protocol, mode, shared_memory=shared_memory) as client:
        files = denoise_files(inputs, output, client.denoise, client.info.contract.sample_rate, downmix, resample,
                              progress)
    return DenoiseReport(where, files)
