"""TensorRT plans, run with torch-owned CUDA buffers and execute_async_v3 (TensorRT 10/11 API)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wux.errors import WuxError
from wux.runtime.base import Runner, ShapeLimits, TensorIO
from wux.runtime.device import require_cuda
from wux.tools import require


def trt_module():
    return require("tensorrt")


class TrtRunner(Runner):
    name = "tensorrt"

    def __init__(self, path: Path, io: TensorIO, device: str = "cuda", limits: ShapeLimits | None = None):
        super().__init__(limits)
        self.path, self.io = Path(path), io
        self.device = device if device.startswith("cuda") else "cuda"
        self.engine = self.context = self.stream = None

    def load(self) -> None:
        import torch

        trt = trt_module()
        require_cuda("TensorRT plans run only on an NVIDIA GPU")
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise WuxError("TensorRT could not deserialize this plan (built with another TensorRT or GPU?)", self.path)
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream(device=self.device)

    def run(self, wave: np.ndarray) -> np.ndarray:
        import torch

        name_in, name_out = self.io.input_name, self.io.output_name
        x = torch.from_numpy(wave).to(self.device).unsqueeze(1)
        self.context.set_input_shape(name_in, tuple(x.shape))
        y = torch.empty(tuple(self.context.get_tensor_shape(name_out)), dtype=torch.float32, device=self.device)
        self.context.set_tensor_address(name_in, x.data_ptr())
        self.context.set_tensor_address(name_out, y.data_ptr())
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise WuxError("TensorRT execution failed")
        self.stream.synchronize()
        return y.reshape(y.shape[0], -1).cpu().numpy()

    def release(self) -> None:
        self.engine = self.context = self.stream = None
