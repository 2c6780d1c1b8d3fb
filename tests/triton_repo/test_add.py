"""`wux triton --add`: wux's models beside other models in one repository, never replacing anyone else's."""

import json
import re
import shutil
import threading
import time

import pytest

from tests.test_cli import assert_one_line_error, invoke
from wux.errors import WuxError
from wux.fsutil import folder_lock
from wux.triton_repo.generate import (
    RECORD_FILE,
    RepoRequest,
    generate_repository,
    read_record,
    refuse_foreign_models,
)

THEIRS = "their_model"


def repository_with_their_model(path):
    (path / THEIRS / "1").mkdir(parents=True)
    (path / THEIRS / "config.pbtxt").write_text('name: "their_model"\nbackend: "identity"\n')
    return path


def test_force_never_deletes_a_repository_holding_models_wux_did_not_write(exported, tmp_path):
    repo = tmp_path / "repo"
    generate_repository(exported[0], repo, RepoRequest(formats=("onnx", "python")))
    generate_repository(exported[0], repo, RepoRequest(formats=("onnx", "python")), force=True)  # wux's own: replaced
    repository_with_their_model(repo)
    with pytest.raises(WuxError, match=r"holds what wux did not write \(their_model\); --force would delete it"):
        generate_repository(exported[0], repo, RepoRequest(formats=("onnx", "python")), force=True)
    assert (repo / THEIRS / "config.pbtxt").exists() and (repo / "waveunet").is_dir()
    shutil.rmtree(repo / THEIRS)
    # a model copied in from another wux repository is not this one's either, nor is anything else at the top
    for theirs in ("prod_v1", ".git", "notes.txt"):
        if theirs == "prod_v1":
            shutil.copytree(repo / "waveunet_onnx", repo / theirs)
        else:
            (repo / theirs).mkdir() if theirs == ".git" else (repo / theirs).write_text("mine")
        with pytest.raises(WuxError, match=rf"holds what wux did not write \({re.escape(theirs)}\)"):
            generate_repository(exported[0], repo, RepoRequest(formats=("onnx", "python")), force=True)
        assert (repo / theirs).exists()
        shutil.rmtree(repo / theirs) if (repo / theirs).is_dir() else (repo / theirs).unlink()
    (repo / RECORD_FILE).write_text("{not json")
    with pytest.raises(WuxError, match=r"holds what wux did not write \(Dockerfile, README.md, waveunet"):
        generate_repository(exported[0], repo, RepoRequest(formats=("onnx", "python")), force=True)
    with pytest.raises(WuxError, match=f"its {RECORD_FILE} cannot be read"):
        generate_repository(exported[0], repo, RepoRequest(name="den", formats=("onnx", "python")), add=True)
    plain = repository_with_their_model(tmp_path / "plain")  # no wux record at all
    with pytest.raises(WuxError, match="their_model"):
        generate_repository(exported[0], plain, force=True)
    assert sorted(p.name for p in plain.iterdir()) == [THEIRS]


