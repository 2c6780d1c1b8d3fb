"""ONNX through torch.onnx.export(dynamo=True) with truly dynamic batch and length."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from wux.constants import INPUT_NAME, OUTPUT_NAME
from wux.errors import MissingDependency, WuxError
from wux.export.spec import ExportSpec


def export_onnx(model, spec: ExportSpec, path: Path) -> dict:
    """Export with dynamic [batch, 1, samples] in and out, check the graph, return its facts."""
    import onnx
    import torch

    batch = torch.export.Dim("batch", min=1, max=max(spec.batch.max, 2))
    samples = torch.export.Dim("samples", min=spec.length.min, max=spec.length.max)
    # torch.export specialises a batch-1 example to batch 1: export with an example batch of 2.
    example = torch.randn(2, 1, spec.length.opt, device=spec.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        program = torch.onnx.export(
            model, (example,), dynamo=True, opset_version=spec.opset, verbose=False,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_shapes={"x": {0: batch, 2: samples}},
        )
    if program is None:
        raise WuxError("torch.onnx.export returned no program", path)
    program.save(str(path))
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    return onnx_facts(proto)


def onnx_facts(proto) -> dict:
    """Opset, node count and the dims of each graph input/output as the file states them."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return {
        "opset": opset, "nodes": len(proto.graph.node),
        "inputs": {i.name: dims(i) for i in proto.graph.input},
        "outputs": {o.name: dims(o) for o in proto.graph.output},
    }


def ort_session(path: Path, device: str = "cpu", threads: int | None = None):
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise MissingDependency("onnxruntime") from e
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise MissingDependency("onnxruntime-gpu (CUDAExecutionProvider)", extra="gpu")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ort.InferenceSession(str(path), options, providers=providers)


class OrtRunner:
    name = "onnxruntime"

    def __init__(self, path: Path, device: str = "cpu", threads: int | None = None):
        self.session = ort_session(path, device, threads)

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(wave, dtype=np.float32)[:, None, :]
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: x})[0][:, 0, :]
