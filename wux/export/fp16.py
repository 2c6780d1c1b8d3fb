"""FP16 as a property of the ONNX graph: mixed precision with FP32 inputs and outputs.

TensorRT 11 removed the FP16 builder flag, so a strongly typed network gets its FP16
layers from the graph itself. We convert with onnxruntime's own float16 converter
(`onnxruntime.transformers.float16`), which ships with the onnxruntime wux already
depends on and runs on CPU; NVIDIA ModelOpt's AutoCast does the same job but pulls in a
large GPU-oriented stack. Normalisation and reductions are kept in FP32: their sums lose
precision in FP16 first, and they cost little.
"""

from __future__ import annotations

from pathlib import Path

from wux.errors import WuxError, first_line
from wux.tools import require

# Ops whose accumulation is numerically sensitive in FP16; they stay FP32.
FP32_OPS = (
    "BatchNormalization", "GroupNormalization", "InstanceNormalization", "LayerNormalization",
    "ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "Pow", "Sqrt", "Resize",
)


def convert_to_fp16(src: Path, dst: Path, keep_fp32_ops: tuple[str, ...] = FP32_OPS) -> dict:
    """Write a mixed-precision copy of `src` whose inputs and outputs stay FP32."""
    import onnx

    convert_float_to_float16 = require("onnxruntime.transformers.float16").convert_float_to_float16
    proto = onnx.load(str(src))
    index_nodes = index_subgraph(proto.graph)
    converted = convert_float_to_float16(proto, keep_io_types=True, op_block_list=list(keep_fp32_ops),
                                         node_block_list=sorted(index_nodes))
    drop_fp16_round_trips(converted.graph, index_nodes)
    topological_sort(converted.graph)
    # The converter rewrites node types but leaves stale intermediate type annotations behind
    # for blocked nodes; they are optional, so drop them and let shape inference recompute them.
    del converted.graph.value_info[:]
    try:
        onnx.checker.check_model(converted, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise WuxError(f"FP16 conversion produced an invalid graph: {first_line(e)}", dst) from None
    onnx.save(converted, str(dst))
    ops = [n.op_type for n in converted.graph.node]
    return {"converter": "onnxruntime.transformers.float16", "fp32_ops": list(keep_fp32_ops),
            "fp32_index_nodes": len(index_nodes), "casts": ops.count("Cast")}


# Inputs that carry positions, not signal. FP16 holds integers exactly only up to 2048, so the
# float arithmetic that computes them (linear interpolation becomes Range/Div/Floor/GatherND in
# the dynamo exporter) must stay FP32 or indices past 2048 land on the wrong sample.
INDEX_INPUTS = {"GatherND": (1,), "Gather": (1,), "GatherElements": (1,), "ScatterND": (1,),
                "Slice": (1, 2, 3, 4), "Range": (0, 1, 2), "Resize": (1, 2, 3), "Expand": (1,),
                "Reshape": (1,), "Tile": (1,), "Pad": (1,), "ConstantOfShape": (0,)}


def index_subgraph(graph) -> set[str]:
    """Names of the nodes whose outputs flow into an index/shape input (all of their producers too)."""
    producer = {out: n for n in graph.node for out in n.output}
    seeds = [n.input[i] for n in graph.node for i in INDEX_INPUTS.get(n.op_type, ()) if i < len(n.input)]
    seeds += [n.input[0] for n in graph.node if n.op_type == "Range"]
    names: set[str] = set()
    stack = [t for t in seeds if t in producer]
    while stack:
        node = producer[stack.pop()]
        if node.name in names:
            continue
        names.add(node.name)
        stack.extend(t for t in node.input if t in producer)
    return names


def drop_fp16_round_trips(graph, fp32_nodes: set[str]) -> int:
    """Remove Cast(fp16) -> Cast(fp32) pairs behind nodes that were kept FP32.

    The converter inserts such a pair on every edge between two blocked nodes; the round trip
    rounds each index to FP16 and so defeats the blocking. Returns the number of pairs removed.
    """
    import onnx

    producer = {out: n for n in graph.node for out in n.output}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for t in n.input:
            consumers.setdefault(t, []).append(n)
    outputs = {o.name for o in graph.output}

    def cast_to(node) -> int | None:
        return next((a.i for a in node.attribute if a.name == "to"), None) if node.op_type == "Cast" else None

    removed = []
    for first in graph.node:
        src = producer.get(first.input[0]) if first.input else None
        if cast_to(first) != onnx.TensorProto.FLOAT16 or src is None or src.name not in fp32_nodes:
            continue
        for second in consumers.get(first.output[0], []):
            if cast_to(second) != onnx.TensorProto.FLOAT or second.output[0] in outputs:
                continue
            for user in consumers.get(second.output[0], []):
                for i, t in enumerate(user.input):
                    if t == second.output[0]:
                        user.input[i] = first.input[0]
            removed.append(second)
        if all(c in removed for c in consumers.get(first.output[0], [])):
            removed.append(first)
    gone = {id(n) for n in removed}
    kept = [n for n in graph.node if id(n) not in gone]
    del graph.node[:]
    graph.node.extend(kept)
    return sum(1 for n in removed if cast_to(n) == onnx.TensorProto.FLOAT)


def topological_sort(graph) -> None:
    """Reorder nodes so each comes after its producers (the converter appends input casts last)."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise WuxError("ONNX graph has a cycle or a dangling input; cannot sort it")
        for n in ready:
            ordered.append(n)
            available.update(n.output)
        done = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in done]
    del graph.node[:]
    graph.node.extend(ordered)
