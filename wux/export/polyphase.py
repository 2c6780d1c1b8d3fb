"""1-D transposed convolutions rewritten as ordinary convolutions (polyphase), the same function exactly.

onnxruntime's CPU ConvTranspose is slow (a quarter of the classic model's FP32 time for a tenth of its
multiply-accumulates) and has no 8-bit kernel: QDQ around it dequantizes and runs it in FP32. A stride-s
transposed convolution is s ordinary convolutions over the input, one per output phase, interleaved:

    y[s*q + r - pad_left] = sum_j sum_ci x[ci, q - j] * W[ci, co, r + j*s]     (r = 0..s-1)

so one Conv with s*Cout output channels (taps flipped, zero-padded to J = ceil(K/s)), then
Reshape -> Transpose -> Reshape to interleave the phases, then Slice to the transposed convolution's
output. The Conv runs as QLinearConv in INT8. Nodes this cannot express exactly (groups, dilation,
auto_pad, output_shape, weights that are not constants) are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wux.tools import require

SUFFIX = "_polyphase"


@dataclass(frozen=True)
class Transposed:
    """What the rewrite needs of one ConvTranspose node."""

    stride: int
    kernel: int
    pad_left: int
    pad_right: int
    output_padding: int


def attributes(node) -> dict:
    helper = require("onnx.helper")
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def rewritable(node, weights: dict[str, np.ndarray]) -> Transposed | None:
    """The node's geometry when the polyphase form computes it exactly, else None."""
    if node.op_type != "ConvTranspose" or len(node.input) < 2 or node.input[1] not in weights:
        return None
    w = weights[node.input[1]]
    a = attributes(node)
    if w.ndim != 3 or a.get("group", 1) != 1 or list(a.get("dilations", [1])) != [1] or "output_shape" in a:
        return None
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    if len(node.input) > 2 and node.input[2] and node.input[2] not in weights:
        return None
    (stride,) = a.get("strides", [1])
    pads = list(a.get("pads", [0, 0]))
    (output_padding,) = a.get("output_padding", [0])
    t = Transposed(stride, w.shape[2], pads[0], pads[1], output_padding)
    return t if trailing(t) >= 0 else None


def taps(t: Transposed) -> int:
    return -(-t.kernel // t.stride)


def trailing(t: Transposed) -> int:
    """Samples the interleaved phases run past the transposed convolution's output, at its end."""
    return t.stride * taps(t) - t.kernel + t.pad_right - t.output_padding


def phase_weights(w: np.ndarray, t: Transposed) -> np.ndarray:
    """[Cin, Cout, K] transposed-convolution weights -> [stride*Cout, Cin, J] convolution weights."""
    cin, cout, _ = w.shape
    j = taps(t)
    padded = np.zeros((cin, cout, t.stride * j), dtype=w.dtype)
    padded[:, :, : t.kernel] = w
    # padded[ci, co, r + j*s] -> [r, co, ci, j], taps flipped (a correlation computes the convolution)
    phases = padded.reshape(cin, cout, j, t.stride).transpose(3, 1, 0, 2)[:, :, :, ::-1]
    return np.ascontiguousarray(phases.reshape(t.stride * cout, cin, j))


def polyphase_nodes(node, t: Transposed, w: np.ndarray, bias: np.ndarray | None):
    """The nodes and initializers replacing `node` (same input, same output name)."""
    helper, numpy_helper = require("onnx.helper"), require("onnx.numpy_helper")
    name, cout, j = node.name or node.output[0], w.shape[1], taps(t)
    n = f"{name}{SUFFIX}"
    inits = [numpy_helper.from_array(phase_weights(w, t), f"{n}.weight"),
             numpy_helper.from_array(np.array([0, t.stride, cout, -1], np.int64), f"{n}.split_shape"),
             numpy_helper.from_array(np.array([0, cout, -1], np.int64), f"{n}.merge_shape"),
             numpy_helper.from_array(np.array([t.pad_left], np.int64), f"{n}.start"),
             numpy_helper.from_array(np.array([-trailing(t) if trailing(t) else np.iinfo(np.int64).max],
                                              np.int64), f"{n}.end"),
             numpy_helper.from_array(np.array([2], np.int64), f"{n}.axis")]
    conv_inputs = [node.input[0], f"{n}.weight"]
    if bias is not None:
        inits.append(numpy_helper.from_array(np.tile(bias, t.stride).astype(bias.dtype), f"{n}.bias"))
        conv_inputs.append(f"{n}.bias")
    nodes = [
        helper.make_node("Conv", conv_inputs, [f"{n}.phases"], name=n, kernel_shape=[j], pads=[j - 1, j - 1]),
        helper.make_node("Reshape", [f"{n}.phases", f"{n}.split_shape"], [f"{n}.split"], name=f"{n}/split"),
        helper.make_node("Transpose", [f"{n}.split"], [f"{n}.interleaved"], name=f"{n}/interleave",
                         perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", [f"{n}.interleaved", f"{n}.merge_shape"], [f"{n}.full"], name=f"{n}/merge"),
        helper.make_node("Slice", [f"{n}.full", f"{n}.start", f"{n}.end", f"{n}.axis"], [node.output[0]],
                         name=f"{n}/crop"),
    ]
    return nodes, inits


def rewrite_transposed_convolutions(model) -> int:
    """Replace every rewritable 1-D ConvTranspose in `model` (an onnx ModelProto) in place; how many were."""
    numpy_helper = require("onnx.numpy_helper")
    graph = model.graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    new_nodes, added, count = [], [], 0
    for node in graph.node:
        t = rewritable(node, weights)
        if t is None:
            new_nodes.append(node)
            continue
        bias = weights[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        nodes, inits = polyphase_nodes(node, t, weights[node.input[1]], bias)
        new_nodes.extend(nodes)
        added.extend(inits)
        count += 1
    if count:
        del graph.node[:]
        graph.node.extend(new_nodes)
        graph.initializer.extend(added)
        used = {i for n in graph.node for i in n.input}
        keep = [i for i in graph.initializer if i.name in used]
        del graph.initializer[:]
        graph.initializer.extend(keep)
    return count
