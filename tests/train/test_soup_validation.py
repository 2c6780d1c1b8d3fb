"""wux soup --data: a soup and its members scored on the validation files wux train holds out, on the members' split."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.model.test_soup import member
from wux.cli import app
from wux.data.dataset import load_pairs, split_validation
from wux.model.checkpoint import load_checkpoint, save_checkpoint
from wux.model.soup import make_soup
from wux.train.loop import validation_si_snr


def test_with_data_the_soup_and_each_member_are_scored_on_the_files_wux_train_holds_out(tiny_corpus, tmp_path):
    paths = [member(tmp_path / f"m{i}.wux.pt", i) for i in range(2)]
    out = tmp_path / "soup.wux.pt"
    scored = ["soup", *map(str, paths), "-o", str(out), "--data", str(tiny_corpus), "--val-share", "0.5"]
    result = CliRunner().invoke(app, [*scored, "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)["validation"]
    assert len([line for line in result.stderr.splitlines() if line.startswith("validation ")]) == 3  # as measured
    _, held = split_validation(load_pairs(tiny_corpus, "train"), 0.5)  # what wux train holds out
    expected = [sum(s) / len(s) for s in (validation_si_snr(load_checkpoint(p).build_model(), held, "cpu")
                                         for p in [*paths, out])]
    assert scores["files"] == len(held) == 3 and len(set(expected)) == 3  # three models, three scores
    assert scores["members_si_snr_db"] == pytest.approx(expected[:2], abs=1e-6)
    assert scores["soup_si_snr_db"] == pytest.approx(expected[2], abs=1e-6)
    recorded = load_checkpoint(out).training["soup"]["validation"]
    assert recorded == scores and recorded["share"] == 0.5  # a plain record, as the JSON has it (lists as lists)
    text = CliRunner().invoke(app, [*scored, "--force"]).output
    assert f"validation {expected[0]:.2f} dB" in text and f"validation {expected[1]:.2f} dB" in text
    assert f"{expected[2] - max(expected[:2]):+.2f} dB against its best member" in text
    for data, problem, more in ((tiny_corpus, "holds out no validation files", []),  # 1 in 20 of 6 files: none
                                (tiny_corpus, "hold out none", ["--val-by", "speaker"]),  # 1 in 20 of 6 speakers
                                (tmp_path / "absent", "not found", [])):
        result = CliRunner().invoke(app, ["soup", *map(str, paths), "-o", str(tmp_path / "x.wux.pt"), "--data",
                                          str(data), *more])
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and problem in lines[0] and str(data) in lines[0], lines
        assert not (tmp_path / "x.wux.pt").exists()


def test_with_data_the_soup_is_scored_on_the_split_its_members_were_trained_with_and_no_other(tiny_corpus, tmp_path):
    def trained(i, share):
        return member(tmp_path / f"r{i}.wux.pt", i, training={"train": {"val_share": share, "val_by": "file"}})

    def soup(*args):
        result = CliRunner().invoke(app, ["soup", *map(str, args), "-o", str(tmp_path / "s.wux.pt"), "--force"])
        return result, [line for line in result.output.splitlines() if line.strip()]

    a, b, other = trained(0, 0.5), trained(1, 0.5), trained(2, 0.25)
    result, _ = soup(a, b, "--data", tiny_corpus, "--json")  # no --val-share: the members' own 0.5, not 0.05
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["validation"] | {"soup_si_snr_db": 0, "members_si_snr_db": 0} == {
        "data": str(tiny_corpus), "share": 0.5, "by": "file", "files": 3, "soup_si_snr_db": 0, "members_si_snr_db": 0}
    (tmp_path / "s.wux.pt").unlink()
    for args, problem in (((a, b, "--data", tiny_corpus, "--val-share", "0.25"), "r0.wux.pt was trained with "
                           "--val-share 0.5, not 0.25"),
                          ((a, other, "--data", tiny_corpus), "held out different validation files"),
                          ((a, b, "--val-share", "0.5"), "--val-share does not apply without --data")):
        result, lines = soup(*args)
        assert result.exit_code == 2 and len(lines) == 1 and problem in lines[0], lines
        assert not (tmp_path / "s.wux.pt").exists()


def test_greedy_keeps_a_member_only_when_the_soup_with_it_scores_no_lower_on_those_files(tiny_corpus, tmp_path):
    paths = [member(tmp_path / f"g{i}.wux.pt", i) for i in range(3)]
    out = tmp_path / "greedy.wux.pt"
    args = ["soup", *map(str, paths), "-o", str(out), "--data", str(tiny_corpus), "--val-share", "0.5", "--greedy"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    _, held = split_validation(load_pairs(tiny_corpus, "train"), 0.5)

    def measured(path):
        scores = validation_si_snr(load_checkpoint(path).build_model(), held, "cpu")
        return sum(scores) / len(scores)

    alone = {str(p): measured(p) for p in paths}
    steps = record["greedy"]
    assert [s["checkpoint"] for s in steps] == sorted(alone, key=lambda p: -alone[p])  # best first
    assert [s["alone_si_snr_db"] for s in steps] == pytest.approx([alone[s["checkpoint"]] for s in steps], abs=1e-6)
    best, kept = steps[0]["alone_si_snr_db"], [steps[0]["checkpoint"]]
    for s in steps[1:]:  # each step's score is the uniform soup's of those kept before and it, measured again here
        trial = tmp_path / f"trial{len(kept)}_{len(s['checkpoint'])}.wux.pt"
        make_soup(trial, [*kept, s["checkpoint"]], force=True)
        assert s["soup_si_snr_db"] == pytest.approx(measured(trial), abs=1e-6)
        assert s["kept"] == (s["soup_si_snr_db"] >= best)
        if s["kept"]:
            best, kept = s["soup_si_snr_db"], [*kept, s["checkpoint"]]
    assert [m["checkpoint"] for m in record["members"]] == kept and record["weights"] == "greedy"
    assert [m["sha256"] for m in record["members"]] == [load_checkpoint(p).sha256 for p in kept]
    assert record["validation"]["soup_si_snr_db"] == pytest.approx(measured(out), abs=1e-6)
    assert record["validation"]["members_si_snr_db"] == pytest.approx([alone[p] for p in kept], abs=1e-6)
    soup = load_checkpoint(out).training["soup"]
    assert soup["greedy"] == steps and soup["weights"] == "greedy"
    text = CliRunner().invoke(app, [*args, "--force"]).output
    assert f"greedy: kept {len(kept)} of 3, tried best first" in text
    names = " + ".join(Path(s["checkpoint"]).name for s in steps[:2])
    assert f"dB: the soup of {names} (3 held-out files)" in text and f"dB: {paths[0]} (3 held-out files)" in text
    assert f"{steps[0]['checkpoint']}: alone {steps[0]['alone_si_snr_db']:.2f} dB" in text

    refused = CliRunner().invoke(app, ["soup", *map(str, paths), "-o", str(tmp_path / "x.wux.pt"), "--greedy"])
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert refused.exit_code == 2 and lines == ["error: --greedy does not apply without --data"], lines
    assert not (tmp_path / "x.wux.pt").exists()


def test_greedy_leaves_out_a_member_that_lowers_the_best_ones_score_and_writes_the_best_alone(tiny_corpus, tmp_path):
    """A member whose weights are all zeros outputs silence, which SI-SNR scores 0 dB (nothing of the speech, nothing
    else either): above a member with random weights (tens of dB below zero). Averaged with it, the random member
    makes the soup speak its noise again, at half the weights: the greedy soup keeps the silent one alone."""
    import torch

    silent = load_checkpoint(member(tmp_path / "a.wux.pt", 0))
    for key, tensor in silent.state_dict.items():
        if tensor.is_floating_point():
            tensor.fill_(1.0 if key.endswith("running_var") else 0.0)
    silent_path = save_checkpoint(silent, tmp_path / "a.wux.pt")
    noisy = member(tmp_path / "b.wux.pt", 1)
    out = tmp_path / "g.wux.pt"
    args = ["soup", str(noisy), str(silent_path), "-o", str(out), "--data", str(tiny_corpus), "--val-share", "0.5",
            "--greedy"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "its best member alone, every other one lowered its validation score" in result.output
    steps = load_checkpoint(out).training["soup"]["greedy"]
    assert [(s["checkpoint"], s["kept"]) for s in steps] == [(str(silent_path), True), (str(noisy), False)]
    assert steps[0]["alone_si_snr_db"] == pytest.approx(0.0, abs=1e-6)
    assert steps[1]["soup_si_snr_db"] < 0.0 and steps[1]["alone_si_snr_db"] < 0.0
    assert all(torch.equal(t, silent.state_dict[k]) for k, t in load_checkpoint(out).state_dict.items())


def test_a_member_whose_outputs_are_not_finite_is_refused_in_one_line_naming_it(tiny_corpus, tmp_path):
    broken = load_checkpoint(member(tmp_path / "nan.wux.pt", 0))  # finite weights (NaN ones are refused on loading)
    for key, tensor in broken.state_dict.items():  # large enough that its activations overflow to Inf
        if tensor.is_floating_point() and not key.endswith(("running_mean", "running_var")):
            tensor.mul_(1e20)
    nan_path = save_checkpoint(broken, tmp_path / "nan.wux.pt")
    for greedy in ([], ["--greedy"]):
        result = CliRunner().invoke(app, ["soup", str(member(tmp_path / "ok.wux.pt", 1)), str(nan_path), "-o",
                                          str(tmp_path / "s.wux.pt"), "--data", str(tiny_corpus), "--val-share",
                                          "0.5", *greedy])
        lines = [line for line in result.output.splitlines()
                 if line.strip() and not line.startswith("validation SI-SNR")]  # not the progress lines
        assert result.exit_code == 2 and len(lines) == 1, result.output
        assert str(nan_path) in lines[0] and "its outputs are not finite" in lines[0]
        assert not (tmp_path / "s.wux.pt").exists()
