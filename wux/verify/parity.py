"""`wux verify`: every artifact in a manifest against the FP32 PyTorch reference, on the same inputs.

Each artifact is checked at the shapes it declares (its own batch and length profile: a fixed-length
artifact at its chunk), with the tensor names it declares, by the one judge (wux.verify.compare).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from wux.errors import MissingDependency, ModelError, WuxError, first_line
from wux.export.formats import get_format
from wux.export.manifest import Artifact, file_problem, read_manifest
from wux.export.step import StreamingRecord
from wux.model.load import LoadedModel, ModelSource, check_record, load_model
from wux.progress import ShowProgress, progress_bar
from wux.verify.compare import Comparison, compare, passing_tolerance
from wux.verify.results import ArtifactVerdict, Case, ParityResult, file_failure, first_failure, worst_figures
from wux.verify.signals import SIGNALS, make_signal
from wux.verify.streaming import stream_cases, verify_step_artifacts
from wux.verify.task import Improvements, TaskVerdict, eval_pairs
from wux.verify.tolerance import TASK_TOLERANCES, Tolerance, tolerance_for


@dataclass
class VerifyReport:
    folder: str
    reference: str  # what the artifacts were compared with
    reference_matches_manifest: bool  # the same weights the manifest records
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


class References:
    """Reference outputs, computed once per input and shared by every artifact."""

    def __init__(self, model: LoadedModel, device: str):
        self.runner = model.runner(device)
        self.cache: dict[Case, tuple[np.ndarray, np.ndarray]] = {}

    def __getitem__(self, case: Case) -> tuple[np.ndarray, np.ndarray]:
        if case not in self.cache:
            x = make_signal(case.signal, case.batch, case.samples)
            try:
                self.cache[case] = (x, self.runner(x))
            except Exception as e:  # noqa: BLE001 - the user's model failing on an input it declares it takes
                raise ModelError(f"the reference model fails on {case.label()}: {type(e).__name__}: "
                                 f"{first_line(e)}") from None
        return self.cache[case]


def verdict(art: Artifact, results: list[ParityResult], tol: Tolerance, task: TaskVerdict | None = None
            ) -> ArtifactVerdict:
    stats = [r.stats for r in results]
    failed = [r for r in results if not r.passed]
    first = first_failure(results)
    if task is not None and not task.passed:
        first = first or f"on {task.eval_data}: {'; '.join(task.reasons)}"
    return ArtifactVerdict(
        artifact=art.key, format=art.format, precision=art.precision, fixed_length=art.fixed_length,
        passed=not failed and (task is None or task.passed), cases=len(results), failed_cases=len(failed),
        **worst_figures(results), tolerance=tol, would_pass_with=passing_tolerance(stats), first_failure=first,
        task=None if task is None else task.to_dict(),
    )


def check_artifact(folder: Path, art: Artifact, refs: References, device: str, tol: Tolerance,
                   threads: int | None, advance, task=None) -> tuple[list[ParityResult], TaskVerdict | None]:
    """Every case of the artifact's own profile, and the task gate where `task()` gives one (it returns the
    reference improvements and the tolerance); a changed file or a refused input fails its cases."""
    cases = parity_cases(art.profiles["samples"], art.profiles["batch"]["max"])
    problem = file_problem(folder, art)
    if problem:
        advance(len(cases))
        return [file_failure(art.key, art.file, problem)], None
    fmt = get_format(art.format)
    results = []
    with fmt.runner(folder / art.file, art.io, device, art.session.with_threads(threads), art.limits) as runner:
        for case in cases:
            x, ref = refs[case]
            try:
                verdict_ = compare(runner(x), ref, tol)
            except MissingDependency:
                raise
            except Exception as e:  # noqa: BLE001 - a runtime refusing an input the artifact declares
                verdict_ = Comparison(None, (f"{type(e).__name__}: {first_line(e)}",))
            results.append(ParityResult(art.key, case, verdict_.stats, verdict_.passed, verdict_.reasons))
            advance(artifact=art.key)
        gate = None
        if task is not None:
            improvements, tolerance, label = task()
            gate = improvements.judge(runner, tolerance, label)
    return results, gate


def check_bounds(max_abs: float | None, min_si_snr_db: float | None) -> None:
    """Overridden tolerances must be numbers the gate can compare with: NaN would pass every case (no comparison
    with NaN fails), an infinite or negative bound would pass or fail them all whatever the artifact does."""
    if max_abs is not None and not 0 <= max_abs < math.inf:
        raise WuxError(f"--atol must be a finite bound of 0 or more, got {max_abs}")
    if min_si_snr_db is not None and not math.isfinite(min_si_snr_db):
        raise WuxError(f"--min-si-snr must be a finite number of dB, got {min_si_snr_db}")


def case_count(art) -> int:
    """The parity cases an artifact is checked on."""
    return len(parity_cases(art.profiles["samples"], art.profiles["batch"]["max"]))


def verify_folder(folder: Path, source: ModelSource | None = None, device: str = "cpu",
                  max_abs: float | None = None, min_si_snr_db: float | None = None, threads: int | None = None,
                  show_progress: ShowProgress = True, reference: LoadedModel | None = None,
                  eval_data: Path | None = None) -> VerifyReport:
    """Check every artifact listed in folder/manifest.json; skip those this device cannot run.

    The reference is `reference`, else the model `source` names, else the one the manifest records;
    either way it runs under the manifest's audio contract."""
    check_bounds(max_abs, min_si_snr_db)
    folder = Path(folder)
    manifest = read_manifest(folder)
    if eval_data is not None and not any(a.precision in TASK_TOLERANCES for a in manifest.artifacts):
        raise WuxError("--eval-data does not apply without an INT8 artifact (the speech it is judged on), and this "
                       "export has none", folder)
    if reference is None:
        source = source or ModelSource.from_record(manifest.source, manifest.model)
        if source.checkpoint is not None and not Path(source.checkpoint).exists():
            raise WuxError("the manifest's source checkpoint is gone; pass --checkpoint", source.checkpoint)
        reference = load_model(source, contract=manifest.contract)
    report = VerifyReport(str(folder), reference.source.label(), check_record(reference, manifest.source), device)
    runnable = []
    for art in manifest.artifacts:
        if get_format(art.format).needs_cuda and not device.startswith("cuda"):
            report.skipped.append(f"{art.key}: needs --device cuda")
        else:
            runnable.append(art)
    if not runnable:
        raise WuxError("no artifact in this folder can run on this device: " + "; ".join(report.skipped), folder)
    refs = References(reference, device)
    gate = TaskGate(reference, manifest.contract, manifest.max_batch, device, eval_data)
    total = sum(case_count(a) for a in runnable)
    record = StreamingRecord.from_dict(manifest.streaming) if manifest.streaming else None
    if record is not None:
        total += len(record.artifacts) * len(stream_cases(record))
    with progress_bar("verifying", total, show_progress) as advance:
        for art in runnable:
            tol = tolerance_for(art.precision, max_abs, min_si_snr_db)
            task = gate.for_precision(art.precision)
            try:
                results, judged = check_artifact(folder, art, refs, device, tol, threads, advance, task)
            except MissingDependency as e:
                report.skipped.append(f"{art.key}: {e}")
                advance(case_count(art))  # its cases will not run: the count still reaches the total
                continue
            report.results.extend(results)
            report.artifacts.append(verdict(art, results, tol, judged))
        if record is not None:  # a causal model's step files: whole signals streamed frame by frame
            verdicts, results = verify_step_artifacts(folder, record, reference, advance)
            report.artifacts.extend(verdicts)
            report.results.extend(results)
    return report


class TaskGate:
    """The reference's improvements on the evaluation speech, computed on first need and shared."""

    def __init__(self, reference: LoadedModel, contract, batch: int, device: str, eval_data: Path | None):
        self.reference, self.contract, self.batch, self.device, self.eval_data = (
            reference, contract, batch, device, eval_data)
        self.improvements: Improvements | None = None
        self.label = ""

    def for_precision(self, precision: str):
        tolerance = TASK_TOLERANCES.get(precision)
        if tolerance is None:
            return None

        def task():
            if self.improvements is None:
                pairs, self.label = eval_pairs(self.contract, self.eval_data)
                self.improvements = Improvements(self.reference.runner(self.device), pairs, self.contract, self.batch)
            return self.improvements, tolerance, self.label

        return task
