"""Transposed convolutions as polyphase ordinary convolutions: the same function, to float rounding."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from wux.export.polyphase import SUFFIX, rewrite_transposed_convolutions

GEOMETRIES = [  # (in, out, kernel, stride, padding, output_padding)
    (3, 5, 4, 2, 1, 0),  # the bundled model's upsampler
    (2, 3, 5, 2, 2, 1),  # kernel not a multiple of the stride, output padding
    (4, 4, 3, 3, 0, 0),
    (2, 2, 6, 2, 2, 0),
    (1, 2, 1, 1, 0, 0),
]


def export(module, cin, path):
    torch.onnx.export(module, torch.randn(2, cin, 37), str(path), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch", 2: "samples"}}, dynamo=False)
    return onnx.load(str(path))


def run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_every_geometry_computes_the_same_at_any_length(geometry, tmp_path):
    cin, cout, k, s, p, op = geometry
    torch.manual_seed(0)
    module = torch.nn.ConvTranspose1d(cin, cout, k, stride=s, padding=p, output_padding=op).eval()
    model = export(module, cin, tmp_path / "m.onnx")
    assert rewrite_transposed_convolutions(model) == 1
    onnx.checker.check_model(model)
    assert not any(n.op_type == "ConvTranspose" for n in model.graph.node)
    assert any(n.op_type == "Conv" and n.name.endswith(SUFFIX) for n in model.graph.node)
    for length in (37, 50, 1):
        x = torch.randn(3, cin, length)
        with torch.inference_mode():
            ref = module(x).numpy()
        out = run(model, x.numpy())
        assert out.shape == ref.shape and np.abs(out - ref).max() < 1e-5


def test_what_cannot_be_expressed_exactly_is_left_alone(tmp_path):
    grouped = torch.nn.ConvTranspose1d(4, 4, 4, stride=2, padding=1, groups=2).eval()
    dilated = torch.nn.ConvTranspose1d(2, 2, 3, stride=2, dilation=2).eval()
    for i, module in enumerate((grouped, dilated)):
        model = export(module, module.in_channels, tmp_path / f"{i}.onnx")
        before = model.SerializeToString()
        assert rewrite_transposed_convolutions(model) == 0
        assert model.SerializeToString() == before
