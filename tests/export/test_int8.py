"""INT8: calibrated QDQ quantization, judged by the task gate (SI-SNR improvement against FP32 on speech).

The bundled model is the one that matters (an untrained tiny model has no improvement to lose), so the
slow tests export it once; a bad calibration and a model that does not survive 8 bits must both fail
with exit 1 and leave nothing behind.
"""

import json

import numpy as np
import pytest
import soundfile as sf

from tests.test_cli import invoke
from wux.data.layout import split_dirs
from wux.export.int8 import METHODS, SELECTION_SHARE
from wux.export.manifest import read_manifest
from wux.metrics import si_snr_db
from wux.resources import EVAL_SET, bundled
from wux.triton_repo.server import TritonServer
from wux.verify.tolerance import TASK_TOLERANCES

CANCELLING_MODEL = '''
import torch
from torch import nn


class Cancelling(nn.Module):
    """One convolution lifts the signal onto a large offset and the next takes it off again: between them
    the speech is a tiny part of a wide range, which 8-bit activations cannot carry (on any calibration)."""

    def __init__(self):
        super().__init__()
        self.lift, self.lower = nn.Conv1d(1, 1, 1), nn.Conv1d(1, 1, 1)
        with torch.no_grad():
            for conv, offset in ((self.lift, 100.0), (self.lower, -100.0)):
                conv.weight.fill_(1.0)
                conv.bias.fill_(offset)

    def forward(self, x):
        return self.lower(self.lift(x))
'''


