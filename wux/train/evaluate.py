"""`wux eval`: SI-SNR (and PESQ / STOI when installed) of a model on a paired test split."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from wux.data.dataset import load_pairs
from wux.denoise import model_denoiser
from wux.errors import DataError
from wux.metrics import si_snr_db
from wux.model.load import ModelSource, load_model
from wux.progress import progress_bar


@dataclass(frozen=True)
class FileScore:
    name: str
    input_si_snr_db: float
    output_si_snr_db: float
    pesq_input: float | None = None
    pesq_output: float | None = None
    stoi_input: float | None = None
    stoi_output: float | None = None


@dataclass(frozen=True)
class EvalResult:
    model: str
    data: str
    split: str
    files: int
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
    skipped_metrics: list[str] = field(default_factory=list)
    per_file: list[FileScore] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def optional_metrics():
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


def score_file(name, clean, noisy, denoised, sample_rate, pesq, stoi) -> FileScore:
    extra = {}
    if pesq is not None:
        extra["pesq_input"] = float(pesq(sample_rate, clean, noisy, "wb"))
        extra["pesq_output"] = float(pesq(sample_rate, clean, denoised, "wb"))
    if stoi is not None:
        extra["stoi_input"] = float(stoi(clean, noisy, sample_rate))
        extra["stoi_output"] = float(stoi(clean, denoised, sample_rate))
    return FileScore(name, si_snr_db(noisy, clean), si_snr_db(denoised, clean), **extra)


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def evaluate(source: ModelSource | None, data: Path, split: str = "test", limit: int | None = None,
             show_progress: bool = True) -> EvalResult:
    """Denoise every noisy file of the split the way `wux denoise` does and score it."""
    model = load_model(source)
    rate = model.contract.sample_rate
    denoise = model_denoiser(model)
    pairs = load_pairs(data, split, rate)[:limit]
    if not pairs:
        raise DataError(f"no files in the {split} split", data)
    pesq, stoi, skipped = optional_metrics()
    scores = []
    with progress_bar("evaluating", len(pairs), show_progress) as advance:
        for p in pairs:
            scores.append(score_file(p.name, p.clean, p.noisy, denoise(p.noisy), rate, pesq, stoi))
            advance()
    inp = np.array([s.input_si_snr_db for s in scores])
    out = np.array([s.output_si_snr_db for s in scores])
    return EvalResult(
        model=model.source.label(), data=str(data), split=split, files=len(scores),
        input_si_snr_db_mean=float(inp.mean()), input_si_snr_db_median=float(np.median(inp)),
        output_si_snr_db_mean=float(out.mean()), output_si_snr_db_median=float(np.median(out)),
        si_snr_improvement_db_mean=float((out - inp).mean()),
        si_snr_improvement_db_median=float(np.median(out - inp)),
        pesq_wb_input_mean=_mean(s.pesq_input for s in scores),
        pesq_wb_output_mean=_mean(s.pesq_output for s in scores),
        stoi_input_mean=_mean(s.stoi_input for s in scores),
        stoi_output_mean=_mean(s.stoi_output for s in scores),
        skipped_metrics=skipped, per_file=scores,
    )
