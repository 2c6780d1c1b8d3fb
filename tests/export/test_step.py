"""A causal checkpoint's export: step models written beside the offline ones, verified by streaming whole
signals frame by frame, refused when changed; a non-causal export has none."""

import json

import numpy as np
import pytest

from tests.conftest import source
from wux.export.step import STEP_FILES, StreamingRecord, load_step
from wux.metrics import si_snr_db
from wux.model.streaming import stream_through


@pytest.mark.slow
def test_the_step_models_are_written_and_verified_by_streaming(causal_exported):
    out, _, result = causal_exported
    record = StreamingRecord.from_dict(json.loads((out / "manifest.json").read_text())["streaming"])
    assert record.frame == 320 and record.frame_multiple == 8 and record.latency_ms == 20.0
    assert {a.file for a in record.artifacts} == set(STEP_FILES.values())
    assert all((out / f).is_file() for f in STEP_FILES.values())
    keys = {v.artifact: v for v in result.verification.artifacts}
    for fmt in STEP_FILES:
        verdict = keys[f"step-{fmt}-fp32"]
        assert verdict.passed and verdict.cases == 10 and verdict.worst_si_snr_db >= 60
        assert record.artifact(fmt).verification["passed"]


@pytest.mark.slow
def test_the_step_onnx_file_is_built_for_speed(causal_exported):
    """2-D convolutions (onnxruntime's faster kernels) and no shape arithmetic: what makes a frame cheap."""
    import onnx

    from tests.export.test_conv2d import conv_weight_ranks

    out, _, _ = causal_exported
    model = onnx.load(str(out / STEP_FILES["onnx"]))
    ranks = conv_weight_ranks(model)
    assert ranks and set(ranks) == {4}
    assert not [n.op_type for n in model.graph.node if n.op_type in ("Shape", "Gather")]


@pytest.mark.slow
def test_each_step_file_streams_like_the_offline_model_in_any_frame(causal_exported):
    from wux.model.load import load_model

    out, ckpt, _ = causal_exported
    record = StreamingRecord.from_dict(json.loads((out / "manifest.json").read_text())["streaming"])
    model = load_model(source(ckpt))
    wave = np.random.default_rng(4).standard_normal(16000).astype(np.float32) * 0.1
    offline = model.runner("cpu")(wave[None])[0]
    for fmt in STEP_FILES:
        run = load_step(out, record, fmt)
        for frame in (8, 160, 640):  # frames other than the verified one: batch and frame are dynamic
            assert si_snr_db(stream_through(run, wave, frame, record.state_size), offline) >= 60, (fmt, frame)


@pytest.mark.slow
def test_a_changed_step_file_fails_verify(causal_exported, tmp_path):
    import shutil

    from tests.test_cli import invoke

    out, ckpt, _ = causal_exported
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with open(copy / STEP_FILES["onnx"], "ab") as f:
        f.write(b"\0")
    result = invoke("verify", copy, "--checkpoint", ckpt, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    failed = {a["artifact"]: a for a in report["artifacts"] if not a["passed"]}
    assert set(failed) == {"step-onnx-fp32"} and (failed["step-onnx-fp32"]["first_failure"]
                                              == f"{STEP_FILES['onnx']}: sha256 differs from the manifest")


def test_a_model_that_is_not_causal_has_no_step_files(exported):
    folder, _ = exported
    assert json.loads((folder / "manifest.json").read_text()).get("streaming") is None
    assert not any((folder / f).exists() for f in STEP_FILES.values())
