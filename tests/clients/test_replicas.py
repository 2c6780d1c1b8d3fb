"""Several real tritonservers used as one (wux.clients.replicas): load spread, and nothing lost when one dies."""

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.test_cli import invoke
from wux.clients.replicas import ReplicaSet
from wux.clients.triton import TritonDenoiser
from wux.data.audio import read_audio
from wux.denoise import export_denoiser
from wux.errors import WuxError
from wux.metrics import si_snr_db
from wux.triton_repo.server import TritonServer, free_ports


@pytest.fixture
def two_servers(exported, tmp_path):
    from wux.triton_repo.generate import RepoRequest, generate_repository

    generate_repository(exported[0], tmp_path / "repo", RepoRequest(formats=("onnx", "python")))
    servers = [TritonServer(tmp_path / "repo"), TritonServer(tmp_path / "repo")]
    try:
        yield [s.start() for s in servers], servers
    finally:
        for s in servers:
            s.stop()  # by its own PID; a killed one is reaped with its stubs


@pytest.mark.server
@pytest.mark.slow
def test_one_of_two_replicas_killed_mid_load_loses_no_request(two_servers, exported, wav_file, tmp_path):
    (a, b), _ = two_servers
    wave = read_audio(wav_file)
    reference = export_denoiser(exported[0])(wave)
    for server in (a, b):  # both answer before the load starts: the kill below must hit a serving replica
        with TritonDenoiser(server.grpc_url, timeout_s=300) as warm:
            assert si_snr_db(warm.denoise(wave), reference) >= 60
    total, kill_after = 40, 10
    answered = threading.Semaphore(0)
    # a generous timeout and a short cooldown: a slow answer or a transient failure on a busy machine is not
    # what this test is about
    with ReplicaSet([a.grpc_url, b.grpc_url], cooldown_s=5, timeout_s=300) as replicas:

        def one(_):
            out = replicas.denoise(wave)
            answered.release()
            return si_snr_db(out, reference)

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(one, i) for i in range(total)]
            for _ in range(kill_after):  # counted, not timed: the kill lands with requests still to go
                assert answered.acquire(timeout=120)
            # and on a replica that has answered: on a busy machine (CI beside an INT8 export) b answered the
            # first 10 while a's first requests were still running, and a served 0 of 40
            while replicas.served[a.grpc_url] == 0:
                assert answered.acquire(timeout=120), replicas.served
            os.kill(a.pid, signal.SIGKILL)
            scores = [f.result() for f in futures]  # a lost request would raise here
        served = replicas.served
        failovers = replicas.failovers
        errors = dict(replicas.balancer.last_error)
    assert len(scores) == total and min(scores) >= 60
    assert sum(served.values()) == total, (served, errors)
    assert served[a.grpc_url] > 0 and served[b.grpc_url] > kill_after // 2, (served, errors)
    assert failovers >= 1  # the dead server's requests were sent again, and counted
    # the CLI with both replicas, one of them dead: every file still denoised
    result = invoke("denoise", wav_file, "-o", tmp_path / "out.wav", "--url", a.grpc_url, "--url", b.grpc_url)
    assert result.exit_code == 0, result.output
    assert abs(read_audio(tmp_path / "out.wav") - reference).max() < 2 / 32768  # a 16-bit file of the same


def test_no_reachable_replica_is_one_clear_error():
    urls = [f"127.0.0.1:{port}" for port in free_ports(2)]
    t0 = time.monotonic()
    with pytest.raises(WuxError, match="no Triton replica is reachable") as err:
        ReplicaSet(urls)
    assert all(u in str(err.value) for u in urls) and time.monotonic() - t0 < 30


@pytest.mark.server
@pytest.mark.slow
def test_perf_over_two_replicas_retries_what_the_killed_one_held(two_servers):
    import tritonclient.grpc as grpcclient

    from wux.perf.loadgen import PerfConfig, run_perf

    (a, b), _ = two_servers
    killed = threading.Event()
    stats = grpcclient.InferenceServerClient(a.grpc_url)

    def served_by_a() -> int:
        s = stats.get_inference_statistics("waveunet", as_json=True)["model_stats"][0]
        return int(s.get("inference_stats", {}).get("success", {}).get("count", 0))

    def kill_a_once_it_has_served_20():
        while not killed.is_set():
            if served_by_a() >= 20:  # counted, not timed: mid-load for sure
                os.kill(a.pid, signal.SIGKILL)
                killed.set()
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_once_it_has_served_20, daemon=True)
    killer.start()
    report = run_perf(PerfConfig(url=a.grpc_url, replicas=(b.grpc_url,), model="waveunet", concurrency=(4,),
                                 measurement_interval_ms=2000, stability_percentage=50, max_trials=4),
                      show_progress=False)
    assert killed.is_set(), "the run ended before server A had served 20 requests"
    killer.join()
    stats.close()
    level = report.levels[0]
    assert report.error is None and report.url == f"{a.grpc_url}, {b.grpc_url}"
    assert level.errors == 0 and level.requests > 0 and level.retried >= 1
