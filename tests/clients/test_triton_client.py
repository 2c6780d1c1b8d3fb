"""TritonDenoiser and `wux denoise --url` against a real tritonserver on 127.0.0.1."""

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.test_cli import assert_one_line_error, invoke
from tests.triton_repo.test_server import reference
from wux.clients.triton import TritonDenoiser
from wux.errors import WuxError
from wux.metrics import si_snr_db
from wux.triton_repo.server import free_port


def url_for(info, protocol):
    return info.grpc_url if protocol == "grpc" else info.http_url


@pytest.mark.server
@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("mode", ["server", "client"])
def test_both_protocols_and_modes_equal_in_process_onnxruntime(served, protocol, mode):
    info, folder = served
    wave = np.random.default_rng(7).standard_normal(7777).astype(np.float32) * 0.1
    with TritonDenoiser(url_for(info, protocol), protocol=protocol, mode=mode) as client:
        out = client.denoise(wave)
    ref = reference(folder, wave)
    assert out.shape == wave.shape and si_snr_db(out, ref) >= 60
    assert np.abs(out).max() > 1e-3


@pytest.mark.server
@pytest.mark.parametrize("mode", ["server", "client"])
def test_asyncio_api(served, mode):
    info, folder = served
    wave = np.random.default_rng(8).standard_normal(5000).astype(np.float32) * 0.1
    client = TritonDenoiser(info.grpc_url, mode=mode)
    try:
        out = asyncio.run(client.denoise_async(wave))
    finally:
        client.close()
    assert si_snr_db(out, reference(folder, wave)) >= 60


def test_server_down_is_a_clear_error_without_hanging():
    port = free_port()
    t0 = time.monotonic()
    with pytest.raises(WuxError, match="not reachable"):
        TritonDenoiser(f"127.0.0.1:{port}", protocol="http", retries=1, backoff_s=0.05, timeout_s=2)
    with pytest.raises(WuxError, match="not reachable"):
        TritonDenoiser(f"127.0.0.1:{port}", protocol="grpc", retries=1, backoff_s=0.05, timeout_s=2)
    assert time.monotonic() - t0 < 20


@pytest.mark.server
def test_wrong_model_name(served):
    info, _ = served
    with pytest.raises(WuxError, match="'nope' is not ready.*waveunet"):
        TritonDenoiser(info.grpc_url, model="nope")
    with pytest.raises(WuxError, match="not a wux front model"):
        TritonDenoiser(info.grpc_url, model="waveunet_python")


@pytest.mark.server
def test_the_contract_comes_from_the_server(served):
    from wux.export.manifest import read_manifest

    info, folder = served
    with TritonDenoiser(info.http_url, protocol="http") as http, TritonDenoiser(info.grpc_url) as grpc:
        assert http.info == grpc.info  # both protocols decode the same parameters the same way
    assert grpc.info.contract == read_manifest(folder).contract
    assert grpc.info.core.model == "waveunet_python"


@pytest.mark.server
def test_bad_waveforms_are_refused_before_sending(served):
    info, _ = served
    with TritonDenoiser(info.grpc_url) as client:
        with pytest.raises(WuxError, match="NaN"):
            client.denoise(np.array([0.0, np.nan], dtype=np.float32))
        with pytest.raises(WuxError, match="mono"):
            client.denoise(np.zeros((2, 10), dtype=np.float32))


@pytest.mark.server
def test_cli_denoise_through_triton_matches_in_process(served, tmp_path):
    info, folder = served
    wave = np.random.default_rng(9).standard_normal(12_345).astype(np.float32) * 0.1
    sf.write(tmp_path / "in.wav", wave, 16000, subtype="FLOAT")
    for mode in ("server", "client"):
        out = tmp_path / f"out_{mode}.wav"
        result = invoke("denoise", tmp_path / "in.wav", "-o", out, "--url", info.grpc_url, "--mode", mode)
        assert result.exit_code == 0, result.output
        got, rate = sf.read(out, dtype="float32")
        assert rate == 16000
        # 16-bit output: the same signal up to quantisation
        assert si_snr_db(got, reference(folder, sf.read(tmp_path / "in.wav", dtype="float32")[0])) > 40


