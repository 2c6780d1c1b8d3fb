"""Models from the user's own code: naming a callable, weights in the shapes people save, the contract."""

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tests.test_cli import assert_one_line_error, invoke
from wux.errors import CheckpointError, ConfigError, ModelError
from wux.model.load import ModelSource, load_model
from wux.model.user import resolve_factory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Gain(nn.Module):
    """[batch, 1, samples] scaled by one weight; states its own sample rate."""

    sample_rate = 8000

    def __init__(self, gain: float = 0.5):
        super().__init__()
        self.gain = nn.Parameter(torch.tensor([gain]))

    def forward(self, x):
        return self.gain * x


def build_gain(gain: float = 0.5) -> Gain:
    return Gain(gain)


def not_a_module():
    return "hello"


@pytest.fixture
def tcn_file(tmp_path) -> Path:
    """The stand-alone example copied outside any package, with weights saved beside it."""
    script = tmp_path / "models" / "tcn.py"
    script.parent.mkdir()
    shutil.copy(EXAMPLES / "standalone" / "tcn_denoiser.py", script)
    return script


def weights_of(module: nn.Module, path: Path, wrap=None, prefix="") -> Path:
    sd = {prefix + k: v for k, v in module.state_dict().items()}
    torch.save(sd if wrap is None else {wrap: sd, "epoch": 3}, path)
    return path


def test_a_callable_by_module_and_by_file_path(tcn_file):
    assert resolve_factory(f"{__name__}:build_gain") is build_gain
    build = resolve_factory(f"{tcn_file}:build")
    assert build(layers=2).blocks[1].conv.dilation == (2,)


@pytest.mark.parametrize("wrap", [None, "state_dict", "model", "model_state_dict", "state"])
@pytest.mark.parametrize("prefix", ["", "module.", "_orig_mod.", "_orig_mod.module."])
def test_weights_in_the_containers_people_save(tmp_path, wrap, prefix):
    path = weights_of(Gain(0.25), tmp_path / "w.pt", wrap, prefix)
    model = load_model(ModelSource(factory=f"{__name__}:Gain", weights=path))
    x = np.ones((1, 100), dtype=np.float32)
    np.testing.assert_allclose(model.runner()(x), 0.25 * x)
    assert model.contract.sample_rate == 8000  # stated by the model itself
    assert model.record["weights_sha256"] and model.contract_origin["align"] == "measured"


def test_declared_facts_win_and_skip_what_they_cover(tmp_path):
    path = weights_of(Gain(), tmp_path / "w.pt")
    declared = {"sample_rate": 16000, "length": {"multiple": 4, "minimum": 8}, "align": 4, "receptive_field": 1,
                "context": 0, "context_exact": True, "causal": True, "lookahead": 0, "macs_per_second": 16000}
    model = load_model(ModelSource(factory=f"{__name__}:Gain", weights=path, declared=declared))
    assert model.probe is None  # everything the probe measures was declared: nothing ran
    assert model.contract.sample_rate == 16000 and model.contract.length.multiple == 4
    assert set(model.contract_origin.values()) == {"declared"}


def test_a_demucs_style_package_loads_without_running_code(tmp_path):
    """DEMUCS saves {"class": <its class>, "args", "kwargs", "state"}: the class is allowed as a name, never
    called, and the kwargs come from the package when none are given."""
    torch.save({"class": Gain, "args": (), "kwargs": {"gain": 0.75}, "state": Gain(0.75).state_dict()},
               tmp_path / "package.pt")
    model = load_model(ModelSource(factory=f"{__name__}:Gain", weights=tmp_path / "package.pt"))
    assert model.user.kwargs == {"gain": 0.75} and model.record["kwargs"] == {"gain": 0.75}
    # without --model naming that class, the same file is refused like any file naming code
    with pytest.raises(CheckpointError, match="would run code"):
        load_model(ModelSource(factory=f"{__name__}:build_gain", weights=tmp_path / "package.pt"))


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("case, fragment", [
    ("no module", "cannot import 'no_such_pkg.mod'"),
    ("no callable", "has no 'Nope'; callables defined there: Evil, Gain, build_gain, not_a_module"),
    ("not callable", "is not callable"),
    ("bad kwargs", "Gain(**{'gain': 1, 'width': 2}) failed: TypeError"),
    ("not a module", "returned a str, not a torch.nn.Module"),
    ("bad spec", "expected MODULE:CALLABLE"),
    ("missing file", "model file not found"),
    ("keys", "missing keys gain; unexpected keys bias, weight"),
    ("code", "would run code"),
])
def test_bad_models_and_weights_are_one_line(tmp_path, capfd, case, fragment):
    weights = weights_of(Gain(), tmp_path / "w.pt")
    torch.save({"weight": torch.zeros(1), "bias": torch.zeros(1)}, tmp_path / "other.pt")
    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    this = __name__
    sources = {
        "no module": ModelSource(factory="no_such_pkg.mod:X"),
        "no callable": ModelSource(factory=f"{this}:Nope"),
        "not callable": ModelSource(factory=f"{this}:EXAMPLES"),
        "bad kwargs": ModelSource(factory=f"{this}:Gain", kwargs={"gain": 1, "width": 2}),
        "not a module": ModelSource(factory=f"{this}:not_a_module"),
        "bad spec": ModelSource(factory="just_a_name"),
        "missing file": ModelSource(factory=f"{tmp_path / 'nope.py'}:build"),
        "keys": ModelSource(factory=f"{this}:Gain", weights=tmp_path / "other.pt"),
        "code": ModelSource(factory=f"{this}:Gain", weights=tmp_path / "evil.pt"),
    }
    with pytest.raises((ModelError, CheckpointError, ConfigError)) as err:
        load_model(sources[case])
    assert fragment in str(err.value) and "\n" not in str(err.value)
    assert "pwned" not in capfd.readouterr().out
    assert weights.exists()


