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
    assert model.mask_limit * 0.9 < gain <= model.mask_limit + 1e-3  # |mr + j mi| <= limit, in a tight frame
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


def test_it_states_its_contract_and_windowed_output_equals_whole_input_output():
    from dataclasses import replace

    from wux.denoise import denoise_wave
    from wux.model.load import ModelSource, load_model

    torch.manual_seed(1)
    loaded = load_model(ModelSource(factory="wux.model.stft_mask:StftMask", kwargs=SMALL))
    c = loaded.contract
    assert (c.align, c.context, c.lookahead, c.causal) == (16, 3 * 16 + 64, 3 * 16 + 64, False)
    assert loaded.contract_origin["context"] == "stated by the model" and loaded.probe is None
    assert loaded.contract_origin["macs_per_second"] == "measured" and c.macs_per_second > 0
    with torch.no_grad():  # weights that use the context: BatchNorm statistics away from the identity
        for block in loaded.raw_module().blocks:
            block.norm.running_mean.normal_(0, 0.5)
    wave = np.random.default_rng(0).standard_normal(9000).astype(np.float32) * 0.1
    plan = replace(c.window, window=1024)  # many windows, each with the stated context each side
    windowed = denoise_wave(loaded.runner(), wave, plan)
    with torch.no_grad():
        whole = loaded.module(torch.from_numpy(wave).view(1, 1, -1)).numpy().reshape(-1)
    assert np.abs(windowed - whole).max() < 1e-4
    short = replace(plan, context=16)  # too little context: the windows are seen to differ
    assert np.abs(denoise_wave(loaded.runner(), wave, short) - whole).max() > 1e-3


def test_a_model_stating_unknown_contract_fields_is_refused_in_one_line():
    from wux.errors import ModelError
    from wux.model.load import stated_contract

    class Typo(torch.nn.Module):
        wux_contract = {"alignment": 64}

    class Broken(torch.nn.Module):
        def wux_contract(self):
            raise KeyError("hop")

    with pytest.raises(ModelError, match=r"Typo.wux_contract: unknown field\(s\) alignment; known: "):
        stated_contract(Typo())
    with pytest.raises(ModelError, match=r"Broken.wux_contract\(\) failed: KeyError"):
        stated_contract(Broken())
    assert stated_contract(torch.nn.Identity()) == {}
