"""TensorRT engines from ONNX: strongly typed, one optimization profile, a reusable timing cache.

Written against TensorRT 10/11's Python API (build_serialized_network, named I/O tensors,
execute_async_v3). FP16 comes from the mixed-precision ONNX graph (wux.export.fp16), never
from a builder flag: TensorRT 11 removed BuilderFlag.FP16 and weak typing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wux.constants import INPUT_NAME, OUTPUT_NAME
from wux.errors import MissingDependency, WuxError
from wux.export.spec import ExportSpec

WORKSPACE_BYTES = 2 << 30


def trt_module():
    try:
        import tensorrt
    except ImportError as e:
        raise MissingDependency(
            "tensorrt", extra="gpu",
            hint="pip install 'wux[gpu]' on a machine with an NVIDIA GPU and CUDA",
        ) from e
    return tensorrt


def require_tensorrt_and_cuda() -> None:
    """Fail early, before any export work, when a plan cannot be built here."""
    trt_module()
    import torch

    if not torch.cuda.is_available():
        raise MissingDependency("a CUDA device", hint="TensorRT engines can only be built on an NVIDIA GPU")


def build_engine(onnx_path: Path, plan_path: Path, spec: ExportSpec, timing_cache: Path | None = None,
                 optimization_level: int = 3, version_compatible: bool = False) -> dict:
    """Parse the ONNX file, build a serialized engine for spec's profile, write it; return its facts."""
    trt = trt_module()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):  # always on (and ignored) in TRT 11
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise WuxError(f"TensorRT could not parse the ONNX graph: {errors}", onnx_path)

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    config.builder_optimization_level = optimization_level
    if version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    profile = builder.create_optimization_profile()
    shapes = spec.shapes()
    profile.set_shape(INPUT_NAME, shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(profile)
    cache_bytes = timing_cache.read_bytes() if timing_cache and timing_cache.exists() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise WuxError("TensorRT failed to build an engine (see the TensorRT log above)", onnx_path)
    plan_path.write_bytes(bytes(serialized))
    if timing_cache:
        timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    return {"tensorrt": trt.__version__, "optimization_level": optimization_level,
            "version_compatible": version_compatible, **gpu_facts()}


def gpu_facts() -> dict:
    """The GPU a plan was built on: plans only run on the same compute capability."""
    import torch

    major, minor = torch.cuda.get_device_capability()
    return {"gpu": torch.cuda.get_device_name(), "compute_capability": f"{major}.{minor}"}


class TrtRunner:
    """Runs a plan with torch-owned CUDA buffers and execute_async_v3."""

    name = "tensorrt"

    def __init__(self, path: Path, device: str = "cuda"):
        import torch

        trt = trt_module()
        if not torch.cuda.is_available():
            raise MissingDependency("a CUDA device", hint="TensorRT plans run only on an NVIDIA GPU")
        self.torch = torch
        self.device = device if device.startswith("cuda") else "cuda"
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(Path(path).read_bytes())
        if self.engine is None:
            raise WuxError("TensorRT could not deserialize this plan (built with another TensorRT or GPU?)", path)
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream(device=self.device)

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        torch = self.torch
        x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)).to(self.device).unsqueeze(1)
        self.context.set_input_shape(INPUT_NAME, tuple(x.shape))
        y = torch.empty(tuple(self.context.get_tensor_shape(OUTPUT_NAME)), dtype=torch.float32, device=self.device)
        self.context.set_tensor_address(INPUT_NAME, x.data_ptr())
        self.context.set_tensor_address(OUTPUT_NAME, y.data_ptr())
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise WuxError("TensorRT execution failed")
        self.stream.synchronize()
        return y.squeeze(1).cpu().numpy()
