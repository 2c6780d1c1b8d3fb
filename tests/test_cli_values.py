"""What no run can use is refused in one line with exit 2, before any work: option values, outputs that would
overwrite audio or cannot be written. Each case here is one a black-box sweep of every command found crashing
with a traceback, silently accepted, or failing after half the work."""

import json
import shutil

import pytest
import torch

from tests.test_cli import assert_one_line_error, invoke
from wux.resources import SAMPLE_NOISY, bundled

NOISY = bundled(SAMPLE_NOISY)

OUT_OF_RANGE = [
    ("data", "synth", "{tmp}/c", "--seed", "-1"),
    ("data", "synth", "{tmp}/c", "--test-share", "1.5"),
    ("train", "{tmp}", "--out", "{tmp}/m.wux.pt", "--batch-size", "0"),
    ("train", "{tmp}", "--out", "{tmp}/m.wux.pt", "--segment", "0"),
    ("train", "{tmp}", "--out", "{tmp}/m.wux.pt", "--accumulate", "0"),
    ("train", "{tmp}", "--out", "{tmp}/m.wux.pt", "--segments-per-epoch", "-3"),
    ("train", "{tmp}", "--out", "{tmp}/m.wux.pt", "--epochs", "0"),
    ("train", "{tmp}", "--out", "{tmp}/m.wux.pt", "--threads", "-1"),
    ("train", "{tmp}", "--out", "{tmp}/m.wux.pt", "--val-share", "1.5"),
    ("train", "{tmp}", "--out", "{tmp}/m.wux.pt", "--augment-probability", "2"),
    ("train", "{tmp}", "--out", "{tmp}/m.wux.pt", "--max-minutes", "0"),
    ("eval", "--limit", "-1"),
    ("denoise", str(NOISY), "-o", "{tmp}/o.wav", "--batch-size", "-1"),
    ("denoise", str(NOISY), "-o", "{tmp}/o.wav", "--chunk", "0"),
    ("export", "-o", "{tmp}/e", "--opset", "0"),
    ("export", "-o", "{tmp}/e", "--min-len", "0"),
    ("bench", "{tmp}", "--threads", "-1"),
    ("bench", "{tmp}", "--seconds", "0"),
    ("triton", "{tmp}", "--repo", "{tmp}/r", "--max-batch", "0"),
    ("triton", "{tmp}", "--repo", "{tmp}/r", "--instances", "0"),
    ("triton", "{tmp}", "--repo", "{tmp}/r", "--queue-delay-us", "-1"),
    ("triton", "{tmp}", "--repo", "{tmp}/r", "--max-queue-size", "-1"),
    ("triton", "{tmp}", "--repo", "{tmp}/r", "--stream-idle-s", "-1"),
    ("serve", "{tmp}", "--http-port", "-1"),
    ("serve", "{tmp}", "--grpc-port", "70000"),
    ("denoise", str(NOISY), "-o", "{tmp}/o.wav", "--stream", "--checkpoint", "causal", "--frame-ms", "-20"),
    ("info", "--model", "wux.model.stft_mask:StftMask", "--sample-rate", "0"),
]


@pytest.mark.parametrize("args", OUT_OF_RANGE, ids=[" ".join(a[:1] + a[-2:]) for a in OUT_OF_RANGE])
def test_an_out_of_range_value_is_one_line_naming_the_option(args, tmp_path):
    before = set(tmp_path.iterdir())
    result = invoke(*(a.format(tmp=tmp_path) for a in args))
    assert_one_line_error(result, args[-2])
    assert set(tmp_path.iterdir()) == before  # refused before any work


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("command", [("denoise", str(NOISY), "-o", "{tmp}/o.wav"), ("bench", "{tmp}"),
                                     ("export", "-o", "{tmp}/e")])
def test_device_cuda_without_cuda_is_one_line_in_every_command(command, tmp_path):
    result = invoke(*(a.format(tmp=tmp_path) for a in command), "--device", "cuda")
    assert_one_line_error(result, "CUDA", "--device cuda")
    assert not list(tmp_path.iterdir())


def test_an_unwritable_output_is_named_as_asked_not_by_its_temporary_name(tmp_path):
    result = invoke("denoise", NOISY, "-o", "/proc/out.wav")
    assert_one_line_error(result, "/proc/out.wav")
    assert ".partial" not in result.output


