"""`wux verify`: every artifact in a manifest against the FP32 PyTorch reference, on the same inputs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from wux.errors import MissingDependency, WuxError
from wux.verify.compare import ErrorStats, error_stats, judge, passing_tolerance
from wux.verify.signals import SIGNALS, make_signal
from wux.verify.tolerance import Tolerance, tolerance_for


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
    stats: ErrorStats
    passed: bool
    reasons: list[str]


@dataclass(frozen=True)
class ArtifactVerdict:
    artifact: str
    format: str
    precision: str
    passed: bool
    cases: int
    failed_cases: int
    worst_max_abs_err: float
    worst_p99_abs_err: float
    worst_rel_l2_err: float
    worst_si_snr_db: float | None
    tolerance: Tolerance
    would_pass_with: Tolerance
    first_failure: str | None


@dataclass
class VerifyReport:
    folder: str
    checkpoint: str
    checkpoint_sha256: str
    checkpoint_matches_manifest: bool
    device: str
    artifacts: list[ArtifactVerdict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    results: list[ParityResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.artifacts) and all(a.passed for a in self.artifacts)

    def to_dict(self, with_cases: bool = True) -> dict:
        d = asdict(self)
        d["passed"] = self.passed
        if not with_cases:
            d.pop("results")
        return d


def parity_cases(length: dict, max_batch: int) -> list[Case]:
    """Every signal at the profile's min / opt / max lengths and odd lengths, batch 1 and max batch."""
    lo, opt, hi = length["min"], length["opt"], length["max"]
    odd = sorted({n for n in (lo + 1, opt + 37, hi - 3) if lo <= n <= hi and n % 2})
    shapes = [(1, n) for n in sorted({lo, opt, hi, *odd})]
    shapes += [(max_batch, opt), (max_batch, odd[0] if odd else lo)]
    return [Case(s, b, n) for b, n in dict.fromkeys(shapes) for s in SIGNALS]


def reference_outputs(model, cases: list[Case], device: str) -> dict[Case, tuple[np.ndarray, np.ndarray]]:
    from wux.model.runner import TorchRunner

    runner = TorchRunner(model, device)
    out = {}
    for case in cases:
        x = make_signal(case.signal, case.batch, case.samples)
        out[case] = (x, runner(x))
    return out


def verdict(key: str, fmt: str, precision: str, results: list[ParityResult], tol: Tolerance) -> ArtifactVerdict:
    stats = [r.stats for r in results]
    failed = [r for r in results if not r.passed]
    snrs = [s.si_snr_db for s in stats if s.si_snr_db is not None]
    first = f"{failed[0].case.label()}: {'; '.join(failed[0].reasons)}" if failed else None
    return ArtifactVerdict(
        artifact=key, format=fmt, precision=precision, passed=not failed, cases=len(results),
        failed_cases=len(failed), worst_max_abs_err=max(s.max_abs_err for s in stats),
        worst_p99_abs_err=max(s.p99_abs_err for s in stats),
        worst_rel_l2_err=max(s.rel_l2_err for s in stats),
        worst_si_snr_db=min(snrs) if snrs else None, tolerance=tol,
        would_pass_with=passing_tolerance(stats), first_failure=first,
    )


def verify_folder(folder: Path, checkpoint: Path | None = None, device: str = "cpu",
                  max_abs: float | None = None, min_si_snr_db: float | None = None,
                  threads: int | None = None, show_progress: bool = True) -> VerifyReport:
    """Check every artifact listed in folder/manifest.json; skip those this device cannot run."""
    from wux.export.formats import get_format
    from wux.export.manifest import read_manifest
    from wux.fsutil import sha256_file
    from wux.model.checkpoint import load_checkpoint
    from wux.progress import progress_bar

    folder = Path(folder)
    manifest = read_manifest(folder)
    ckpt_path = Path(checkpoint) if checkpoint else Path(manifest.checkpoint["path"])
    if not ckpt_path.exists():
        raise WuxError("the manifest's source checkpoint is gone; pass --checkpoint", ckpt_path)
    ckpt = load_checkpoint(ckpt_path)
    report = VerifyReport(str(folder), str(ckpt_path), ckpt.sha256,
                          ckpt.sha256 == manifest.checkpoint["sha256"], device)
    runnable = []
    for art in manifest.artifacts:
        fmt = get_format(art.format)
        if fmt.needs_cuda and not device.startswith("cuda"):
            report.skipped.append(f"{art.key}: needs --device cuda")
        else:
            runnable.append(art)
    if not runnable:
        raise WuxError("no artifact in this folder can run on this device: " + "; ".join(report.skipped), folder)

    cases = parity_cases(manifest.spec["length"], manifest.spec["batch"]["max"])
    refs = reference_outputs(ckpt.build_model(), cases, device)
    with progress_bar("verifying", len(cases) * len(runnable), show_progress) as advance:
        for art in runnable:
            tol = tolerance_for(art.precision, max_abs, min_si_snr_db)
            path = folder / art.file
            results = []
            if not path.is_file() or sha256_file(path) != art.sha256:
                problem = "file missing" if not path.is_file() else "sha256 differs from the manifest"
                broken = ParityResult(art.key, cases[0], ErrorStats(np.inf, np.inf, np.inf, None), False, [problem])
                report.results.append(broken)
                report.artifacts.append(verdict(art.key, art.format, art.precision, [broken], tol))
                advance(len(cases))
                continue
            try:
                runner = get_format(art.format).runner(path, device, threads)
            except MissingDependency as e:
                report.skipped.append(f"{art.key}: {e}")
                advance(len(cases))
                continue
            for case in cases:
                x, ref = refs[case]
                stats = error_stats(runner(x), ref)
                reasons = judge(stats, tol)
                results.append(ParityResult(art.key, case, stats, not reasons, reasons))
                advance(artifact=art.key)
            report.results.extend(results)
            report.artifacts.append(verdict(art.key, art.format, art.precision, results, tol))
    return report