def test_add_writes_beside_other_models_and_replaces_only_its_own(exported, tmp_path):
    repo = repository_with_their_model(tmp_path / "repo")
    result = generate_repository(exported[0], repo, RepoRequest(name="den"), add=True)
    assert result.added and [m.name for m in result.models] == ["den_onnx", "den_torchscript", "den_python", "den"]
    names = sorted(p.name for p in repo.iterdir())
    assert names == sorted(["den", "den_onnx", "den_python", "den_torchscript", "den.README.md", "den.Dockerfile",
                            RECORD_FILE, THEIRS])
    assert "-f den.Dockerfile" in result.docker and "den.Dockerfile" in (repo / "den.README.md").read_text()
    assert (tmp_path / "repo_den_clients" / "denoise_client.py").exists()
    assert json.loads((repo / RECORD_FILE).read_text())["fronts"] == {"den": [m.name for m in result.models]}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no build folder left

    with pytest.raises(WuxError, match="already holds den_onnx, .* from an earlier wux --add --name den; use --force"):
        generate_repository(exported[0], repo, RepoRequest(name="den"), add=True)
    # replaced with --force; a model the earlier run wrote and this one does not is removed with it
    again = generate_repository(exported[0], repo, RepoRequest(name="den", formats=("onnx", "python")), add=True,
                                force=True)
    assert sorted(p.name for p in repo.iterdir() if p.is_dir()) == ["den", "den_onnx", "den_python", THEIRS]
    assert json.loads((repo / RECORD_FILE).read_text())["fronts"] == {"den": [m.name for m in again.models]}
    assert (repo / THEIRS / "config.pbtxt").exists()

    generate_repository(exported[0], repo, RepoRequest(name="two", formats=("onnx", "python")), add=True)
    assert set(json.loads((repo / RECORD_FILE).read_text())["fronts"]) == {"den", "two"}

    (repo / "mine_python").mkdir()  # someone else's model under a name wux would write
    with pytest.raises(WuxError, match="already holds mine_python, which no earlier wux --add --name mine wrote"):
        generate_repository(exported[0], repo, RepoRequest(name="mine", formats=("onnx", "python")), add=True,
                            force=True)
    assert not (repo / "mine").exists() and not (tmp_path / "repo_mine_clients").exists()
    # another front's model is not this --name's to replace, even with --force
    with pytest.raises(WuxError, match="already holds two_onnx, which no earlier wux --add --name two_onnx wrote"):
        generate_repository(exported[0], repo, RepoRequest(name="two_onnx", formats=("onnx", "python")), add=True,
                            force=True)
    assert json.loads((repo / RECORD_FILE).read_text())["fronts"]["two"] == ["two_onnx", "two_python", "two"]


def test_add_from_the_command_line(exported, tmp_path):
    assert_one_line_error(invoke("triton", exported[0], "--repo", tmp_path / "none", "--add"),
                          "--add writes into an existing model repository folder, and there is none here")
    before = sorted(p.name for p in exported[0].parent.iterdir())
    for holder in (exported[0], exported[0].parent):
        assert_one_line_error(invoke("triton", exported[0], "--repo", holder, "--add"),
                              "is or holds the export folder", "which tritonserver would take for a model")
    assert sorted(p.name for p in exported[0].parent.iterdir()) == before  # nothing written, no lock file
    repo = repository_with_their_model(tmp_path / "repo")
    assert_one_line_error(invoke("triton", exported[0], "--repo", repo, "--add", "--deploy", "k8s"),
                          "--deploy describes a repository wux wrote whole; leave out --add")
    result = invoke("triton", exported[0], "--repo", repo, "--add", "--name", "den", "--formats", "onnx,python")
    assert result.exit_code == 0, result.output
    assert f"added to {repo} (see {repo / 'den.README.md'})" in result.output
    assert_one_line_error(invoke("triton", exported[0], "--repo", repo, "--force"), "holds what wux did not write")
    assert (repo / THEIRS).is_dir() and (repo / "den").is_dir()


@pytest.mark.server
def test_a_real_tritonserver_serves_a_repository_with_added_models(exported, tmp_path):
    import os

    import numpy as np

    from wux.clients.triton import TritonDenoiser
    from wux.denoise import export_denoiser
    from wux.metrics import si_snr_db
    from wux.triton_repo.server import TritonServer

    repo = tmp_path / "repo"
    generate_repository(exported[0], repo, RepoRequest(formats=("python",)))
    repository_with_their_model(repo)  # a backend this server lacks: said, not fatal
    generate_repository(exported[0], repo, RepoRequest(name="den", formats=("python",)), add=True)
    server = TritonServer(repo)
    info = server.start()
    try:
        assert sorted(info.ready_models) == ["den", "den_python", "waveunet", "waveunet_python"]
        assert list(info.skipped_models) == [THEIRS]
        wave = np.random.default_rng(5).standard_normal(9001).astype(np.float32) * 0.1
        ref = export_denoiser(exported[0])(wave)
        for model in ("waveunet", "den"):
            with TritonDenoiser(info.grpc_url, model) as client:
                out = client.denoise(wave)
            assert si_snr_db(out, ref) >= 60 and np.abs(out).max() > 1e-3
    finally:
        assert server.stop() == 0
    with pytest.raises(ProcessLookupError):
        os.kill(info.pid, 0)


