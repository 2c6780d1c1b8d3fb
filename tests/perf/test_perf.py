import csv
import os
import shutil
import threading
import time

import pytest
import typer

from tests.test_cli import invoke
from wux import cli_options
from wux.model.load import ModelSource
from wux.perf.loadgen import PerfConfig, run_perf
from wux.perf.report import write_csv
from wux.perf.stability import is_stable, latency_percentiles_ms

# The header perf_analyzer 2.51 itself wrote with -f (concurrency mode), captured from the real binary
# (`make perf-tools`) against a tritonserver 2.51 on this machine; request-rate mode differs only in
# the first column ("Request Rate"), and --percentile does not change the columns.
PERF_ANALYZER_CSV_HEADER = (
    "Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,Server Compute Input,"
    "Server Compute Infer,Server Compute Output,Client Recv,p50 latency,p90 latency,p95 latency,p99 latency")


def test_stability_rule_is_perf_analyzers_max_over_min():
    # max/min <= 1.10 for both series over the last three windows
    assert is_stable([100, 105, 109], [10, 10.5, 10.9], 10)
    assert not is_stable([100, 105, 111], [10, 10, 10], 10)  # 111/100 > 1.10
    # within 10 % of the mean (92.3, 101.3, 110.3: mean 101.3) yet 110.3 / 92.3 = 1.19: not stable
    assert not is_stable([92.3, 101.3, 110.3], [10, 10, 10], 10)
    assert not is_stable([100, 100, 100], [10, 11.5, 10], 10)  # latency jumped
    assert not is_stable([100, 100], [10, 10], 10)  # fewer than three windows
    assert not is_stable([0, 0, 0], [1, 1, 1], 10)  # a window with no completed request never counts
    assert is_stable([50, 300, 100, 101, 99], [1, 9, 10, 10, 10], 5)  # only the last three count
    assert is_stable([100, 101, 102], [10, 30, 10], 10, check_latency=False)  # open loop: throughput alone


def test_percentiles_are_perf_analyzers_nearest_index():
    # sorted 1..10 ms: index int(p/100 * 9 + 0.5): p50 -> 5 (6 ms), p90 -> 8 (9 ms), p95 -> 9, p99 -> 9
    got = latency_percentiles_ms([x / 1000 for x in (3, 1, 2, 10, 4, 5, 6, 7, 8, 9)])
    assert (got["p50"], got["p90"], got["p95"], got["p99"], got["avg"]) == (6.0, 9.0, 10.0, 10.0, 5.5)


def test_length_deck_holds_the_shares():
    from wux.perf.loadgen import length_deck

    deck = length_deck(((16000, 0.7), (48000, 0.3)))
    assert len(deck) == 20 and deck.count(16000) == 14 and deck.count(48000) == 6
    assert sorted(set(length_deck(((1, 1.0), (2, 1.0), (3, 1.0))))) == [1, 2, 3]


def test_input_data_at_any_rate_and_channel_count_is_sent_as_the_models_mono_audio(tmp_path):
    import numpy as np
    import soundfile as sf

    from wux.contract import AudioContract
    from wux.perf.loadgen import Target, make_pool

    t = np.arange(48_000) / 48_000
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "stereo48k.flac", np.stack([tone, -tone / 3], axis=1), 48_000, subtype="PCM_24")
    target = Target(AudioContract(), "waveform", "denoised", core_shape=False)
    (chunk,) = make_pool(target, ((8000, 1.0),), tmp_path, seed=0)[8000][:1]
    expected = (tone - tone / 3)[::3] / 2  # 16 kHz, the channels' mean
    assert chunk.shape == (8000,) and np.abs(chunk[2000:6000] - expected[2000:6000]).max() < 1e-3


def test_range_and_lengths_parsing():
    levels = cli_options.levels
    assert levels("1:8:1") == tuple(range(1, 9)) and levels("2") == (2,) and levels("1:8:3") == (1, 4, 7)
    assert levels("1,2,4,8") == (1, 2, 4, 8) and cli_options.rate_levels("2.5:10:2.5") == (2.5, 5.0, 7.5, 10.0)
    assert cli_options.lengths("16000:0.7,48000:0.3") == ((16000, 0.7), (48000, 0.3))
    for bad in ("0:3", "4:2", "1:2:0", "a:b"):
        with pytest.raises(typer.BadParameter):
            levels(bad)
    with pytest.raises(typer.BadParameter):
        cli_options.lengths("abc:1")



def short(info, folder, **kw) -> PerfConfig:
    url = info.http_url if kw.get("protocol") == "http" else info.grpc_url
    return PerfConfig(url=url, model=kw.pop("model", "waveunet"),
                      measurement_interval_ms=kw.pop("measurement_interval_ms", 400),
                      max_trials=kw.pop("max_trials", 6), stability_percentage=25, validate_export=folder, **kw)


