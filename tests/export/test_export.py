import json
from dataclasses import replace

import numpy as np
import onnx
import pytest
import torch

from tests.conftest import EXPORT_CHUNK, export_request, source
from wux.contract import AudioContract, round_up
from wux.errors import ExportError, MissingDependency, WuxError
from wux.export import formats as registry
from wux.export.formats import FORMATS, ExportJob, get_format
from wux.export.graph import default_opset
from wux.export.manifest import read_manifest
from wux.export.spec import make_spec
from wux.fsutil import sha256_file
from wux.model.config import SEED, TINY, WaveUNetConfig
from wux.model.info import waveunet_contract
from wux.model.load import LoadedModel, ModelSource
from wux.model.waveunet import WaveUNet
from wux.pipeline import ExportRequest, ParityError, export_model, plan_artifacts
from wux.runtime.base import ShapeLimits


def test_manifest_describes_every_artifact(exported):
    folder, ckpt = exported
    m = read_manifest(folder)
    assert {a.key for a in m.artifacts} == {"torchscript-fp32", "onnx-fp32", "onnx-fp16"}
    assert m.source == {"kind": "checkpoint", "path": str(ckpt.resolve()), "sha256": sha256_file(ckpt)}
    assert m.model == {"family": "waveunet", "config": TINY.to_dict()}
    c = m.contract
    assert (c.sample_rate, c.chunk, c.align, c.input_name, c.output_name) == (16000, 2048, 4, "waveform", "denoised")
    assert c.window.window == 2048 and c.window.align == 4
    assert m.versions["torch"] and m.versions["onnx"] and m.versions["onnxruntime"]
    for a in m.artifacts:
        path = folder / a.file
        assert a.sha256 == sha256_file(path) and a.bytes == path.stat().st_size
        assert a.profiles == {"batch": {"min": 1, "opt": 3, "max": 3},
                              "samples": {"min": 512, "opt": 2048, "max": 8192}}
        assert a.input.dtype == a.output.dtype == "float32"
        assert a.input.dims == ["batch", 1, "samples"]
        assert a.verification["passed"] is True and not a.fixed_length
    ts = m.artifact("torchscript", "fp32")
    assert (ts.input.name, ts.output.name) == ("INPUT__0", "OUTPUT__0") and ts.details["method"] == "script"
    onnx_fp32 = m.artifact("onnx", "fp32")
    assert (onnx_fp32.input.name, onnx_fp32.output.name) == ("waveform", "denoised")
    assert onnx_fp32.opset == 18 and onnx_fp32.details["exporter"] == "dynamo"
    assert json.loads((folder / "manifest.json").read_text())["manifest_version"] == 2


def test_onnx_file_declares_dynamic_dims_and_fp32_io(exported):
    folder, _ = exported
    for name in ("model.onnx", "model.fp16.onnx"):
        proto = onnx.load(str(folder / name))
        onnx.checker.check_model(proto, full_check=True)
        (inp,), (out,) = proto.graph.input, proto.graph.output
        assert inp.name == "waveform" and out.name == "denoised"
        assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT == out.type.tensor_type.elem_type
        dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
        assert isinstance(dims[0], str) and dims[1] == 1 and isinstance(dims[2], str)
    fp16 = onnx.load(str(folder / "model.fp16.onnx"))
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in fp16.graph.initializer)


def loaded(module, contract: AudioContract) -> LoadedModel:
    return LoadedModel(module.eval(), contract, ModelSource(), {"kind": "test"}, "waveunet")


def export_one(module, contract, folder, fmt: str, **spec_kw):
    spec = make_spec(contract, **{"max_batch": 2, **spec_kw})
    job = ExportJob(get_format(fmt), "fp32", module, contract, spec, folder)
    outcome = job.fmt.export(job)
    return get_format(fmt).runner(job.path, job.io), outcome


CONFIGS = {
    "tiny": TINY,
    "decimate-linear": WaveUNetConfig(levels=3, growth=4, downsampling="decimate", upsampling="linear"),
    "seed-batchnorm": WaveUNetConfig(**{**SEED.to_dict(), "channels": (4, 8, 8), "bottleneck_channels": 8}),
    "context-stack": WaveUNetConfig(levels=3, growth=4, norm="batch", bottleneck_dilations=(1, 2, 4, 8)),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGS)
