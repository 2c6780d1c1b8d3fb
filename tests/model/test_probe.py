"""`wux probe` on models whose layout, length rule, receptive field and causality are known by construction."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.test_cli import assert_one_line_error, invoke
from wux.contract import LengthRule
from wux.errors import ModelError
from wux.model.config import CONTEXT, WIDER_CONTEXT
from wux.model.info import receptive_field
from wux.model.load import load_model
from wux.model.probe import probe_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Centered(nn.Module):
    """One 9-tap convolution: 4 samples each side, any length."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 9, padding=4)

    def forward(self, x):
        return self.conv(x)


class Strided(nn.Module):
    """Down by 8 and back, no padding: only multiples of 8 come back whole; windows align to 8."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv1d(1, 4, 8, stride=8)
        self.up = nn.ConvTranspose1d(4, 1, 8, stride=8)

    def forward(self, x):
        return self.up(torch.relu(self.down(x)))


class TupleOut(nn.Module):
    """Returns (waveform, mask), the way many separation models do."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        return y, torch.sigmoid(y)


class GlobalLevel(nn.Module):
    """Normalises by the whole input's level: every output depends on every input sample."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 5, padding=2)

    def forward(self, x):
        level = x.std(dim=-1, keepdim=True) + 1e-3
        return self.conv(x / level) * level


class TwoSources(nn.Module):
    def forward(self, x):
        return torch.cat([x, -x], dim=1)


class Shrinks(nn.Module):
    """A valid convolution: the output is 4 samples shorter than the input."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 5)

    def forward(self, x):
        return self.conv(x)


class FaintTails(nn.Module):
    """A 65-tap convolution whose outer taps are 80 dB below its 5 central ones."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 65, padding=32, bias=False)
        with torch.no_grad():
            self.conv.weight.fill_(1e-4)
            self.conv.weight[0, 0, 30:35] = 1.0

    def forward(self, x):
        return self.conv(x)


class BatchLevel(nn.Module):
    """Normalises by the level of the whole batch: one item's output depends on the others."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 5, padding=2)

    def forward(self, x):
        level = x.std() + 1e-3
        return self.conv(x / level) * level