@pytest.mark.server
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_perf_levels_csv_and_validation(served, tmp_path, protocol):
    info, folder = served
    report = run_perf(short(info, folder, model="waveunet_python", concurrency=(1, 2), validate_share=0.5,
                            protocol=protocol))
    assert [lv.concurrency for lv in report.levels] == [1, 2] and report.error is None
    for lv in report.levels:
        assert lv.requests > 0 and lv.errors == 0 and lv.throughput_infer_per_s > 0
        assert lv.latency_p50_ms <= lv.latency_p90_ms <= lv.latency_p95_ms <= lv.latency_p99_ms
        assert lv.validated > 0 and lv.validation_failures == 0
        assert lv.server_compute_infer_ms > 0 and lv.throughput_audio_s_per_s == pytest.approx(
            lv.throughput_infer_per_s * 2048 / 16000)
    path = write_csv(tmp_path / "perf.csv", report.levels)
    assert path.read_text().splitlines()[0] == PERF_ANALYZER_CSV_HEADER
    rows = list(csv.reader(path.open()))
    assert [float(r[1]) for r in rows[1:]] == sorted(float(r[1]) for r in rows[1:])
    assert all(int(r[9]) > 0 for r in rows[1:])  # p50 in microseconds


@pytest.mark.slow
@pytest.mark.server
def test_mixed_lengths_are_sent_in_their_shares(served):
    info, folder = served
    # at concurrency 1 the merged windows are one run of dealt 20-card decks (14 x 512, 6 x 1024) but for the few
    # requests that end between windows: its two partial decks move the 512 count at most 4.2 each from 0.7 of the
    # total, each request left out 0.7 more (10 allowed). A bound, not a rate: a busy machine sends fewer requests
    report = run_perf(short(info, folder, lengths=((512, 0.7), (1024, 0.3)), concurrency=(1,),
                            measurement_interval_ms=1500))
    sent = report.levels[0].sent_lengths
    total = sum(sent.values())
    assert set(sent) == {512, 1024} and total >= 20
    assert abs(sent[512] - 0.7 * total) <= 2 * 4.2 + 10 * 0.7


def served_copy_with(served, tmp_path, change: str):
    """A copy of the session repository whose python core model applies `change` to its output."""
    bad_repo = tmp_path / "repo"
    shutil.copytree(served[0].repo, bad_repo)
    model_py = bad_repo / "waveunet_python" / "1" / "model.py"
    text = model_py.read_text()
    model_py.write_text(text.replace("{self.input_name: np.concatenate(arrays)})[0]",
                                     "{self.input_name: np.concatenate(arrays)})[0]" + change))
    assert model_py.read_text() != text
    return bad_repo


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("change", [" * 1.5", " * np.nan"], ids=["scaled", "nan"])
def test_validation_catches_a_model_that_scales_or_breaks_its_output(served, tmp_path, change):
    """A rescaled output keeps its SI-SNR (max abs error catches it); NaN compares false with every bound
    (the non-finite rule catches it)."""
    from wux.triton_repo.server import TritonServer

    info, folder = served
    with TritonServer(served_copy_with(served, tmp_path, change)) as bad:
        report = run_perf(PerfConfig(url=bad.http_url, protocol="http", model="waveunet", concurrency=(1,),
                                     validate_share=1.0,
                                     validate_export=folder, measurement_interval_ms=300, max_trials=3))
        result = invoke("perf", "--url", bad.grpc_url, "--concurrency-range", "1", "--measurement-interval",
                        "300", "--max-trials", "3", "--validate", "--export", folder)
    level = report.levels[0]
    assert level.validated > 0 and level.validation_failures == level.validated
    assert result.exit_code == 1


@pytest.mark.slow
@pytest.mark.server
def test_server_killed_mid_run_ends_cleanly(served, tmp_path):
    from wux.triton_repo.server import TritonServer

    info, folder = served
    server = TritonServer(info.repo)
    victim = server.start()
    killer = threading.Timer(2.5, server.process.kill)
    killer.start()
    t0 = time.monotonic()
    try:
        report = run_perf(PerfConfig(url=victim.grpc_url, model="waveunet_python", concurrency=(1, 2, 3, 4),
                                     measurement_interval_ms=500, max_trials=4, stability_percentage=50,
                                     timeout_s=5))
    finally:
        killer.cancel()
        server.stop()
    assert time.monotonic() - t0 < 60
    assert report.error and len(report.levels) < 4
    with pytest.raises(ProcessLookupError):  # the killed server's python-backend stubs were reaped too
        os.killpg(victim.pid, 0)


