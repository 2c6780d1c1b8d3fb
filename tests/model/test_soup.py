"""wux soup: the uniform average of checkpoints of one architecture, refused for anything else."""

import dataclasses
import json

import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import make_checkpoint
from wux.cli import app
from wux.errors import CheckpointError, ConfigError
from wux.fsutil import sha256_file
from wux.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from wux.model.config import TINY
from wux.model.soup import make_soup
from wux.render import flatten

SMALL = dataclasses.replace(TINY, norm="batch")


def member(path, seed, config=SMALL, counter=None, **changes):
    """A checkpoint of `config` with weights drawn from `seed` (BatchNorm's running statistics moved too, its batch
    counter `counter`, by default 100 (seed + 1)), `changes` applied to its record."""
    torch.manual_seed(seed)
    from wux.model.checkpoint import build_model

    model = build_model(config)
    state = model.state_dict()
    for key, tensor in state.items():
        if key.endswith("running_var"):
            tensor.copy_(torch.rand_like(tensor) + 0.5)
        elif tensor.is_floating_point():
            tensor.add_(torch.randn_like(tensor))
        else:
            tensor.fill_(100 * (seed + 1) if counter is None else counter)
    return save_checkpoint(Checkpoint(state, config, **changes), path)


def test_the_soup_is_the_mean_of_its_members_and_runs_as_one_model(tmp_path):
    paths = [member(tmp_path / f"m{i}.wux.pt", seed, counter=counter)
             for i, (seed, counter) in enumerate(((1, 200), (2, 300), (4, 501)))]
    paths[1] = save_checkpoint(dataclasses.replace(load_checkpoint(paths[1]), resume={"epoch": 3}),
                               tmp_path / "m1.last.wux.pt")  # a training checkpoint: its optimizer state is not kept
    result = make_soup(tmp_path / "soup.wux.pt", paths)
    soup = load_checkpoint(tmp_path / "soup.wux.pt")
    states = [load_checkpoint(p).state_dict for p in paths]
    for key, tensor in soup.state_dict.items():
        assert tensor.dtype == states[0][key].dtype, key
        if tensor.is_floating_point():
            expected = sum(s[key].double() for s in states) / 3
            assert torch.allclose(tensor.double(), expected, atol=1e-6, rtol=0), key
        else:  # the batch counters 200, 300, 501: their mean, rounded down
            assert tensor.item() == 333, key
    assert soup.resume is None
    assert soup.config == SMALL and result.tensors_averaged == len(soup.state_dict) and result.tensors_shared == 0
    assert [m.checkpoint for m in result.members] == [str(p) for p in paths]
    assert soup.training["soup"]["members"][1]["sha256"] == load_checkpoint(paths[1]).sha256
    assert result.sha256 == soup.sha256
    with torch.inference_mode():
        out = soup.build_model()(torch.randn(1, 1, 4096))
    assert out.shape == (1, 1, 4096) and torch.isfinite(out).all()


def test_tensors_every_member_holds_alike_are_kept_exactly(tmp_path):
    a = member(tmp_path / "a.wux.pt", 1)
    ckpt = load_checkpoint(a)
    key = next(k for k, v in ckpt.state_dict.items() if v.is_floating_point())
    other = {k: v.clone() + (0 if k == key else 1) for k, v in ckpt.state_dict.items()}
    b = save_checkpoint(Checkpoint(other, SMALL), tmp_path / "b.wux.pt")
    result = make_soup(tmp_path / "soup.wux.pt", [a, b])
    assert result.tensors_shared == 1
    assert torch.equal(load_checkpoint(tmp_path / "soup.wux.pt").state_dict[key], ckpt.state_dict[key])


def test_members_of_another_architecture_rate_or_tensor_are_refused_naming_the_file(tmp_path):
    a = member(tmp_path / "a.wux.pt", 1)
    other = member(tmp_path / "wide.wux.pt", 2, dataclasses.replace(SMALL, channels=(6, 8)))
    with pytest.raises(CheckpointError, match="its model is not .*a.wux.pt's") as e:
        make_soup(tmp_path / "soup.wux.pt", [a, other])
    assert "wide.wux.pt" in str(e.value)
    rate = member(tmp_path / "rate.wux.pt", 3, sample_rate=8000)
    with pytest.raises(CheckpointError, match="its sample rate is not"):
        make_soup(tmp_path / "soup.wux.pt", [a, rate])
    ckpt = load_checkpoint(a)
    halved = {k: v.half() if v.is_floating_point() else v for k, v in ckpt.state_dict.items()}
    dtype = save_checkpoint(Checkpoint(halved, SMALL), tmp_path / "half.wux.pt")
    with pytest.raises(CheckpointError, match="torch.float16"):
        make_soup(tmp_path / "soup.wux.pt", [a, dtype])
    assert not (tmp_path / "soup.wux.pt").exists()