def tcn():
    import importlib.util

    spec = importlib.util.spec_from_file_location("tcn_example", EXAMPLES / "standalone" / "tcn_denoiser.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build()


def test_a_centred_convolution():
    r = probe_model(Centered(), 16000)
    assert (r.layout.input_rank, r.length, r.align) == (3, LengthRule(1, 1), 1)
    assert (r.strict.past, r.strict.future, r.strict.span) == (4, 4, 9) and not r.causal
    assert r.macs_per_second == 9 * 16000 and not r.global_dependence


def test_context_and_lookahead_are_the_exact_extents_where_they_are_finite():
    r = probe_model(FaintTails(), 16000)
    assert (r.effective.past, r.effective.future) == (2, 2) and (r.strict.past, r.strict.future) == (32, 32)
    fields = r.contract_fields()  # one network, one latency: what its own config would state
    assert (fields["context"], fields["lookahead"], fields["context_exact"]) == (32, 32, True)


def test_a_model_whose_batch_items_hear_each_other_is_refused():
    with pytest.raises(ModelError, match="output for one batch item depends on the other items"):
        probe_model(BatchLevel(), 16000)


CLAIMS = """
import torch
from torch import nn


class Lies(nn.Module):
    sample_rate = 16000
    wux_contract = {"causal": True}

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 17, padding=8)

    def forward(self, x):
        return self.conv(x)

"""


def test_a_causal_claim_the_model_contradicts_is_refused(tmp_path):
    script = tmp_path / "claims.py"
    script.write_text(CLAIMS)
    assert_one_line_error(invoke("info", "--model", f"{script}:Lies"), f"{script}:Lies",
                          "causal: true is stated by the model, but its output depends on 8 samples ahead")
    assert invoke("info", "--model", f"{script}:Lies", "--contract", '{"causal": false}').exit_code == 0


def test_a_causal_tcn_in_batch_by_samples_layout():
    r = probe_model(tcn(), 16000)
    assert r.layout.input_rank == 2  # it takes [batch, samples]
    # kernel 3, dilations 1, 2, 4, 8, 16: 2 * 31 past samples, none ahead
    assert (r.strict.past, r.strict.future, r.strict.span) == (62, 0, 63) and r.causal
    assert r.contract_fields()["lookahead"] == 0


def test_a_strided_model_needs_multiples_and_aligned_windows():
    r = probe_model(Strided(), 16000)
    assert r.length == LengthRule(8, 8) and r.align == 8
    # a kernel-8 stride-8 pair: an output sample sees its own 8-sample block, wherever it sits in it
    assert r.strict.past == 7 and r.strict.future == 7


def test_the_articles_wave_unet_takes_multiples_of_64():
    import importlib.util

    spec = importlib.util.spec_from_file_location("article_model", EXAMPLES / "article_waveunet" / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    r = probe_model(module.ArticleWaveUNet().eval(), 16000)
    # three stride-4 levels whose decoder concatenates skips: only 4**3-sample multiples line up
    assert r.length == LengthRule(64, 64) and r.align == 64


def test_tuple_output_and_global_dependence():
    assert probe_model(TupleOut(), 16000).layout.tuple_output
    r = probe_model(GlobalLevel(), 16000)
    assert r.global_dependence and r.strict.span is None and not r.causal
    assert r.effective.past == r.effective.future == 2  # the local 5-tap convolution, above -60 dB
    assert r.far_level_db < -60
    assert r.length.minimum == 2  # one sample has no level (std of one value is NaN)


def test_the_bundled_wave_unet_measures_inside_its_analytic_bound():
    model = load_model()
    assert model.config == WIDER_CONTEXT  # the bundled default: the wider-context preset
    r = probe_model(model.module, 16000)
    assert r.align == WIDER_CONTEXT.total_stride and r.length == LengthRule(1, 1)
    bound = receptive_field(WIDER_CONTEXT)
    assert bound == receptive_field(CONTEXT)  # widening adds channels, not reach
    assert bound >= r.strict.span > 0.9 * bound
    assert r.macs_per_second == model.contract.macs_per_second


@pytest.mark.parametrize("model, message", [
    (TwoSources(), "returns 2 channels"),
    (Shrinks(), "not waveform in / waveform out of the same length"),
])
def test_models_that_are_not_waveform_in_waveform_out(model, message):
    with pytest.raises(ModelError, match=message):
        probe_model(model, 16000)


def test_probe_cli_on_a_standalone_file(tmp_path):
    script = tmp_path / "tcn.py"
    shutil.copy(EXAMPLES / "standalone" / "tcn_denoiser.py", script)
    result = invoke("probe", "--model", f"{script}:build", "--model-kwargs", '{"layers": 3}', "--sample-rate",
                    "8000", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["causal"] and report["receptive_field_samples"] == 1 + 2 * 7 and report["sample_rate"] == 8000
    assert_one_line_error(invoke("probe", "--model", f"{script}:build", "--model-kwargs", '{"width": 3}',
                                 "--sample-rate", "8000"), "build(**{'width': 3}) failed", "unexpected keyword")


class Integrator(nn.Module):
    """A running sum: every output depends on all the past, at full strength."""

    def forward(self, x):
        return 0.01 * torch.cumsum(x, dim=-1)


def test_an_unbounded_receptive_field_gets_a_share_of_the_window_as_context():
    from wux.model.probe import contract_from_probe

    report = probe_model(Integrator(), 16000)
    assert report.effective.past is None and report.effective.future == 0 and report.causal
    contract = contract_from_probe(report, {})
    assert not contract.context_exact and contract.receptive_field is None and contract.lookahead == 0
    assert contract.context == contract.chunk // 8 and contract.window.hop > 0
    # what the user declares wins over what was measured
    assert contract_from_probe(report, {"context": 512}).context == 512