def test_export_several_configs_match_eager_at_many_lengths(name, tmp_path):
    config = CONFIGS[name]
    torch.manual_seed(0)
    model = WaveUNet(config).eval()
    if config.norm == "batch":
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    base = waveunet_contract(config, 16000)
    # the shortest chunk whose windows keep some hop after context and crossfade: a quick export
    contract = base.with_serving(chunk=round_up(2 * base.window.context + base.window.crossfade + 512, base.grid))
    runners = []
    for fmt in ("onnx", "torchscript"):
        runner, outcome = export_one(model, contract, tmp_path, fmt)
        assert not outcome.fixed_length  # Wave-U-Nets export with a dynamic length
        runners.append(runner)
    spec = make_spec(contract, max_batch=2)
    for batch, samples in [(1, spec.length.min), (2, spec.length.opt + 1), (1, spec.length.max), (2, 7)]:
        x = np.random.default_rng(samples).standard_normal((batch, samples)).astype(np.float32) * 0.2
        with torch.inference_mode():
            ref = model(torch.from_numpy(x)[:, None]).numpy()[:, 0]
        for run in runners:
            assert np.abs(run(x) - ref).max() < 1e-5, (run.name, batch, samples)


def test_existing_output_is_refused(exported):
    folder, ckpt = exported
    with pytest.raises(WuxError, match="already exists"):
        export_model(source(ckpt), folder, export_request(), show_progress=False)


def test_interrupted_export_leaves_nothing(tmp_path, monkeypatch, tiny_checkpoint):
    calls = []
    onnx_format = FORMATS["onnx"]

    def export_then_interrupt(job):
        calls.append(job.fmt.name)
        raise KeyboardInterrupt

    monkeypatch.setitem(registry.FORMATS, "onnx", replace(onnx_format, export=export_then_interrupt))
    plan, _ = plan_artifacts(ExportRequest())
    monkeypatch.setattr("wux.pipeline.plan_artifacts",
                        lambda request: ([(FORMATS["torchscript"], "fp32"), (registry.FORMATS["onnx"], "fp32")], []))
    with pytest.raises(KeyboardInterrupt):
        export_model(source(tiny_checkpoint), tmp_path / "out", export_request(), show_progress=False)
    assert calls == ["onnx"]  # interrupted after the TorchScript artifact was written
    assert list(tmp_path.iterdir()) == []


