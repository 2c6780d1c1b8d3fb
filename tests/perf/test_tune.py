import json
import os
import shutil
from dataclasses import replace

import pytest

from tests.test_cli import assert_one_line_error, invoke
from wux.errors import WuxError
from wux.perf.loadgen import LevelResult
from wux.perf.tune import (
    CANDIDATE,
    SERVED,
    SERVED_AGAIN,
    BatchSettings,
    TuneConfig,
    TuneTrial,
    apply_settings,
    best_level,
    choose,
    mismatch,
    run_tune,
    settings_of,
    tuning_grid,
)


def level(conc: int, infer_per_s: float, p99_ms: float, errors: int = 0) -> LevelResult:
    return LevelResult(concurrency=conc, stable=True, trials=3, requests=100, errors=errors,
                       throughput_infer_per_s=infer_per_s, throughput_audio_s_per_s=infer_per_s,
                       latency_avg_ms=p99_ms / 2, latency_p50_ms=p99_ms / 2, latency_p90_ms=p99_ms,
                       latency_p95_ms=p99_ms, latency_p99_ms=p99_ms, client_send_ms=0, client_recv_ms=0,
                       server_queue_ms=0, server_compute_input_ms=0, server_compute_infer_ms=0,
                       server_compute_output_ms=0, client_cpu_percent=0)


def test_grid_prunes_and_caps():
    cfg = TuneConfig(url="", model="m", preferred_batch=((), (4,)), queue_delay_us=(0, 500), instances=(1, 2))
    grid = tuning_grid(cfg, BatchSettings(8, (), 0, 1))
    assert {s.max_batch for s in grid} == {1, 4, 8}  # default: 1, half, the served limit
    # max batch 1 has nothing to batch: one config per instance count, no delay, no preferred size
    assert [s for s in grid if s.max_batch == 1] == [BatchSettings(1, (), 0, 1), BatchSettings(1, (), 0, 2)]
    assert len(grid) == 2 + 2 * 2 * 2 * 2 and len(set(grid)) == len(grid)
    with pytest.raises(WuxError, match="every preferred batch size is larger"):
        tuning_grid(TuneConfig(url="", model="m", max_batch=(2,), preferred_batch=((4,),)), BatchSettings(8, (), 0, 1))
    with pytest.raises(WuxError, match="exceeds model m's max_batch_size 8"):
        tuning_grid(TuneConfig(url="", model="m", max_batch=(16,)), BatchSettings(8, (), 0, 1))
    # a model that does not batch: only the instance count varies
    assert tuning_grid(TuneConfig(url="", model="m", instances=(1, 3)), BatchSettings(0, (), 0, 1)) == [
        BatchSettings(0, (), 0, 1), BatchSettings(0, (), 0, 3)]
    with pytest.raises(WuxError, match="does not batch"):
        tuning_grid(TuneConfig(url="", model="m", max_batch=(4,)), BatchSettings(0, (), 0, 1))


def test_a_candidate_equal_to_the_served_config_is_not_measured_again():
    from wux.perf.tune import without_served

    grid = [BatchSettings(8, (), 500, 1), BatchSettings(8, (), 0, 1), BatchSettings(8, (4,), 500, 1)]
    # the server filled in preferred 8 for the served config: a candidate leaving it empty is the same config
    assert without_served(grid, BatchSettings(8, (8,), 500, 1)) == grid[1:]


def test_threads_are_searched_only_where_the_model_has_them():
    served = BatchSettings(4, (), 0, 1, threads=0)
    grid = tuning_grid(TuneConfig(url="", model="m", max_batch=(4,), queue_delay_us=(0,), instances=(1, 2),
                                  threads=(1, 2)), served)
    assert [(s.instances, s.threads) for s in grid] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    with pytest.raises(WuxError, match="no thread-count parameter"):
        tuning_grid(TuneConfig(url="", model="m", threads=(1,)), BatchSettings(4, (), 0, 1))
    # not asked: the thread count is left as served
    assert {s.threads for s in tuning_grid(TuneConfig(url="", model="m"), served)} == {None}


def test_preferred_choices_parse():
    import typer

    from wux.cli_options import preferred

    assert preferred("default,4,2+4,4") == ((), (4,), (2, 4))
    with pytest.raises(typer.BadParameter):
        preferred("0")


