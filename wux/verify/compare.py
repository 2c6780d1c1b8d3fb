"""The judge: an output against its reference, the numbers, and the verdict.

Every caller that decides "is this output faithful" uses `compare`: wux verify, the export-time
shape checks, `wux perf --validate`, and the tests. Its rules, in order:
  - the output must have the reference's shape (a wrong length is a failure, not an exception);
  - every output sample must be finite (NaN / Inf fail, whatever the other numbers say);
  - max abs error and SI-SNR must meet the tolerance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from wux.verify.tolerance import Tolerance

# SI-SNR removes the mean. When what is left is tiny next to the output's level (silence in,
# bias out), FP32 rounding of the level alone caps SI-SNR near 60 dB, so SI-SNR says nothing
# about fidelity there: such a reference is "flat" and the absolute error decides alone.
FLAT_RATIO = 1e-3  # std / rms of the reference output below which it counts as flat
SI_SNR_CAP_DB = 200.0  # reported for bit-identical outputs (infinite SI-SNR)


@dataclass(frozen=True)
class ErrorStats:
    """Errors over the finite output samples; `nonfinite` counts the others."""

    max_abs_err: float | None
    p99_abs_err: float | None
    rel_l2_err: float | None
    si_snr_db: float | None  # worst row of the batch; None when every reference row is flat or non-finite
    nonfinite: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    stats: ErrorStats | None  # None when the shapes differ
    reasons: tuple[str, ...]  # why it fails; empty when it passes

    @property
    def passed(self) -> bool:
        return not self.reasons


def dot(a: np.ndarray, b: np.ndarray) -> float:
    # Elementwise, not BLAS: OpenBLAS worker threads spin after each call, and inside a load
    # generator that spinning steals the CPU of the server being measured (seen: ~50 ms a check).
    return float(np.sum(a * b))


def si_snr_exact(estimate: np.ndarray, reference: np.ndarray) -> float:
    """SI-SNR in dB without an epsilon floor (float64), capped at SI_SNR_CAP_DB for identical outputs."""
    est = estimate - estimate.mean()
    ref = reference - reference.mean()
    target = dot(est, ref) / dot(ref, ref) * ref
    residual = est - target
    noise = dot(residual, residual)
    if noise == 0:
        return SI_SNR_CAP_DB
    return float(min(SI_SNR_CAP_DB, 10 * np.log10(dot(target, target) / noise)))


def is_flat(reference: np.ndarray) -> bool:
    rms = np.sqrt(np.mean(reference**2))
    return rms == 0 or np.std(reference) < FLAT_RATIO * rms


def si_snr_rows(estimate: np.ndarray, reference: np.ndarray) -> float | None:
    values = [si_snr_exact(e, r) for e, r in zip(estimate, reference)
              if not is_flat(r) and np.all(np.isfinite(e))]
    return min(values) if values else None


def error_stats(output: np.ndarray, reference: np.ndarray) -> ErrorStats:
    """Statistics of output - reference (same shape, [batch, samples])."""
    out = np.asarray(output, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    finite = np.isfinite(out)
    nonfinite = int(out.size - np.count_nonzero(finite))
    if not finite.any():
        return ErrorStats(None, None, None, None, nonfinite)
    diff = np.abs(out - ref)[finite]
    err = np.where(finite, out - ref, 0.0)
    return ErrorStats(
        max_abs_err=float(diff.max()),
        p99_abs_err=float(np.percentile(diff, 99)),
        rel_l2_err=float(np.sqrt(dot(err, err)) / (np.sqrt(dot(ref, ref)) + 1e-12)),
        si_snr_db=si_snr_rows(out, ref),
        nonfinite=nonfinite,
    )


def judge(stats: ErrorStats, tol: Tolerance) -> list[str]:
    """Reasons the stats fail `tol`; empty when they pass."""
    reasons = []
    if stats.nonfinite:
        reasons.append(f"{stats.nonfinite} NaN/Inf output sample(s)")
    if tol.max_abs is not None and stats.max_abs_err is not None and stats.max_abs_err > tol.max_abs:
        reasons.append(f"max abs err {stats.max_abs_err:.3g} > {tol.max_abs:.3g}")
    if tol.min_si_snr_db is not None and stats.si_snr_db is not None and stats.si_snr_db < tol.min_si_snr_db:
        reasons.append(f"SI-SNR {stats.si_snr_db:.1f} dB < {tol.min_si_snr_db:.1f} dB")
    return reasons


def compare(output: np.ndarray, reference: np.ndarray, tol: Tolerance) -> Comparison:
    """The verdict on `output` against `reference` under `tol`, with the numbers behind it."""
    out, ref = np.asarray(output), np.asarray(reference)
    if out.shape != ref.shape:
        return Comparison(None, (f"output shape {tuple(out.shape)} differs from the reference's {tuple(ref.shape)}",))
    stats = error_stats(out, ref)
    return Comparison(stats, tuple(judge(stats, tol)))


def worst(values: list[float | None], pick=max) -> float | None:
    known = [v for v in values if v is not None]
    return pick(known) if known else None


def passing_tolerance(stats: list[ErrorStats | None]) -> Tolerance | None:
    """The tightest tolerance every one of `stats` would have passed; None when none could (shape, NaN)."""
    if any(s is None or s.nonfinite for s in stats):
        return None
    return Tolerance(max_abs=worst([s.max_abs_err for s in stats]),
                     min_si_snr_db=worst([s.si_snr_db for s in stats], min))
