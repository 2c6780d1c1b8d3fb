"""Read and write audio with soundfile; every bad input is one AudioError line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wux.contract import DEFAULT_SAMPLE_RATE
from wux.data.resample import resample_poly
from wux.errors import AudioError, first_line
from wux.fsutil import atomic_file

AUDIO_SUFFIXES = (".wav", ".flac")


def read_audio(
    path: Path | str,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    downmix: bool = False,
    resample: bool = False,
) -> np.ndarray:
    """Mono float32 samples at `sample_rate`, or an AudioError saying why not."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError("audio file not found", path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile reports every format problem as its own error type
        raise AudioError(f"cannot read audio ({first_line(e)})", path) from None
    if data.shape[0] == 0:
        raise AudioError("contains no samples", path)
    if data.shape[1] > 1:
        if not downmix:
            raise AudioError(f"has {data.shape[1]} channels; wux needs mono (pass --downmix)", path)
        data = data.mean(axis=1, keepdims=True)
    wave = np.ascontiguousarray(data[:, 0])
    check_finite(wave, path)
    if rate != sample_rate:
        if not resample:
            raise AudioError(
                f"sample rate is {rate} Hz but the model expects {sample_rate} Hz (pass --resample)",
                path,
            )

        wave = resample_poly(wave, rate, sample_rate)
    return wave


def check_finite(wave: np.ndarray, path: Path | str | None = None) -> None:
    bad = int(np.count_nonzero(~np.isfinite(wave)))
    if bad:
        raise AudioError(f"contains {bad} NaN or Inf sample(s)", path)


def write_audio(path: Path | str, wave: np.ndarray, sample_rate: int = DEFAULT_SAMPLE_RATE,
                subtype: str | None = None) -> Path:
    """Write atomically; format from the suffix (.wav or .flac), 16-bit PCM unless told."""
    import soundfile as sf

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in AUDIO_SUFFIXES:
        raise AudioError(f"unsupported output format {suffix!r}; use .wav or .flac", path)
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    check_finite(wave, path)
    with atomic_file(path) as tmp:
        sf.write(str(tmp), np.clip(wave, -1.0, 1.0), sample_rate,
                 subtype=subtype or "PCM_16", format=suffix[1:].upper())
    return path


def list_audio_files(paths: list[Path]) -> list[Path]:
    """Expand folders into their audio files (sorted); keep files as given."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES))
        else:
            out.append(p)
    return out

