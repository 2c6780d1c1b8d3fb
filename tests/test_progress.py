import json

import pytest

from tests.test_cli import assert_one_line_error, invoke
from wux.errors import ConfigError
from wux.progress import INTERVAL_ENV, ProgressLines, clock_text, line_interval_s, progress_bar
from wux.resources import EVAL_SET, SAMPLE_NOISY, bundled


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def lines_of(total, interval_s=30.0):
    said, clock = [], FakeClock()
    return ProgressLines("evaluating", total, interval_s=interval_s, clock=clock, say=said.append), said, clock


def test_a_line_at_most_every_interval_with_the_time_left_and_a_last_line():
    plain, said, clock = lines_of(10)
    for step in range(10):
        clock.now += 7  # 7 s an item: a line at 35 s (5 done) and 70 s (10 done), not between
        plain.advance(loss="0.5") if step == 4 else plain.advance()
    plain.finish()
    assert said == ["evaluating: 5/10 (50 %), 35 s, about 35 s left, loss 0.5",
                    "evaluating: 10/10 (100 %), 1 min 10 s",
                    "evaluating: 10/10 (100 %) in 1 min 10 s"]


def test_a_run_shorter_than_the_interval_says_nothing():
    plain, said, clock = lines_of(3)
    for _ in range(3):
        clock.now += 9
        plain.advance()
    plain.finish()
    assert said == []


def test_work_of_unknown_size_counts_what_is_done():
    plain, said, clock = lines_of(None, interval_s=60)
    clock.now += 3725
    plain.advance(4)
    plain.finish()
    assert said == ["evaluating: 4 done, 1 h 02 min", "evaluating: 4 done in 1 h 02 min"]


def test_work_that_learns_its_size_along_the_way_counts_against_it():
    plain, said, clock = lines_of(None, interval_s=10)
    clock.now += 10
    plain.advance(total=40)
    assert said == ["evaluating: 1/40 (2 %), 10 s, about 6 min 30 s left"]


def test_clock_text():
    assert [clock_text(s) for s in (0.4, 59.4, 62.4, 3599, 3725)] == ["0 s", "59 s", "1 min 02 s", "59 min 59 s",
                                                                      "1 h 02 min"]


def test_the_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(INTERVAL_ENV)
    assert line_interval_s() == 30
    monkeypatch.setenv(INTERVAL_ENV, "2.5")
    assert line_interval_s() == 2.5
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv(INTERVAL_ENV, bad)
        with pytest.raises(ConfigError, match=INTERVAL_ENV):
            line_interval_s()


def test_off_a_terminal_lines_go_to_stderr_and_show_false_says_nothing(monkeypatch, capsys):
    monkeypatch.setenv(INTERVAL_ENV, "0")
    for show in (True, "lines", False):
        with progress_bar("exporting", 2, show) as advance:
            advance(artifact="onnx-fp32")
            advance(artifact="torchscript-fp32")
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()  # pytest's stderr is no terminal: True and "lines" say the same
    assert len(lines) == 6 and lines[:3] == lines[3:]
    assert lines[0].startswith("exporting: 1/2 (50 %), 0 s, about 0 s left, artifact onnx-fp32")
    assert lines[2].startswith("exporting: 2/2 (100 %) in ")


def test_work_that_says_its_own_lines_keeps_the_bar_for_a_terminal(monkeypatch, capsys):
    monkeypatch.setenv(INTERVAL_ENV, "0")
    with progress_bar("epoch 1/3", 4, True, lines=False) as advance:
        advance(loss="1.0")
    assert capsys.readouterr().err == ""


def test_eval_json_says_its_progress_on_stderr_and_its_record_on_stdout(monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "0")
    result = invoke("eval", "--data", bundled(EVAL_SET), "--limit", "3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"] == 3
    lines = result.stderr.splitlines()
    assert [line.split(",")[0] for line in lines[:3]] == [f"evaluating: {n}/3 ({100 * n // 3} %)" for n in (1, 2, 3)]
    assert lines[-1].startswith("evaluating: 3/3 (100 %) in ")


def test_denoise_off_a_terminal_counts_its_files(monkeypatch, tmp_path):
    monkeypatch.setenv(INTERVAL_ENV, "0")
    result = invoke("denoise", bundled(SAMPLE_NOISY), "-o", tmp_path / "clean.wav")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("denoising: ")]
    assert lines[0].startswith("denoising: 1 done, ") and lines[-1].startswith("denoising: 1 done in ")


def test_a_bad_interval_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv(INTERVAL_ENV, "soon")
    assert_one_line_error(invoke("eval", "--data", bundled(EVAL_SET), "--limit", "1"), INTERVAL_ENV)