def test_a_repository_from_before_the_record_is_still_known_as_wuxs(exported, tmp_path):
    repo = tmp_path / "repo"
    generate_repository(exported[0], repo, RepoRequest(formats=("onnx", "python")))
    (repo / RECORD_FILE).unlink()  # as wux wrote repositories before it kept the record
    generate_repository(exported[0], repo, RepoRequest(formats=("onnx", "python")), force=True)
    (repo / RECORD_FILE).unlink()
    repository_with_their_model(repo)
    with pytest.raises(WuxError, match=r"holds what wux did not write \(their_model\)"):
        generate_repository(exported[0], repo, force=True)


def test_a_causal_exports_streaming_models_are_added_under_their_names(causal_exported, tmp_path):
    repo = repository_with_their_model(tmp_path / "repo")
    result = generate_repository(causal_exported[0], repo, RepoRequest(name="live", formats=("python",)), add=True)
    names = [m.name for m in result.models]
    assert names == ["live_python", "live", "live_stream", "live_stream_onnx"]
    assert all((repo / n / "config.pbtxt").exists() for n in names)
    assert json.loads((repo / RECORD_FILE).read_text())["fronts"] == {"live": names}


def test_a_rename_that_fails_leaves_the_repository_as_it_was(tmp_path):
    from wux.triton_repo.generate import move_into

    repo, build = tmp_path / "repo", tmp_path / "build"
    for folder, text in ((repo, "old"), (build, "new")):
        (folder / "m").mkdir(parents=True)
        (folder / "m" / "config.pbtxt").write_text(text)
    (repo / "gone").mkdir()
    with pytest.raises(FileNotFoundError):  # "absent" was never built: the third rename fails
        move_into(build, repo, ["m", "absent"], stale=["gone"])
    assert (repo / "m" / "config.pbtxt").read_text() == "old" and (repo / "gone").is_dir()
    assert (build / "m" / "config.pbtxt").read_text() == "new"


WAITING = "waiting for another wux triton writing into"


def run_while_another_writes(repo, capsys, write, check_meanwhile) -> list:
    """`write` in a thread while the test holds the repository's lock, as another `wux triton` writing there would:
    it must say it waits and write nothing (`check_meanwhile`) until the lock is released; its result."""
    results, errors = [], []

    def work():
        try:
            results.append(write())
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    worker = threading.Thread(target=work)
    with folder_lock(repo, "the test holds the lock"):
        worker.start()
        said, deadline = "", time.monotonic() + 120
        while WAITING not in said and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
            said += capsys.readouterr().err
        assert WAITING in said, (said, errors)
        check_meanwhile()
    worker.join(timeout=300)
    assert not worker.is_alive() and not errors
    return results


def test_adds_into_one_repository_take_turns_so_neither_loses_its_record_entry(exported, tmp_path, capsys):
    repo = repository_with_their_model(tmp_path / "repo")
    formats = ("onnx", "python")
    generate_repository(exported[0], repo, RepoRequest(name="a", formats=formats), add=True)

    def nothing_of_bs_yet():
        assert set(read_record(repo)) == {"a"} and not (repo / "b").exists()

    results = run_while_another_writes(
        repo, capsys, lambda: generate_repository(exported[0], repo, RepoRequest(name="b", formats=formats), add=True),
        nothing_of_bs_yet)
    assert results[0].added
    assert set(read_record(repo)) == {"a", "b"} and (repo / "b").is_dir() and (repo / "a").is_dir()


def test_replacing_a_repository_waits_for_a_writer_there(exported, tmp_path, capsys):
    repo = tmp_path / "repo"
    generate_repository(exported[0], repo, RepoRequest(name="a", formats=("onnx", "python")))
    request = RepoRequest(name="b", formats=("onnx", "python"))

    def still_as_it_was():
        assert set(read_record(repo)) == {"a"} and (repo / "a").is_dir() and not (repo / "b").exists()

    run_while_another_writes(repo, capsys, lambda: generate_repository(exported[0], repo, request, force=True),
                             still_as_it_was)
    assert set(read_record(repo)) == {"b"} and not (repo / "a").exists()


def test_a_long_list_of_what_wux_did_not_write_is_cut_with_a_count(tmp_path):
    for i in range(7):
        (tmp_path / f"m{i}").mkdir()
    with pytest.raises(WuxError, match=r"holds what wux did not write \(m0, m1, m2, m3, m4 \(\+2 more\)\)"):
        refuse_foreign_models(tmp_path)