def test_one_member_a_copy_an_input_as_output_or_an_existing_output_are_refused(tmp_path):
    a = member(tmp_path / "a.wux.pt", 1)
    b = member(tmp_path / "b.wux.pt", 2)
    with pytest.raises(ConfigError, match="at least 2"):
        make_soup(tmp_path / "soup.wux.pt", [a])
    copy = tmp_path / "copy.wux.pt"
    copy.write_bytes(a.read_bytes())
    with pytest.raises(CheckpointError, match="same weights as .*a.wux.pt") as e:
        make_soup(tmp_path / "soup.wux.pt", [a, b, copy])
    assert "copy.wux.pt" in str(e.value)
    last = save_checkpoint(dataclasses.replace(load_checkpoint(b), training={"epochs": 9}, resume={"epoch": 9}),
                           tmp_path / "b.last.wux.pt")  # a run whose last epoch was its best: same weights
    with pytest.raises(CheckpointError, match="same weights as .*b.wux.pt"):
        make_soup(tmp_path / "soup.wux.pt", [a, b, last])
    with pytest.raises(Exception, match="replace the input"):
        make_soup(b, [a, b], force=True)
    make_soup(tmp_path / "soup.wux.pt", [a, b])
    with pytest.raises(Exception, match="already exists"):
        make_soup(tmp_path / "soup.wux.pt", [a, b])
    make_soup(tmp_path / "soup.wux.pt", [a, b], force=True)


def test_buffers_that_differ_and_are_not_finite_are_refused(tmp_path):
    a = member(tmp_path / "a.wux.pt", 1)
    ckpt = load_checkpoint(a)
    key = next(k for k in ckpt.state_dict if k.endswith("running_var"))  # a buffer: loading does not check it
    broken = dict(ckpt.state_dict)
    broken[key] = torch.full_like(broken[key], float("inf"))
    bad = save_checkpoint(Checkpoint(broken, SMALL), tmp_path / "inf.wux.pt")
    with pytest.raises(CheckpointError, match=f"{key} holds NaN or Inf") as e:
        make_soup(tmp_path / "soup.wux.pt", [a, bad])
    assert "inf.wux.pt" in str(e.value) and not (tmp_path / "soup.wux.pt").exists()


