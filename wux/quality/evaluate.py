"""`wux eval`: the model and, optionally, well-known baselines on the same paired test files, scored
with SI-SNR (and PESQ-WB / STOI when installed), overall, per noise kind and per input-SNR band."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from wux.data.dataset import conversion_notes, list_pairs, load_pairs
from wux.data.layout import Metadata, check_noise_kinds, read_metadata, unread_record_notes
from wux.denoise import model_denoiser
from wux.errors import DataError
from wux.metrics import scored_as_silence
from wux.model.load import ModelSource, load_model
from wux.progress import ShowProgress, progress_bar
from wux.quality.baselines import baseline
from wux.quality.oracle import ORACLE, ideal_ratio_mask
from wux.quality.scoring import (
    ALL_FILES,
    INPUT,
    FileScore,
    GroupRow,
    find_row,
    group_rows,
    optional_metrics,
    score,
)


@dataclass(frozen=True)
class EvalResult:
    model: str
    data: str
    split: str
    files: int
    noises: list[str]  # the noise kinds scored, when --noise chose some; empty: every file
    systems: list[str]  # INPUT, the model, the baselines, then the oracle when asked for, in table order
    snr_source: str  # where the SNR bands come from: the corpus metadata file, or the measured input SI-SNR
    input_si_snr_db_mean: float
    input_si_snr_db_median: float
    output_si_snr_db_mean: float
    output_si_snr_db_median: float
    si_snr_improvement_db_mean: float
    si_snr_improvement_db_median: float
    pesq_wb_input_mean: float | None
    pesq_wb_output_mean: float | None
    stoi_input_mean: float | None
    stoi_output_mean: float | None
    rows: list[GroupRow] = field(default_factory=list)
    skipped_metrics: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was done to the stored audio (resampled, downmixed)
    per_file: list[FileScore] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def row(self, system: str, group: str = ALL_FILES) -> GroupRow:
        return find_row(self.rows, system, group)


def of_noise_kinds(data: Path, split: str, meta: Metadata, noises: tuple[str, ...]) -> set[str] | None:
    """The file names of the split whose recorded noise kind is one of `noises` (None: every file), found
    before any audio is read."""
    if not noises:
        return None
    names = {clean.stem: clean.name for clean, _ in list_pairs(data, split)}
    check_noise_kinds(meta, names, noises, data)
    return {name for stem, name in names.items() if meta.noise.get(stem) in noises}


def silence_notes(silent: Counter, systems: list[str], files: int) -> list[str]:
    """A system some of whose outputs are silent: SI-SNR scores those near 0 dB, so a model that outputs nothing
    would seem to improve every input below 0 dB."""
    return [f"{name}: {silent[name]} of {files} outputs are silent (nothing left once their mean is removed), which "
            "SI-SNR scores near 0 dB whatever the input: their improvement is minus the input's SI-SNR"
            for name in systems if silent[name]]


def evaluate(source: ModelSource | None, data: Path, split: str = "test", limit: int | None = None,
             baselines: tuple[str, ...] = (), noises: tuple[str, ...] = (), show_progress: ShowProgress = True,
             oracle: bool = False) -> EvalResult:
    """Denoise every noisy file of the split (of the `noises` kinds, when given) the way `wux denoise` does
    (and with each baseline, and the ideal ratio mask when `oracle`); score all."""
    model = load_model(source, require_weights=True)
    rate = model.contract.sample_rate
    label = model.source.label()
    others = {name: baseline(name, rate) for name in dict.fromkeys(baselines)}  # unknown or missing: fail first
    denoisers = {label: model_denoiser(model), **others}
    meta = read_metadata(data)
    pairs = load_pairs(data, split, rate, names=of_noise_kinds(data, split, meta, noises), limit=limit)
    if not pairs:
        raise DataError(f"no files in the {split} split", data)
    pesq, stoi, skipped = optional_metrics()
    files, silent = [], Counter()
    with progress_bar("evaluating", len(pairs), show_progress) as advance:
        for p in pairs:
            scores = {INPUT: score(p.clean, p.noisy, rate, pesq, stoi)}
            outputs = {name: run(p.noisy) for name, run in denoisers.items()}
            scores.update({name: score(p.clean, output, rate, pesq, stoi) for name, output in outputs.items()})
            silent.update(name for name, output in outputs.items() if scored_as_silence(output))
            if oracle:
                scores[ORACLE] = score(p.clean, ideal_ratio_mask(p.noisy, p.clean, rate), rate, pesq, stoi)
            snr = meta.snr_db.get(p.name, scores[INPUT].si_snr_db)
            files.append(FileScore(p.name, meta.noise.get(p.name), snr, scores, meta.room.get(p.name)))
            advance()
    systems = [INPUT, *denoisers, *([ORACLE] if oracle else [])]
    rows = group_rows(files, systems)
    inp = np.array([f.scores[INPUT].si_snr_db for f in files])
    out = np.array([f.scores[label].si_snr_db for f in files])
    model_row, input_row = find_row(rows, label), find_row(rows, INPUT)
    return EvalResult(
        model=label, data=str(data), split=split, files=len(files), noises=list(dict.fromkeys(noises)),
        systems=systems,
        snr_source=meta.source if meta.snr_db else "measured input SI-SNR",
        input_si_snr_db_mean=float(inp.mean()), input_si_snr_db_median=float(np.median(inp)),
        output_si_snr_db_mean=float(out.mean()), output_si_snr_db_median=float(np.median(out)),
        si_snr_improvement_db_mean=float((out - inp).mean()),
        si_snr_improvement_db_median=float(np.median(out - inp)),
        pesq_wb_input_mean=input_row.pesq_wb_mean, pesq_wb_output_mean=model_row.pesq_wb_mean,
        stoi_input_mean=input_row.stoi_mean, stoi_output_mean=model_row.stoi_mean,
        rows=rows, skipped_metrics=skipped,
        notes=conversion_notes(pairs, rate) + unread_record_notes(meta) + silence_notes(silent, systems, len(files)),
        per_file=files,
    )