def test_best_level_respects_budget_and_errors():
    levels = [level(1, 10, 20), level(2, 18, 35), level(4, 25, 80), level(8, 30, 40, errors=3)]
    assert best_level(levels, None) == 2  # the erroring level never wins, even when it is fastest
    assert best_level(levels, 50) == 1
    assert best_level(levels, 10) is None
    # equal throughput: the lower p99 wins
    assert best_level([level(1, 10, 30), level(2, 10, 20)], None) == 1


def trial(role: str, infer_per_s: float, p99_ms: float) -> TuneTrial:
    return TuneTrial(None if role != CANDIDATE else BatchSettings(4, (), 0, 1), role,
                     levels=[level(2, infer_per_s, p99_ms)], best_level=0)


def test_choose_keeps_the_served_config_unless_a_change_earns_its_place():
    served, again = trial(SERVED, 100, 50), trial(SERVED_AGAIN, 96, 50)
    # 4 % faster is inside a 5 % margin: keep the served config
    assert choose([served, trial(CANDIDATE, 104, 40), again], 5.0) == 0
    # 20 % faster is a real gain
    assert choose([served, trial(CANDIDATE, 120, 60), again], 5.0) == 1
    # equal within the margin: the lower p99 wins
    assert choose([served, trial(CANDIDATE, 120, 60), trial(CANDIDATE, 118, 30), again], 5.0) == 2
    # a wider margin (say, a noisy run) swallows the gain
    assert choose([served, trial(CANDIDATE, 120, 60), again], 25.0) == 0
    # a served config over budget has no point: any candidate with one wins
    over = TuneTrial(None, SERVED, levels=[level(1, 100, 500)], best_level=None)
    assert choose([over, trial(CANDIDATE, 50, 20)], 5.0) == 1
    assert choose([over], 5.0) is None


def test_noise_margin_and_ratio_from_hand_numbers():
    from wux.perf.tune import TuneReport, decide

    # served 100 then 96 infer/s: they differ by 4 of their mean 98, 4.08 %; the margin is then 5 % (the floor)
    report = TuneReport("u", "m", "m", None, trials=[trial(SERVED, 100, 50), trial(CANDIDATE, 120, 45),
                                                     trial(SERVED_AGAIN, 96, 50)])
    decide(report, 5.0)
    assert report.noise_percent == pytest.approx(4.0816, abs=1e-4) and report.margin_percent == 5.0
    assert report.best_trial == 1 and report.throughput_vs_baseline == pytest.approx(120 / 98)
    # a noisy run (100 vs 80: 22.2 %) swallows a 20 % gain: the served config is kept, with no ratio
    noisy = TuneReport("u", "m", "m", None, trials=[trial(SERVED, 100, 50), trial(CANDIDATE, 120, 45),
                                                    trial(SERVED_AGAIN, 80, 50)])
    decide(noisy, 5.0)
    assert noisy.margin_percent == pytest.approx(22.222, abs=1e-3)
    assert noisy.best_trial == 0 and noisy.throughput_vs_baseline is None


def test_settings_round_trip_through_a_model_config():
    from tritonclient.grpc import model_config_pb2

    config = model_config_pb2.ModelConfig(name="m", backend="python", max_batch_size=8)
    config.instance_group.add(count=1)
    wanted = BatchSettings(4, (2, 4), 1500, 3)
    changed = apply_settings(config, wanted)
    # the served queue policy reads back as unbounded (0); the copy leaves the original alone
    assert settings_of(changed) == replace(wanted, max_queue_size=0)
    assert settings_of(config) == BatchSettings(8, (), 0, 1, None, 0)
    assert mismatch(wanted, wanted) is None
    assert "instances 1 (asked 3)" in mismatch(wanted, BatchSettings(4, (2, 4), 1500, 1))
    # an empty preferred list lets the server choose (Triton's python backend fills in max_batch)
    assert mismatch(BatchSettings(4, (), 0, 1), BatchSettings(4, (4,), 0, 1)) is None
    # the python backend's onnxruntime thread count is a config parameter
    threaded = apply_settings(config, BatchSettings(4, (), 0, 2, threads=1))
    assert threaded.parameters["ort_intra_op_threads"].string_value == "1" and settings_of(threaded).threads == 1
    assert "threads 0 (asked 1)" in mismatch(BatchSettings(4, (), 0, 2, 1), BatchSettings(4, (4,), 0, 2, 0))
    # Triton's onnxruntime backend names the same count intra_op_thread_count; the queue limit is a policy
    ort = model_config_pb2.ModelConfig(name="o", platform="onnxruntime_onnx", max_batch_size=8)
    tuned = apply_settings(ort, BatchSettings(8, (), 0, 1, threads=2, max_queue_size=16))
    assert tuned.parameters["intra_op_thread_count"].string_value == "2"
    assert "ort_intra_op_threads" not in tuned.parameters
    assert tuned.dynamic_batching.default_queue_policy.max_queue_size == 16
    assert settings_of(tuned) == BatchSettings(8, (), 0, 1, 2, 16)


