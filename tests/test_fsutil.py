"""Outputs appear whole, with the permissions any other file or folder the user makes would have."""

import os
import stat

import pytest

from wux.errors import WuxError
from wux.fsutil import atomic_dir, atomic_file


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_an_atomic_folder_gets_a_normal_folders_mode_not_mkdtemps_0700(tmp_path, umask_022):
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


def test_an_existing_folder_is_refused_without_force(tmp_path):
    (tmp_path / "export").mkdir()
    with pytest.raises(WuxError, match="already exists; use --force"), atomic_dir(tmp_path / "export"):
        pass
