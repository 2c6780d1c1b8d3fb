"""GPU-only checks (`make gpu-check`): they skip without CUDA and are never faked on CPU."""

import numpy as np
import pytest

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cuda_export(tmp_path_factory):
    from wux.export.api import ExportRequest, export_artifacts
    from wux.export.spec import make_spec
    from wux.model.checkpoint import load_checkpoint

    stride = load_checkpoint().config.total_stride
    spec = make_spec(chunk=16384, max_batch=8, device="cuda", total_stride=stride)
    out = tmp_path_factory.mktemp("gpu") / "build"
    export_artifacts(None, out, ExportRequest(formats=("torchscript", "onnx"), precisions=("fp32", "fp16"),
                                              spec=spec, verify=False), show_progress=False)
    return out


def test_torchscript_on_cuda_matches_cuda_reference(cuda_export):
    from wux.verify.parity import verify_folder

    report = verify_folder(cuda_export, device="cuda", show_progress=False)
    ts = next(a for a in report.artifacts if a.artifact == "torchscript-fp32")
    assert ts.passed, ts.first_failure


def test_onnxruntime_cuda_provider_parity(cuda_export):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu not installed (no CUDAExecutionProvider)")
    from wux.verify.parity import verify_folder

    report = verify_folder(cuda_export, device="cuda", show_progress=False)
    assert report.passed, [a.first_failure for a in report.artifacts if not a.passed]


@pytest.mark.tensorrt
def test_tensorrt_build_and_parity(tmp_path):
    pytest.importorskip("tensorrt")
    from wux.export.api import ExportRequest, export_artifacts
    from wux.export.spec import make_spec
    from wux.model.checkpoint import load_checkpoint

    stride = load_checkpoint().config.total_stride
    spec = make_spec(chunk=16384, max_batch=8, device="cuda", total_stride=stride)
    result = export_artifacts(None, tmp_path / "trt", ExportRequest(
        formats=("trt",), precisions=("fp32", "fp16"), spec=spec, timing_cache=tmp_path / "timing.cache"),
        show_progress=False)
    assert result.verification.passed
    plan = result.manifest.artifact("trt", "fp32")
    assert plan.details["compute_capability"] and plan.details["tensorrt"]
    assert (tmp_path / "timing.cache").stat().st_size > 0


def test_cuda_eager_matches_cpu_eager():
    import torch

    from wux.model.checkpoint import load_checkpoint
    from wux.model.runner import TorchRunner

    model = load_checkpoint().build_model()
    x = np.random.default_rng(0).standard_normal((2, 16384)).astype(np.float32) * 0.1
    cpu = TorchRunner(model, "cpu")(x)
    gpu = TorchRunner(load_checkpoint().build_model(), "cuda")(x)
    assert np.abs(cpu - gpu).max() < 1e-4
    assert torch.cuda.is_available()
