"""config.pbtxt for each model, built as Triton's own ModelConfig protobuf and printed from it.

One path for every config wux writes (`wux triton` here, `wux tune --write` too): fields are set on
the message, so values are escaped by protobuf and unknown fields cannot be written at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wux.contract import STEP_DENOISED, STEP_FRAME
from wux.errors import WuxError
from wux.ort_settings import PARAM_PREFIX, OrtOptions
from wux.tools import require

# format -> Triton platform (native backends)
PLATFORMS = {"onnx": "onnxruntime_onnx", "trt": "tensorrt_plan", "torchscript": "pytorch_libtorch"}
KINDS = {"cpu": "KIND_CPU", "gpu": "KIND_GPU", "auto": "KIND_AUTO"}
# The config parameter holding onnxruntime's intra-op thread count, per backend: wux's python-backend core
# model reads wux.ort_settings' parameters; Triton's onnxruntime backend documents "intra_op_thread_count"
# (0: one per core).
THREAD_PARAMETERS = {"python": PARAM_PREFIX + "intra_op_threads", "onnxruntime_onnx": "intra_op_thread_count"}
# The precision of the artifact a core model serves (its front model carries its core's): `wux perf --validate`
# compares with an artifact of the same precision.
PRECISION_PARAMETER = "precision"
# Triton's onnxruntime backend: optimization { graph { level } } is -1 for basic, 1 for extended, unset for all.
ORT_BACKEND_GRAPH_LEVELS = {"basic": -1, "extended": 1, "all": None}


def thread_parameter(config) -> str | None:
    """The thread-count parameter of a ModelConfig's backend, if it has one."""
    return THREAD_PARAMETERS.get(config.backend or config.platform)


@dataclass(frozen=True)
class ServingOptions:
    max_batch: int | None = None  # None: the artifacts' max batch from the manifest
    instances: int = 1
    kind: str = "auto"  # cpu | gpu | auto
    preferred_batch: tuple[int, ...] = ()
    queue_delay_us: int = 500
    warmup: bool = True
    ort_trt: bool = False  # ONNX Runtime's TensorRT accelerator for the onnxruntime_onnx model
    ort_trt_fp16: bool = True
    ort_trt_cache: str = "/tmp/wux_ort_trt_cache"
    threads: int = 0  # onnxruntime intra-op threads per instance, python and onnxruntime backends (0: default)
    max_queue_size: int = 0  # requests beyond this are rejected at once (0: unbounded)
    queue_timeout_us: int = 0  # a request queued longer is rejected (0: never)
    stream_idle_s: float = 10.0  # a causal export's streaming model drops a stream silent this long
    stream_max_batch: int = 16  # frames of this many streams run together
    # Two instances (each stream stays on one) with one onnxruntime thread each: 20 ms frames are too small for
    # threads to help, and two sequential instances use two cores. No batching delay: an instance takes whatever
    # frames wait when it is free (batches form under load by themselves); waiting for more halved no misses and
    # doubled every frame's latency (measured: README, Streaming).
    stream_instances: int = 2
    stream_queue_delay_us: int = 0


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input_name: str
    output_name: str
    dims: list[int]  # per item, without the batch dim
    max_batch: int
    platform: str | None = None
    backend: str | None = None
    default_filename: str | None = None
    kind: str = "KIND_AUTO"
    instances: int = 1
    dynamic_batching: bool = True
    preferred_batch: tuple[int, ...] = ()
    queue_delay_us: int = 0
    max_queue_size: int = 0
    queue_timeout_us: int = 0
    warmup_file: str | None = None  # raw float32 file in <model>/warmup/
    parameters: dict[str, str] = field(default_factory=dict)
    ort_trt: dict[str, str] | None = None  # ONNX Runtime TensorRT accelerator parameters
    graph_level: int | None = None  # onnxruntime backend's optimization.graph.level (None: all optimisations)


def pb():
    """Triton's model-config schema, as shipped inside tritonclient."""
    return require("tritonclient.grpc.model_config_pb2")


def model_config(spec: ModelSpec):
    """The ModelConfig message for one model."""
    m = pb()
    config = m.ModelConfig(name=spec.name, max_batch_size=spec.max_batch)
    if spec.platform:
        config.platform = spec.platform
    if spec.backend:
        config.backend = spec.backend
    if spec.default_filename:
        config.default_model_filename = spec.default_filename
    config.input.add(name=spec.input_name, data_type=m.TYPE_FP32, dims=spec.dims)
    config.output.add(name=spec.output_name, data_type=m.TYPE_FP32, dims=spec.dims)
    config.instance_group.add(kind=m.ModelInstanceGroup.Kind.Value(spec.kind), count=spec.instances)
    if spec.dynamic_batching and spec.max_batch > 0:
        config.dynamic_batching.max_queue_delay_microseconds = spec.queue_delay_us
        config.dynamic_batching.preferred_batch_size.extend(spec.preferred_batch)
        if spec.max_queue_size or spec.queue_timeout_us:
            policy = config.dynamic_batching.default_queue_policy
            policy.max_queue_size = spec.max_queue_size
            policy.default_timeout_microseconds = spec.queue_timeout_us
            policy.timeout_action = m.ModelQueuePolicy.REJECT
    for key, value in spec.parameters.items():
        config.parameters[key].string_value = value
    if spec.warmup_file:
        warmup = config.model_warmup.add(name="speech", batch_size=1 if spec.max_batch > 0 else 0)
        data = warmup.inputs[spec.input_name]
        data.data_type = m.TYPE_FP32
        data.dims.extend(spec.dims)
        data.input_data_file = spec.warmup_file
    if spec.graph_level is not None:
        config.optimization.graph.level = spec.graph_level
    if spec.ort_trt is not None:
        accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")
        accelerator.parameters.update(spec.ort_trt)
    return config


