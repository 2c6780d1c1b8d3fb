"""Read and write audio with soundfile; every bad input is one AudioError line."""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from wux.contract import DEFAULT_SAMPLE_RATE
from wux.data.resample import resample_poly
from wux.errors import AudioError, UnreadableAudio, first_line
from wux.fsutil import atomic_file, torch_file_kind

AUDIO_SUFFIXES = (".wav", ".flac")
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")  # sample formats that hold values beyond full scale
WIDE_SUBTYPES = ("PCM_24", "PCM_32", *FLOAT_SUBTYPES)  # finer than 16 bits


def read_audio(
    path: Path | str,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    downmix: bool = False,
    resample: bool = False,
) -> np.ndarray:
    """Mono float32 samples at `sample_rate`, or an AudioError saying why not."""
    return read_audio_as_stored(path, sample_rate, downmix, resample)[0]


@dataclass(frozen=True)
class Stored:
    """How a file holds its audio: what reading it for a model converts (rate, channels), and what a denoised
    copy keeps (rate, sample format)."""

    rate: int
    channels: int
    subtype: str


def read_audio_as_stored(path: Path | str, sample_rate: int = DEFAULT_SAMPLE_RATE, downmix: bool = False,
                         resample: bool = False) -> tuple[np.ndarray, Stored]:
    """read_audio's samples, and how the file stores them: what was resampled or downmixed."""
    data, stored = read_channels_as_stored(path, sample_rate, resample)
    if stored.channels > 1:
        if not downmix:
            raise AudioError(f"has {stored.channels} channels where one is needed", path)
        data = data.mean(axis=1, keepdims=True)
    return resample_poly(np.ascontiguousarray(data[:, 0]), stored.rate, sample_rate), stored


def read_channels_as_stored(path: Path | str, sample_rate: int = DEFAULT_SAMPLE_RATE, resample: bool = False
                            ) -> tuple[np.ndarray, Stored]:
    """The file's (frames, channels) float32 samples at its own rate, and how it stores them; an AudioError for
    a rate other than `sample_rate` without `resample`."""
    path = Path(path)
    if not path.exists():
        raise AudioError("audio file not found", path)
    if path.is_file() and path.stat().st_size == 0:
        raise AudioError("is empty (0 bytes), not audio", path)  # libsndfile would say "Format not recognised"
    check_wav_complete(path)
    try:
        data, rate, subtype = load_samples(str(path), path)
    except UnreadableAudio:
        if torch_file_kind(path):  # a checkpoint given where audio goes: say so, not "Format not recognised"
            raise UnreadableAudio("is a zip archive or a pickle (a PyTorch checkpoint?), not audio", path) from None
        raise
    if rate != sample_rate and not resample:
        raise AudioError(f"sample rate is {rate} Hz but the model expects {sample_rate} Hz (pass --resample)", path)
    return data, Stored(rate, data.shape[1], subtype)


def decode_audio(data: bytes, label: str) -> tuple[np.ndarray, int, str]:
    """The (frames, channels) float32 samples, rate and sample format of an uploaded WAV or FLAC, checked like a
    file."""
    short = wav_shortfall(data[: 1 << 16], len(data))
    if short:
        raise AudioError(f"is truncated: its header promises {short[0]} frames but the upload holds {short[1]}", label)
    return load_samples(io.BytesIO(data), label)


def load_samples(source, label: Path | str) -> tuple[np.ndarray, int, str]:
    """(frames, channels) float32 samples, the rate and the sample format, from one read of a path or file object;
    empty, non-finite or unreadable audio is an AudioError (UnreadableAudio when libsndfile knows no such format)."""
    import soundfile as sf

    try:
        with sf.SoundFile(source) as f:
            data, rate, subtype = f.read(dtype="float32", always_2d=True), f.samplerate, f.subtype
    except Exception as e:  # libsndfile reports every format problem as its own error type
        why = re.sub(r"^Error opening .*?: ", "", first_line(e))  # libsndfile repeats the path or object
        raise UnreadableAudio(f"cannot read audio ({why})", label) from None
    if data.shape[0] == 0:
        raise AudioError("contains no samples", label)
    check_finite(data, label)
    return data, rate, subtype


