"""`wux export`: artifacts + manifest, written atomically, verified before success is reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wux import __version__
from wux.errors import WuxError
from wux.export.formats import Format, get_format
from wux.export.manifest import Artifact, Manifest, TensorInfo, now_utc, tool_versions
from wux.export.spec import PRECISIONS, ExportSpec
from wux.fsutil import atomic_dir, sha256_file


class ParityError(WuxError):
    """Export or verify found artifacts that are not faithful to the checkpoint."""

    def __init__(self, report):
        self.report = report
        bad = [a.artifact for a in report.artifacts if not a.passed]
        super().__init__(f"parity check failed for {', '.join(bad)}")


@dataclass(frozen=True)
class ExportRequest:
    formats: tuple[str, ...] = ("torchscript", "onnx")
    precisions: tuple[str, ...] = ("fp32",)
    spec: ExportSpec = field(default_factory=ExportSpec)
    verify: bool = True
    optimization_level: int = 3
    version_compatible: bool = False
    timing_cache: Path | None = None


@dataclass
class ExportResult:
    folder: str
    manifest: Manifest
    verification: object | None  # VerifyReport
    notes: list[str]

    def to_dict(self) -> dict:
        return {"folder": self.folder, "manifest": self.manifest.to_dict(), "notes": self.notes,
                "verification": self.verification.to_dict(with_cases=False) if self.verification else None}


def plan_artifacts(request: ExportRequest) -> tuple[list[tuple[Format, str]], list[str]]:
    """(format, precision) pairs in build order; ONNX comes first because TensorRT builds from it."""
    formats = [get_format(f) for f in request.formats]
    for p in request.precisions:
        if p not in PRECISIONS:
            raise WuxError(f"unknown precision {p!r}; choose from {', '.join(PRECISIONS)}")
    notes = []
    wanted = {f.name for f in formats}
    if "trt" in wanted:
        wanted.add("onnx")  # the plan's source; kept so the plan's provenance is inspectable
    plan = []
    for name in ("torchscript", "onnx", "trt"):
        if name not in wanted:
            continue
        fmt = get_format(name)
        supported = [p for p in request.precisions if p in fmt.precisions]
        if len(supported) < len(request.precisions):
            notes.append(f"{name} is exported in {', '.join(fmt.precisions)} only")
        plan.extend((fmt, p) for p in supported or fmt.precisions[:1])
    if "trt" in wanted and "fp16" in request.precisions and (get_format("onnx"), "fp16") not in plan:
        plan.insert(0, (get_format("onnx"), "fp16"))
    return plan, notes


def export_one(fmt: Format, precision: str, model, spec: ExportSpec, folder: Path,
               request: ExportRequest) -> dict:
    path = folder / fmt.filename(precision)
    if fmt.name == "torchscript":
        from wux.export.torchscript import export_torchscript

        return export_torchscript(model, spec, path)
    if fmt.name == "onnx" and precision == "fp32":
        from wux.export.onnx import export_onnx

        return export_onnx(model, spec, path)
    if fmt.name == "onnx":
        from wux.export.fp16 import convert_to_fp16
        from wux.export.onnx import onnx_facts

        details = convert_to_fp16(folder / fmt.filename("fp32"), path)
        import onnx

        return {**onnx_facts(onnx.load(str(path))), **details}
    from wux.export.tensorrt import build_engine

    onnx_fmt = get_format("onnx")
    return build_engine(folder / onnx_fmt.filename(precision), path, spec, request.timing_cache,
                        request.optimization_level, request.version_compatible)


def artifact_record(fmt: Format, precision: str, folder: Path, spec: ExportSpec, details: dict) -> Artifact:
    path = folder / fmt.filename(precision)
    dims = ["batch", 1, "samples"]
    return Artifact(
        format=fmt.name, precision=precision, file=path.name, sha256=sha256_file(path),
        bytes=path.stat().st_size, input=TensorInfo(fmt.input_name, "float32", dims),
        output=TensorInfo(fmt.output_name, "float32", dims),
        profiles={"batch": spec.batch.to_dict(), "samples": spec.length.to_dict()},
        opset=details.pop("opset", None) if fmt.name != "torchscript" else None, details=details,
    )


def export_artifacts(checkpoint: Path | None, out: Path, request: ExportRequest, force: bool = False,
                     show_progress: bool = True) -> ExportResult:
    """Export, write the manifest, verify; nothing appears at `out` unless every step succeeds."""
    import torch

    from wux.denoise import plan_for_model
    from wux.model.checkpoint import load_checkpoint
    from wux.progress import progress_bar
    from wux.verify.parity import verify_folder

    plan, notes = plan_artifacts(request)
    spec = request.spec
    if any(fmt.needs_cuda for fmt, _ in plan):
        from wux.export.tensorrt import require_tensorrt_and_cuda

        require_tensorrt_and_cuda()
    if spec.device.startswith("cuda") and not torch.cuda.is_available():
        raise WuxError("--device cuda was asked for but torch sees no CUDA device")
    ckpt = load_checkpoint(checkpoint)
    model = ckpt.build_model().to(spec.device)
    windows = plan_for_model(ckpt.config, window=spec.chunk)
    manifest = Manifest(
        wux_version=__version__, created_utc=now_utc(),
        checkpoint={"path": str(Path(ckpt.path).resolve()), "sha256": ckpt.sha256},
        model_config=ckpt.config.to_dict(), sample_rate=ckpt.sample_rate,
        total_stride=ckpt.config.total_stride, chunk=spec.chunk, windowing=windows.to_dict(),
        spec=spec.to_dict(), versions=tool_versions(),
    )
    with atomic_dir(out, force=force) as tmp:
        with progress_bar("exporting", len(plan), show_progress) as advance:
            for fmt, precision in plan:
                details = export_one(fmt, precision, model, spec, tmp, request)
                manifest.artifacts.append(artifact_record(fmt, precision, tmp, spec, details))
                advance(artifact=f"{fmt.name}-{precision}")
        manifest.write(tmp)
        report = None
        if request.verify:
            report = verify_folder(tmp, ckpt.path, spec.device, show_progress=show_progress)
            if not report.passed:
                raise ParityError(report)  # atomic_dir discards the folder
            by_key = {v.artifact: v for v in report.artifacts}
            for art in manifest.artifacts:
                v = by_key.get(art.key)
                art.verification = None if v is None else {
                    "passed": v.passed, "device": spec.device, "cases": v.cases,
                    "max_abs_err": v.worst_max_abs_err, "si_snr_db": v.worst_si_snr_db,
                    "tolerance": v.tolerance.to_dict(),
                }
            manifest.write(tmp)
    if report is not None:
        report.folder = str(out)
    return ExportResult(str(out), manifest, report, notes)