def served_config(url: str, model: str):
    import tritonclient.grpc as grpc

    client = grpc.InferenceServerClient(url)
    try:
        return client.get_model_config(model).config
    finally:
        client.close()


def quick(url: str, **kw) -> TuneConfig:
    return TuneConfig(url=url, model="waveunet_python", measurement_interval_ms=300, max_trials=3,
                      stability_percentage=50, concurrency=kw.pop("concurrency", (1, 2)),
                      queue_delay_us=kw.pop("queue_delay_us", (0,)), instances=kw.pop("instances", (1,)), **kw)


@pytest.mark.slow
@pytest.mark.server
def test_tune_applies_each_config_then_restores_the_served_one(served):
    info, _ = served
    before = served_config(info.grpc_url, "waveunet_python")
    report = run_tune(quick(info.grpc_url, max_batch=(1, 3), instances=(1, 2), threads=(1,)), show_progress=False)
    assert report.error is None and report.restored
    assert served_config(info.grpc_url, "waveunet_python") == before  # the served config is back, exactly
    first, *candidates, last = report.trials
    assert (first.role, last.role) == (SERVED, SERVED_AGAIN)  # measured first and again last
    assert first.applied == last.applied == settings_of(before)
    assert [t.requested for t in candidates] == [BatchSettings(1, (), 0, 1, 1), BatchSettings(1, (), 0, 2, 1),
                                                 BatchSettings(3, (), 0, 1, 1), BatchSettings(3, (), 0, 2, 1)]
    for trial in candidates:
        # what the server read back after the reload is what was asked: the config really changed
        assert trial.role == CANDIDATE and trial.error is None and mismatch(trial.requested, trial.applied) is None
        assert trial.levels and all(lv.errors == 0 and lv.requests > 0 for lv in trial.levels)
    assert report.noise_percent is not None and report.margin_percent >= max(5.0, report.noise_percent)
    assert report.best is not None and report.best.best is not None


