"""wux.export.conv2d: 1-D convolutions rewritten as height-1 2-D ones compute the same thing in onnxruntime,
for every attribute a Wave-U-Net uses (stride, padding, dilation, groups, transposed with output padding)."""

import io

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from wux.export.conv2d import as_2d_convolutions


class Convs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv1d(2, 6, 5, stride=2, padding=3)
        self.b = nn.Conv1d(6, 6, 3, dilation=4, groups=3)
        self.up = nn.ConvTranspose1d(6, 4, 4, stride=2, padding=1, output_padding=1)
        self.c = nn.Conv1d(4, 1, 1)

    def forward(self, x):
        return self.c(torch.tanh(self.up(self.b(self.a(x)))))


def onnx_model(module, shape):
    buf = io.BytesIO()
    torch.onnx.export(module.eval(), torch.zeros(shape), buf, input_names=["x"], output_names=["y"],
                      opset_version=17, dynamo=False, dynamic_axes={"x": {0: "b", 2: "t"}, "y": {0: "b", 2: "t"}})
    return onnx.load_from_string(buf.getvalue())


def run(model, x):
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def rewritten(module, shape):
    """(the exported graph as torch wrote it, the same graph rewritten and checked, how many were rewritten)"""
    before = onnx_model(module, shape)
    model = onnx.ModelProto()
    model.CopyFrom(before)
    count = as_2d_convolutions(model)
    onnx.checker.check_model(model)
    return before, model, count


def conv_weight_ranks(model):
    inits = {t.name: len(t.dims) for t in model.graph.initializer}
    return [inits[n.input[1]] for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose")]


def test_the_rewritten_graph_computes_the_same_at_any_batch_and_length():
    torch.manual_seed(0)
    before, model, count = rewritten(Convs(), (2, 2, 64))
    assert count == 4
    assert conv_weight_ranks(before) == [3, 3, 3, 3] and conv_weight_ranks(model) == [4, 4, 4, 4]
    assert [i.name for i in model.graph.input] == ["x"] and [o.name for o in model.graph.output] == ["y"]
    assert len(model.graph.initializer) == len(before.graph.initializer) + 1  # the 3-D weights gone, one axis added
    rng = np.random.default_rng(0)
    for shape in ((1, 2, 64), (3, 2, 101)):
        x = rng.standard_normal(shape).astype(np.float32)
        want, got = run(before, x), run(model, x)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_a_graph_without_1d_convolutions_is_left_as_it_is():
    model = onnx_model(nn.Sequential(nn.Flatten(), nn.ReLU()), (1, 2, 8))
    before = model.SerializeToString()
    assert as_2d_convolutions(model) == 0
    assert model.SerializeToString() == before


@pytest.mark.parametrize("name,value,want", [("kernel_shape", [5], [1, 5]), ("strides", [2], [1, 2]),
                                             ("dilations", [3], [1, 3]), ("output_padding", [1], [0, 1]),
                                             ("pads", [2, 1], [0, 2, 0, 1]), ("group", 3, 3)])
def test_each_attribute_gains_a_height_of_one(name, value, want):
    from wux.export.conv2d import widen

    assert widen(name, value) == want


class SharedWeight(nn.Module):
    """One convolution applied twice: its weight is one initializer read by two nodes."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 3, 3, padding=1)

    def forward(self, x):
        return self.conv(torch.relu(self.conv(x)))


def test_a_weight_shared_by_two_convolutions_gets_one_twin():
    torch.manual_seed(1)
    before, model, count = rewritten(SharedWeight(), (1, 3, 32))
    assert count == 2
    names = [t.name for t in model.graph.initializer]
    assert len(names) == len(set(names)) and conv_weight_ranks(model) == [4, 4]
    x = np.random.default_rng(1).standard_normal((2, 3, 40)).astype(np.float32)
    np.testing.assert_allclose(run(model, x), run(before, x), rtol=1e-5, atol=1e-5)


def test_a_graph_before_opset_13_is_left_as_it_is():
    model = onnx_model(Convs(), (1, 2, 64))
    model.opset_import[0].version = 12
    before = model.SerializeToString()
    assert as_2d_convolutions(model) == 0 and model.SerializeToString() == before