def test_failed_parity_leaves_nothing_and_keeps_the_old_folder(exported, tmp_path, monkeypatch):
    folder, ckpt = exported
    import shutil

    target = tmp_path / "build"
    shutil.copytree(folder, target)
    before = sorted(p.name for p in target.iterdir())
    from wux.export import check
    from wux.verify import tolerance

    # the exporter's own shape checks keep the usual bound; the gate after export gets an impossible one
    usual = tolerance.tolerance_for("fp32")
    monkeypatch.setattr(check, "tolerance_for", lambda precision: usual)
    monkeypatch.setitem(tolerance.DEFAULT_TOLERANCES, "fp32", tolerance.Tolerance(max_abs=0.0, min_si_snr_db=500))
    with pytest.raises(ParityError) as err:
        export_model(source(ckpt), target, export_request(formats=("torchscript",)), force=True, show_progress=False)
    assert not err.value.report.passed and err.value.exit_code == 1
    assert sorted(p.name for p in target.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build"]


def test_trt_without_tensorrt_is_a_clear_error(tmp_path, tiny_checkpoint):
    with pytest.raises(MissingDependency, match="tensorrt"):
        export_model(source(tiny_checkpoint), tmp_path / "out", export_request(formats=("trt",)),
                     show_progress=False)
    assert not (tmp_path / "out").exists()


def test_unknown_format_and_precision():
    with pytest.raises(WuxError, match="unknown format 'tflite'"):
        get_format("tflite")
    with pytest.raises(WuxError, match="unknown precision"):
        plan_artifacts(ExportRequest(precisions=("int4",)))


def test_plan_builds_what_an_artifact_is_made_from_first():
    plan, notes = plan_artifacts(ExportRequest(formats=("trt", "torchscript"), precisions=("fp16", "fp32")))
    keys = [f"{f.name}-{p}" for f, p in plan]
    assert keys == ["torchscript-fp32", "onnx-fp32", "trt-fp32", "onnx-fp16", "trt-fp16"]
    assert any("torchscript" in n for n in notes)
    # FP16 ONNX is converted from the FP32 graph: asking for FP16 alone still builds FP32 first
    assert [f"{f.name}-{p}" for f, p in plan_artifacts(ExportRequest(formats=("onnx",), precisions=("fp16",)))[0]] \
        == ["onnx-fp32", "onnx-fp16"]
    assert set(FORMATS) == {"torchscript", "onnx", "trt"}


def test_spec_checks_lengths():
    contract = waveunet_contract(WaveUNetConfig(levels=5, growth=4), 16000).with_serving(chunk=4096)
    with pytest.raises(WuxError, match="outside the length profile"):
        make_spec(contract, min_len=5000, opt_len=6000)
    with pytest.raises(WuxError, match="--min-len must be at least 33"):
        make_spec(contract, min_len=32)
    with pytest.raises(WuxError, match="not a multiple of 32"):
        contract.with_serving(chunk=4100)
    with pytest.raises(WuxError, match="too short for 640 samples of context"):
        contract.with_serving(chunk=1024)


def test_trace_fallback_is_checked_at_other_shapes(tmp_path, monkeypatch):
    model = WaveUNet(TINY).eval()

    def no_script(*a, **k):
        raise RuntimeError("scripting unsupported here")

    monkeypatch.setattr(torch.jit, "script", no_script)
    contract = waveunet_contract(TINY, 16000).with_serving(chunk=EXPORT_CHUNK)
    runner, outcome = export_one(model, contract, tmp_path, "torchscript")
    assert outcome.details["method"] == "trace" and not outcome.fixed_length
    assert "scripting unsupported here" in outcome.details["attempts"][0]
    x = np.random.default_rng(0).standard_normal((2, 999)).astype(np.float32)
    ref = model(torch.from_numpy(x)[:, None]).detach().numpy()[:, 0]
    assert np.abs(runner(x) - ref).max() < 1e-5


class LengthBaked(torch.nn.Module):
    """Python control flow on the input length: a trace freezes it at the example's length."""

    def forward(self, x):
        return x[..., : x.shape[-1] // 2].repeat(1, 1, 2) if x.shape[-1] % 2 == 0 else x


def test_a_trace_that_does_not_generalise_is_kept_only_at_the_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.jit, "script", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no")))
    contract = AudioContract(chunk=EXPORT_CHUNK)
    runner, outcome = export_one(LengthBaked(), contract, tmp_path, "torchscript")
    assert outcome.fixed_length and outcome.length.min == EXPORT_CHUNK
    assert any("dynamic length" in a and "differs" in a for a in outcome.details["attempts"])
    x = np.random.default_rng(0).standard_normal((2, EXPORT_CHUNK)).astype(np.float32)
    np.testing.assert_array_equal(runner(x), np.tile(x[:, : EXPORT_CHUNK // 2], 2))


class Unexportable(torch.nn.Module):
    """cummax has no ONNX export in either exporter."""

    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.gain * torch.cummax(x, dim=-1).values


def test_an_op_no_exporter_takes_names_the_op_and_what_did_export(tmp_path):
    torch.save(Unexportable().state_dict(), tmp_path / "w.pt")
    model = ModelSource(factory=f"{__name__}:Unexportable", weights=tmp_path / "w.pt", declared={"sample_rate": 16000})
    with pytest.raises(ExportError) as err:
        export_model(model, tmp_path / "out", export_request(), show_progress=False)
    message = str(err.value)
    assert "onnx" in message and "cummax" in message
    assert "these did export: torchscript-fp32" in message and "\n" not in message
    assert not (tmp_path / "out").exists()


def test_fixed_length_export_on_request(tmp_path, tiny_checkpoint):
    result = export_model(source(tiny_checkpoint), tmp_path / "out", export_request(fixed_length=True),
                          show_progress=False)
    for art in result.manifest.artifacts:
        assert art.fixed_length and art.profiles["samples"] == {"min": EXPORT_CHUNK, "opt": EXPORT_CHUNK,
                                                                 "max": EXPORT_CHUNK}
        assert art.limits == ShapeLimits(1, 3, EXPORT_CHUNK, EXPORT_CHUNK)
    assert result.verification.passed
    assert all(v.cases == 10 for v in result.verification.artifacts)  # 5 signals x (batch 1, max batch)


def test_the_onnx_file_has_the_opset_asked_for_or_the_export_says_why(tiny_checkpoint, tmp_path):
    folder = tmp_path / "o17"
    export_model(source(tiny_checkpoint), folder, export_request(formats=("onnx",), opset=17), show_progress=False)
    artifact = read_manifest(folder).artifacts[0]
    # torch's dynamo exporter cannot convert every graph down to 17 and would keep its own 18: then another
    # exporter writes it, and the manifest records what the file holds
    assert default_opset(onnx.load(str(folder / artifact.file))) == artifact.opset == 17
    with pytest.raises(WuxError, match="--opset must be between 13 and"):
        export_model(source(tiny_checkpoint), tmp_path / "o0", export_request(opset=0), show_progress=False)
    assert not (tmp_path / "o0").exists()
