"""wux's STFT masking model: exact analysis/synthesis, any length, and the callable-model route end to end."""

import json
import math

import numpy as np
import pytest
import torch

from tests.test_cli import invoke
from wux.model.stft_mask import StftMask

SMALL = {"n_fft": 64, "hop": 16, "channels": 8, "dilations": [1, 2]}


def unit_mask(model: StftMask) -> StftMask:
    """Mask 1 + 0j everywhere: the model must give back its input."""
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.zero_()
        model.out.bias[: model.bins] = math.atanh(1 / model.mask_limit)
    return model.eval()


@pytest.mark.parametrize("samples", [1, 100, 16_001])
def test_a_unit_mask_gives_the_input_back_at_any_length(samples):
    model = unit_mask(StftMask())
    x = torch.randn(2, 1, samples, generator=torch.Generator().manual_seed(samples))
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape
    assert (y - x).abs().max().item() < 1e-4  # the ends too: the window envelope is divided out there


def test_the_mask_is_bounded_and_the_bases_are_not_weights():
    model = StftMask(**SMALL).eval()
    assert not {"analysis", "synthesis", "window_sq"} & set(model.state_dict())
    with torch.no_grad():
        model.out.bias.fill_(1e4)  # a huge mask is held to mask_limit: the output is at most that much louder
        x = torch.randn(1, 1, 4000, generator=torch.Generator().manual_seed(0))
        y = model(x)
    gain = (y.pow(2).sum() / x.pow(2).sum()).sqrt().item()
    assert gain <= model.mask_limit * math.sqrt(2) + 1e-3  # |mr + j mi| <= limit, both parts at once
    with pytest.raises(ValueError, match="must divide n_fft"):
        StftMask(n_fft=512, hop=384)


def test_it_exports_and_passes_the_parity_gate(tmp_path):
    torch.manual_seed(0)
    torch.save(StftMask(**SMALL).state_dict(), tmp_path / "w.pt")
    result = invoke("export", "--model", "wux.model.stft_mask:StftMask", "--model-kwargs", json.dumps(SMALL),
                    "--weights", tmp_path / "w.pt", "--to", "torchscript", "--to", "onnx", "--out",
                    tmp_path / "build", "--json")
    assert result.exit_code == 0, result.output
    verdicts = json.loads(result.stdout)["verification"]["artifacts"]
    assert [v["artifact"] for v in verdicts] == ["torchscript-fp32", "onnx-fp32"]
    assert all(v["passed"] for v in verdicts)
    manifest = json.loads((tmp_path / "build" / "manifest.json").read_text())
    assert manifest["model"]["family"] == "user"
    assert np.isfinite(verdicts[1]["worst_max_abs_err"])
