"""Outputs appear whole, with the permissions any other file or folder the user makes would have."""

import os
import re
import stat
from pathlib import Path

import pytest

from tests.test_cli import assert_one_line_error, invoke
from wux.errors import WuxError
from wux.fsutil import atomic_dir, atomic_file, check_writable, make_file, make_folder, make_parent, scratch_beside


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_an_atomic_folder_gets_a_normal_folders_mode(tmp_path, umask_022):
    with atomic_dir(tmp_path / "export") as tmp:
        (tmp / "model.onnx").write_bytes(b"x")
    assert mode(tmp_path / "export") == 0o755  # a server running as another user can read an export
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_an_atomic_file_gets_a_normal_files_mode(tmp_path, umask_022):
    with atomic_file(tmp_path / "a.wav") as tmp:
        tmp.write_bytes(b"x")
    assert mode(tmp_path / "a.wav") == 0o644


def test_a_failed_atomic_folder_leaves_nothing_and_keeps_the_old_one(tmp_path):
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "old").write_text("kept")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "export", force=True) as tmp:
        (tmp / "new").write_text("half")
        raise RuntimeError("failed midway")
    assert [p.name for p in tmp_path.iterdir()] == ["export"]
    assert [p.name for p in (tmp_path / "export").iterdir()] == ["old"]


def test_a_replacement_interrupted_between_its_two_moves_puts_the_old_folder_back(tmp_path, monkeypatch):
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "old").write_text("kept")
    real_replace = os.replace

    def interrupted_second_move(src, dst):
        if Path(src).name.endswith(".partial"):  # the old folder is already aside
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr("wux.fsutil.os.replace", interrupted_second_move)
    with pytest.raises(KeyboardInterrupt), atomic_dir(tmp_path / "export", force=True) as tmp:
        (tmp / "new").write_text("whole")
    assert [p.name for p in tmp_path.iterdir()] == ["export"]
    assert [p.name for p in (tmp_path / "export").iterdir()] == ["old"]


@pytest.mark.parametrize("make", [os.mkdir, make_file])
def test_an_interrupt_the_instant_a_scratch_exists_still_removes_it(tmp_path, make):
    """SIGTERM (taken as Ctrl-C) landing right after the temporary folder or file is made, before any work in it:
    it went unremoved when it was made outside the cleanup's reach (a CI run left `.e.*.partial` so)."""
    def made_then_interrupted(path):
        make(path)
        assert path.exists()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with scratch_beside(tmp_path / "e", ".partial", made_then_interrupted):
            raise AssertionError("never reached")
    assert list(tmp_path.iterdir()) == []


def test_a_scratch_name_already_taken_is_not_removed(tmp_path, monkeypatch):
    monkeypatch.setattr("wux.fsutil.secrets.token_hex", lambda n: "same")
    theirs = tmp_path / ".e.same.partial"  # another run's work under the name this one draws
    theirs.mkdir()
    (theirs / "model.onnx").write_bytes(b"theirs")
    with pytest.raises(FileExistsError):
        with scratch_beside(tmp_path / "e", ".partial"):
            raise AssertionError("never reached")
    assert (theirs / "model.onnx").read_bytes() == b"theirs"


def test_an_existing_folder_is_refused_without_force(tmp_path):
    (tmp_path / "export").mkdir()
    with pytest.raises(WuxError, match="already exists; use --force"), atomic_dir(tmp_path / "export"):
        pass


def test_checking_an_output_can_be_written_makes_no_folder(tmp_path):
    png = tmp_path / "plots" / "day1" / "x.png"
    check_writable(png)
    assert list(tmp_path.iterdir()) == []  # a run that fails later leaves no empty folders behind
    with atomic_file(png) as tmp:
        tmp.write_bytes(b"x")
    assert png.read_bytes() == b"x"


def test_an_output_under_a_file_cannot_be_written(tmp_path):
    (tmp_path / "notes").write_text("a file")
    with pytest.raises(WuxError, match="cannot write here .*notes: is a file, not a folder"):
        check_writable(tmp_path / "notes" / "sub" / "x.png")
    said = re.escape(f"cannot write here ({tmp_path / 'notes'}: is a file, not a folder)")
    for make in (make_parent, make_folder):  # the system says "File exists" or "Not a directory"
        with pytest.raises(WuxError, match=said):
            make(tmp_path / "notes" / "sub" / "x")
    with pytest.raises(WuxError, match="notes: is a file, not a folder"):
        make_folder(tmp_path / "notes")


def test_commands_writing_under_a_file_say_which_file_is_in_the_way(tmp_path):
    (tmp_path / "ok.wav").write_text("a file")
    assert_one_line_error(invoke("demo", "-o", tmp_path / "ok.wav"), "ok.wav: is a file, not a folder")
    assert_one_line_error(invoke("export", "--out", tmp_path / "ok.wav" / "sub"), "ok.wav: is a file, not a folder")
    assert (tmp_path / "ok.wav").read_text() == "a file" and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("output", [".", "..", "sub/.."])
def test_the_current_folder_or_one_holding_it_is_not_an_output(tmp_path, monkeypatch, output):
    (tmp_path / "sub" / "sub").mkdir(parents=True)
    (tmp_path / "sub" / "kept").write_text("kept")
    monkeypatch.chdir(tmp_path / "sub")
    with pytest.raises(WuxError, match="is the current folder or holds it"), atomic_dir(Path(output), force=True):
        pass
    assert (tmp_path / "sub" / "kept").read_text() == "kept"
