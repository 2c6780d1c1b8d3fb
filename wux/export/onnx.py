"""ONNX: torch.onnx's dynamo exporter with dynamic batch and length, the legacy exporter where dynamo
cannot trace the model, and the serving chunk as a fixed length where no dynamic graph is faithful."""

from __future__ import annotations

import logging
import warnings

from wux.errors import ExportError, WuxError
from wux.export.check import Outcome, dynamic_shapes, failure, fixed_shapes, unfaithful
from wux.export.fp16 import convert_to_fp16
from wux.export.graph import default_opset
from wux.export.int8 import export_int8
from wux.export.spec import Profile
from wux.runtime.onnxruntime import OrtRunner


def export_onnx_artifact(job) -> Outcome:
    """The FP32 graph from the model, or the FP16 / INT8 one from the FP32 graph (same length profile)."""
    if job.precision == "fp16":
        return export_fp16(job)
    if job.precision == "int8":
        return export_int8(job)
    return export_onnx(job)


def export_onnx(job) -> Outcome:
    spec, chunk = job.spec, job.contract.chunk
    attempts: list[str] = []
    if not spec.fixed_length:
        for exporter in ("dynamo", "legacy"):
            try:
                facts = write_onnx(job, exporter, spec.length)
            except Exception as e:  # noqa: BLE001 - the exporter rejected the model: try the next one
                attempts.append(f"{exporter}, dynamic length: {failure(e)}")
                continue
            problem = unfaithful(runner(job), job.module, dynamic_shapes(spec), spec.device)
            if problem is None:
                return Outcome(spec.length, {**facts, "exporter": exporter, "attempts": attempts})
            attempts.append(f"{exporter}, dynamic length: {problem}")
            break  # it exported but the graph is shape-fragile: the other exporter traces the same code
    for exporter in ("dynamo", "legacy"):
        try:
            facts = write_onnx(job, exporter, None)
        except Exception as e:  # noqa: BLE001
            attempts.append(f"{exporter} at {chunk} samples: {failure(e)}")
            continue
        problem = unfaithful(runner(job), job.module, fixed_shapes(spec, job.contract), spec.device)
        if problem is None:
            return Outcome(Profile.fixed(chunk), {**facts, "exporter": exporter, "attempts": attempts})
        attempts.append(f"{exporter} at {chunk} samples: {problem}")
    raise ExportError(f"onnx: no faithful export ({'; '.join(attempts)})")


def runner(job) -> OrtRunner:
    return OrtRunner(job.path, job.io, job.spec.device)


def write_onnx(job, exporter: str, length: Profile | None) -> dict:
    """Export with dynamic batch, and dynamic length over `length` (None: the chunk, fixed); check the graph."""
    import onnx
    import torch

    spec, io = job.spec, job.io
    samples = length.opt if length else job.contract.chunk
    # torch.export specialises a batch-1 example to batch 1: export with an example batch of 2.
    example = torch.randn(2, 1, samples, device=spec.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        # a failed down-conversion is logged with its traceback; the opset check below reports it in one line
        logging.getLogger("onnxscript.version_converter").setLevel(logging.ERROR)
        if exporter == "dynamo":
            dims = {0: torch.export.Dim("batch", min=1, max=max(spec.batch.max, 2))}
            if length:
                dims[2] = torch.export.Dim("samples", min=length.min, max=length.max)
            program = torch.onnx.export(job.module, (example,), dynamo=True, opset_version=spec.opset,
                                        verbose=False, input_names=[io.input_name], output_names=[io.output_name],
                                        dynamic_shapes=(dims,))
            if program is None:
                raise WuxError("torch.onnx.export returned no program")
            program.save(str(job.path))
        else:
            axes = {0: "batch", 2: "samples"} if length else {0: "batch"}
            torch.onnx.export(job.module, (example,), str(job.path), dynamo=False, opset_version=spec.opset,
                              input_names=[io.input_name], output_names=[io.output_name],
                              dynamic_axes={io.input_name: axes, io.output_name: axes})
    proto = onnx.load(str(job.path))
    onnx.checker.check_model(proto, full_check=True)
    if default_opset(proto) != spec.opset:  # the exporter could not convert to it and kept its own
        raise ExportError(f"asked for opset {spec.opset}, the {exporter} exporter wrote {default_opset(proto)}")
    return onnx_facts(proto)


def export_fp16(job) -> Outcome:
    import onnx

    source = job.sources.get("onnx-fp32")
    if source is None:
        raise ExportError("onnx fp16 is converted from the fp32 graph, which was not exported")
    details = convert_to_fp16(job.path_of("fp32"), job.path)
    return Outcome(source.length, {**onnx_facts(onnx.load(str(job.path))), **details,
                                   "exporter": source.details.get("exporter")})


def onnx_facts(proto) -> dict:
    """Opset, node count and the dims of each graph input/output as the file states them."""

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    return {
        "opset": default_opset(proto), "nodes": len(proto.graph.node),
        "inputs": {i.name: dims(i) for i in proto.graph.input},
        "outputs": {o.name: dims(o) for o in proto.graph.output},
    }
