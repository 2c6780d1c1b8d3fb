import json
import os
import zipfile
from pathlib import Path

import pytest
import torch

from tests.conftest import make_checkpoint
from wux.errors import CheckpointError, ConfigError
from wux.fsutil import sha256_file
from wux.model.checkpoint import (
    import_state_dict,
    load_checkpoint,
    read_torch_file,
    save_checkpoint,
)
from wux.model.config import TINY, WaveUNetConfig, load_config_json
from wux.model.waveunet import WaveUNet
from wux.resources import BUNDLED_MODELS, PROVENANCE_FILES, bundled


def test_round_trip_keeps_config_weights_and_record(tmp_path):
    path = make_checkpoint(tmp_path / "m.wux.pt", seed=3)
    ckpt = load_checkpoint(path)
    assert ckpt.config == TINY
    assert ckpt.sample_rate == 16_000 and ckpt.training == {"steps": 0}
    torch.manual_seed(3)
    original = WaveUNet(TINY).eval()  # the weights make_checkpoint saved
    x = torch.randn(1, 1, 500)
    assert torch.equal(ckpt.build_model()(x), original(x))
    assert not torch.equal(WaveUNet(TINY).eval()(x), original(x))  # other weights, other output


def test_file_loads_with_weights_only(tmp_path):
    path = make_checkpoint(tmp_path / "m.wux.pt")
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "wux-checkpoint" and payload["format_version"] == 2
    assert set(payload) >= {"model", "state_dict", "sample_rate", "training", "wux_version"}
    assert payload["model"] == {"family": "waveunet", "config": TINY.to_dict()}


