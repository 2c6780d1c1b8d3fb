"""What the parity gate finds: per case, and per artifact (standard dataclasses, shared by every gate)."""

from __future__ import annotations

from dataclasses import dataclass

from wux.verify.compare import ErrorStats
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
    case: Case
    stats: ErrorStats | None
    passed: bool
    reasons: tuple[str, ...]


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
    task: dict | None = None  # the task gate's verdict (wux.verify.task.TaskVerdict.to_dict), where one applies
