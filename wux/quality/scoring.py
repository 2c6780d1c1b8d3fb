"""Per-file scores (SI-SNR, PESQ-WB, STOI) and their summaries by noise kind and input-SNR band."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wux.metrics import si_snr_db

INPUT = "input"  # the unprocessed noisy file, scored like a system so every table has its reference row
SNR_BAND_DB = 5.0  # width of the input-SNR bands the tables group by
ALL_FILES = "all"  # the group of every file, before the per-kind and per-band ones
ROOM_GROUP = "room "  # the prefix of the per-room groups: "room dry", "room reverberant"


@dataclass(frozen=True)
class Scores:
    si_snr_db: float
    pesq_wb: float | None = None
    stoi: float | None = None


@dataclass(frozen=True)
class FileScore:
    name: str
    noise: str | None  # the noise kind, from the corpus metadata
    snr_db: float  # the mix SNR from the corpus metadata, else the measured input SI-SNR
    scores: dict[str, Scores]  # system -> scores; INPUT is the noisy file itself
    room: str | None = None  # dry or reverberant speech, from the corpus metadata


@dataclass(frozen=True)
class GroupRow:
    """One system on one group of files: means and medians."""

    system: str
    group: str  # "all", "noise babble", "snr 0..5 dB"
    files: int
    si_snr_db_mean: float
    si_snr_improvement_db_mean: float
    si_snr_improvement_db_median: float
    pesq_wb_mean: float | None
    pesq_wb_median: float | None
    stoi_mean: float | None
    stoi_median: float | None
    # files the PESQ and STOI figures are over: those every system has a score for (PESQ finds no speech in some
    # outputs; a mean over fewer files for one system than for the input would not compare like with like)
    pesq_files: int = 0
    stoi_files: int = 0


Pesq = Callable[[int, np.ndarray, np.ndarray, str], float]
Stoi = Callable[[np.ndarray, np.ndarray, int], float]


def optional_metrics() -> tuple[Pesq | None, Stoi | None, list[str]]:
    """(pesq function or None, stoi function or None, names of metrics skipped)."""
    skipped = []
    try:
        from pesq import pesq
    except ImportError:
        pesq, _ = None, skipped.append("pesq (pip install 'wux[metrics]')")
    try:
        from pystoi import stoi
    except ImportError:
        stoi, _ = None, skipped.append("stoi (pip install 'wux[metrics]')")
    return pesq, stoi, skipped


def score(clean: np.ndarray, estimate: np.ndarray, rate: int, pesq: Pesq | None, stoi: Stoi | None) -> Scores:
    """SI-SNR always; PESQ-WB (16 kHz only, as the standard defines it) and STOI when installed. PESQ
    refuses a file it finds no speech in: that file has no PESQ (None), not a made-up one."""
    pesq_wb = None
    if pesq is not None and rate == 16_000:
        try:
            pesq_wb = float(pesq(rate, clean, estimate, "wb"))
        except Exception:  # pesq.NoUtterancesError, pesq.BufferTooShortError  # noqa: BLE001
            pesq_wb = None
    stoi_value = stoi_of(stoi, clean, estimate, rate) if stoi is not None else None
    return Scores(si_snr_db(estimate, clean), pesq_wb, stoi_value)


STOI_UNDEFINED = 1e-5  # what pystoi returns, with a warning, when too few frames hold speech to score


def stoi_of(stoi: Stoi, clean: np.ndarray, estimate: np.ndarray, rate: int) -> float | None:
    """STOI, or None (no made-up figure) for a file too short or too silent for it, where pystoi returns its
    placeholder or fails outright."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(stoi(clean, estimate, rate))
    except (ValueError, IndexError):  # numpy's AxisError (both) on a few samples
        return None
    return None if value == STOI_UNDEFINED else value


def snr_band(snr_db: float) -> str:
    low = SNR_BAND_DB * np.floor(snr_db / SNR_BAND_DB)
    return f"snr {low:g}..{low + SNR_BAND_DB:g} dB"


def _stats(values: list[float | None]) -> tuple[float | None, float | None]:
    kept = [v for v in values if v is not None]
    return (float(np.mean(kept)), float(np.median(kept))) if kept else (None, None)


def scored_by_all(files: list[FileScore], systems: list[str], metric: str) -> list[FileScore]:
    """The files every system has a `metric` score for."""
    return [f for f in files if all(getattr(f.scores[s], metric) is not None for s in systems)]


def summarise(files: list[FileScore], system: str, group: str, systems: list[str] | None = None) -> GroupRow:
    """`system`'s means and medians on `files`; PESQ and STOI over the files all `systems` have them for."""
    systems = systems or [system]
    own = [f.scores[system] for f in files]
    gains = [s.si_snr_db - f.scores[INPUT].si_snr_db for s, f in zip(own, files)]
    pesq_kept, stoi_kept = scored_by_all(files, systems, "pesq_wb"), scored_by_all(files, systems, "stoi")
    pesq_mean, pesq_median = _stats([f.scores[system].pesq_wb for f in pesq_kept])
    stoi_mean, stoi_median = _stats([f.scores[system].stoi for f in stoi_kept])
    return GroupRow(system, group, len(files), float(np.mean([s.si_snr_db for s in own])),
                    float(np.mean(gains)), float(np.median(gains)), pesq_mean, pesq_median, stoi_mean, stoi_median,
                    len(pesq_kept), len(stoi_kept))


def find_row(rows: list[GroupRow], system: str, group: str = ALL_FILES) -> GroupRow:
    return next(r for r in rows if r.system == system and r.group == group)


def group_rows(files: list[FileScore], systems: list[str]) -> list[GroupRow]:
    """Every system on all files, then per noise kind, per input-SNR band (lowest first) and per room (where the
    metadata tells rooms apart: a corpus all dry has no room rows, they would repeat "all")."""
    groups: dict[str, list[FileScore]] = {ALL_FILES: files}
    for kind in sorted({f.noise for f in files if f.noise}):
        groups[f"noise {kind}"] = [f for f in files if f.noise == kind]
    for low in sorted({SNR_BAND_DB * np.floor(f.snr_db / SNR_BAND_DB) for f in files}):
        groups[snr_band(low)] = [f for f in files if snr_band(f.snr_db) == snr_band(low)]
    rooms = sorted({f.room for f in files if f.room})
    for room in rooms if len(rooms) > 1 else ():
        groups[ROOM_GROUP + room] = [f for f in files if f.room == room]
    return [summarise(members, system, group, systems) for group, members in groups.items() for system in systems]
