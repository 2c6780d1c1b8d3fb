"""The CLI through typer's CliRunner: exit codes, one-line errors, --json shapes."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from wux.cli import app
from wux.model.checkpoint import load_checkpoint

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for f in fragments:
        assert f in lines[0]


def test_no_arguments_prints_the_help_and_no_error_line():
    result = invoke()
    assert result.exit_code == 2 and "Usage" in result.output and "error:" not in result.output
    assert_one_line_error(invoke("exprt"), "No such command 'exprt'", "Did you mean 'export'")
    version = invoke("--version")
    assert version.exit_code == 0 and version.output.startswith("wux ")


def test_help_lists_the_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for name in ("doctor", "info", "import", "train", "eval", "denoise", "demo", "data"):
        assert name in result.output


def test_doctor_json_has_every_fact():
    result = invoke("doctor", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    for key in ("python", "torch", "torch_cuda_build", "cuda_available", "cuda_devices", "cudnn",
                "onnxruntime", "onnxruntime_providers", "tensorrt", "tritonclient", "tritonserver",
                "perf_analyzer"):
        assert key in report
    assert "CPUExecutionProvider" in report["onnxruntime_providers"]


def test_info_json_on_a_checkpoint(tiny_checkpoint):
    result = invoke("info", tiny_checkpoint, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["model"]["config"]["levels"] == 2 and info["contract"]["align"] == 4
    assert info["parameters"] > 0 and info["macs_per_second_audio"] > 0
    assert info["contract"]["receptive_field"] > 0 and info["contract_origin"]["receptive_field"] == "config"


def test_info_on_the_bundled_model():
    result = invoke("info", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["record"]["path"].endswith("default.wux.pt") and info["source"] == "the bundled default model"
    training = info["training"]  # a training run's record, or a soup's (wux soup --data: scored on validation)
    score = training["soup"]["validation"]["soup_si_snr_db"] if "soup" in training else training["best_val_si_snr_db"]
    assert score > 5
    table = invoke("info").output  # the table rounds recorded floats to four digits; --json keeps them whole
    assert f" {float(f'{score:.4g}')} " in table and repr(score) not in table and repr(score) in result.output


def test_corrupt_checkpoint_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.wux.pt"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    assert_one_line_error(invoke("info", bad), str(bad), "corrupt")
    assert_one_line_error(invoke("info", tmp_path / "missing.pt"), "not found")


def test_import_command(tmp_path):
    import torch

    from wux.model.config import TINY
    from wux.model.waveunet import WaveUNet

    torch.save({"model_state_dict": {f"module.{k}": v for k, v in WaveUNet(TINY).state_dict().items()}},
               tmp_path / "foreign.pt")
    (tmp_path / "cfg.json").write_text(json.dumps({"preset": "tiny"}))
    result = invoke("import", tmp_path / "foreign.pt", "--config", tmp_path / "cfg.json",
                    "-o", tmp_path / "out.wux.pt", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tensors"] == len(WaveUNet(TINY).state_dict())
    (tmp_path / "bad.json").write_text(json.dumps({"levels": 2, "width": 3}))
    assert_one_line_error(invoke("import", tmp_path / "foreign.pt", "--config", tmp_path / "bad.json",
                                 "-o", tmp_path / "x.wux.pt"), "unknown model config field")
    assert not (tmp_path / "x.wux.pt").exists()
    before = (tmp_path / "out.wux.pt").read_bytes()
    again = ("import", tmp_path / "foreign.pt", "--config", tmp_path / "cfg.json", "-o", tmp_path / "out.wux.pt")
    assert_one_line_error(invoke(*again), "already exists; use --force to replace it")
    assert (tmp_path / "out.wux.pt").read_bytes() == before
    assert invoke(*again, "--force").exit_code == 0


def test_denoise_files_and_folders(tiny_checkpoint, wav_file, tmp_path):
    out = tmp_path / "clean.wav"
    result = invoke("denoise", wav_file, "-o", out, "--checkpoint", tiny_checkpoint, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    wave, rate = sf.read(out)
    assert rate == 16000 and len(wave) == payload["files"][0]["samples"] == 20_000
    (tmp_path / "in" / "sub").mkdir(parents=True)
    sf.write(tmp_path / "in" / "a.wav", np.zeros(3000) + 0.01, 16000)
    sf.write(tmp_path / "in" / "sub" / "b.flac", np.zeros(5000) + 0.01, 16000)
    result = invoke("denoise", tmp_path / "in", "-o", tmp_path / "out", "--checkpoint", tiny_checkpoint)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "a.wav").is_file() and (tmp_path / "out" / "sub" / "b.flac").is_file()


@pytest.mark.parametrize("case", ["nan", "empty", "rate", "missing"])
def test_denoise_bad_audio_is_one_line_and_writes_nothing(tiny_checkpoint, tmp_path, case):
    path = tmp_path / "in.wav"
    if case == "nan":
        sf.write(path, np.array([0.0, np.nan, 0.1], dtype=np.float32), 16000, subtype="FLOAT")
    elif case == "empty":
        sf.write(path, np.zeros(0), 16000)
    elif case == "rate":
        sf.write(path, np.zeros(100), 8000)
    result = invoke("denoise", path, "-o", tmp_path / "out.wav", "--checkpoint", tiny_checkpoint)
    assert_one_line_error(result, str(path))
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("where", ["under /proc", "under a file"])
def test_denoise_to_a_place_that_cannot_be_written_is_one_line(tiny_checkpoint, tmp_path, where):
    sf.write(tmp_path / "in.wav", np.zeros(3000) + 0.01, 16000)
    (tmp_path / "file").write_text("x")
    out = Path("/proc/nope/x.wav") if where == "under /proc" else tmp_path / "file" / "x.wav"
    result = invoke("denoise", tmp_path / "in.wav", "-o", out, "--checkpoint", tiny_checkpoint)
    assert_one_line_error(result, str(out))
    assert "cannot write here" in result.output and not out.exists()


@pytest.mark.parametrize("args, refused", [
    (("--format", "trt"), "--format does not apply to the model in-process"),
    (("--precision", "int8", "--protocol", "http"), "--protocol, --precision do not apply to the model in-process"),
    (("--frame-ms", "10"), "--frame-ms does not apply to the model in-process"),
    (("--export", "{tmp}", "--chunk", "16384"), "--chunk does not apply with --export"),
    (("--url", "127.0.0.1:1", "--batch-size", "4"), "--batch-size does not apply with --url"),
    (("--stream", "--device", "cpu"), "--device does not apply to the model in-process with --stream"),
    (("--url", "127.0.0.1:1", "--checkpoint", "{ckpt}"), "--checkpoint does not apply with --url"),
    (("--export", "{tmp}", "--model", "m:f"), "--model does not apply with --export"),
], ids=["format", "precision+protocol", "frame-ms", "chunk+export", "batch+url", "device+stream", "checkpoint+url",
        "model+export"])
def test_denoise_refuses_options_its_way_of_denoising_does_not_use(tiny_checkpoint, wav_file, tmp_path, args,
                                                                   refused):
    """Typed but unused, an option would be silently ignored (`--format trt` denoising with the model itself)."""
    args = [{"{tmp}": str(tmp_path), "{ckpt}": str(tiny_checkpoint)}.get(a, a) for a in args]
    result = invoke("denoise", wav_file, "-o", tmp_path / "o.wav", *args)
    assert_one_line_error(result, refused)
    assert not (tmp_path / "o.wav").exists()


def test_eval_json(tiny_checkpoint, tiny_corpus):
    result = invoke("eval", tiny_checkpoint, "--data", tiny_corpus, "--json", "--per-file")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["files"] == 6 and len(report["per_file"]) == 6
    for key in ("input_si_snr_db_mean", "output_si_snr_db_median", "si_snr_improvement_db_mean"):
        assert isinstance(report[key], float)
    assert_one_line_error(invoke("eval", tiny_checkpoint, "--data", tiny_corpus, "--per-file"),
                          "--per-file does not apply without --json")


def test_eval_missing_layout(tiny_checkpoint, tmp_path):
    assert_one_line_error(invoke("eval", tiny_checkpoint, "--data", tmp_path), "clean_testset_wav")


def test_eval_and_train_refuse_a_record_with_a_bad_number_in_one_line(tiny_checkpoint, tiny_corpus, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, corpus)
    names = sorted(p.stem for p in (corpus / "clean_testset_wav").iterdir())
    (corpus / "corpus.json").write_text(json.dumps({"utterances": [{"name": n, "noise": "hum", "snr_db": "loud"}
                                                                    for n in names]}))
    said = f"{corpus / 'corpus.json'}: entry 0 ({names[0]}): snr_db 'loud' is not a number"
    assert_one_line_error(invoke("eval", tiny_checkpoint, "--data", corpus), said)
    out = tmp_path / "run" / "m.wux.pt"
    next((corpus / "noisy_trainset_wav").iterdir()).write_bytes(b"not audio")  # the record is refused before any
    assert_one_line_error(invoke("train", corpus, "--out", out, "--preset", "tiny", "--epochs", "1"), said)  # is read
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_demo_improves_the_bundled_sample(tmp_path):
    result = invoke("demo", "--out", tmp_path / "demo", "--json")
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)["in_process"]
    assert r["si_snr_improvement_db"] > 3.0
    wave, rate = sf.read(r["denoised"])
    assert rate == 16000 and len(wave) == round(r["seconds"] * 16000)


def test_help_imports_no_heavy_package():
    import subprocess
    import sys

    code = ("import sys; from typer.testing import CliRunner; from wux.cli import app; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0; "
            "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime', 'tensorrt', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_train_noise_weights_syntax_is_checked_before_any_work(tiny_corpus, tmp_path):
    for text in ("babble", "babble:0", "babble:x", ":3", "babble:inf"):
        result = invoke("train", tiny_corpus, "--out", tmp_path / "m.wux.pt", "--noise-weights", text)
        assert_one_line_error(result, "KIND:WEIGHT")
    for twice in (["babble:4,babble:2"], ["babble:4", "--noise-weights", "babble:2"]):
        result = invoke("train", tiny_corpus, "--out", tmp_path / "m.wux.pt", "--noise-weights", *twice)
        assert_one_line_error(result, "'babble' is given twice")
    assert not list(tmp_path.iterdir())


def test_train_fresh_babble_is_a_chance_and_an_augmentation(tiny_corpus, tmp_path):
    result = invoke("train", tiny_corpus, "--out", tmp_path / "m.wux.pt", "--fresh-babble", "1.5")
    assert_one_line_error(result, "'--fresh-babble': Input should be less than or equal to 1")
    result = invoke("train", tiny_corpus, "--out", tmp_path / "m.wux.pt", "--fresh-babble", "0.5", "--no-augment")
    assert_one_line_error(result, "--fresh-babble")
    result = invoke("train", tiny_corpus, "--out", tmp_path / "m.wux.pt", "--fresh-babble", "0.5")
    assert_one_line_error(result, "--fresh-babble needs")  # no corpus.json: refused before any audio is read
    assert not list(tmp_path.iterdir())


def test_train_speed_range_needs_speed_and_reaches_the_run(tiny_corpus, tmp_path, monkeypatch):
    import wux.train.loop

    runs = []
    monkeypatch.setattr(wux.train.loop, "train", lambda cfg, **_: runs.append(cfg) or {})
    monkeypatch.setattr("wux.cli.emit", lambda *_: None)
    assert invoke("train", tiny_corpus, "--out", tmp_path / "m.wux.pt", "--speed-range", "25").exit_code == 0
    assert runs.pop().augment.speed_percent == 25
    assert invoke("train", tiny_corpus, "--out", tmp_path / "m.wux.pt").exit_code == 0
    assert runs.pop().augment.speed_percent == 10
    result = invoke("train", tiny_corpus, "--out", tmp_path / "m.wux.pt", "--speed-range", "25", "--no-speed")
    assert_one_line_error(result, "--speed-range does not apply with --no-speed")
    result = invoke("train", tiny_corpus, "--out", tmp_path / "m.wux.pt", "--speed-range", "60")
    assert_one_line_error(result, "'--speed-range': Input should be less than or equal to 50")
    assert not runs and not list(tmp_path.iterdir())


def test_train_reverb_noise_needs_reverb_and_reaches_the_run(tiny_corpus, tmp_path, monkeypatch):
    import wux.train.loop

    runs = []
    monkeypatch.setattr(wux.train.loop, "train", lambda cfg, **_: runs.append(cfg) or {})
    monkeypatch.setattr("wux.cli.emit", lambda *_: None)
    for flag, reaches_noise in (("--no-reverb-noise", False), ("--reverb-noise", True)):
        assert invoke("train", tiny_corpus, "--out", tmp_path / "m.wux.pt", flag).exit_code == 0
        assert runs.pop().augment.reverb_noise is reaches_noise
    result = invoke("train", tiny_corpus, "--out", tmp_path / "m.wux.pt", "--no-reverb-noise", "--no-reverb")
    assert_one_line_error(result, "--no-reverb-noise does not apply with --no-reverb")
    result = invoke("train", tiny_corpus, "--out", tmp_path / "m.wux.pt", "--no-reverb-noise", "--no-augment")
    assert_one_line_error(result, "--no-reverb-noise does not apply with --no-augment")
    result = invoke("train", tiny_corpus, "--out", tmp_path / "m.wux.pt", "--reverb-noise", "--no-reverb")
    assert_one_line_error(result, "--reverb-noise does not apply with --no-reverb")  # named as typed, either form
    assert not list(tmp_path.iterdir())


def test_train_refuses_fp16_on_the_cpu_before_any_work(tiny_corpus, tmp_path):
    result = invoke("train", tiny_corpus, "--out", tmp_path / "m.wux.pt", "--precision", "fp16")
    assert_one_line_error(result, "--precision fp16 trains on CUDA only")
    assert not list(tmp_path.iterdir())


def test_train_resumed_without_lr_goes_on_at_the_runs_own_rate(tiny_corpus, tmp_path):
    out = tmp_path / "m.wux.pt"
    common = ("train", tiny_corpus, "--out", out, "--preset", "tiny", "--batch-size", "4", "--segment", "2048",
              "--no-augment", "--json")
    assert invoke(*common, "--epochs", "1", "--lr", "2e-3").exit_code == 0
    resumed = invoke(*common, "--epochs", "2", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert [h["lr"] for h in json.loads(resumed.stdout)["history"]] == [2e-3, 2e-3]
    assert_one_line_error(invoke(*common, "--lr", "0"), "--lr must be a positive")


def test_train_reports_each_epoch_on_stderr_with_json_too(tiny_corpus, tmp_path):
    common = ("train", tiny_corpus, "--preset", "tiny", "--batch-size", "4", "--segment", "2048", "--no-augment",
              "--epochs", "2")
    shown = invoke(*common, "--out", tmp_path / "a.wux.pt")  # not a terminal: no progress bar, one line an epoch
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"], shown.stderr
    assert "validation " in lines[0] and "best so far (saved)" in lines[0]
    assert "earlier runs' included" not in shown.stdout
    resumed = invoke(*common[:-1], "3", "--out", tmp_path / "a.wux.pt", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert re.search(r"after \d+ steps, [\d.]+ min \([\d.]+ min over its epochs, earlier runs' included\)",
                     resumed.stdout), resumed.stdout
    recorded = invoke(*common, "--out", tmp_path / "b.wux.pt", "--json")  # stdout one JSON record, stderr the lines
    assert recorded.exit_code == 0, recorded.output
    assert [line.split(":")[0] for line in recorded.stderr.splitlines() if line.startswith("epoch ")] == [
        "epoch 1/2", "epoch 2/2"], recorded.stderr
    assert len(json.loads(recorded.stdout)["history"]) == 2


def test_repeated_noise_weights_add_up():
    from wux.cli_options import kind_weights, merged_kind_weights

    assert merged_kind_weights([kind_weights("babble:4,music:3"), kind_weights("traffic:2")]) == {
        "babble": 4.0, "music": 3.0, "traffic": 2.0}
    assert merged_kind_weights(None) == {}


def test_train_init_takes_the_checkpoints_model_grows_it_and_refuses_another_beside_it(tiny_corpus, tmp_path):
    first = tmp_path / "a.wux.pt"
    common = ("--batch-size", "4", "--segment", "2048", "--no-augment", "--epochs", "1", "--json")
    assert invoke("train", tiny_corpus, "--out", first, "--preset", "tiny", *common).exit_code == 0
    tuned = invoke("train", tiny_corpus, "--out", tmp_path / "b.wux.pt", "--init", first, *common)
    assert tuned.exit_code == 0, tuned.output
    assert json.loads(tuned.stdout)["steps"] > 0
    bigger = tmp_path / "bigger.json"
    bigger.write_text(json.dumps({"preset": "tiny", "bottleneck_dilations": [1, 2]}))
    grown = invoke("train", tiny_corpus, "--out", tmp_path / "g.wux.pt", "--init", first, "--config", bigger, *common)
    assert grown.exit_code == 0, grown.output
    assert load_checkpoint(tmp_path / "g.wux.pt").config.bottleneck_dilations == (1, 2)
    wider = tmp_path / "wider.json"
    wider.write_text(json.dumps({"preset": "tiny", "channels": [6, 8], "bottleneck_channels": 12}))
    widened = invoke("train", tiny_corpus, "--out", tmp_path / "w.wux.pt", "--init", first, "--config", wider,
                     "--dc-weight", "0.5", *common)
    assert widened.exit_code == 0, widened.output
    saved = load_checkpoint(tmp_path / "w.wux.pt")
    assert saved.config.level_channels == (6, 8) and saved.training["train"]["dc_weight"] == 0.5
    assert load_checkpoint(first).training["train"]["dc_weight"] == 1.0  # on by default
    assert_one_line_error(invoke("train", tiny_corpus, "--out", tmp_path / "c.wux.pt", "--init", first,
                                 "--preset", "context"), "a.wux.pt: --init: checkpoint does not match")
    assert_one_line_error(invoke("train", tiny_corpus, "--out", tmp_path / "c.wux.pt", "--init", first,
                                 "--model", "wux.model.stft_mask:StftMask"), "leave out --model")
    assert_one_line_error(invoke("train", tiny_corpus, "--out", tmp_path / "c.wux.pt", "--init",
                                 tmp_path / "missing.wux.pt"), "missing.wux.pt")
    assert not (tmp_path / "c.wux.pt").exists()


def test_train_a_model_built_by_a_callable(tiny_corpus, tmp_path):
    kwargs = json.dumps({"n_fft": 64, "hop": 16, "channels": 8, "dilations": [1, 2]})
    common = ("train", tiny_corpus, "--batch-size", "4", "--segment", "2048", "--no-augment", "--epochs", "1")
    trained = invoke(*common, "--out", tmp_path / "s.wux.pt", "--model", "wux.model.stft_mask:StftMask",
                     "--model-kwargs", kwargs, "--json")
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout)["steps"] > 0
    assert_one_line_error(invoke(*common, "--out", tmp_path / "x.wux.pt", "--model-kwargs", kwargs),
                          "pass --model too")
    assert_one_line_error(invoke(*common, "--out", tmp_path / "x.wux.pt", "--model", "no_such_module:Net"),
                          "cannot import 'no_such_module'")
    assert not (tmp_path / "x.wux.pt").exists()


def test_recorded_floats_are_rounded_for_the_table_only_and_nothing_else_is():
    from wux.render import rounded

    assert rounded(17.666029195258456) == 17.67 and rounded(0.000251234) == 0.0002512
    assert rounded(333.5912) == 333.6 and rounded(12345.678) == 12345.7  # no thousands lost to significant digits
    assert rounded([17.63281141235045, 17.577739109277132]) == [17.63, 17.58]
    assert rounded(6304) == 6304 and rounded("build/rich/corpus") == "build/rich/corpus"
    assert rounded([1, 2.5]) == [1, 2.5]  # a list of mixed numbers is shown as recorded
