"""ONNX models in onnxruntime (CPU, or CUDA with onnxruntime-gpu), with explicit session options (wux.ort_settings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wux.errors import MissingDependency
from wux.ort_settings import OrtOptions
from wux.runtime.base import Runner, ShapeLimits, TensorIO
from wux.tools import require


def ort_session(path: Path, device: str = "cpu", options: OrtOptions = OrtOptions()):
    ort = require("onnxruntime")
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise MissingDependency("onnxruntime-gpu (CUDAExecutionProvider)", extra="gpu")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ort.InferenceSession(str(path), options.session_options(ort), providers=providers)


class OrtRunner(Runner):
    name = "onnxruntime"

    def __init__(self, path: Path, io: TensorIO, device: str = "cpu", options: OrtOptions = OrtOptions(),
                 limits: ShapeLimits | None = None):
        super().__init__(limits)
        self.path, self.io, self.device, self.options = Path(path), io, device, options
        self.session = None

    def load(self) -> None:
        self.session = ort_session(self.path, self.device, self.options)

    def run(self, wave: np.ndarray) -> np.ndarray:
        out = self.session.run([self.io.output_name], {self.io.input_name: wave[:, None, :]})[0]
        return out.reshape(out.shape[0], -1)

    def release(self) -> None:
        self.session = None
