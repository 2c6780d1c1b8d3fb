import json

import numpy as np
import onnx
import pytest
import torch

from wux.errors import MissingDependency, WuxError
from wux.export import api
from wux.export.api import ExportRequest, export_artifacts
from wux.export.formats import FORMATS, get_format
from wux.export.manifest import read_manifest
from wux.export.onnx import OrtRunner, export_onnx
from wux.export.spec import make_spec
from wux.export.torchscript import TorchScriptRunner, export_torchscript
from wux.fsutil import sha256_file
from wux.model.config import SEED, TINY, WaveUNetConfig
from wux.model.waveunet import WaveUNet


def test_manifest_describes_every_artifact(exported):
    folder, ckpt = exported
    m = read_manifest(folder)
    assert {a.key for a in m.artifacts} == {"torchscript-fp32", "onnx-fp32", "onnx-fp16"}
    assert m.checkpoint["sha256"] == sha256_file(ckpt)
    assert m.sample_rate == 16000 and m.chunk == 2048 and m.total_stride == 4
    assert m.model_config == TINY.to_dict()
    assert m.windowing["window"] == 2048 and m.windowing["align"] == 4
    assert m.versions["torch"] and m.versions["onnx"] and m.versions["onnxruntime"]
    for a in m.artifacts:
        path = folder / a.file
        assert a.sha256 == sha256_file(path) and a.bytes == path.stat().st_size
        assert a.profiles == {"batch": {"min": 1, "opt": 3, "max": 3},
                              "samples": {"min": 512, "opt": 2048, "max": 8192}}
        assert a.input.dtype == a.output.dtype == "float32"
        assert a.input.dims == ["batch", 1, "samples"]
        assert a.verification["passed"] is True
    ts = m.artifact("torchscript", "fp32")
    assert (ts.input.name, ts.output.name) == ("INPUT__0", "OUTPUT__0")
    onnx_fp32 = m.artifact("onnx", "fp32")
    assert (onnx_fp32.input.name, onnx_fp32.output.name) == ("waveform", "denoised")
    assert onnx_fp32.opset == 18
    assert json.loads((folder / "manifest.json").read_text())["manifest_version"] == 1


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


CONFIGS = {
    "tiny": TINY,
    "decimate-linear": WaveUNetConfig(levels=3, growth=4, downsampling="decimate", upsampling="linear"),
    "seed-batchnorm": WaveUNetConfig(**{**SEED.to_dict(), "channels": (4, 8, 8), "bottleneck_channels": 8}),
}


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
    spec = make_spec(chunk=4 * config.total_stride * 16, max_batch=2, total_stride=config.total_stride)
    export_onnx(model, spec, tmp_path / "m.onnx")
    export_torchscript(model, spec, tmp_path / "m.pt")
    runners = [OrtRunner(tmp_path / "m.onnx"), TorchScriptRunner(tmp_path / "m.pt")]
    for batch, samples in [(1, spec.length.min), (2, spec.length.opt + 1), (1, spec.length.max), (3, 1)]:
        x = np.random.default_rng(samples).standard_normal((batch, samples)).astype(np.float32) * 0.2
        with torch.inference_mode():
            ref = model(torch.from_numpy(x)[:, None]).numpy()[:, 0]
        for run in runners:
            assert np.abs(run(x) - ref).max() < 1e-5, (run.name, batch, samples)


def test_existing_output_is_refused(exported, export_spec):
    folder, ckpt = exported
    with pytest.raises(WuxError, match="already exists"):
        export_artifacts(ckpt, folder, ExportRequest(spec=export_spec), show_progress=False)