def ok(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def int8_export(tmp_path_factory):
    """The bundled model exported to ONNX FP32 and INT8 (calibrated on the bundled sample in every noise
    family), gate passed."""
    out = tmp_path_factory.mktemp("int8") / "build"
    report = ok(invoke("export", "--to", "onnx", "--precision", "fp32", "--precision", "int8", "-o", out, "--json"))
    return out, report


@pytest.mark.slow
def test_int8_export_records_how_it_was_quantized_and_passes_the_task_gate(int8_export):
    out, report = int8_export
    verdicts = {v["artifact"]: v for v in report["verification"]["artifacts"]}
    task = verdicts["onnx-int8"]["task"]
    tol = TASK_TOLERANCES["int8"]
    assert task["passed"] and task["mean_drop_db"] <= tol.max_mean_drop_db
    assert task["worst_drop_db"] <= tol.max_worst_drop_db
    assert len(task["files"]) == len(list(split_dirs(bundled(EVAL_SET), "test")[1].iterdir()))
    # raw closeness is reported beside the task metric, file by file
    assert all(10 < f["si_snr_vs_reference_db"] < 200 for f in task["files"])
    assert verdicts["onnx-fp32"]["task"] is None  # exact artifacts are judged numerically only
    details = read_manifest(out).artifact("onnx", "int8").details
    assert details["calibration_method"] in METHODS and details["activation_type"] in ("uint8", "int8")
    assert details["quantized"] and details["kept_fp32"]  # the bundled model needs some layers kept in FP32
    # layers were chosen by the task's own measure on the held-out calibration speech, with margin to spare
    assert "SI-SNR improvement" in details["selection_rule"]
    assert details["held_out_mean_drop_db"] <= SELECTION_SHARE * tol.max_mean_drop_db
    assert details["held_out_worst_drop_db"] <= SELECTION_SHARE * tol.max_worst_drop_db
    assert all(t["mean_drop_db"] is not None for t in details["trials"])
    assert len(details["sensitivity_db"]) == len(details["quantized"]) + len(details["kept_fp32"])


@pytest.mark.slow
def test_int8_runs_in_process_and_in_a_triton_repository(int8_export, wav_file, tmp_path):
    out, _ = int8_export
    denoised = ok(invoke("denoise", wav_file, "--export", out, "--precision", "int8", "-o", tmp_path / "d.wav",
                         "--json"))
    assert "int8" in denoised["source"]
    wave, _ = sf.read(tmp_path / "d.wav", dtype="float32")
    assert wave.shape == sf.read(wav_file, dtype="float32")[0].shape and np.isfinite(wave).all()

    repo = ok(invoke("triton", out, "--precision", "int8", "--repo", tmp_path / "repo", "--json"))
    cores = {m["name"]: m["source"] for m in repo["models"] if m["role"] == "core"}
    assert cores == {"waveunet_onnx": "model.int8.onnx", "waveunet_python": "model.int8.onnx"}
    served = (tmp_path / "repo" / "waveunet_python" / "1" / "model.onnx").read_bytes()
    assert served == (out / "model.int8.onnx").read_bytes()
    assert (tmp_path / "repo" / "waveunet_onnx" / "1" / "model.onnx").read_bytes() == served

    with TritonServer(tmp_path / "repo") as info:
        ok(invoke("denoise", wav_file, "-o", tmp_path / "served.wav", "--url", info.grpc_url, "--json"))
        perf = ok(invoke("perf", "--url", info.grpc_url, "--concurrency-range", "2", "--measurement-interval",
                         "1000", "--max-trials", "3", "--stability-percentage", "50", "--validate",
                         "--validate-share", "1", "--export", out, "--json"))
        # without the export, the served INT8 model has no reference that could reproduce it
        refused = invoke("perf", "--url", info.grpc_url, "--concurrency-range", "1", "--validate")
    level = perf["levels"][0]
    assert level["validated"] > 0 and level["validation_failures"] == 0 and level["errors"] == 0
    assert refused.exit_code == 2 and "int8 artifact" in refused.output and "--export DIR" in refused.output
    # served through the front model (python core, int8) = the INT8 artifact in-process, up to 16-bit files
    here, _ = sf.read(tmp_path / "d.wav", dtype="float32")
    there, _ = sf.read(tmp_path / "served.wav", dtype="float32")
    assert si_snr_db(there, here) >= 60


@pytest.mark.slow
def test_calibration_on_silence_fails_the_gate_and_writes_nothing(tmp_path):
    """Audio without clean references: layers chosen by closeness to FP32 instead, and the gate still judges."""
    silence = tmp_path / "silence"
    silence.mkdir()
    sf.write(silence / "quiet.wav", np.zeros(48_000, np.float32), 16_000)
    out = tmp_path / "build"
    result = invoke("export", "classic", "--to", "onnx", "--precision", "fp32", "--precision", "int8",
                    "--calibration", silence, "-o", out)
    assert result.exit_code == 1, result.output
    assert "INT8 not faithful" in result.output and "would have passed with a mean drop of" in result.output
    assert "nothing was written" in result.output and not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["silence"]  # no temporary folder left either


def test_a_model_that_does_not_survive_8_bits_gets_a_clear_verdict(tmp_path):
    import torch

    (tmp_path / "cancel.py").write_text(CANCELLING_MODEL)
    import importlib.util

    spec = importlib.util.spec_from_file_location("cancel", tmp_path / "cancel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.save(module.Cancelling().state_dict(), tmp_path / "cancel.pt")
    out = tmp_path / "build"
    result = invoke("export", "--model", f"{tmp_path / 'cancel.py'}:Cancelling", "--weights", tmp_path / "cancel.pt",
                    "--sample-rate", "16000", "--to", "onnx", "--precision", "fp32", "--precision", "int8", "-o", out)
    assert result.exit_code == 1, result.output  # a verdict on the model, not bad input
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "INT8 not faithful" in lines[0] and "Traceback" not in result.output
    # the default calibration knows its clean speech: the verdict is in the task rule's own terms
    assert "the least harmful alone:" in lines[0] and "below FP32 on average" in lines[0]
    assert not out.exists()


def test_int8_needs_the_fp32_graph_and_names_it(tmp_path, tiny_checkpoint):
    """--precision int8 alone still exports the FP32 graph it quantizes (the registry's `needs`)."""
    out = tmp_path / "b"
    report = ok(invoke("export", tiny_checkpoint, "--to", "onnx", "--precision", "int8", "--chunk", "2048",
                       "--max-batch", "2", "-o", out, "--json"))
    assert sorted(a["file"] for a in report["manifest"]["artifacts"]) == ["model.int8.onnx", "model.onnx"]


def test_each_method_calibrates_once_and_later_trials_reuse_its_ranges(tmp_path, tiny_checkpoint):
    """A second trial of the same method, with other layers and activation type, is quantized from the ranges
    the first left (not from its own windows): the same model as a fresh calibration on the first's windows."""
    import onnx

    from wux.export.int8 import Plan, convolutions, quantize
    from wux.runtime.base import TensorIO

    out = tmp_path / "b"
    ok(invoke("export", tiny_checkpoint, "--to", "onnx", "--precision", "fp32", "--chunk", "2048", "-o", out, "--json"))
    src = out / "model.onnx"
    graph = onnx.load(str(src)).graph
    io = TensorIO(graph.input[0].name, graph.output[0].name)
    convs = convolutions(src)
    speech = 0.1 * np.random.default_rng(0).standard_normal((4, 2048)).astype(np.float32)
    louder = 10 * speech
    ranges = tmp_path / "ranges.json"
    quantize(src, tmp_path / "first.onnx", io, speech, Plan("minmax", convs[:1]), ranges)
    assert ranges.is_file()
    later = Plan("minmax", convs[1:], "int8")
    quantize(src, tmp_path / "later.onnx", io, louder, later, ranges)
    quantize(src, tmp_path / "fresh.onnx", io, speech, later, tmp_path / "fresh_ranges.json")
    quantize(src, tmp_path / "loud.onnx", io, louder, later, tmp_path / "loud_ranges.json")
    assert (tmp_path / "later.onnx").read_bytes() == (tmp_path / "fresh.onnx").read_bytes()
    assert (tmp_path / "later.onnx").read_bytes() != (tmp_path / "loud.onnx").read_bytes()