@pytest.mark.slow
@pytest.mark.server
def test_tune_through_the_front_model(served):
    info, _ = served
    report = run_tune(quick(info.grpc_url, via="waveunet", max_batch=(3,), concurrency=(1,),
                            lengths=((5000, 1.0),)), show_progress=False)
    assert report.error is None and report.via == "waveunet" and report.restored
    assert all(t.levels[0].sent_lengths == {5000: t.levels[0].requests} for t in report.trials)
    result = invoke("tune", "--url", info.grpc_url, "--via", "waveunet", "--max-batch", "3", "--queue-delay-us",
                    "0", "--instances", "1", "--concurrency", "1", "--lengths", "5000:1", "--max-trials", "3",
                    "--measurement-interval", "300", "--stability-percentage", "50", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["via"] == "waveunet" and payload["model"] == "waveunet_python" and payload["restored"]
    assert [t["role"] for t in payload["trials"]] == [SERVED, CANDIDATE, SERVED_AGAIN]


def finished(best_role: str):
    from wux.perf.tune import TuneReport

    report = TuneReport("127.0.0.1:1", "m", "m", 50.0, trials=[trial(SERVED, 100, 40), trial(CANDIDATE, 130, 30),
                                                                trial(SERVED_AGAIN, 98, 41)])
    report.best_trial = 0 if best_role == SERVED else 1
    report.noise_percent, report.margin_percent = 2.0, 5.0
    report.throughput_vs_baseline = None if best_role == SERVED else 1.31
    report.restored = True
    return report


@pytest.mark.parametrize("best_role", [SERVED, CANDIDATE])
def test_the_table_says_which_config_won(best_role, capsys):
    from wux import render

    render.tune(finished(best_role))
    out = capsys.readouterr().out
    if best_role == SERVED:
        assert "best: #0 100.0 infer/s" in out and "keep it" in out and "x the served config" not in out
    else:
        assert "best: #1 130.0 infer/s" in out and "= 1.31x the served config" in out and "keep it" not in out
    assert "the served config was restored" in out


@pytest.fixture
def own_server(served, tmp_path):
    """A server on a copy of the session repository: these tests write into it."""
    from wux.triton_repo.server import TritonServer

    repo = tmp_path / "repo"
    shutil.copytree(served[0].repo, repo)
    with TritonServer(repo) as info:
        yield info, repo


@pytest.fixture
def slow_served_server(served, tmp_path):
    """A server on a copy of the session repository whose python model waits 300 ms to fill a batch."""
    from wux.triton_repo.server import TritonServer

    repo = tmp_path / "repo"
    shutil.copytree(served[0].repo, repo)
    path = repo / "waveunet_python" / "config.pbtxt"
    text = path.read_text()
    assert "max_queue_delay_microseconds: 50000" in text
    path.write_text(text.replace("max_queue_delay_microseconds: 50000", "max_queue_delay_microseconds: 300000"))
    with TritonServer(repo) as info:
        yield info, repo


@pytest.mark.slow
@pytest.mark.server
def test_write_puts_the_best_config_in_the_repository(slow_served_server):
    from wux.triton_repo.config import validate

    info, repo = slow_served_server
    path = repo / "waveunet_python" / "config.pbtxt"
    # The served config waits 300 ms to fill a batch of 3: over a 150 ms budget at concurrency 1 and 2. Every
    # candidate has no queue delay (a few ms a request here), so one of them must win and be written, however busy
    # the machine: the margins are a hundred milliseconds each way.
    assert settings_of(validate(path.read_text(), "x")).queue_delay_us == 300_000
    result = invoke("tune", "--url", info.grpc_url, "--max-batch", "1,3", "--queue-delay-us", "0",
                    "--instances", "1", "--concurrency", "1,2", "--measurement-interval", "600",
                    "--max-trials", "3", "--stability-percentage", "50", "--p99-budget-ms", "150",
                    "--repo", repo, "--write", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["trials"][0]["best_level"] is None  # the served config is over budget
    best = BatchSettings(**{**report["trials"][report["best_trial"]]["requested"], "preferred_batch": ()})
    assert report["written"] == str(path) and not report["restored"]
    on_disk = validate(path.read_text(), str(path))  # still a valid config for Triton's schema
    # threads and the queue were not searched: left as they were
    assert settings_of(on_disk) == replace(best, threads=0, max_queue_size=0)
    assert on_disk.backend == "python" and on_disk.name == "waveunet_python"  # the rest is kept
    live = settings_of(served_config(info.grpc_url, "waveunet_python"))
    assert mismatch(best, live) is None  # and the server now runs it
    assert not list(path.parent.glob(".*partial"))
    from wux.triton_repo.server import TritonServer

    with TritonServer(repo) as fresh:  # a server started on the written repository comes up with it
        assert mismatch(best, settings_of(served_config(fresh.grpc_url, "waveunet_python"))) is None


@pytest.mark.slow
@pytest.mark.server
def test_an_impossible_budget_writes_nothing_and_restores(own_server):
    info, repo = own_server
    path = repo / "waveunet_python" / "config.pbtxt"
    text = path.read_text()
    before = served_config(info.grpc_url, "waveunet_python")
    result = invoke("tune", "--url", info.grpc_url, "--max-batch", "3", "--queue-delay-us", "0",
                    "--instances", "1", "--concurrency", "1,2", "--measurement-interval", "300",
                    "--max-trials", "3", "--p99-budget-ms", "0.001", "--repo", repo, "--write")
    assert result.exit_code == 1, result.output
    assert "no configuration met p99 <= 0.001 ms" in result.output
    assert path.read_text() == text and served_config(info.grpc_url, "waveunet_python") == before


@pytest.mark.server
def test_write_refuses_a_repository_that_is_not_served(served, tmp_path):
    info, _ = served
    other = tmp_path / "repo"
    shutil.copytree(info.repo, other)
    path = other / "waveunet_python" / "config.pbtxt"
    path.write_text(path.read_text().replace("count: 1", "count: 2"))
    assert_one_line_error(invoke("tune", "--url", info.grpc_url, "--repo", other, "--write"),
                          "is not what the server serves", str(path))
    assert_one_line_error(invoke("tune", "--url", info.grpc_url, "--write"), "--write needs --repo")
    assert_one_line_error(invoke("tune", "--url", info.grpc_url, "--max-batch", "4"), "exceeds")


def test_tune_server_down_is_one_line():
    from wux.triton_repo.server import free_port

    assert_one_line_error(invoke("tune", "--url", f"127.0.0.1:{free_port()}"), "cannot use model")


@pytest.mark.slow
@pytest.mark.server
def test_server_killed_mid_tune_ends_cleanly(own_server):
    import threading
    import time

    from wux.triton_repo.server import TritonServer

    info, repo = own_server
    server = TritonServer(repo)
    victim = server.start()
    killer = threading.Timer(4.0, server.process.kill)
    killer.start()
    t0 = time.monotonic()
    try:
        report = run_tune(quick(victim.grpc_url, max_batch=(1, 2, 3), instances=(1, 2), timeout_s=5),
                          show_progress=False)
    finally:
        killer.cancel()
        server.stop()
    assert time.monotonic() - t0 < 60
    assert report.error and not report.restored and len(report.trials) < 8
    with pytest.raises(ProcessLookupError):  # nothing of the killed server is left: its stubs were reaped
        os.killpg(victim.pid, 0)


@pytest.mark.slow
@pytest.mark.server
def test_a_server_without_model_control_is_one_line(served, tmp_path):
    from wux.triton_repo.server import TritonServer

    repo = tmp_path / "repo"
    shutil.copytree(served[0].repo, repo)
    for model in ("waveunet_onnx", "waveunet_torchscript"):  # no backend for these here; mode none loads all
        shutil.rmtree(repo / model, ignore_errors=True)
    with TritonServer(repo, control_mode="none") as info:
        result = invoke("tune", "--url", info.grpc_url, "--max-batch", "3", "--queue-delay-us", "0",
                        "--instances", "1")
    assert_one_line_error(result, "does not allow loading models", "--model-control-mode explicit")


@pytest.fixture
def doomed(served, tmp_path):
    """(server, TuneConfig, ModelControl): a server of its own on a copy of the session repository, for a test to stop
    at a chosen point; stopped here too, by its PID, if the test did not."""
    from wux.perf.tune import ModelControl
    from wux.triton_repo.server import TritonServer

    repo = tmp_path / "repo"
    shutil.copytree(served[0].repo, repo)
    server = TritonServer(repo)
    cfg = quick(server.start().grpc_url)
    control = ModelControl(cfg.url, cfg.model, cfg.timeout_s, cfg.load_timeout_s)
    try:
        yield server, cfg, control
    finally:
        control.close()
        server.stop()


@pytest.mark.slow
@pytest.mark.server
def test_a_server_gone_between_a_trials_load_and_its_measuring_ends_the_run_as_gone(doomed):
    from wux.perf.tune import measure

    server, cfg, control = doomed
    control.load(control.served_config())  # the trial's load succeeded...
    server.stop()  # ...then the server went away before its first request (the race a kill mid-tune can hit)
    error = measure(cfg, control, TuneTrial(None, SERVED))
    assert error.startswith("the server went away: ") and "cannot use model 'waveunet_python'" in error


@pytest.mark.server
def test_a_server_gone_during_the_served_configs_reload_ends_the_run_as_gone(doomed):
    from wux.perf.tune import run_trial

    server, cfg, control = doomed
    served = control.served_config()
    server.stop()  # gone before the first trial (the served config, reloaded) could load
    trial = TuneTrial(None, SERVED)
    error = run_trial(cfg, control, served, trial)
    assert error.startswith("the server went away: ") and trial.error == error
