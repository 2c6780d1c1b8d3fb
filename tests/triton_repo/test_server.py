"""Against a real tritonserver on 127.0.0.1, started and stopped by PID in each module."""

import concurrent.futures as cf

import numpy as np
import pytest

from wux.denoise import export_denoiser
from wux.errors import WuxError
from wux.metrics import si_snr_db
from wux.triton_repo.server import TritonServer, free_port

pytestmark = pytest.mark.server


def reference(folder, wave):
    return export_denoiser(folder)(wave)


def test_ready_models_and_what_is_skipped(served):
    info, _ = served
    assert info.ready_models == ["waveunet", "waveunet_python"]
    assert set(info.skipped_models) == {"waveunet_onnx", "waveunet_torchscript"}
    assert all("backend" in why for why in info.skipped_models.values())


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_front_model_equals_in_process_onnxruntime(served, protocol):
    info, folder = served
    wave = np.random.default_rng(3).standard_normal(9001).astype(np.float32) * 0.1
    if protocol == "http":
        import tritonclient.http as client

        c = client.InferenceServerClient(info.http_url)
    else:
        import tritonclient.grpc as client

        c = client.InferenceServerClient(info.grpc_url)
    try:
        inp = client.InferInput("waveform", wave.shape, "FP32")
        inp.set_data_from_numpy(wave)
        out = c.infer("waveunet", [inp]).as_numpy("denoised")
    finally:
        c.close()
    ref = reference(folder, wave)
    assert out.shape == wave.shape
    assert si_snr_db(out, ref) >= 60 and np.abs(out - ref).max() < 1e-5
    assert np.abs(out).max() > 1e-3  # real values, not the silent empty-tensor failure


def stats(c, model):
    s = c.get_inference_statistics(model, as_json=True)["model_stats"][0]
    return int(s.get("inference_count", 0)), int(s.get("execution_count", 0))


def test_dynamic_batching_batches_concurrent_windows(served):
    import tritonclient.grpc as client  # thread-safe; the HTTP client is gevent-based

    info, _ = served
    c = client.InferenceServerClient(info.grpc_url)
    try:
        before = stats(c, "waveunet_python")
        windows = np.random.default_rng(0).standard_normal((8, 1, 1, 2048)).astype(np.float32) * 0.1

        def one(w):
            inp = client.InferInput("waveform", w.shape, "FP32")
            inp.set_data_from_numpy(w)
            return c.infer("waveunet_python", [inp]).as_numpy("denoised")

        with cf.ThreadPoolExecutor(8) as pool:
            outs = list(pool.map(one, windows))
        after = stats(c, "waveunet_python")
    finally:
        c.close()
    inferences, executions = after[0] - before[0], after[1] - before[1]
    assert inferences == 8 and executions < inferences
    assert all(o.shape == (1, 1, 2048) for o in outs)


def test_wrong_model_name_is_a_clear_error(served):
    import tritonclient.http as client
    from tritonclient.utils import InferenceServerException

    info, _ = served
    c = client.InferenceServerClient(info.http_url)
    try:
        with pytest.raises(InferenceServerException, match="unknown model|not found"):
            c.get_model_metadata("no_such_model")
    finally:
        c.close()


def test_server_that_cannot_start_is_a_clear_error(tmp_path):
    with pytest.raises(WuxError, match="model repository not found"):
        TritonServer(tmp_path / "missing").start()


def test_free_port_is_free():
    import socket

    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
