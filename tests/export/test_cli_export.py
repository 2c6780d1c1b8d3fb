"""`wux export`, `wux verify`, `wux bench` through the CLI: exit codes, one-line errors, --json."""

import json
import shutil

from tests.test_cli import assert_one_line_error, invoke
from tests.verify.test_parity import perturb_onnx

SMALL = ["--chunk", "2048", "--max-batch", "2"]


def test_export_torchscript_json(tiny_checkpoint, tmp_path):
    result = invoke("export", tiny_checkpoint, "--to", "torchscript", "--out", tmp_path / "b", *SMALL, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [a["file"] for a in payload["manifest"]["artifacts"]] == ["model.pt"]
    assert payload["verification"]["passed"] is True
    assert payload["verification"]["artifacts"][0]["worst_max_abs_err"] < 1e-5
    assert (tmp_path / "b" / "manifest.json").is_file()


def test_export_bad_inputs_are_one_line_exit_2(tiny_checkpoint, tmp_path, exported):
    assert_one_line_error(invoke("export", tiny_checkpoint, "--to", "tflite", "--out", tmp_path / "x", *SMALL),
                          "unknown format 'tflite'")
    assert_one_line_error(invoke("export", tiny_checkpoint, "--to", "trt", "--out", tmp_path / "x", *SMALL),
                          "tensorrt")
    assert_one_line_error(invoke("export", tiny_checkpoint, "--to", "onnx", "--out", exported[0], *SMALL),
                          "already exists")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x04garbage")
    assert_one_line_error(invoke("export", bad, "--out", tmp_path / "y", *SMALL), str(bad))
    assert_one_line_error(invoke("export", tiny_checkpoint, "--chunk", "1001", "--out", tmp_path / "z"),
                          "not a multiple")
    assert_one_line_error(invoke("export", tiny_checkpoint, "--max-batch", "two", "--out", tmp_path / "z"),
                          "'--max-batch'")
    # options for artifacts this export does not build are refused, not ignored
    for args, refused in [(("--to", "torchscript", "--opset", "17"), "--opset does not apply without an ONNX file"),
                          (("--to", "onnx", "--calibration", tmp_path), "--calibration does not apply without an INT8"),
                          (("--to", "onnx", "--precision", "int8", "--eval-data", tmp_path, "--no-verify"),
                           "--eval-data does not apply with --no-verify"),
                          (("--to", "onnx", "--opt-level", "5"), "--opt-level does not apply without --to trt")]:
        assert_one_line_error(invoke("export", tiny_checkpoint, *args, "--out", tmp_path / "z"), refused)
    assert not any(p.name in ("x", "y", "z") for p in tmp_path.iterdir())


def test_verify_cli_passes_then_fails_on_a_perturbed_copy(exported, tmp_path):
    result = invoke("verify", exported[0], "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["passed"] is True and len(report["artifacts"]) == 3
    bad = tmp_path / "bad"
    shutil.copytree(exported[0], bad)
    perturb_onnx(bad, scale=1.05)
    result = invoke("verify", bad)
    assert result.exit_code == 1
    assert "FAIL" in result.output and "would have passed with --atol" in result.output


def test_verify_missing_folder(tmp_path):
    assert_one_line_error(invoke("verify", tmp_path / "nothing"), "export folder not found")
    assert_one_line_error(invoke("verify", tmp_path), "no manifest.json")


def test_bench_cli_json(exported):
    result = invoke("bench", exported[0], "--batch", "1", "--samples", "1024", "--seconds", "0.02",
                    "--threads", "1", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {r["runner"] for r in report["rows"]} >= {"pytorch-eager", "onnx-fp32"}
    assert report["torch_threads"] == 1