def test_server_down_at_start_is_one_line(tmp_path):
    from tests.test_cli import assert_one_line_error
    from wux.triton_repo.server import free_port

    assert_one_line_error(invoke("perf", "--url", f"127.0.0.1:{free_port()}"), "cannot use model")


@pytest.mark.parametrize("args, refused", [
    (("--streams", "1", "-p", "1000"), "--measurement-interval does not apply with --streams"),
    (("--frame-ms", "10",), "--frame-ms does not apply without --streams"),
    (("--export", "build"), "--export does not apply without --validate"),
    (("--validate", "--export", "build", "--checkpoint", "classic"),
     "--checkpoint does not apply with --export (the export is the reference)"),
    (("--request-distribution", "poisson"), "--request-distribution does not apply without --request-rate-range"),
    (("--request-rate-range", "10", "--concurrency-range", "2"),
     "--concurrency-range does not apply with --request-rate-range"),
], ids=["load+streams", "frame-ms", "export", "export+checkpoint", "distribution", "rates+concurrency"])
def test_options_the_run_would_not_use_are_refused_before_connecting(args, refused):
    from tests.test_cli import assert_one_line_error
    from wux.triton_repo.server import free_port

    assert_one_line_error(invoke("perf", "--url", f"127.0.0.1:{free_port()}", *args), refused)


@pytest.mark.slow
@pytest.mark.server
def test_arrival_gaps():
    import numpy as np

    from wux.perf.loadgen import arrival_gaps

    def first(distribution, n=20000):
        gaps = arrival_gaps(5.0, distribution, np.random.default_rng(0))
        return np.array([next(gaps) for _ in range(n)])

    assert set(first("constant", 100)) == {0.2}
    poisson = first("poisson")
    # exponential gaps: mean 1/rate, standard deviation 1/rate (mean of 20000: sd 0.7 %), memoryless
    assert poisson.mean() == pytest.approx(0.2, rel=0.03) and poisson.std() == pytest.approx(0.2, rel=0.05)
    assert (poisson < 0.2).mean() == pytest.approx(1 - np.exp(-1), abs=0.02)
    assert np.array_equal(first("poisson", 50), poisson[:50])  # a seed gives one schedule


@pytest.mark.parametrize("distribution", ["constant", "poisson"])
def test_request_rate_mode_and_plot(served, tmp_path, distribution):
    info, folder = served
    report = run_perf(short(info, folder, model="waveunet_python", request_rates=(5.0, 10.0),
                            distribution=distribution, measurement_interval_ms=1000))
    assert [lv.request_rate for lv in report.levels] == [5.0, 10.0] and report.error is None
    for lv in report.levels:
        # an open loop delivers what it was asked for, as long as the server keeps up: evenly spaced arrivals
        # land within a request of the rate in every window; Poisson ones (about 15 per level here, sd ~4)
        # are checked for their mean in test_arrival_gaps, and here only for being an open loop at that rate
        if distribution == "constant":
            assert lv.throughput_infer_per_s == pytest.approx(lv.request_rate, rel=0.35)
        else:
            assert 0 < lv.requests <= 3 * lv.request_rate * lv.trials + 10
    path = write_csv(tmp_path / "rate.csv", report.levels)
    assert path.read_text().splitlines()[0] == PERF_ANALYZER_CSV_HEADER.replace("Concurrency", "Request Rate")
    from wux.perf.report import write_plot

    png = write_plot(tmp_path / "perf.png", report.levels, "test")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


@pytest.mark.server
def test_validate_against_a_checkpoint_without_an_export(served, tiny_checkpoint):
    from tests.conftest import make_checkpoint

    info, folder = served
    # the served export was made from a seed-0 tiny checkpoint: the same weights validate...
    same = make_checkpoint(folder.parent / "same.wux.pt", seed=0)
    ok = run_perf(PerfConfig(url=info.grpc_url, model="waveunet", concurrency=(1,), validate_share=1.0,
                             validate_source=ModelSource(checkpoint=same), measurement_interval_ms=300, max_trials=3))
    assert ok.levels[0].validated > 0 and ok.levels[0].validation_failures == 0
    # ...and other weights do not
    other = make_checkpoint(folder.parent / "other.wux.pt", seed=5)
    bad = run_perf(PerfConfig(url=info.grpc_url, model="waveunet", concurrency=(1,), validate_share=1.0,
                              validate_source=ModelSource(checkpoint=other), measurement_interval_ms=300,
                              max_trials=3))
    assert bad.levels[0].validation_failures == bad.levels[0].validated > 0
