"""Denoise waveforms and files in-process, window by window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from wux import windowing
from wux.constants import DEFAULT_CHUNK, DEFAULT_CROSSFADE
from wux.errors import WuxError
from wux.runner import Runner


def plan_for_model(config, window: int = DEFAULT_CHUNK, crossfade: int = DEFAULT_CROSSFADE,
                   context: int | None = None) -> windowing.WindowPlan:
    """Window plan whose context covers the model's receptive field."""
    from wux.model.info import context_samples

    if context is None:
        # A global norm sees the whole input: no context is exact, an eighth of the window is a fair trade.
        context = context_samples(config) or window // 8
    try:
        return windowing.make_plan(window, context, crossfade, config.total_stride)
    except ValueError as e:
        raise WuxError(f"cannot window this model: {e}") from None


def denoise_wave(runner: Runner, wave: np.ndarray, plan: windowing.WindowPlan,
                 batch_size: int = 8, fixed: bool = False) -> np.ndarray:
    """Run `runner` over the windows of `wave` in batches and stitch the result."""
    windows, starts = windowing.split(wave, plan, fixed=fixed)
    outputs = np.concatenate(
        [runner(windows[i: i + batch_size]) for i in range(0, len(windows), batch_size)]
    )
    return windowing.overlap_add(outputs, starts, plan, len(wave))


def export_denoiser(folder: Path) -> Callable[[np.ndarray], np.ndarray]:
    """What a Triton model serving this export returns, computed here: its FP32 ONNX in onnxruntime
    with the manifest's fixed-length windows (a chunk-length input is a single window, unchanged)."""
    from wux.export.manifest import read_manifest
    from wux.export.onnx import OrtRunner

    manifest = read_manifest(folder)
    art = manifest.artifact("onnx", "fp32")
    if art is None:
        raise WuxError("the export has no FP32 ONNX artifact to compare against", folder)
    runner = OrtRunner(Path(folder) / art.file)
    plan = windowing.WindowPlan(**manifest.windowing)
    return lambda wave: denoise_wave(runner, wave, plan, fixed=True)


@dataclass(frozen=True)
class DenoisedFile:
    input: str
    output: str
    samples: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def output_paths(inputs: list[Path], output: Path) -> list[tuple[Path, Path]]:
    """Pair each input file with its output path (a file, or a folder mirroring the inputs)."""
    from wux.data.audio import AUDIO_SUFFIXES, list_audio_files

    files = list_audio_files(inputs)
    if not files:
        raise WuxError("no .wav or .flac files found in the inputs")
    single = len(files) == 1 and not inputs[0].is_dir()
    if single and output.suffix.lower() in AUDIO_SUFFIXES:
        return [(files[0], output)]
    pairs = []
    for f in files:
        root = next((p for p in inputs if p.is_dir() and p in f.parents), None)
        rel = f.relative_to(root) if root else Path(f.name)
        pairs.append((f, output / rel))
    return pairs


def denoise_files(inputs: list[Path], output: Path, denoise: Callable[[np.ndarray], np.ndarray],
                  sample_rate: int, downmix: bool = False, resample: bool = False,
                  progress: Callable[[Path], None] | None = None) -> list[DenoisedFile]:
    """Denoise every input file into `output` with `denoise(wave) -> wave`; each file is written atomically.

    `denoise` is in-process windowed inference or a Triton client: the file handling is the same.
    """
    from wux.data.audio import read_audio, write_audio

    pairs = output_paths(inputs, output)
    # Read (and so validate) every input before writing anything.
    waves = [read_audio(src, sample_rate, downmix=downmix, resample=resample) for src, _ in pairs]
    results = []
    for (src, dst), wave in zip(pairs, waves):
        write_audio(dst, denoise(wave), sample_rate)
        results.append(DenoisedFile(str(src), str(dst), len(wave), len(wave) / sample_rate))
        if progress:
            progress(src)
    return results
