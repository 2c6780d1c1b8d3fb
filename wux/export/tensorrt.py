"""TensorRT engines from ONNX: strongly typed, one optimization profile, a reusable timing cache.

Written against TensorRT 10/11's Python API (build_serialized_network, named I/O tensors,
execute_async_v3). FP16 comes from the mixed-precision ONNX graph (wux.export.fp16), never
from a builder flag: TensorRT 11 removed BuilderFlag.FP16 and weak typing. The plan's length
profile is its ONNX source's: a fixed-length ONNX graph gives a fixed-length plan.
"""

from __future__ import annotations

from wux.errors import ExportError, WuxError
from wux.export.check import Outcome
from wux.runtime.device import require_cuda
from wux.runtime.tensorrt import trt_module

WORKSPACE_BYTES = 2 << 30


def require_tensorrt_and_cuda() -> None:
    """Fail early, before any export work, when a plan cannot be built here."""
    trt_module()
    require_cuda("TensorRT engines can only be built on an NVIDIA GPU")


def build_engine(job) -> Outcome:
    """Parse the ONNX artifact of the same precision, build a serialized engine for its profile, write it."""
    source = job.sources.get(f"onnx-{job.precision}")
    if source is None:
        raise ExportError(f"trt {job.precision} is built from the onnx {job.precision} graph, which was not exported")
    onnx_path = job.path_of(job.precision, "onnx")
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

    options = job.trt
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    config.builder_optimization_level = options.optimization_level
    if options.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    profile = builder.create_optimization_profile()
    shapes = job.spec.shapes(source.length)
    profile.set_shape(job.io.input_name, shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(profile)
    cache_path = options.timing_cache
    cache_bytes = cache_path.read_bytes() if cache_path and cache_path.exists() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise WuxError("TensorRT failed to build an engine (see the TensorRT log above)", onnx_path)
    job.path.write_bytes(bytes(serialized))
    if cache_path:
        cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    return Outcome(source.length, {"tensorrt": trt.__version__, "optimization_level": options.optimization_level,
                                   "version_compatible": options.version_compatible, **gpu_facts()})


def gpu_facts() -> dict:
    """The GPU a plan was built on: plans only run on the same compute capability."""
    import torch

    major, minor = torch.cuda.get_device_capability()
    return {"gpu": torch.cuda.get_device_name(), "compute_capability": f"{major}.{minor}"}