def test_interrupted_export_leaves_nothing(tmp_path, monkeypatch, tiny_checkpoint, export_spec):
    calls = []
    real = api.export_one

    def export_then_interrupt(fmt, precision, *args):
        calls.append(fmt.name)
        if fmt.name == "onnx":
            raise KeyboardInterrupt
        return real(fmt, precision, *args)

    monkeypatch.setattr(api, "export_one", export_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        export_artifacts(tiny_checkpoint, tmp_path / "out", ExportRequest(spec=export_spec), show_progress=False)
    assert calls == ["torchscript", "onnx"]  # it was interrupted after writing one artifact
    assert list(tmp_path.iterdir()) == []


def test_failed_parity_leaves_nothing_and_keeps_the_old_folder(exported, tmp_path, monkeypatch, export_spec):
    folder, ckpt = exported
    import shutil

    target = tmp_path / "build"
    shutil.copytree(folder, target)
    before = sorted(p.name for p in target.iterdir())
    from wux.verify import tolerance

    monkeypatch.setitem(tolerance.DEFAULT_TOLERANCES, "fp32", tolerance.Tolerance(max_abs=0.0, min_si_snr_db=500))
    with pytest.raises(api.ParityError) as err:
        export_artifacts(ckpt, target, ExportRequest(formats=("torchscript",), spec=export_spec), force=True,
                         show_progress=False)
    assert not err.value.report.passed
    assert sorted(p.name for p in target.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build"]


def test_trt_without_tensorrt_is_a_clear_error(tmp_path, tiny_checkpoint, export_spec):
    with pytest.raises(MissingDependency, match="tensorrt"):
        export_artifacts(tiny_checkpoint, tmp_path / "out", ExportRequest(formats=("trt",), spec=export_spec),
                         show_progress=False)
    assert not (tmp_path / "out").exists()


def test_unknown_format_and_precision():
    with pytest.raises(WuxError, match="unknown format 'tflite'"):
        get_format("tflite")
    with pytest.raises(WuxError, match="unknown precision"):
        api.plan_artifacts(ExportRequest(precisions=("int8",)))


def test_plan_orders_onnx_before_trt_and_notes_fp32_only_formats():
    plan, notes = api.plan_artifacts(ExportRequest(formats=("trt", "torchscript"), precisions=("fp32", "fp16")))
    keys = [f"{f.name}-{p}" for f, p in plan]
    assert keys.index("onnx-fp16") < keys.index("trt-fp16") and keys.index("onnx-fp32") < keys.index("trt-fp32")
    assert "torchscript-fp16" not in keys and any("torchscript" in n for n in notes)
    assert set(FORMATS) == {"torchscript", "onnx", "trt"}


def test_spec_checks_lengths():
    with pytest.raises(WuxError, match="not a multiple"):
        make_spec(chunk=1000, total_stride=32)
    with pytest.raises(WuxError, match="outside the length profile"):
        make_spec(chunk=1024, min_len=1536, opt_len=2048, total_stride=32)
    with pytest.raises(WuxError, match="must exceed the model's total stride"):
        make_spec(chunk=1024, min_len=32, total_stride=32)



def test_trace_fallback_is_checked_at_other_shapes(tmp_path, monkeypatch, export_spec):
    model = WaveUNet(TINY).eval()

    def no_script(*a, **k):
        raise RuntimeError("scripting unsupported here")

    monkeypatch.setattr(torch.jit, "script", no_script)
    details = export_torchscript(model, export_spec, tmp_path / "m.pt")
    assert details["method"] == "trace"
    x = np.random.default_rng(0).standard_normal((2, 999)).astype(np.float32)
    ref = model(torch.from_numpy(x)[:, None]).detach().numpy()[:, 0]
    assert np.abs(TorchScriptRunner(tmp_path / "m.pt")(x) - ref).max() < 1e-5


class LengthBaked(torch.nn.Module):
    """Python control flow on the input length: a trace freezes it at the example's length."""

    def forward(self, x):
        return x[..., : x.shape[-1] // 2].repeat(1, 1, 2) if x.shape[-1] % 2 == 0 else x


def test_trace_that_does_not_generalise_is_refused(tmp_path, monkeypatch, export_spec):
    monkeypatch.setattr(torch.jit, "script", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no")))
    with pytest.raises(WuxError, match="does not generalise"):
        export_torchscript(LengthBaked(), export_spec, tmp_path / "m.pt")
