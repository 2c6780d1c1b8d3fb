"""`wux export`: artifacts + manifest, written atomically, verified before success is reported.

This composes the layers below it: load the model (wux.model), export each format (wux.export),
prove each artifact faithful (wux.verify). Nothing appears at the output folder unless every
format exported and every artifact passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wux import __version__
from wux.errors import ExportError, NotFaithful, VerdictError, WuxError
from wux.export.check import Outcome
from wux.export.formats import FORMATS, ExportJob, Format, TrtOptions, get_format
from wux.export.manifest import Artifact, Manifest, TensorInfo, now_utc
from wux.export.spec import DEFAULT_OPSET, PRECISIONS, ExportSpec, make_spec
from wux.export.tensorrt import require_tensorrt_and_cuda
from wux.fsutil import atomic_dir, sha256_file
from wux.model.load import LoadedModel, ModelSource, load_model
from wux.progress import ShowProgress, progress_bar
from wux.runtime.device import require_device
from wux.tools import tool_versions
from wux.verify.parity import VerifyReport, verify_folder


class ParityError(VerdictError):
    """Export or verify found artifacts that are not faithful to the model."""

    def __init__(self, report: VerifyReport, out: Path):
        bad = [a.artifact for a in report.artifacts if not a.passed]
        super().__init__(f"parity check failed for {', '.join(bad)}; nothing was written to {out} "
                         "(--no-verify keeps unverified artifacts)", report)

    @property
    def report(self) -> VerifyReport:
        return self.result


@dataclass(frozen=True)
class ExportRequest:
    formats: tuple[str, ...] = ("torchscript", "onnx")
    precisions: tuple[str, ...] = ("fp32",)
    chunk: int | None = None  # serving window, samples (None: the contract's)
    max_batch: int = 8
    min_len: int | None = None
    opt_len: int | None = None
    max_len: int | None = None
    opset: int = DEFAULT_OPSET
    device: str = "cpu"
    fixed_length: bool = False
    verify: bool = True
    trt: TrtOptions = TrtOptions()
    calibration: Path | None = None  # INT8: audio to calibrate on (None: the bundled sample with every noise family)
    eval_data: Path | None = None  # INT8's task gate: speech with clean references (None: the bundled set)
    stream_frame_ms: float = 20.0  # a causal model's step files are verified (and served) at this frame


@dataclass
class ExportResult:
    folder: str
    manifest: Manifest
    verification: VerifyReport | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"folder": self.folder, "manifest": self.manifest.to_dict(), "notes": self.notes,
                "verification": self.verification.to_dict(with_cases=False) if self.verification else None}


def plan_artifacts(request: ExportRequest) -> tuple[list[tuple[Format, str]], list[str]]:
    """(format, precision) pairs in build order: what an artifact is built from comes before it."""
    formats = [get_format(f) for f in request.formats]
    for p in request.precisions:
        if p not in PRECISIONS:
            raise WuxError(f"unknown precision {p!r}; choose from {', '.join(PRECISIONS)}")
    notes, plan = [], []

    def add(fmt: Format, precision: str) -> None:
        for name, p in fmt.needs(precision):
            add(FORMATS[name], p)
        if (fmt, precision) not in plan:
            plan.append((fmt, precision))

    for fmt in sorted(set(formats), key=lambda f: list(FORMATS).index(f.name)):
        supported = [p for p in PRECISIONS if p in request.precisions and p in fmt.precisions]
        if len(supported) < len(request.precisions):
            notes.append(f"{fmt.name} is exported in {', '.join(fmt.precisions)} only")
        for p in supported or fmt.precisions[:1]:
            add(fmt, p)
    unbuilt = [p for p in request.precisions if all(p != built for _, built in plan)]
    if unbuilt:
        raise WuxError(f"--precision {', '.join(unbuilt)}: none of the formats asked for is exported in it ("
                       + "; ".join(f"{f.name}: {', '.join(f.precisions)}" for f in dict.fromkeys(formats)) + ")")
    return plan, notes


def export_all(model: LoadedModel, spec: ExportSpec, plan: list[tuple[Format, str]], folder: Path,
               request: ExportRequest, show_progress: ShowProgress) -> list[Artifact]:
    """Export every (format, precision); raise one ExportError naming every failure and what did export."""
    outcomes: dict[str, Outcome] = {}
    failures: list[ExportError] = []
    artifacts = []
    with progress_bar("exporting", len(plan), show_progress) as advance:
        for fmt, precision in plan:
            job = ExportJob(fmt, precision, model.module, model.contract, spec, folder, request.trt, outcomes,
                            request.calibration)
            try:
                outcome = fmt.export(job)
            except ExportError as e:
                failures.append(e)
                advance(artifact=f"{fmt.name}-{precision} failed")
                continue
            outcomes[f"{fmt.name}-{precision}"] = outcome
            artifacts.append(artifact_record(job, outcome))
            advance(artifact=f"{fmt.name}-{precision}")
    if failures:
        done = ", ".join(a.key for a in artifacts)
        keep = f"; these did export: {done} (ask for those alone with --to)" if done else "; nothing exported"
        verdict = any(isinstance(e, NotFaithful) for e in failures)  # a verdict on the model: exit 1, not 2
        raise (NotFaithful if verdict else ExportError)(" | ".join(map(str, failures)) + keep)
    return artifacts


def artifact_record(job: ExportJob, outcome: Outcome) -> Artifact:
    path = job.path
    details = dict(outcome.details)
    dims = list(job.contract.dims)
    io = job.io
    return Artifact(
        format=job.fmt.name, precision=job.precision, file=path.name, sha256=sha256_file(path),
        bytes=path.stat().st_size, input=TensorInfo(io.input_name, "float32", dims),
        output=TensorInfo(io.output_name, "float32", dims),
        profiles={"batch": job.spec.batch.to_dict(), "samples": outcome.length.to_dict()},
        opset=details.pop("opset", None), details=details,
    )


def export_streaming(model: LoadedModel, folder: Path, frame_ms: float) -> dict | None:
    """A causal Wave-U-Net's step model, TorchScript and ONNX, beside the offline artifacts; None otherwise."""
    from wux.export.step import export_step_models, step_model_of
    from wux.model.streaming import frame_on_grid

    step = step_model_of(model.module)
    if step is None:
        return None
    rate = model.contract.sample_rate
    return export_step_models(step, folder, frame_on_grid(frame_ms, rate, step.total_stride), rate).to_dict()


