import pytest

from wux.perf.bench import bench_folder, interleaved_timings


def test_bench_reports_every_artifact_beside_eager(exported):
    folder, _ = exported
    report = bench_folder(folder, batches=(1, 2), samples=1024, seconds=0.05, threads=1)
    runners = {r.runner for r in report.rows}
    assert runners == {"pytorch-eager", "torchscript-fp32", "onnx-fp32", "onnx-fp16"}
    assert report.torch_threads == report.ort_threads == 1
    assert report.peak_gmacs_per_s > 0
    for row in report.rows:
        assert row.runs >= 5 and row.p10_ms <= row.median_ms <= row.p90_ms
        assert row.samples_per_s == pytest.approx(row.batch * row.samples / (row.median_ms / 1e3))
        assert row.real_time_factor == pytest.approx(row.samples_per_s / 16000)
        if row.runner == "pytorch-eager":
            assert row.speedup_vs_eager == 1.0
    assert len(report.rows) == 8


def test_bench_can_select_formats(exported):
    folder, _ = exported
    report = bench_folder(folder, formats=["onnx"], batches=(1,), samples=1024, seconds=0.02, threads=1)
    assert {r.runner for r in report.rows} == {"pytorch-eager", "onnx-fp32", "onnx-fp16"}


def test_interleaving_gives_each_runner_its_share():
    calls = []
    times = interleaved_timings({"a": lambda x: calls.append("a"), "b": lambda x: calls.append("b")}, None, 0.01)
    assert len(times["a"]) == len(times["b"]) >= 5
    assert calls[4:8] == ["a", "b", "a", "b"]  # after 2 warm-ups each, strictly alternating