def test_the_cli_writes_the_soup_and_reports_it_as_json_or_one_error_line(tmp_path):
    paths = [member(tmp_path / f"m{i}.wux.pt", i) for i in range(2)]
    out = tmp_path / "soup.wux.pt"
    result = CliRunner().invoke(app, ["soup", *map(str, paths), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["checkpoint"] == str(out) and len(report["members"]) == 2 and out.is_file()
    other = make_checkpoint(tmp_path / "tiny.wux.pt")  # TINY: no norm, so no BatchNorm tensors
    result = CliRunner().invoke(app, ["soup", str(paths[0]), str(other), "-o", str(tmp_path / "x.wux.pt")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "tiny.wux.pt" in lines[0]
    assert "(config.norm 'none' against 'batch')" in lines[0]  # the first field that differs, named
    assert not (tmp_path / "x.wux.pt").exists()


def test_info_shows_each_soup_member_on_its_own_row(tmp_path):
    paths = [member(tmp_path / f"m{i}.wux.pt", i) for i in range(2)]
    make_soup(tmp_path / "soup.wux.pt", paths)
    rows = flatten("training.", load_checkpoint(tmp_path / "soup.wux.pt").training)
    assert rows["training.soup.members[1].checkpoint"] == str(paths[1])
    assert rows["training.soup.members[1].sha256"] == load_checkpoint(paths[1]).sha256
    assert not any(isinstance(v, list) for v in rows.values())
    assert flatten("", {"dilations": [1, 2, 4], "none": []}) == {"dilations": [1, 2, 4], "none": []}  # plain lists


def test_a_bundled_model_joins_a_soup_by_its_name(tmp_path):
    bundled = load_checkpoint("default")
    moved = {k: v + 0.01 if v.is_floating_point() else v for k, v in bundled.state_dict.items()}
    other = save_checkpoint(dataclasses.replace(bundled, state_dict=moved), tmp_path / "moved.wux.pt")
    result = make_soup(tmp_path / "soup.wux.pt", ["default", other])
    assert result.members[0].checkpoint == str(bundled.path) and result.members[0].sha256 == bundled.sha256
    with pytest.raises(Exception, match="replace the input"):  # the bundled file itself, by any name
        make_soup(bundled.path, ["default", other], force=True)


def test_a_greedy_soup_adds_members_best_first_and_leaves_out_one_that_lowers_its_score(tmp_path):
    """The score here is how close one tensor's mean lies to 2 (a soup's is the mean of its members', the tensor
    being averaged): alone 1 and 3 score alike, -5 worst; 1 and 3 together reach 2 exactly, -5 would pull it off."""
    from wux.model.soup import greedy_members, load_members

    key = next(k for k, t in load_checkpoint(member(tmp_path / "probe.wux.pt", 0)).state_dict.items()
               if t.is_floating_point())
    paths = []
    for i, value in enumerate((-5.0, 1.0, 3.0)):
        ckpt = load_checkpoint(member(tmp_path / f"g{i}.wux.pt", i))
        ckpt.state_dict[key].fill_(value)
        paths.append(save_checkpoint(ckpt, tmp_path / f"g{i}.wux.pt"))
    scored = []

    def score(ckpt):
        scored.append(ckpt)
        return -abs(ckpt.state_dict[key].mean().item() - 2.0)

    loaded = load_members(tmp_path / "s.wux.pt", paths, False)
    greedy = greedy_members(loaded, score)
    assert [m for m in greedy.soup.training["soup"]["members"] if set(m) != {"checkpoint"}] == []  # by path: a
    # trial soup reads no member's file (write_soup adds their sha256, each taken as its file was read)
    kept, soup, averaged, steps = greedy.kept, greedy.soup, greedy.tensors_averaged, greedy.steps
    assert greedy.soup_score == 0.0 and greedy.kept_scores == (-1.0, -1.0)
    assert [s.checkpoint for s in steps] == [str(paths[1]), str(paths[2]), str(paths[0])]  # a tie keeps the order
    assert [s.kept for s in steps] == [True, True, False] and [c.path for c in kept] == paths[1:]
    assert [s.alone_si_snr_db for s in steps] == [-1.0, -1.0, -7.0]
    assert steps[1].soup_si_snr_db == 0.0 and steps[2].soup_si_snr_db == pytest.approx(-7 / 3)
    assert len(scored) == 5  # each member alone, then one soup a step
    expected = make_soup(tmp_path / "uniform.wux.pt", paths[1:])  # the soup of those kept, as wux soup makes it
    uniform = load_checkpoint(expected.checkpoint).state_dict
    assert all(torch.equal(t, uniform[k]) for k, t in soup.state_dict.items()) and averaged > 0
    assert soup.training["soup"]["weights"] == "greedy"


def test_a_greedy_soup_that_no_second_member_helps_is_its_best_member_alone(tmp_path):
    from wux.model.soup import greedy_members, load_members

    paths = [member(tmp_path / f"b{i}.wux.pt", i) for i in range(2)]
    loaded = load_members(tmp_path / "s.wux.pt", paths, False)
    greedy = greedy_members(loaded, lambda c: 1.0 if c.path == paths[1] else 0.0)
    kept, soup, averaged, steps = greedy.kept, greedy.soup, greedy.tensors_averaged, greedy.steps
    assert greedy.soup_score == 1.0 and greedy.kept_scores == (1.0,)
    assert [c.path for c in kept] == [paths[1]] and averaged == 0 and [s.kept for s in steps] == [True, False]
    assert all(torch.equal(t, loaded[1].state_dict[k]) for k, t in soup.state_dict.items())


def test_a_soup_records_its_members_as_they_were_read_even_when_one_is_replaced_while_it_is_scored(tmp_path):
    paths = [member(tmp_path / f"m{i}.wux.pt", i) for i in range(2)]
    read = [load_checkpoint(p).sha256 for p in paths]

    def score(soup, members):  # minutes of scoring, in which someone overwrites a member's file
        member(paths[0], 7)
        return {"soup_si_snr_db": 1.0}

    result = make_soup(tmp_path / "s.wux.pt", paths, score=score)
    assert [m.sha256 for m in result.members] == read  # the bytes averaged, not the file there now
    assert load_checkpoint(paths[0]).sha256 != read[0]


def test_a_checkpoint_names_the_file_it_was_read_from_until_it_is_saved_again(tmp_path):
    path = member(tmp_path / "m.wux.pt", 1)
    ckpt = load_checkpoint(path)
    before = ckpt.sha256
    member(path, 2)  # the file replaced after it was read
    assert ckpt.sha256 == before != load_checkpoint(path).sha256
    ckpt.training["note"] = "changed"
    saved = save_checkpoint(ckpt, tmp_path / "copy.wux.pt")
    assert ckpt.sha256 == sha256_file(saved) != before  # saved: the file it was written to


def test_a_checkpoint_made_from_a_loaded_one_names_no_hash_of_its_own(tmp_path):
    ckpt = load_checkpoint(member(tmp_path / "m.wux.pt", 1))
    assert dataclasses.replace(ckpt, path=None).sha256 is None  # in memory: no file, no hash
