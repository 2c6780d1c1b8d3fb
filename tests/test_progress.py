import json

import pytest

from tests.test_cli import assert_one_line_error, invoke
from wux.errors import ConfigError
from wux.progress import INTERVAL_ENV, ProgressLines, clock_text, line_interval_s, progress_bar
from wux.resources import EVAL_SET, SAMPLE_CLEAN, SAMPLE_NOISY, bundled


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def lines_of(total, interval_s=30.0):
    said, clock = [], FakeClock()
    return ProgressLines("evaluating", total, interval_s=interval_s, clock=clock, say=said.append), said, clock


def test_a_line_at_most_every_interval_with_the_time_left_and_a_last_line():
    plain, said, clock = lines_of(11)
    for step in range(11):
        clock.now += 7  # 7 s an item: a line at 35 s (5 done) and 70 s (10 done), not between
        plain.advance(loss="0.5") if step == 4 else plain.advance()
    plain.finish()
    assert said == ["evaluating: 5/11 (45 %), 35 s, about 42 s left, loss 0.5",
                    "evaluating: 10/11 (90 %), 1 min 10 s, about 7 s left",
                    "evaluating: 11/11 (100 %) in 1 min 17 s"]


def test_no_last_line_when_the_last_line_said_it_all():
    plain, said, clock = lines_of(2, interval_s=5)
    for _ in range(2):
        clock.now += 5
        plain.advance()
    plain.finish()
    assert said == ["evaluating: 1/2 (50 %), 5 s, about 5 s left", "evaluating: 2/2 (100 %), 10 s"]


def test_advances_from_threads_are_all_counted():
    from concurrent.futures import ThreadPoolExecutor

    plain, said, _ = lines_of(4000, interval_s=0)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: plain.advance(), range(4000)))
    assert plain.done == 4000 and len(said) == 4000 and said[-1].startswith("evaluating: 4000/4000 (100 %)")


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
    clock.now += 60
    plain.advance()
    clock.now += 1
    plain.advance()
    plain.finish()
    assert said == ["evaluating: 4 done, 1 h 02 min", "evaluating: 5 done, 1 h 03 min",
                    "evaluating: 6 done in 1 h 03 min"]


def test_work_that_learns_its_size_along_the_way_counts_against_it():
    plain, said, clock = lines_of(None, interval_s=10)
    clock.now += 10
    plain.advance(total=40)
    assert said == ["evaluating: 1/40 (2 %), 10 s, about 6 min 30 s left"]


def test_clock_text():
    assert [clock_text(s) for s in (0.4, 59.4, 62.4, 3599, 3725)] == ["0 s", "59 s", "1 min 02 s", "59 min 59 s",
                                                                      "1 h 02 min"]


def test_the_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(INTERVAL_ENV, raising=False)
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
    assert [line.split(",")[0] for line in lines] == ["exporting: 1/2 (50 %)", "exporting: 2/2 (100 %)"] * 2
    assert lines[0].endswith(" left, artifact onnx-fp32") and lines[1].endswith(", artifact torchscript-fp32")


@pytest.fixture
def on_a_terminal(monkeypatch):
    """stderr taken for a terminal; the bars drawn recorded instead: [(description, total), ...]."""
    from contextlib import contextmanager

    import wux.progress as progress

    bars = []

    @contextmanager
    def recorded_bar(description, total):
        bars.append((description, total))
        yield lambda n=1, total=None, **fields: None

    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: True)
    monkeypatch.setattr(progress, "rich_bar", recorded_bar)
    monkeypatch.setenv(INTERVAL_ENV, "0")
    return bars


def test_on_a_terminal_a_bar_unless_lines_are_asked_for(on_a_terminal, capsys):
    for show, lines in ((True, True), (True, False), ("lines", True), ("lines", False), (False, True)):
        with progress_bar(f"{show}-{lines}", 3, show, lines=lines) as advance:
            advance()
    assert on_a_terminal == [("True-True", 3), ("True-False", 3)]  # work with its own lines keeps the bar too
    assert capsys.readouterr().err.splitlines()[0].startswith("lines-True: 1/3 (33 %)")  # --json: lines


def test_work_that_says_its_own_lines_says_no_others_off_a_terminal(monkeypatch, capsys):
    monkeypatch.setenv(INTERVAL_ENV, "0")
    with progress_bar("epoch 1/3", 4, True, lines=False) as advance:
        advance(loss="1.0")
    assert capsys.readouterr().err == ""


def test_training_off_a_terminal_says_its_epochs_only(monkeypatch, tiny_corpus, tmp_path):
    monkeypatch.setenv(INTERVAL_ENV, "0")
    result = invoke("train", tiny_corpus, "--preset", "tiny", "--batch-size", "4", "--segment", "2048", "--no-augment",
                    "--epochs", "1", "--out", tmp_path / "a.wux.pt")
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == ["epoch 1/1"], result.stderr


@pytest.mark.parametrize("command", ["export", "verify"])
def test_export_and_verify_json_say_their_progress_on_stderr(command, monkeypatch, tiny_checkpoint, tmp_path):
    folder = tmp_path / "exported"
    export = ("export", tiny_checkpoint, "--to", "onnx", "--out", folder, "--chunk", "2048", "--max-batch", "2")
    if command == "verify":
        assert invoke(*export).exit_code == 0
    monkeypatch.setenv(INTERVAL_ENV, "0")
    result = invoke(*(export if command == "export" else ("verify", folder)), "--json")
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)
    said = [line.split(":")[0] for line in result.stderr.splitlines()]
    assert ("exporting" in said) == (command == "export") and "verifying" in said, result.stderr


def test_eval_json_says_its_progress_on_stderr_and_its_record_on_stdout(monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "0")
    result = invoke("eval", "--data", bundled(EVAL_SET), "--limit", "3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"] == 3
    lines = result.stderr.splitlines()  # a line each file (interval 0), so no last line besides
    assert [line.split(",")[0] for line in lines] == [f"evaluating: {n}/3 ({100 * n // 3} %)" for n in (1, 2, 3)]


def test_denoise_off_a_terminal_counts_its_files(monkeypatch, tmp_path):
    monkeypatch.setenv(INTERVAL_ENV, "0")
    result = invoke("denoise", bundled(SAMPLE_NOISY), bundled(SAMPLE_CLEAN), "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    lines = [line.split(",")[0] for line in result.stderr.splitlines() if line.startswith("denoising: ")]
    assert lines == ["denoising: 1/2 (50 %)", "denoising: 2/2 (100 %)"], result.stderr


def test_a_bad_interval_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv(INTERVAL_ENV, "soon")
    assert_one_line_error(invoke("eval", "--data", bundled(EVAL_SET), "--limit", "1"), INTERVAL_ENV)
