"""What the parity gate finds: per case, and per artifact (standard dataclasses, shared by every gate)."""

from __future__ import annotations

from dataclasses import dataclass

from wux.verify.compare import ErrorStats, worst
from wux.verify.tolerance import Tolerance


@dataclass(frozen=True)
class Case:
    signal: str
    batch: int
    samples: int

    def label(self) -> str:
        return f"{self.signal} [{self.batch}x{self.samples}]"


@dataclass(frozen=True)
class ParityResult:
    artifact: str
    case: Case | None  # None: the artifact's file itself failed (missing, or not the one the export verified)
    stats: ErrorStats | None
    passed: bool
    reasons: tuple[str, ...]


def first_failure(results: list[ParityResult]) -> str | None:
    """The first failed case and why, or what is wrong with the file when no case could run."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return None
    where = f"{failed[0].case.label()}: " if failed[0].case else ""
    return where + "; ".join(failed[0].reasons)


def worst_figures(results: list[ParityResult]) -> dict:
    """ArtifactVerdict's worst_* fields over an artifact's cases, with the case behind the lowest SI-SNR (a low
    figure on silence in means something else than on speech: there SI-SNR compares two noise floors, which max
    abs error puts in proportion)."""
    known = [r for r in results if r.stats is not None]  # a result with stats always has its case
    lowest = min((r for r in known if r.stats.si_snr_db is not None), key=lambda r: r.stats.si_snr_db, default=None)
    return {"worst_max_abs_err": worst([r.stats.max_abs_err for r in known]),
            "worst_p99_abs_err": worst([r.stats.p99_abs_err for r in known]),
            "worst_rel_l2_err": worst([r.stats.rel_l2_err for r in known]),
            "worst_si_snr_db": None if lowest is None else lowest.stats.si_snr_db,
            "worst_si_snr_case": None if lowest is None else lowest.case.label()}


def file_failure(artifact: str, file: str, problem: str) -> ParityResult:
    return ParityResult(artifact, None, None, False, (f"{file}: {problem}",))


@dataclass(frozen=True)
class ArtifactVerdict:
    artifact: str
    format: str
    precision: str
    fixed_length: bool
    passed: bool
    cases: int
    failed_cases: int
    worst_max_abs_err: float | None
    worst_p99_abs_err: float | None
    worst_rel_l2_err: float | None
    worst_si_snr_db: float | None
    tolerance: Tolerance
    would_pass_with: Tolerance | None  # None: no tolerance would (a wrong shape, NaN output, a changed file)
    first_failure: str | None
    worst_si_snr_case: str | None = None  # which case (Case.label) had worst_si_snr_db
    task: dict | None = None  # the task gate's verdict (wux.verify.task.TaskVerdict.to_dict), where one applies