def test_denoise_refuses_to_overwrite_its_input_or_to_write_two_inputs_to_one_file(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(NOISY, tmp_path / folder / "s.wav")
    original = NOISY.read_bytes()
    assert_one_line_error(invoke("denoise", tmp_path / "a" / "s.wav", "-o", tmp_path / "a" / "s.wav"),
                          "would overwrite this input")
    assert_one_line_error(invoke("denoise", tmp_path / "a", "-o", tmp_path / "a"), "would overwrite this input")
    assert_one_line_error(invoke("denoise", tmp_path / "a" / "s.wav", tmp_path / "b" / "s.wav", "-o",
                                 tmp_path / "out"), "would both be written there")
    assert (tmp_path / "a" / "s.wav").read_bytes() == original and not (tmp_path / "out").exists()
    twice = invoke("denoise", tmp_path / "a", tmp_path / "a" / "s.wav", "-o", tmp_path / "out", "--json")
    assert twice.exit_code == 0, twice.output  # one file named twice is denoised once
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["s.wav"]


def test_denoise_checks_the_plot_can_be_written_before_writing_any_audio(tmp_path):
    result = invoke("denoise", NOISY, "-o", tmp_path / "o" / "b.wav", "--plot", "/proc/x.png")
    assert_one_line_error(result, "/proc/x.png", "cannot write here")
    assert not (tmp_path / "o").exists()


def test_denoise_checks_its_output_can_be_written_before_the_model_loads(tmp_path):
    # the checkpoint does not exist either: the output is refused first, before anything loads or is asked
    result = invoke("denoise", NOISY, "-o", "/proc/wux/b.wav", "--checkpoint", tmp_path / "nosuch.wux.pt")
    assert_one_line_error(result, "/proc/wux/b.wav", "cannot write here")


def test_serving_a_folder_without_models_says_so(tmp_path):
    assert_one_line_error(invoke("serve", tmp_path), "holds no models", "wux triton")
    (tmp_path / "ok.wav").write_bytes(b"RIFF")
    assert_one_line_error(invoke("serve", tmp_path / "ok.wav"), "ok.wav: is a file, not a model repository")


def test_a_file_where_an_export_folder_belongs_is_called_a_file():
    assert_one_line_error(invoke("verify", NOISY), "is a file; give the folder `wux export` wrote")


def test_a_data_folder_that_does_not_exist_is_not_found(tmp_path):
    assert_one_line_error(invoke("eval", "--data", tmp_path / "nosuch"), "nosuch: data folder not found")
    assert_one_line_error(invoke("eval", "--data", NOISY), "is a file; give a data folder")


def test_a_missing_weights_file_is_called_a_weights_file(tmp_path):
    result = invoke("info", "--model", "wux.model.stft_mask:StftMask", "--weights", tmp_path / "w.pt")
    assert_one_line_error(result, "w.pt: weights file not found")


def in_tmp(args, tmp_path) -> list[str]:
    """The arguments with {tmp} made tmp_path: nothing a broken check writes lands in the repository."""
    return [a.format(tmp=tmp_path) if isinstance(a, str) else a for a in args]


def copy_of(folder, tmp_path, name):
    shutil.copytree(folder, tmp_path / name)
    return tmp_path / name


def test_no_output_replaces_an_input(exported, tiny_checkpoint, tmp_path):
    folder = copy_of(exported[0], tmp_path, "exp")
    kept = sorted(p.name for p in folder.iterdir())
    assert_one_line_error(invoke("triton", folder, "--repo", folder, "--force"), "would replace the input")
    assert_one_line_error(invoke("triton", folder, "--repo", tmp_path / "r", "--deploy", "k8s", "--deploy-dir",
                                 tmp_path / "r"), "writing here would replace the input", "r")
    assert_one_line_error(invoke("triton", folder, "--repo", tmp_path / "out" / "repo", "--deploy", "k8s",
                                 "--deploy-dir", tmp_path / "out"), "would replace the input")
    assert sorted(p.name for p in folder.iterdir()) == kept and not (tmp_path / "r").exists()
    assert not (tmp_path / "out").exists()
    sand = tmp_path / "sand"
    sand.mkdir()
    shutil.copy(tiny_checkpoint, sand / "m.wux.pt")
    assert_one_line_error(invoke("export", sand / "m.wux.pt", "-o", sand, "--force", "--to", "torchscript",
                                 "--no-verify"), "would replace the input", "m.wux.pt")
    assert_one_line_error(invoke("import", "--model", "wux.model.stft_mask:StftMask", "--weights", sand / "m.wux.pt",
                                 "-o", sand / "m.wux.pt"), "would replace the input")
    assert [p.name for p in sand.iterdir()] == ["m.wux.pt"]
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    assert_one_line_error(invoke("data", "synth", tmp_path / "a.wav", "--minutes", "0.1", "--force"),
                          "is a file, not a folder")
    assert (tmp_path / "a.wav").read_bytes() == b"RIFF"


def test_an_artifact_is_run_only_as_exported(exported, tmp_path):
    changed = copy_of(exported[0], tmp_path, "changed")
    with open(changed / "model.onnx", "ab") as f:
        f.write(b"\0")
    for args in (("denoise", NOISY, "-o", tmp_path / "o.wav", "--export", changed),
                 ("bench", changed, "--seconds", "0.01", "--formats", "onnx")):
        assert_one_line_error(invoke(*args), "model.onnx: sha256 differs from the manifest")
    outside = copy_of(exported[0], tmp_path, "outside")
    manifest = json.loads((outside / "manifest.json").read_text())
    for a in manifest["artifacts"]:
        a["file"] = f"../changed/{a['file']}"
    (outside / "manifest.json").write_text(json.dumps(manifest))
    assert_one_line_error(invoke("denoise", NOISY, "-o", tmp_path / "o.wav", "--export", outside),
                          "outside the export folder")
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("args, message", [
    (("denoise", NOISY, "-o", "{tmp}/o.wav", "--url", "127.0.0.1:99999"), "port '99999' is not a number in 1..65535"),
    (("denoise", NOISY, "-o", "{tmp}/o.wav", "--checkpoint", "causal", "--stream", "--frame-ms", "inf"),
     "--frame-ms must be a positive length up to"),
    (("data", "synth", "{tmp}/never", "--minutes", "nan"), "--minutes must be a positive number, got nan"),
    (("gateway", "--url", "127.0.0.1:1", "--max-seconds", "nan"), "--max-seconds must be a positive number"),
    (("bench", "{tmp}/never", "--seconds", "inf"), "--seconds"),
    (("denoise", NOISY, "-o", "{tmp}/o.wav", "--chunk", "10000000"),
     "a serving window runs whole, so wux takes at most 960000 samples (60.0 s)"),
    (("export", "-o", "{tmp}/e", "--chunk", "2000000"), "chunk 2000000 is 125.0 s at 16000 Hz"),
])
def test_numbers_without_end_are_refused(args, message, tmp_path):
    assert_one_line_error(invoke(*in_tmp(args, tmp_path)), message)


@pytest.mark.parametrize("command", [("denoise", NOISY, "-o", "{tmp}/o.wav"), ("demo", "-o", "{tmp}/d"), ("eval",)])
def test_a_model_without_weights_does_not_denoise(command, tmp_path):
    assert_one_line_error(invoke(*in_tmp(command, tmp_path), "--model", "wux.model.stft_mask:StftMask"),
                          "--weights is needed", "untrained weights")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (("denoise", NOISY, "-o", "{tmp}/o.wav", "--model-kwargs", "{{}}"), "--model-kwargs and --weights describe"),
    (("train", "{tmp}/never", "--out", "{tmp}/t.wux.pt", "--model-kwargs", "{{}}"),
     "--model-kwargs and --weights describe"),
    (("train", "{tmp}/never", "--out", "{tmp}/t.wux.pt", "--no-augment", "--no-speed", "--augment-probability",
      "0.9"), "--no-speed, --augment-probability do not apply with --no-augment"),
    (("train", "{tmp}/never", "--out", "{tmp}/t.wux.pt", "--lr-schedule", "cosine", "--lr-patience", "4"),
     "--lr-patience does not apply with --lr-schedule cosine"),
])
def test_options_given_empty_or_switched_off_are_refused_not_ignored(args, message, tmp_path):
    assert_one_line_error(invoke(*in_tmp(args, tmp_path)), message)