def test_cli_denoise_server_down(tmp_path, wav_file):
    port = free_port()
    result = invoke("denoise", wav_file, "-o", tmp_path / "o.wav", "--url", f"127.0.0.1:{port}")
    assert_one_line_error(result, "not reachable")
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.slow
@pytest.mark.server
def test_demo_runs_the_whole_chain(tmp_path):
    import json

    result = invoke("demo", "--out", tmp_path / "demo", "--triton", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["triton"]["si_snr_vs_in_process_db"] > 60
    assert {"waveunet", "waveunet_python"} <= set(payload["triton"]["served_models"])
    assert payload["triton"]["si_snr_after_db"] > payload["triton"]["si_snr_before_db"] + 3



@pytest.mark.server
def test_generated_standalone_clients_run_against_the_server(served, tmp_path):
    import subprocess
    import sys

    from wux.triton_repo.generate import clients_dir

    info, folder = served
    scripts = clients_dir(Path(info.repo))
    wave = np.random.default_rng(4).standard_normal(6000).astype(np.float32) * 0.1
    sf.write(tmp_path / "in.wav", wave, 16000, subtype="FLOAT")
    run = subprocess.run([sys.executable, str(scripts / "denoise_client.py"), str(tmp_path / "in.wav"),
                          "-o", str(tmp_path / "out.wav"), "--url", info.grpc_url],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    got, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert si_snr_db(got, reference(folder, wave)) > 40  # 16-bit file of the same signal
    run = subprocess.run([sys.executable, str(scripts / "throughput_client.py"), "--url", info.grpc_url,
                          "--concurrency", "2", "--seconds", "1"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "infer/s" in run.stdout and "p99" in run.stdout
    down = subprocess.run([sys.executable, str(scripts / "denoise_client.py"), str(tmp_path / "in.wav"),
                           "-o", str(tmp_path / "x.wav"), "--url", f"127.0.0.1:{free_port()}"],
                          capture_output=True, text=True, timeout=120)
    assert down.returncode != 0 and down.stderr.startswith("error:")


def test_retries_back_off_on_unavailable_only(monkeypatch):
    from types import SimpleNamespace

    from tritonclient.utils import InferenceServerException

    calls = []

    def flaky():
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise InferenceServerException("[StatusCode.UNAVAILABLE] failed to connect to all addresses")
        return "ok"

    import wux.clients.triton

    slept = []
    monkeypatch.setattr(wux.clients.triton.time, "sleep", slept.append)  # the waits asked for, not a clock's
    owner = SimpleNamespace(retries=3, backoff_s=0.05)
    assert TritonDenoiser.call(owner, flaky) == "ok" and len(calls) == 3
    assert slept == [0.05, 0.1]  # exponential backoff

    def wrong():
        calls.append(0)
        raise InferenceServerException("unknown model 'x'")

    calls.clear()
    with pytest.raises(InferenceServerException):
        TritonDenoiser.call(owner, wrong)
    assert len(calls) == 1  # not retried: only UNAVAILABLE is


@pytest.mark.server
@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("mode", ["server", "client"])
def test_system_shared_memory(served, protocol, mode):
    info, folder = served
    waves = [np.random.default_rng(11 + i).standard_normal(n).astype(np.float32) * 0.1 for i, n in
             enumerate((5555, 5000, 3000))]
    with TritonDenoiser(url_for(info, protocol), protocol=protocol, mode=mode, shared_memory=True) as client:
        outs = [client.denoise(w) for w in waves]
        during = client.client.get_system_shared_memory_status()
    for out, wave in zip(outs, waves):
        assert si_snr_db(out, reference(folder, wave)) >= 60
    # registered once and reused: three requests of similar size (server mode) share one input/output pair
    names = [r["name"] if isinstance(r, dict) else r for r in (during if isinstance(during, list)
                                                               else list(during.regions))]
    if mode == "server":
        assert len(names) == 2
    with TritonDenoiser(url_for(info, protocol), protocol=protocol) as other:
        after = other.client.get_system_shared_memory_status()
    assert not (after if isinstance(after, list) else list(after.regions))  # every region released at close
