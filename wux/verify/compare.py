"""Error statistics between an artifact's output and the reference, and the verdict."""

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
    max_abs_err: float
    p99_abs_err: float
    rel_l2_err: float
    si_snr_db: float | None  # worst item of the batch; None when the reference is flat

    def to_dict(self) -> dict:
        return asdict(self)


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
    values = [si_snr_exact(e, r) for e, r in zip(estimate, reference) if not is_flat(r)]
    return min(values) if values else None


def error_stats(output: np.ndarray, reference: np.ndarray) -> ErrorStats:
    out = np.asarray(output, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if out.shape != ref.shape:
        raise ValueError(f"output shape {out.shape} differs from reference {ref.shape}")
    diff = np.abs(out - ref)
    return ErrorStats(
        max_abs_err=float(diff.max()),
        p99_abs_err=float(np.percentile(diff, 99)),
        rel_l2_err=float(np.sqrt(dot(out - ref, out - ref)) / (np.sqrt(dot(ref, ref)) + 1e-12)),
        si_snr_db=si_snr_rows(out, ref),
    )


def judge(stats: ErrorStats, tol: Tolerance) -> list[str]:
    """Reasons the stats fail `tol`; empty when they pass."""
    reasons = []
    if tol.max_abs is not None and stats.max_abs_err > tol.max_abs:
        reasons.append(f"max abs err {stats.max_abs_err:.3g} > {tol.max_abs:.3g}")
    if tol.min_si_snr_db is not None and stats.si_snr_db is not None and stats.si_snr_db < tol.min_si_snr_db:
        reasons.append(f"SI-SNR {stats.si_snr_db:.1f} dB < {tol.min_si_snr_db:.1f} dB")
    if not np.isfinite(stats.max_abs_err):
        reasons.append("non-finite output")
    return reasons


def passing_tolerance(stats: list[ErrorStats]) -> Tolerance:
    """The tightest tolerance every one of `stats` would have passed."""
    snrs = [s.si_snr_db for s in stats if s.si_snr_db is not None]
    return Tolerance(max_abs=max(s.max_abs_err for s in stats), min_si_snr_db=min(snrs) if snrs else None)