def test_format_1_files_still_load(tmp_path, tiny_checkpoint):
    """wux 0.1 wrote the config at the top level (the bundled classic model is such a file)."""
    payload = torch.load(tiny_checkpoint, weights_only=True)
    old = {**{k: v for k, v in payload.items() if k != "model"}, "format_version": 1,
           "config": payload["model"]["config"]}
    torch.save(old, tmp_path / "v1.wux.pt")
    ckpt = load_checkpoint(tmp_path / "v1.wux.pt")
    assert ckpt.config == TINY and ckpt.family == "waveunet"
    assert torch.load(load_checkpoint("classic").path, weights_only=True)["format_version"] == 1


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    path = make_checkpoint(tmp_path / "m.wux.pt")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(load_checkpoint(path), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.wux.pt"]


def test_same_checkpoint_same_bytes_whatever_the_file_name(tmp_path):
    """A bundled model's sha256 identifies its content: saving it again, anywhere, gives the same file."""
    ckpt = load_checkpoint(make_checkpoint(tmp_path / "m.wux.pt", seed=3))
    first = save_checkpoint(ckpt, tmp_path / "a.wux.pt").read_bytes()
    assert save_checkpoint(ckpt, tmp_path / "other name.wux.pt").read_bytes() == first
    assert load_checkpoint(tmp_path / "a.wux.pt").config == TINY


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def bad_files(tmp_path, good):
    """name -> (path, fragment of the expected message)."""
    cases = {}
    cases["missing"] = (tmp_path / "nope.pt", "not found")
    (tmp_path / "text.pt").write_text("hello, I am not a checkpoint")
    cases["not torch"] = (tmp_path / "text.pt", "not a PyTorch file")
    data = good.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    cases["truncated"] = (tmp_path / "trunc.pt", "truncated or corrupt")
    (tmp_path / "empty.pt").write_bytes(b"")
    cases["empty"] = (tmp_path / "empty.pt", "empty")
    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    cases["code pickle"] = (tmp_path / "evil.pt", "run code")
    payload = torch.load(good, weights_only=True)
    torch.save({**payload, "format_version": 99}, tmp_path / "v99.pt")
    cases["version"] = (tmp_path / "v99.pt", "unknown checkpoint format version 99")
    sd = dict(payload["state_dict"])
    sd.pop(next(iter(sd)))
    torch.save({**payload, "state_dict": sd}, tmp_path / "missing_keys.pt")
    cases["missing keys"] = (tmp_path / "missing_keys.pt", "missing keys")
    torch.save({**payload, "state_dict": {**payload["state_dict"], "extra.weight": torch.zeros(1)}},
               tmp_path / "extra_keys.pt")
    cases["unexpected keys"] = (tmp_path / "extra_keys.pt", "unexpected keys extra.weight")
    key = next(iter(payload["state_dict"]))
    torch.save({**payload, "state_dict": {**payload["state_dict"], key: torch.zeros(3, 3)}},
               tmp_path / "shape.pt")
    cases["shape"] = (tmp_path / "shape.pt", f"shape mismatch for {key}")
    nan = payload["state_dict"][key].clone()
    nan.view(-1)[0] = float("nan")
    torch.save({**payload, "state_dict": {**payload["state_dict"], key: nan}}, tmp_path / "nan.pt")
    cases["nan weights"] = (tmp_path / "nan.pt", f"NaN or Inf weights in {key}")
    model = {**payload["model"], "config": {**payload["model"]["config"], "dropout": 0.1}}
    torch.save({**payload, "model": model}, tmp_path / "cfg.pt")
    cases["unknown config field"] = (tmp_path / "cfg.pt", "unknown model config field(s) dropout")
    torch.save(payload["state_dict"], tmp_path / "plain.pt")
    cases["plain state_dict"] = (tmp_path / "plain.pt", "not a wux checkpoint")
    for rate in ("abc", None, 0, -16000, 16000.7, float("inf"), 10**12):  # a traceback, a message naming no file or
        # (10**12) the audio blamed for not being at that rate
        torch.save({**payload, "sample_rate": rate}, tmp_path / f"rate_{rate}.pt")
        cases[f"sample rate {rate}"] = (tmp_path / f"rate_{rate}.pt", f"sample_rate {rate!r} is not a whole number")
    torch.save({**payload, "training": "x"}, tmp_path / "training.pt")
    cases["training not a record"] = (tmp_path / "training.pt", "bad checkpoint record")
    torch.save({**payload, "state_dict": {**payload["state_dict"], key: "x"}}, tmp_path / "str_weight.pt")
    cases["a weight not a tensor"] = (tmp_path / "str_weight.pt", "holds values that are not tensors")
    torch.save({**payload, "model": {**payload["model"], "family": "nope"}}, tmp_path / "family.pt")
    cases["unknown family"] = (tmp_path / "family.pt", "family 'nope' is none of 'waveunet', 'user'")
    return cases


CASES = ["missing", "not torch", "truncated", "empty", "code pickle", "version", "missing keys",
         "unexpected keys", "shape", "nan weights", "unknown config field", "plain state_dict",
         *(f"sample rate {r}" for r in ("abc", None, 0, -16000, 16000.7, float("inf"), 10**12)),
         "training not a record", "a weight not a tensor", "unknown family"]


@pytest.mark.parametrize("case", CASES)
def test_bad_checkpoints_give_one_line_errors(tmp_path, tiny_checkpoint, case):
    path, fragment = bad_files(tmp_path, tiny_checkpoint)[case]
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert fragment in message
    assert str(path) in message and "\n" not in message


def test_code_pickle_is_never_executed(tmp_path, capfd):
    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        read_torch_file(tmp_path / "evil.pt")
    assert "pwned" not in capfd.readouterr().out


def test_corrupt_zip_member_is_reported(tmp_path, tiny_checkpoint):
    path = tmp_path / "bad_member.pt"
    with zipfile.ZipFile(tiny_checkpoint) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data if not item.filename.endswith("data.pkl") else b"\x80\x02garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


@pytest.mark.parametrize("wrapper", [None, "model_state_dict", "state_dict", "model"])
@pytest.mark.parametrize("prefix", ["", "module.", "_orig_mod.", "_orig_mod.module."])
def test_import_known_containers(tmp_path, wrapper, prefix):
    torch.manual_seed(1)
    model = WaveUNet(TINY)
    sd = {prefix + k: v for k, v in model.state_dict().items()}
    obj = sd if wrapper is None else {wrapper: sd, "epoch": 7, "optimizer": {"lr": 0.1}}
    torch.save(obj, tmp_path / "foreign.pt")
    ckpt = import_state_dict(tmp_path / "foreign.pt", TINY)
    out = save_checkpoint(ckpt, tmp_path / "imported.wux.pt")
    loaded = load_checkpoint(out).build_model()
    x = torch.randn(1, 1, 300)
    assert torch.equal(loaded(x), model.eval()(x))
    assert loaded.config == TINY


def test_import_rejects_wrong_config(tmp_path):
    torch.save(WaveUNet(TINY).state_dict(), tmp_path / "sd.pt")
    with pytest.raises(CheckpointError, match="shape mismatch|missing keys"):
        import_state_dict(tmp_path / "sd.pt", WaveUNetConfig(levels=2, channels=(4, 16), bottleneck_channels=8))


def test_import_rejects_non_state_dict(tmp_path):
    torch.save({"epoch": 3, "note": "hello"}, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="no state_dict found"):
        import_state_dict(tmp_path / "x.pt", TINY)


def test_config_json_errors(tmp_path):
    (tmp_path / "bad.json").write_text('{"levels": 3, "dropout": 0.5}')
    with pytest.raises(ConfigError, match="unknown model config field"):
        load_config_json(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{levels: ")
    with pytest.raises(ConfigError, match="not a readable JSON"):
        load_config_json(tmp_path / "broken.json")
    (tmp_path / "preset.json").write_text('{"preset": "seed", "norm": "none"}')
    cfg = load_config_json(tmp_path / "preset.json")
    assert cfg.channels == (32, 64, 128) and cfg.norm == "none"
    (tmp_path / "invalid.json").write_text('{"levels": 2, "channels": [4]}')
    with pytest.raises(ConfigError, match="channels has 1 entries"):
        load_config_json(tmp_path / "invalid.json")



def test_bundled_models_by_name_unless_a_file_has_that_name(tmp_path, monkeypatch, tiny_checkpoint):
    import shutil

    from wux.model.checkpoint import resolve_checkpoint_path

    monkeypatch.chdir(tmp_path)
    assert resolve_checkpoint_path(None) == bundled(BUNDLED_MODELS["default"])
    assert resolve_checkpoint_path("causal") == bundled(BUNDLED_MODELS["causal"])
    assert resolve_checkpoint_path("classic") == bundled(BUNDLED_MODELS["classic"])
    shutil.copy(tiny_checkpoint, tmp_path / "causal")  # a file of that name is what the user meant
    assert resolve_checkpoint_path("causal") == Path("causal")
    assert resolve_checkpoint_path("other.wux.pt") == Path("other.wux.pt")


@pytest.mark.skipif(not bundled(BUNDLED_MODELS["causal"]).exists(), reason="bundled by `make causal-model`")
def test_the_bundled_causal_model_streams_and_reports_its_latency():
    from tests.test_cli import invoke

    result = invoke("info", "causal", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["contract"]["causal"] and report["contract"]["lookahead"] == 0
    assert report["model"]["config"]["causal"] is True
    assert report["streaming"]["algorithmic_latency_ms"] <= 40 and report["training"]


def test_the_bundled_default_model_sees_half_a_second_and_records_its_test_split():
    from tests.test_cli import invoke

    result = invoke("info", "--json")
    assert result.exit_code == 0, result.output
    contract = json.loads(result.stdout)["contract"]
    assert contract["receptive_field"] / contract["sample_rate"] > 0.5
    record = json.loads(bundled(PROVENANCE_FILES["default"]).read_text())
    assert record["checkpoint_sha256"] == sha256_file(bundled(BUNDLED_MODELS["default"]))
    rows = {(r["group"], r["system"]): r for r in record["eval"]["rows"]}
    model = record["eval"]["model"]
    # on its unseen-voice test split it beats both baselines on SI-SNR improvement and PESQ (as recorded)
    ours = rows[("all", model)]
    for baseline in ("rnnoise", "spectral-gating"):
        theirs = rows[("all", baseline)]
        assert ours["si_snr_improvement_db_mean"] > theirs["si_snr_improvement_db_mean"]
        assert ours["pesq_wb_mean"] > theirs["pesq_wb_mean"]


def test_infinite_buffers_are_a_models_own_business_nan_parameters_are_not(tmp_path):
    from torch import nn

    from wux.model.checkpoint import load_weights

    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(1, 1, 3, padding=1)
            self.register_buffer("mask", torch.tensor([0.0, float("-inf")]))

    state = Masked().state_dict()
    load_weights(Masked(), state, tmp_path / "w.pt")  # an attention-style mask of -inf loads
    state["conv.weight"][0, 0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="NaN or Inf weights in conv.weight"):
        load_weights(Masked(), state, tmp_path / "w.pt")


@pytest.mark.parametrize("fields, fragment", [
    ({"levels": 1000000}, "levels must be at most 16"),  # took minutes and gigabytes before failing
    ({"levels": 17}, "levels must be at most 16 (inputs are padded to a multiple of stride ** levels, at most 65536)"),
    ({"levels": 6, "stride": 8}, "stride ** levels must be at most 65536 (inputs are padded to a multiple of it), "
                                 "got 8 ** 6"),
    ({"levels": -1, "stride": 0}, "levels must be >= 1, got -1"),  # not a ZeroDivisionError from 0 ** -1
    ({"levels": 2, "stride": 1}, "stride must be >= 2, got 1"),
    ({"levels": 2, "stride": 10**9}, "got 1000000000 ** 2"),
    ({"levels": 2, "channels": [4, 100000]}, "at most 4096 channels a level, got 100000"),
    ({"growth": 10**6}, "at most 4096 channels"),
])
def test_config_sizes_past_any_wave_u_net_are_refused_at_once(tmp_path, fields, fragment):
    (tmp_path / "big.json").write_text(json.dumps(fields))
    with pytest.raises(ConfigError, match="invalid model config") as err:
        load_config_json(tmp_path / "big.json")
    assert fragment in str(err.value)
