"""Against a real tritonserver on 127.0.0.1, started and stopped by PID in each module."""

import concurrent.futures as cf

import numpy as np
import pytest

from wux.denoise import export_denoiser
from wux.errors import WuxError
from wux.metrics import si_snr_db
from wux.tools import find_tritonserver
from wux.triton_repo.server import TritonServer, available_backends, backend_dir, free_port, free_ports


def reference(folder, wave):
    return export_denoiser(folder)(wave)


@pytest.mark.server
def test_ready_models_and_what_is_skipped(served):
    info, _ = served
    backends = available_backends(backend_dir(find_tritonserver()))
    needs = {"waveunet_onnx": "onnxruntime", "waveunet_torchscript": "pytorch", "waveunet_python": "python",
             "waveunet": "python"}
    assert sorted(info.ready_models) == sorted(m for m, b in needs.items() if b in backends)
    assert sorted(info.skipped_models) == sorted(m for m, b in needs.items() if b not in backends)
    assert all("backend" in why for why in info.skipped_models.values())
    assert "waveunet" in info.ready_models  # the python backend is always there: the front model serves


@pytest.mark.server
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


@pytest.mark.server
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


@pytest.mark.server
def test_the_core_model_as_a_runner_is_faithful(served):
    """The served core model, judged like any artifact: the same runner interface, the same judge."""
    from wux.export.manifest import read_manifest
    from wux.runtime.triton import TritonRunner
    from wux.verify.compare import compare
    from wux.verify.signals import make_signal
    from wux.verify.tolerance import tolerance_for

    info, folder = served
    with TritonRunner(info.grpc_url, "waveunet_python") as runner:
        assert runner.limits.samples_min == runner.limits.samples_max == read_manifest(folder).contract.chunk
        x = make_signal("speech", 3, runner.limits.samples_min)
        verdict = compare(runner(x), reference_batch(folder, x), tolerance_for("fp32"))
        with pytest.raises(WuxError, match="takes exactly 2048"):
            runner(x[:, :1000])
    assert verdict.passed, verdict.reasons


def reference_batch(folder, x):
    from wux.export.formats import get_format
    from wux.export.manifest import read_manifest

    art = read_manifest(folder).artifact("onnx", "fp32")
    return get_format("onnx").runner(folder / art.file, art.io)(x)


@pytest.mark.server
def test_wrong_model_name_is_a_clear_error(served, tmp_path, wav_file):
    from tests.test_cli import assert_one_line_error, invoke

    info, _ = served
    result = invoke("denoise", wav_file, "-o", tmp_path / "o.wav", "--url", info.grpc_url, "-m", "no_such_model")
    assert_one_line_error(result, "'no_such_model' is not ready", "waveunet_python")
    assert not (tmp_path / "o.wav").exists()


def test_server_that_cannot_start_is_a_clear_error(tmp_path):
    with pytest.raises(WuxError, match="model repository not found"):
        TritonServer(tmp_path / "missing").start()


def test_free_port_is_one_nobody_listens_on():
    import socket

    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # raises if the port were taken
        s.listen()
        assert s.getsockname()[1] == port


def test_free_ports_are_different_and_free():
    import socket

    for _ in range(50):  # one at a time, the kernel may hand out the same port twice
        ports = free_ports(3)
        assert len(set(ports)) == 3
        with socket.socket() as a, socket.socket() as b, socket.socket() as c:
            for s, port in zip((a, b, c), ports):
                s.bind(("127.0.0.1", port))


def test_free_ports_never_repeat_a_port_asked_for(tmp_path):
    server = TritonServer(tmp_path, http_port=free_port())
    assert len(set(server.ports)) == 3 and all(server.ports)


def test_the_same_port_twice_is_refused_before_anything_starts(tmp_path):
    with pytest.raises(WuxError, match="ports must differ, got 8123, 8123, 0"):
        TritonServer(tmp_path, http_port=8123, grpc_port=8123)


@pytest.mark.server
def test_a_chosen_port_another_process_takes_first_is_replaced_and_an_asked_one_is_an_error(served):
    """The race CI lost once: a free port chosen for the server is bound by someone else before the server binds
    it. The server starts again on fresh free ports; a port the caller asked for is not replaced."""
    import socket
    import urllib.request

    info, _ = served
    server = TritonServer(info.repo)
    taken = server.ports[1]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))  # the chosen gRPC port, taken before start()
        squatter.listen()
        try:
            started = server.start()
            assert started.grpc_port != taken and len({started.http_port, started.grpc_port,
                                                       started.metrics_port}) == 3
            with urllib.request.urlopen(f"http://127.0.0.1:{started.http_port}/v2/health/ready", timeout=5) as r:
                assert r.status == 200
        finally:
            assert server.stop() == 0
        asked = TritonServer(info.repo, grpc_port=taken)
        with pytest.raises(WuxError, match=f"failed to start GRPC service.*{taken}' already in use"):
            asked.start()
        assert asked.process.poll() is not None  # the failed server is gone, stopped by its PID


@pytest.mark.server
def test_an_argument_tritonserver_refuses_is_named_without_its_usage_text(served):
    info, _ = served
    with pytest.raises(WuxError) as err:
        TritonServer(info.repo, extra_args=("--log-verbose=x",)).start()
    message = str(err.value)
    assert 'Bad option: "--log-verbose"' in message and "Got x" in message
    assert "Usage" not in message and "--load-model" not in message


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_wux_serve_runs_until_sigterm_and_stops_by_pid(served, as_json):
    """`wux serve` as a user runs it: a process of its own, ready on loopback, stopped by SIGTERM; with
    --json one line a supervisor can read; arguments after -- reach tritonserver."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    info, _ = served
    ports = free_ports(3)
    cmd = [sys.executable, "-m", "wux.cli", "serve", info.repo, "--http-port", str(ports[0]), "--grpc-port",
           str(ports[1]), "--metrics-port", str(ports[2])] + (["--json", "--", "--log-info=false"] if as_json else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = proc.stdout.readline()  # the server is ready when wux says so
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/v2/health/ready", timeout=5) as r:
            assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        rest = proc.stdout.read()  # (communicate() would miss what readline() already buffered)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    out = first + rest
    assert proc.returncode == 0, out
    if as_json:
        ready = json.loads(first)
        assert ready["http_url"] == f"127.0.0.1:{ports[0]}" and "waveunet" in ready["ready_models"]
        assert set(ready["skipped_models"]) == set(info.skipped_models)
    else:
        assert "ready: " in out and "waveunet" in out and "tritonserver stopped (exit code 0)" in out
        assert f"HTTP 127.0.0.1:{ports[0]}" in out
    with pytest.raises(OSError):  # nothing listens there any more
        urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/v2/health/ready", timeout=1)
