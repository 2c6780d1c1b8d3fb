import pytest

from wux.errors import WuxError
from wux.perf.bench import BenchReport, bench_folder, bench_row, interleaved_timings


def test_bench_reports_every_artifact_beside_eager(exported):
    folder, _ = exported
    report = bench_folder(folder, batches=(1, 2), samples=1024, seconds=0.05, threads=1)
    assert [(r.runner, r.batch) for r in report.rows] == [
        (name, batch) for batch in (1, 2) for name in ("pytorch-eager", "torchscript-fp32", "onnx-fp32", "onnx-fp16")]
    assert report.torch_threads == report.ort_threads == 1
    assert report.peak_gmacs_per_s > 0
    for row in report.rows:
        assert row.runs >= 5 and row.p10_ms <= row.median_ms <= row.p90_ms and row.samples == 1024
        assert row.gmacs_per_s > 0 and row.real_time_factor > 0
    assert all(r.speedup_vs_eager == 1.0 for r in report.rows if r.runner == "pytorch-eager")


def test_a_row_in_audio_terms_by_hand():
    # 3 runs of 2 x 16000 samples at 16 kHz taking 0.1, 0.2 and 0.4 s: the median run is 0.2 s, so 160000
    # samples/s = 10 s of audio per second; at 2000 MAC per sample that is 0.32 GMAC/s, 32 % of a 1 GMAC/s
    # peak; eager taking 0.5 s makes this 2.5x eager.
    row = bench_row("x", "cpu", 2, 16000, [0.1, 0.4, 0.2], 16000, 2000.0, 0.5, 1.0)
    assert row.median_ms == pytest.approx(200.0) and row.runs == 3
    assert row.samples_per_s == pytest.approx(160_000) and row.real_time_factor == pytest.approx(10.0)
    assert row.gmacs_per_s == pytest.approx(0.32) and row.peak_fraction == pytest.approx(0.32)
    assert row.speedup_vs_eager == pytest.approx(2.5)
    assert row.p10_ms == pytest.approx(120.0) and row.p90_ms == pytest.approx(360.0)  # numpy's linear rule
    # at 48 kHz the same samples are a third of the audio
    assert bench_row("x", "cpu", 2, 16000, [0.2], 48000, 0.0, 0.2, None).real_time_factor == pytest.approx(10 / 3)


def test_each_precision_is_compared_with_its_formats_fp32_at_the_same_shape():
    rows = [bench_row(name, "cpu", b, 16000, [t], 16000, 0.0, 1.0, None) for name, b, t in (
        ("pytorch-eager", 1, 1.0), ("onnx-fp32", 1, 0.3), ("onnx-int8", 1, 0.15), ("onnx-fp16", 8, 0.5),
        ("onnx-fp32", 8, 2.0), ("onnx-int8", 8, 0.8), ("torchscript-fp32", 1, 0.4))]
    report = BenchReport("f", "cpu", 1, None, None, rows)
    assert [(v["runner"], v["batch"], round(v["speedup"], 3)) for v in report.versus_fp32] == [
        ("onnx-int8", 1, 2.0), ("onnx-fp16", 8, 4.0), ("onnx-int8", 8, 2.5)]
    assert report.to_dict()["versus_fp32"] == report.versus_fp32


def test_bench_can_select_formats(exported):
    folder, _ = exported
    report = bench_folder(folder, formats=["onnx"], batches=(1,), samples=1024, seconds=0.02, threads=1)
    assert {r.runner for r in report.rows} == {"pytorch-eager", "onnx-fp32", "onnx-fp16"}


def test_a_length_no_artifact_takes_is_named_in_the_refusal(exported):
    with pytest.raises(WuxError, match=r"no artifact to benchmark on this device \(onnx-fp32: 7 samples, but it takes"):
        bench_folder(exported[0], formats=["onnx"], batches=(1,), samples=7, seconds=0.02, threads=1)


def test_a_batch_past_the_profile_is_refused_before_its_input_is_made(exported):
    """A batch of a billion would need 4 TB of input: refused by the artifact's profile first, in one line."""
    with pytest.raises(WuxError, match=r"onnx-fp32: batch 1000000000 is outside 1\.\.3"):
        bench_folder(exported[0], formats=["onnx"], batches=(1, 1_000_000_000), samples=1024, seconds=0.02,
                     threads=1)


def test_runners_alternate_in_blocks():
    calls = []
    times = interleaved_timings({"a": lambda x: calls.append("a"), "b": lambda x: calls.append("b")}, None, 0.004)
    # after 2 warm-ups each, blocks alternate: a's block (a warm-up run then timed runs), then b's, 4 times
    assert calls[:4] == ["a", "a", "b", "b"]
    blocks = [calls[4]]
    for c in calls[5:]:
        if c != blocks[-1]:
            blocks.append(c)
    assert blocks == ["a", "b"] * 4
    assert min(len(times["a"]), len(times["b"])) >= 8  # at least two timed runs a block
