"""config.pbtxt for each model, written as text and validated against Triton's own schema."""

from __future__ import annotations

from dataclasses import dataclass, field

from wux.errors import MissingDependency, WuxError

# format -> Triton platform (native backends) or backend name
PLATFORMS = {"onnx": "onnxruntime_onnx", "trt": "tensorrt_plan", "torchscript": "pytorch_libtorch"}
KINDS = {"cpu": "KIND_CPU", "gpu": "KIND_GPU", "auto": "KIND_AUTO"}


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
    threads: int = 0  # onnxruntime intra-op threads in the python-backend model (0: onnxruntime's default)


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
    warmup_file: str | None = None  # raw float32 file in <model>/warmup/
    parameters: dict[str, str] = field(default_factory=dict)
    accelerator: str = ""  # pre-rendered optimization block


def dims_text(dims: list[int]) -> str:
    return "[ " + ", ".join(str(d) for d in dims) + " ]"


def render(spec: ModelSpec) -> str:
    lines = [f'name: "{spec.name}"']
    if spec.platform:
        lines.append(f'platform: "{spec.platform}"')
    if spec.backend:
        lines.append(f'backend: "{spec.backend}"')
    if spec.default_filename:
        lines.append(f'default_model_filename: "{spec.default_filename}"')
    lines.append(f"max_batch_size: {spec.max_batch}")
    lines.append(f'input [ {{ name: "{spec.input_name}" data_type: TYPE_FP32 dims: {dims_text(spec.dims)} }} ]')
    lines.append(f'output [ {{ name: "{spec.output_name}" data_type: TYPE_FP32 dims: {dims_text(spec.dims)} }} ]')
    lines.append(f"instance_group [ {{ kind: {spec.kind} count: {spec.instances} }} ]")
    if spec.dynamic_batching and spec.max_batch > 0:
        preferred = f" preferred_batch_size: {dims_text(list(spec.preferred_batch))}" if spec.preferred_batch else ""
        lines.append(f"dynamic_batching {{{preferred} max_queue_delay_microseconds: {spec.queue_delay_us} }}")
    for key, value in spec.parameters.items():
        lines.append(f'parameters {{ key: "{key}" value: {{ string_value: "{value}" }} }}')
    if spec.warmup_file:
        batch = 1 if spec.max_batch > 0 else 0
        lines.append(
            f'model_warmup [ {{ name: "speech" batch_size: {batch} inputs {{ key: "{spec.input_name}" '
            f"value: {{ data_type: TYPE_FP32 dims: {dims_text(spec.dims)} "
            f'input_data_file: "{spec.warmup_file}" }} }} }} ]')
    if spec.accelerator:
        lines.append(spec.accelerator)
    return "\n".join(lines) + "\n"


def ort_trt_block(fp16: bool, cache_path: str) -> str:
    params = {"precision_mode": "FP16" if fp16 else "FP32", "max_workspace_size_bytes": str(1 << 30),
              "trt_engine_cache_enable": "1", "trt_engine_cache_path": cache_path}
    body = " ".join(f'parameters {{ key: "{k}" value: "{v}" }}' for k, v in params.items())
    return ("optimization { execution_accelerators { gpu_execution_accelerator: "
            f'[ {{ name: "tensorrt" {body} }} ] }} }}')


def validate(text: str, where: str):
    """Parse with tritonclient's ModelConfig: unknown fields and wrong types are refused."""
    try:
        from google.protobuf import text_format
        from tritonclient.grpc import model_config_pb2
    except ImportError as e:
        raise MissingDependency("tritonclient[grpc]") from e
    try:
        return text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as e:
        raise WuxError(f"generated config.pbtxt does not match Triton's schema: {e}", where) from None
