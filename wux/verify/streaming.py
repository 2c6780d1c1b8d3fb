"""The parity gate for step models: whole signals streamed frame by frame through each exported step file,
compared with the reference model's offline forward on the whole signal (FP32 tolerance).

Every parity signal, 2 s and an odd length (the last frame padded), at the export's frame and at the
smallest frame the grid allows; a changed file or a runtime error fails its cases."""

from __future__ import annotations

from pathlib import Path

from wux.errors import MissingDependency, first_line
from wux.export.manifest import file_problem
from wux.export.step import StreamingRecord, load_step
from wux.model.load import LoadedModel
from wux.model.streaming import stream_through
from wux.verify.compare import Comparison, compare, passing_tolerance
from wux.verify.results import ArtifactVerdict, Case, ParityResult, file_failure, first_failure, worst_figures
from wux.verify.signals import SIGNALS, make_signal
from wux.verify.tolerance import tolerance_for

STREAM_SECONDS = 2.0


def stream_cases(record: StreamingRecord) -> list[tuple[Case, int]]:
    """(signal case, frame) pairs: each signal, 2 s + 37 samples, at the export's frame and the grid's."""
    samples = int(STREAM_SECONDS * record.sample_rate) + 37
    frames = sorted({record.frame, record.frame_multiple})
    return [(Case(s, 1, samples), f) for f in frames for s in SIGNALS]


def verify_step_artifacts(folder: Path, record: StreamingRecord, reference: LoadedModel, advance
                          ) -> tuple[list[ArtifactVerdict], list[ParityResult]]:
    tol = tolerance_for("fp32")
    offline = reference.runner("cpu")
    cases = stream_cases(record)
    refs = {case: (x := make_signal(case.signal, 1, case.samples), offline(x)) for case in {c for c, _ in cases}}
    verdicts, all_results = [], []
    for art in record.artifacts:
        key = f"step-{art.format}-fp32"
        results: list[ParityResult] = []
        problem = file_problem(folder, art)
        if problem:
            results.append(file_failure(key, art.file, problem))
            advance(len(cases))
        else:
            try:
                run = load_step(folder, record, art.format)
            except MissingDependency:
                raise
            for case, frame in cases:
                x, ref = refs[case]
                try:
                    out = stream_through(run, x[0], frame, record.state_size)
                    judged = compare(out[None], ref, tol)
                except Exception as e:  # noqa: BLE001 - a runtime refusing a frame the record declares
                    judged = Comparison(None, (f"{type(e).__name__}: {first_line(e)}",))
                label = Case(f"{case.signal} streamed in {frame}-sample frames", 1, case.samples)
                results.append(ParityResult(key, label, judged.stats, judged.passed, judged.reasons))
                advance(artifact=key)
        verdicts.append(step_verdict(key, art.format, results, tol))
        all_results += results
    return verdicts, all_results


def step_verdict(key: str, fmt: str, results: list[ParityResult], tol) -> ArtifactVerdict:
    failed = [r for r in results if not r.passed]
    return ArtifactVerdict(
        artifact=key, format=f"{fmt} step", precision="fp32", fixed_length=False, passed=not failed,
        cases=len(results), failed_cases=len(failed), **worst_figures(results), tolerance=tol,
        would_pass_with=passing_tolerance([r.stats for r in results]),
        first_failure=first_failure(results),
    )

