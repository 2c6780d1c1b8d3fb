"""GPU-only checks (`make gpu-check`): they skip without CUDA and are never faked on CPU."""

import numpy as np
import pytest

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cuda_export(tmp_path_factory):
    from wux.pipeline import ExportRequest, export_model

    out = tmp_path_factory.mktemp("gpu") / "build"
    export_model(None, out, ExportRequest(formats=("torchscript", "onnx"), precisions=("fp32", "fp16"),
                                          device="cuda", verify=False), show_progress=False)
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
    from wux.export.formats import TrtOptions
    from wux.pipeline import ExportRequest, export_model

    result = export_model(None, tmp_path / "trt", ExportRequest(
        formats=("trt",), precisions=("fp32", "fp16"), device="cuda",
        trt=TrtOptions(timing_cache=tmp_path / "timing.cache")), show_progress=False)
    assert result.verification.passed
    plan = result.manifest.artifact("trt", "fp32")
    assert plan.details["compute_capability"] and plan.details["tensorrt"]
    assert (tmp_path / "timing.cache").stat().st_size > 0


def test_cuda_eager_matches_cpu_eager():
    import torch

    from wux.model.load import load_model

    x = np.random.default_rng(0).standard_normal((2, 16384)).astype(np.float32) * 0.1
    cpu = load_model().runner("cpu")(x)
    gpu = load_model().runner("cuda")(x)
    assert np.abs(cpu - gpu).max() < 1e-4
    assert torch.cuda.is_available()