def onnxruntime_backend_settings(options: OrtOptions) -> tuple[dict[str, str], int | None]:
    """Session settings as Triton's onnxruntime backend takes them: parameters and the graph level.

    The backend has no spinning switch: its sessions keep onnxruntime's default (spinning on)."""
    params = {THREAD_PARAMETERS["onnxruntime_onnx"]: str(options.intra_op_threads),
              "inter_op_thread_count": str(options.inter_op_threads),
              "execution_mode": "1" if options.execution_mode == "parallel" else "0"}
    return params, ORT_BACKEND_GRAPH_LEVELS[options.graph_optimization]


def ort_trt_parameters(fp16: bool, cache_path: str) -> dict[str, str]:
    return {"precision_mode": "FP16" if fp16 else "FP32", "max_workspace_size_bytes": str(1 << 30),
            "trt_engine_cache_enable": "1", "trt_engine_cache_path": cache_path}


def render(config) -> str:
    return require("google.protobuf.text_format").MessageToString(config)


def validate(text: str, where: str):
    """Parse with tritonclient's ModelConfig: unknown fields and wrong types are refused."""
    text_format = require("google.protobuf.text_format")
    try:
        return text_format.Parse(text, pb().ModelConfig())
    except text_format.ParseError as e:
        raise WuxError(f"config.pbtxt does not match Triton's schema: {e}", where) from None


@dataclass(frozen=True)
class StreamSpec:
    """A streaming model: a sequence-batched step model, frames of many streams batched into one run."""

    name: str
    frame_multiple: int
    state_size: int
    max_batch: int = 16  # frames of this many streams in one execution
    idle_us: int = 10_000_000  # a stream silent this long is dropped (its slot, and its state)
    queue_delay_us: int = 0  # how long the oldest frame waits for others to batch with
    instances: int = 2
    kind: str = "KIND_CPU"
    parameters: dict[str, str] = field(default_factory=dict)


STREAM_IO = (STEP_FRAME, STEP_DENOISED)  # the step model's frame in, denoised frame out (wux.contract)


def stream_config(spec: StreamSpec, platform: str | None = None, implicit_state: tuple[str, str] | None = None):
    """The ModelConfig of a streaming model: the python backend holding each stream's state (default), or a
    native backend running the step file with Triton's implicit state (`implicit_state`: its input and output
    names), which resets a stream's state to zeros at its start."""
    m = pb()
    config = m.ModelConfig(name=spec.name, max_batch_size=spec.max_batch)
    if platform:
        config.platform = platform
    else:
        config.backend = "python"
    config.input.add(name=STREAM_IO[0], data_type=m.TYPE_FP32, dims=[1, -1])
    config.output.add(name=STREAM_IO[1], data_type=m.TYPE_FP32, dims=[1, -1])
    config.instance_group.add(kind=m.ModelInstanceGroup.Kind.Value(spec.kind), count=spec.instances)
    batching = config.sequence_batching
    batching.max_sequence_idle_microseconds = spec.idle_us
    batching.oldest.max_candidate_sequences = 4 * spec.max_batch
    batching.oldest.preferred_batch_size.append(spec.max_batch)
    batching.oldest.max_queue_delay_microseconds = spec.queue_delay_us
    if implicit_state:
        state = batching.state.add(input_name=implicit_state[0], output_name=implicit_state[1],
                                   data_type=m.TYPE_FP32, dims=[spec.state_size])
        state.initial_state.add(data_type=m.TYPE_FP32, dims=[spec.state_size], zero_data=True, name="zeros")
    else:
        for kind, name in (("CONTROL_SEQUENCE_START", "START"), ("CONTROL_SEQUENCE_END", "END"),
                           ("CONTROL_SEQUENCE_READY", "READY")):
            control = batching.control_input.add(name=name)
            control.control.add(kind=m.ModelSequenceBatching.Control.Kind.Value(kind), int32_false_true=[0, 1])
        corrid = batching.control_input.add(name="CORRID")
        corrid.control.add(kind=m.ModelSequenceBatching.Control.Kind.Value("CONTROL_SEQUENCE_CORRID"),
                           data_type=m.TYPE_UINT64)
    for key, value in spec.parameters.items():
        config.parameters[key].string_value = value
    return config