def record_step_verification(manifest: Manifest, report: VerifyReport) -> None:
    if not manifest.streaming:
        return
    by_key = {v.artifact: v for v in report.artifacts}
    for art in manifest.streaming["artifacts"]:
        v = by_key.get(f"step-{art['format']}-fp32")
        art["verification"] = None if v is None else {
            "passed": v.passed, "cases": v.cases, "max_abs_err": v.worst_max_abs_err, "si_snr_db": v.worst_si_snr_db}


def record_verification(artifacts: list[Artifact], report: VerifyReport) -> None:
    by_key = {v.artifact: v for v in report.artifacts}
    for art in artifacts:
        v = by_key.get(art.key)
        art.verification = None if v is None else {
            "passed": v.passed, "device": report.device, "cases": v.cases, "max_abs_err": v.worst_max_abs_err,
            "si_snr_db": v.worst_si_snr_db, "tolerance": v.tolerance.to_dict(),
        }


def export_model(source: ModelSource | LoadedModel | None, out: Path, request: ExportRequest = ExportRequest(),
                 force: bool = False, show_progress: ShowProgress = True) -> ExportResult:
    """Export, write the manifest, verify; nothing appears at `out` unless every step succeeds."""
    plan, notes = plan_artifacts(request)
    if any(fmt.needs_cuda for fmt, _ in plan):
        require_tensorrt_and_cuda()
    require_device(request.device)
    model = source if isinstance(source, LoadedModel) else load_model(source, require_weights=True)
    if request.chunk is not None:
        model.contract = model.contract.with_serving(chunk=request.chunk)
    spec = make_spec(model.contract, request.max_batch, request.min_len, request.opt_len, request.max_len,
                     request.opset, request.device, request.fixed_length)
    model.module.to(request.device)
    manifest = Manifest(wux_version=__version__, created_utc=now_utc(), source=model.record,
                        model=model.model_record(), contract=model.contract, spec=spec.to_dict(),
                        versions=tool_versions())
    report = None
    inputs = [*model.files(), request.calibration, request.eval_data, request.trt.timing_cache]
    with atomic_dir(out, force=force, inputs=inputs) as tmp:
        manifest.artifacts = export_all(model, spec, plan, tmp, request, show_progress)
        manifest.streaming = export_streaming(model, tmp, request.stream_frame_ms)
        notes += [f"{a.key} takes exactly {model.contract.chunk} samples (no faithful dynamic-length graph; "
                  "windowing serves any length)" for a in manifest.artifacts if a.fixed_length]
        manifest.write(tmp)
        if request.verify:
            report = verify_folder(tmp, device=request.device, show_progress=show_progress, reference=model,
                                   eval_data=request.eval_data)
            if not report.passed:
                raise ParityError(report, out)  # atomic_dir discards the folder
            record_verification(manifest.artifacts, report)
            record_step_verification(manifest, report)
            manifest.write(tmp)
    if report is not None:
        report.folder = str(out)
    return ExportResult(str(out), manifest, report, notes)