@pytest.mark.parametrize("args, message", [
    (("export", "-o", "{tmp}/never", "--to", "torchscript", "--precision", "int8"),
     "--precision int8: none of the formats asked for is exported in it (torchscript: fp32)"),
    (("export", "-o", "{tmp}/never", "--to", "onnx", "--fixed-length", "--max-len", "99999"),
     "--max-len does not apply with --fixed-length"),
])
def test_export_options_its_artifacts_would_not_honour_are_refused(args, message, tmp_path):
    assert_one_line_error(invoke(*in_tmp(args, tmp_path)), message)


def test_streaming_options_need_a_streaming_model(exported, tmp_path):
    assert_one_line_error(invoke("triton", exported[0], "--repo", tmp_path / "r", "--stream-idle-s", "5"),
                          "--stream-idle-s does not apply to an export without a streaming model")
    assert not (tmp_path / "r").exists()


def test_several_inputs_need_a_folder_not_a_file_name(tmp_path):
    shutil.copy(NOISY, tmp_path / "b.wav")
    assert_one_line_error(invoke("denoise", NOISY, tmp_path / "b.wav", "-o", tmp_path / "one.wav"),
                          "one.wav: several files or a folder are denoised into a folder")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(invoke("denoise", tmp_path / "empty", "-o", tmp_path / "o"),
                          f"{tmp_path / 'empty'}: holds no .wav or .flac files")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.wav", "empty"]
