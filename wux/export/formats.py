"""One registry of export formats: file names, tensor names, precisions, how to run each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wux.constants import INPUT_NAME, OUTPUT_NAME, TORCHSCRIPT_INPUT_NAME, TORCHSCRIPT_OUTPUT_NAME
from wux.errors import WuxError


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    precisions: tuple[str, ...]
    needs_cuda: bool
    input_name: str
    output_name: str

    def filename(self, precision: str) -> str:
        return f"model{'' if precision == 'fp32' else '.' + precision}{self.extension}"

    def runner(self, path: Path, device: str = "cpu", threads: int | None = None):
        """The Runner for one artifact of this format (imports its runtime lazily)."""
        if self.name == "torchscript":
            from wux.export.torchscript import TorchScriptRunner

            return TorchScriptRunner(path, device)
        if self.name == "onnx":
            from wux.export.onnx import OrtRunner

            return OrtRunner(path, device, threads)
        from wux.export.tensorrt import TrtRunner

        return TrtRunner(path, device)


FORMATS: dict[str, Format] = {
    "torchscript": Format("torchscript", ".pt", ("fp32",), False, TORCHSCRIPT_INPUT_NAME, TORCHSCRIPT_OUTPUT_NAME),
    "onnx": Format("onnx", ".onnx", ("fp32", "fp16"), False, INPUT_NAME, OUTPUT_NAME),
    "trt": Format("trt", ".plan", ("fp32", "fp16"), True, INPUT_NAME, OUTPUT_NAME),
}
ALIASES = {"ts": "torchscript", "tensorrt": "trt", "plan": "trt"}


def get_format(name: str) -> Format:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in FORMATS:
        raise WuxError(f"unknown format {name!r}; choose from {', '.join(FORMATS)}")
    return FORMATS[key]