def encode_audio(wave: np.ndarray, sample_rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    """(frames[, channels]) samples as a WAV or FLAC file in memory, 16-bit unless told (integer formats clipped
    to [-1, 1])."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, storable(wave, subtype), sample_rate, subtype=subtype, format=fmt)
    clear_peak_time(buf)
    return buf.getvalue()


def riff_chunks(head: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(tag, position, size) of each chunk of a RIFF/WAVE file whose header lies in `head`, its first bytes, up to
    and including the data chunk; nothing if it is not a WAV."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    pos = 12
    while pos + 8 <= len(head):
        tag, size = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        yield tag, pos, size
        if tag == b"data":
            return
        pos += 8 + size + (size & 1)  # chunks are padded to an even size


def peak_time_offset(head: bytes) -> int | None:
    """Where a float WAV's PEAK chunk keeps the second it was written (libsndfile adds one to every float WAV),
    from the file's first bytes; None without one."""
    for tag, pos, size in riff_chunks(head):
        if tag == b"PEAK":
            return pos + 12 if size >= 8 and pos + 16 <= len(head) else None  # after the chunk's version field
    return None


def clear_peak_time(f: BinaryIO) -> None:
    """Zero a float WAV's PEAK timestamp in an open file (its peak values stay), so the same samples make the same
    bytes."""
    f.seek(0)
    at = peak_time_offset(f.read(1 << 12))
    if at is not None:
        f.seek(at)
        f.write(bytes(4))


def check_wav_complete(path: Path) -> None:
    """A WAV whose data chunk is shorter than its header says was cut off (libsndfile reads what is there)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    short = wav_shortfall(head, path.stat().st_size)
    if short:
        raise AudioError(f"is truncated: its header promises {short[0]} frames but the file holds {short[1]}", path)


def wav_shortfall(head: bytes, file_size: int) -> tuple[int, int] | None:
    """(promised, present) frames of a RIFF/WAVE file cut short, from its first bytes; None if complete,
    not a WAV, or of unknown length (a streamed WAV's size field is 0 or 0xFFFFFFFF)."""
    block_align = None
    for tag, pos, size in riff_chunks(head):
        if tag == b"fmt " and pos + 22 <= len(head):
            block_align = struct.unpack("<H", head[pos + 20:pos + 22])[0]
        if tag == b"data":
            if not block_align or size in (0, 0xFFFFFFFF):
                return None
            present = max(0, file_size - (pos + 8))
            return (size // block_align, present // block_align) if present < size else None
    return None


def check_finite(wave: np.ndarray, path: Path | str | None = None) -> None:
    bad = int(np.count_nonzero(~np.isfinite(wave)))
    if bad:
        raise AudioError(f"contains {bad} NaN or Inf sample(s)", path)


def output_subtype(source_subtype: str | None, container: str) -> str:
    """The input's sample format where the output's container (WAV, FLAC) holds it (float WAV stays float, 24-bit
    stays 24-bit); else 24-bit for an input finer than 16 bits (float WAV into FLAC), else 16-bit."""
    import soundfile as sf

    if source_subtype and sf.check_format(container, source_subtype):
        return source_subtype
    return "PCM_24" if source_subtype in WIDE_SUBTYPES else "PCM_16"


def storable(wave: np.ndarray, subtype: str) -> np.ndarray:
    """float32 samples as `subtype` stores them: clipped to [-1, 1] for integer formats, whole for float ones."""
    wave = np.asarray(wave, dtype=np.float32)
    return wave if subtype in FLOAT_SUBTYPES else np.clip(wave, -1.0, 1.0)


def samples_beyond_full_scale(wave: np.ndarray, subtype: str) -> int:
    """How many samples an integer format clips to [-1, 1] (none for float formats, which keep them)."""
    return 0 if subtype in FLOAT_SUBTYPES else int(np.count_nonzero(np.abs(wave) > 1.0))


def write_audio(path: Path | str, wave: np.ndarray, sample_rate: int = DEFAULT_SAMPLE_RATE,
                subtype: str | None = None) -> Path:
    """Write (frames,) or (frames, channels) samples atomically; format from the suffix (.wav or .flac), 16-bit PCM
    unless told; integer formats clip to [-1, 1] (samples_beyond_full_scale counts what that loses), float ones
    keep every value."""
    import soundfile as sf

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in AUDIO_SUFFIXES:
        raise AudioError(f"unsupported output format {suffix!r}; use .wav or .flac", path)
    subtype = subtype or "PCM_16"
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 2:
        wave = wave.reshape(-1)
    check_finite(wave, path)
    with atomic_file(path) as tmp:
        sf.write(str(tmp), storable(wave, subtype), sample_rate, subtype=subtype, format=suffix[1:].upper())
        with open(tmp, "r+b") as f:
            clear_peak_time(f)
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