def test_the_python_api_for_notebooks(tcn_file, tmp_path):
    import wux

    torch.manual_seed(0)
    weights = weights_of(resolve_factory(f"{tcn_file}:build")(), tmp_path / "w.pt")
    model = wux.load_model(model=f"{tcn_file}:build", weights=weights, sample_rate=16000)
    assert model.contract.causal and model.contract.receptive_field == 63 and model.layout.input_rank == 2
    again = wux.probe(model)
    assert again.strict.span == 63 and again.causal


def test_a_recorded_user_model_needs_only_its_file(tcn_file, tmp_path):
    torch.manual_seed(0)
    weights = weights_of(resolve_factory(f"{tcn_file}:build")(layers=3), tmp_path / "w.pt")
    result = invoke("import", "--model", f"{tcn_file}:build", "--model-kwargs", '{"layers": 3}', "--weights", weights,
                    "--sample-rate", "16000", "-o", tmp_path / "tcn.wux.pt", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["family"] == "user"
    info = invoke("info", tmp_path / "tcn.wux.pt", "--json")
    assert info.exit_code == 0, info.output
    report = json.loads(info.stdout)
    assert report["family"] == "user" and report["model"]["kwargs"] == {"layers": 3}
    assert report["contract"]["receptive_field"] == 15 and report["contract"]["causal"] is True
    assert set(report["contract_origin"].values()) == {"recorded"}  # measured once, at import: not probed again
    loaded = load_model(ModelSource(checkpoint=tmp_path / "tcn.wux.pt"))
    x = np.random.default_rng(0).standard_normal((1, 500)).astype(np.float32)
    direct = load_model(ModelSource(factory=f"{tcn_file}:build", kwargs={"layers": 3}, weights=weights,
                                    declared={"sample_rate": 16000}))
    np.testing.assert_array_equal(loaded.runner()(x), direct.runner()(x))


def test_cli_model_options_one_line_errors(tmp_path, tiny_checkpoint):
    assert_one_line_error(invoke("info", "--model", "no_such_pkg:X"), "cannot import 'no_such_pkg'")
    assert_one_line_error(invoke("info", "--model", f"{__name__}:Gain", "--model-kwargs", "{not json"),
                          "'--model-kwargs'", "not a JSON object")
    assert_one_line_error(invoke("info", tiny_checkpoint, "--model", f"{__name__}:Gain"), "not both")
    assert_one_line_error(invoke("info", "--weights", tiny_checkpoint), "pass --model too")
    assert_one_line_error(invoke("info", tiny_checkpoint, "--sample-rate", "8000"), "states its own audio contract")
    assert_one_line_error(invoke("info", "--model", f"{__name__}:Gain", "--sample-rate", "1000000"), "--sample-rate",
                          "should be less than or equal to 768000")
    assert_one_line_error(invoke("info", "--model", f"{__name__}:Gain", "--contract", '{"colour": 1}'),
                          "--contract: unknown field(s) colour")
    assert_one_line_error(invoke("info", "--model", f"{__name__}:Gain", "--contract", '{"length": 5}'),
                          "--contract: length must be an object like")
    assert_one_line_error(invoke("info", "--model", f"{__name__}:Gain", "--contract", '{"length": {"multiple": -3}}'),
                          "--contract: length rule needs multiple >= 1")
    assert_one_line_error(invoke("info", "--model", f"{__name__}:Gain", "--contract", '{"causal": "yes"}'),
                          "--contract: causal must be true or false, got 'yes'")
    assert_one_line_error(invoke("info", "--model", f"{__name__}:Gain", "--contract", '{"align": 1.5}'),
                          "--contract: align must be a whole number, got 1.5")
    assert_one_line_error(invoke("info", "--model", f"{__name__}:Gain", "--contract", '{"input_rank": 5}'),
                          "input_rank must be 3 ([batch, 1, samples]) or 2 ([batch, samples])")
    assert_one_line_error(invoke("export", "--model", f"{__name__}:Gain", "--out", tmp_path / "b"),
                          "--weights is needed")
    assert not (tmp_path / "b").exists()


def test_eval_scores_a_users_model(tcn_file, tmp_path, tiny_corpus):
    torch.manual_seed(0)
    weights = weights_of(resolve_factory(f"{tcn_file}:build")(), tmp_path / "w.pt")
    result = invoke("eval", "--model", f"{tcn_file}:build", "--weights", weights, "--sample-rate", "16000",
                    "--data", tiny_corpus, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["files"] == 6 and report["model"] == f"{tcn_file}:build + {weights}"
    assert np.isfinite(report["output_si_snr_db_mean"])


def test_a_changed_model_file_is_not_the_model_an_export_recorded():
    from types import SimpleNamespace

    from wux.model.load import check_record

    recorded = {"kind": "user", "factory": "/m/net.py:build", "kwargs": {}, "weights_sha256": "w", "file_sha256": "a"}
    assert check_record(SimpleNamespace(record=dict(recorded)), recorded)
    assert not check_record(SimpleNamespace(record={**recorded, "file_sha256": "b"}), recorded)  # code edited


def test_a_model_file_inside_a_package_keeps_its_relative_imports(tmp_path):
    package = tmp_path / "wux_test_relative_pkg"
    (package / "nets").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "nets" / "__init__.py").write_text("")
    (package / "layers.py").write_text("from torch import nn\n\n\nclass Gain(nn.Module):\n    sample_rate = 8000\n\n"
                                       "    def forward(self, x):\n        return 0.5 * x\n")
    (package / "nets" / "model.py").write_text("from ..layers import Gain\n\n\ndef build():\n    return Gain()\n")
    model = load_model(ModelSource(factory=f"{package / 'nets' / 'model.py'}:build"))
    x = np.ones((1, 100), dtype=np.float32)
    np.testing.assert_allclose(model.runner()(x), 0.5 * x)
    assert str(tmp_path) not in sys.path  # importable only while it loads


def test_a_plain_pickle_is_refused_without_torchs_protocol_warning(tmp_path, capfd):
    import pickle
    import warnings

    with open(tmp_path / "plain.pt", "wb") as f:
        pickle.dump({"weight": [0.0]}, f, protocol=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError, match="would run code"):
            load_model(ModelSource(checkpoint=tmp_path / "plain.pt"))
    assert [str(w.message) for w in caught] == []
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("contract, fragment", [
    ("x", "str 'x', not a record"),
    ({"length": {"multiple": -3}}, "length rule needs multiple >= 1"),
    ({"channels": "two"}, "channels must be a whole number"),
    ({"colour": 1}, "bad contract record: unknown field(s) colour"),
    ({"input_rank": 5}, "bad contract record: input_rank must be 3"),  # a layout fact: refused when built
])
def test_a_broken_recorded_contract_is_one_line_naming_the_checkpoint(tcn_file, tmp_path, contract, fragment):
    torch.manual_seed(0)
    weights = weights_of(resolve_factory(f"{tcn_file}:build")(layers=3), tmp_path / "w.pt")
    result = invoke("import", "--model", f"{tcn_file}:build", "--model-kwargs", '{"layers": 3}', "--weights", weights,
                    "--sample-rate", "16000", "-o", tmp_path / "tcn.wux.pt")
    assert result.exit_code == 0, result.output
    payload = torch.load(tmp_path / "tcn.wux.pt", weights_only=True)
    torch.save({**payload, "contract": contract}, tmp_path / "bad.wux.pt")
    with pytest.raises(CheckpointError, match="bad contract record") as err:
        load_model(ModelSource(checkpoint=tmp_path / "bad.wux.pt"))
    assert fragment in str(err.value) and str(tmp_path / "bad.wux.pt") in str(err.value)
    assert_one_line_error(invoke("info", tmp_path / "bad.wux.pt"), "bad contract record")
