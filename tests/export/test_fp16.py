"""FP16 ONNX keeps index arithmetic in FP32: linear upsampling reads sample positions past 2048."""

import pytest
import torch

from wux.contract import round_up
from wux.export import fp16
from wux.export.formats import ExportJob, get_format
from wux.export.spec import make_spec
from wux.model.config import WaveUNetConfig
from wux.model.info import waveunet_contract
from wux.model.waveunet import WaveUNet
from wux.verify.compare import compare
from wux.verify.signals import make_signal
from wux.verify.tolerance import tolerance_for

LINEAR = WaveUNetConfig(levels=3, growth=4, downsampling="decimate", upsampling="linear")


def export_linear(tmp_path):
    torch.manual_seed(0)
    model = WaveUNet(LINEAR).eval()
    base = waveunet_contract(LINEAR, 16000)
    contract = base.with_serving(chunk=round_up(4096, base.grid))
    spec = make_spec(contract, max_batch=1, max_len=16384)
    onnx = get_format("onnx")
    sources = {}
    for precision in ("fp32", "fp16"):
        job = ExportJob(onnx, precision, model, contract, spec, tmp_path, sources=sources)
        sources[f"onnx-{precision}"] = onnx.export(job)
    return model, onnx.runner(tmp_path / onnx.filename("fp16"), job.io), sources["onnx-fp16"]


@pytest.mark.slow
def test_fp16_linear_upsampling_is_faithful_past_2048_samples(tmp_path):
    model, runner, outcome = export_linear(tmp_path)
    assert outcome.details["fp32_index_nodes"] > 0  # the Range / Floor / GatherND chain stayed FP32
    x = make_signal("speech", 1, 16384)
    with torch.inference_mode():
        ref = model(torch.from_numpy(x)[:, None]).numpy()[:, 0]
    verdict = compare(runner(x), ref, tolerance_for("fp16"))
    assert verdict.passed, verdict.reasons


@pytest.mark.slow
def test_without_the_protection_the_same_graph_breaks(tmp_path, monkeypatch):
    """The protection is needed: with the index subgraph converted too, FP16 positions past 2048 are not
    whole numbers any more and onnxruntime refuses the gather (seen: index = 4096 on a 16384-sample input)."""
    monkeypatch.setattr(fp16, "index_subgraph", lambda graph: set())
    _, runner, outcome = export_linear(tmp_path)
    assert outcome.details["fp32_index_nodes"] == 0
    with pytest.raises(Exception, match="invalid index found"):
        runner(make_signal("speech", 1, 16384))
