"""The registry of export formats: file names, tensor names, precisions, how to export and run each.

A new format is a module with an exporter plus one entry here; nothing else branches on format names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wux.contract import AudioContract
from wux.errors import WuxError
from wux.export.check import Outcome
from wux.export.onnx import export_onnx_artifact
from wux.export.spec import ExportSpec
from wux.export.tensorrt import build_engine
from wux.export.torchscript import export_torchscript
from wux.ort_settings import OrtOptions
from wux.runtime.base import Runner, ShapeLimits, TensorIO
from wux.runtime.onnxruntime import OrtRunner
from wux.runtime.tensorrt import TrtRunner
from wux.runtime.torchscript import TorchScriptRunner

# Triton's pytorch_libtorch backend addresses TorchScript tensors by position under these names.
TORCHSCRIPT_IO = TensorIO("INPUT__0", "OUTPUT__0")


@dataclass(frozen=True)
class TrtOptions:
    optimization_level: int = 3
    version_compatible: bool = False
    timing_cache: Path | None = None


@dataclass(frozen=True)
class ExportJob:
    """Everything one exporter needs: the model, its contract, the profiles, where to write."""

    fmt: Format
    precision: str
    module: Any
    contract: AudioContract
    spec: ExportSpec
    folder: Path
    trt: TrtOptions = TrtOptions()
    sources: dict[str, Outcome] = field(default_factory=dict)  # artifacts exported before, by key
    calibration: Path | None = None  # INT8: audio to calibrate on (None: the bundled sample with every noise family)

    @property
    def path(self) -> Path:
        return self.path_of(self.precision)

    def path_of(self, precision: str, fmt: str | None = None) -> Path:
        return self.folder / (FORMATS[fmt] if fmt else self.fmt).filename(precision)

    @property
    def io(self) -> TensorIO:
        return self.fmt.io(self.contract)


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    precisions: tuple[str, ...]
    needs_cuda: bool
    export: Callable[[ExportJob], Outcome]
    make_runner: Callable[..., Runner]  # (path, io, device, session, limits) -> Runner
    names: TensorIO | None = None  # fixed tensor names; None: the contract's
    # The artifacts one of this precision is built from: (format, precision) pairs.
    needs: Callable[[str], tuple[tuple[str, str], ...]] = lambda precision: ()

    def filename(self, precision: str) -> str:
        return f"model{'' if precision == 'fp32' else '.' + precision}{self.extension}"

    def io(self, contract: AudioContract) -> TensorIO:
        return self.names or TensorIO(contract.input_name, contract.output_name)

    def runner(self, path: Path, io: TensorIO, device: str = "cpu", session: OrtOptions = OrtOptions(),
               limits: ShapeLimits | None = None) -> Runner:
        """The runner for one artifact; `session`: the onnxruntime settings (other runtimes ignore them)."""
        return self.make_runner(path, io, device, session, limits)


FORMATS: dict[str, Format] = {
    "torchscript": Format("torchscript", ".pt", ("fp32",), False, export_torchscript,
                          lambda path, io, device, session, limits: TorchScriptRunner(path, device, limits),
                          names=TORCHSCRIPT_IO),
    "onnx": Format("onnx", ".onnx", ("fp32", "fp16", "int8"), False, export_onnx_artifact,
                   lambda path, io, device, session, limits: OrtRunner(path, io, device, session, limits),
                   needs=lambda precision: (("onnx", "fp32"),) if precision != "fp32" else ()),
    # TensorRT builds from the ONNX graph of its precision (kept beside the plan: its provenance).
    "trt": Format("trt", ".plan", ("fp32", "fp16"), True, build_engine,
                  lambda path, io, device, session, limits: TrtRunner(path, io, device, limits),
                  needs=lambda precision: (("onnx", precision),)),
}
ALIASES = {"ts": "torchscript", "tensorrt": "trt", "plan": "trt"}


def get_format(name: str) -> Format:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in FORMATS:
        raise WuxError(f"unknown format {name!r}; choose from {', '.join(FORMATS)}")
    return FORMATS[key]
