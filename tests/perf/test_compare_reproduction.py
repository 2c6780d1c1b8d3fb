"""The recipe's reproduction beside the bundled model: stage by stage, then figure by figure within 0.5 dB."""

import importlib.util
import json
import sys
from pathlib import Path

from wux.model.checkpoint import Checkpoint, build_model, save_checkpoint
from wux.model.config import WaveUNetConfig

SCRIPT = Path(__file__).resolve().parents[2] / "perf" / "compare_reproduction.py"
spec = importlib.util.spec_from_file_location("compare_reproduction", SCRIPT)
compare = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = compare  # its dataclasses look their module up
spec.loader.exec_module(compare)


def run(best: float, epochs: int = 3, precision: str | None = None) -> dict:
    """A `wux train --json` record whose validation rises by 0.5 dB an epoch to `best` (each epoch's arithmetic
    recorded when given)."""
    arithmetic = {} if precision is None else {"precision": precision}
    return {"best_val_si_snr_db": best, "history": [{"epoch": e, "val_si_snr_db": best - 0.5 * (epochs - e),
                                                     **arithmetic} for e in range(1, epochs + 1)]}


def soup(score: float | None, members: list[dict]) -> dict:
    return {"members": [{"checkpoint": f"m{k}", "train": m} for k, m in enumerate(members)],
            "validation": None if score is None else {"soup_si_snr_db": score}}


def evaluation(model: str, mean: float, babble: float, band: float) -> dict:
    """A `wux eval --json` record with the model's rows beside the input's and a baseline's."""
    rows = [{"system": system, "group": group, "si_snr_improvement_db_mean": value}
            for system, factor in ((model, 1.0), ("input", 0.0), ("rnnoise", -1.0))
            for group, value in (("all", mean * factor), ("noise babble", babble * factor),
                                 ("snr 15..20 dB", band * factor))]
    return {"model": model, "si_snr_improvement_db_mean": mean, "si_snr_improvement_db_median": mean - 1,
            "rows": rows}


def bundled_provenance(tmp_path: Path) -> Path:
    """Three stages: a base run, a fine-tune, a soup of two runs (the model)."""
    record = {"stages": [{"train": run(14.0)}, {"train": run(15.0)}],
              "train": soup(16.0, [run(15.8, 4), run(15.6, 4)]),
              "eval": evaluation("build/s37/soup_ef.wux.pt", 8.4, 3.0, 5.1)}
    path = tmp_path / "provenance.json"
    path.write_text(json.dumps(record))
    return path


def recipe_folder(tmp_path: Path) -> Path:
    """The recipe's base run and first fine-tune done, with their records and commands."""
    out = tmp_path / "out"
    out.mkdir()
    for stem, best in (("default.base", 14.1), ("default.stage2", 14.9)):
        (out / f"{stem}.train.json").write_text(json.dumps(run(best)))
        (out / f"{stem}.train.command").write_text("wux train ...")
    return out


def soup_run_in_training(out: Path, epochs: int) -> None:
    """The soup stage's first run done, its second begun and `epochs` saved in its resumable checkpoint."""
    for place in (1, 2):
        (out / f"default.stage3.run{place}.train.command").write_text("wux train ...")
    (out / "default.stage3.run1.train.json").write_text(json.dumps(run(15.7, 4)))
    history = [{"epoch": e, "val_si_snr_db": 15.0 + 0.1 * e, "seconds": 100.0 * e} for e in range(1, epochs + 1)]
    config = WaveUNetConfig()
    save_checkpoint(Checkpoint(build_model(config).state_dict(), config, resume={"history": history},
                               training={"train": {"epochs": 4}}), out / "default.stage3.run2.last.wux.pt")


def finish(out: Path, mean: float, babble: float, band: float) -> None:
    (out / "default.stage3.soup.json").write_text(json.dumps(soup(16.05, [run(15.7, 4), run(15.65, 4)])))
    (out / "eval.json").write_text(json.dumps(evaluation(str(out / "default.wux.pt"), mean, babble, band)))


def test_a_recipe_in_training_is_shown_stage_by_stage_against_the_bundled_runs_at_the_same_epoch(tmp_path, capsys):
    provenance, out = bundled_provenance(tmp_path), recipe_folder(tmp_path)
    soup_run_in_training(out, epochs=2)
    r = compare.compare_reproduction(out, provenance_path=provenance)
    assert [(s.stage, s.kind, s.state) for s in r.stages] == [(1, "run", "done"), (2, "run", "done"),
                                                             (3, "soup", "training")]
    assert round(r.stages[0].difference_db, 6) == 0.1 and round(r.stages[1].difference_db, 6) == -0.1
    third = r.stages[2]  # its second run at epoch 2, beside the bundled soup's second member at epoch 2
    assert (third.epoch, round(third.reproduced_db, 6), round(third.bundled_at_epoch_db, 6)) == (2, 15.2, 14.6)
    assert r.figures == [] and r.verdict == "in progress"
    assert compare.main([str(out), "--provenance", str(provenance)]) == 1  # not reproduced yet
    assert (third.epochs, third.epoch_seconds, third.minutes_left) == (4, 150.0, 5.0)  # 2 epochs at their mean
    text = capsys.readouterr().out
    assert "epoch 2 of 4: 15.20 dB, the bundled run then 14.60 (+0.60)" in text and "verdict: in progress" in text
    assert "about 5 min left in this run (150 s an epoch lately)" in text
    assert compare.duration(125.4) == "about 2 h 05 min" and compare.duration(59.4) == "about 59 min"
    slow_start = [{"seconds": s} for s in (900, 900, 10, 10, 20, 10, 10)]  # paced by the last five epochs only
    assert compare.pace_seconds(slow_start) == 12.0 and compare.pace_seconds([{"epoch": 1}]) is None
    ran = [{"epoch": e, "seconds": 60.0} for e in (1, 2)]  # 2 of 10 epochs, a minute each
    assert compare.minutes_left(compare.RunSoFar(ran, 10)) == 8.0
    assert compare.minutes_left(compare.RunSoFar(ran, 10, max_minutes=5)) == 3.0  # its time limit ends it first
    assert compare.minutes_left(compare.RunSoFar(ran, 10, max_minutes=1)) == 0.0


def test_the_stages_after_the_one_in_training_are_not_started(tmp_path):
    provenance, out = bundled_provenance(tmp_path), recipe_folder(tmp_path)
    (out / "default.stage2.train.json").unlink()  # stage 2 begun, nothing saved yet
    r = compare.compare_reproduction(out, provenance_path=provenance)
    assert [s.state for s in r.stages] == ["done", "training", "not started"]
    assert r.stages[1].reproduced_db is None and r.stages[1].difference_db is None


def test_every_figure_within_half_a_db_is_a_reproduction_and_one_outside_is_not(tmp_path, capsys):
    provenance = bundled_provenance(tmp_path)
    out = recipe_folder(tmp_path)
    finish(out, mean=8.0, babble=3.45, band=5.2)  # each within 0.5 dB of 8.4, 3.0, 5.1
    saved = tmp_path / "report" / "reproduction.json"
    assert compare.main([str(out), "--provenance", str(provenance), "--save", str(saved)]) == 0
    assert "verdict: reproduced" in capsys.readouterr().out
    record = json.loads(saved.read_text())
    assert record["verdict"] == "reproduced" and [s["state"] for s in record["stages"]] == ["done"] * 3
    assert [f["figure"] for f in record["figures"]] == ["mean", "median", "noise babble", "snr 15..20 dB"]
    assert round(record["stages"][2]["difference_db"], 6) == 0.05  # the soups' validation scores

    finish(out, mean=8.0, babble=2.4, band=5.2)  # babble 0.6 dB short
    assert compare.main([str(out), "--provenance", str(provenance), "--json"]) == 1
    figures = {f["figure"]: f for f in json.loads(capsys.readouterr().out)["figures"]}
    assert not figures["noise babble"]["within"] and figures["mean"]["within"]


def test_a_row_the_reproduction_lacks_is_not_reproduced(tmp_path):
    provenance, out = bundled_provenance(tmp_path), recipe_folder(tmp_path)
    finish(out, mean=8.4, babble=3.0, band=5.1)
    record = json.loads((out / "eval.json").read_text())
    record["rows"] = [row for row in record["rows"] if row["group"] != "snr 15..20 dB"]
    (out / "eval.json").write_text(json.dumps(record))
    r = compare.compare_reproduction(out, provenance_path=provenance)
    missing = [f for f in r.figures if f.figure == "snr 15..20 dB"]
    assert missing[0].reproduced_db is None and not missing[0].within and r.verdict == "not reproduced"


def test_the_provenance_holding_this_very_evaluation_is_nothing_to_compare_and_an_earlier_run_of_it_is(tmp_path,
                                                                                                        capsys):
    provenance, out = bundled_provenance(tmp_path), recipe_folder(tmp_path)
    finish(out, mean=8.4, babble=3.0, band=5.1)
    record = json.loads(provenance.read_text())
    record["eval"] = json.loads((out / "eval.json").read_text())  # as the recipe's bundling records it
    provenance.write_text(json.dumps(record))
    assert compare.main([str(out), "--provenance", str(provenance)]) == 3
    err = capsys.readouterr().err
    assert str(provenance) in err and "git show HEAD~:wux/model/default/provenance.json" in err
    record["eval"]["si_snr_improvement_db_mean"] += 0.01  # an earlier run of the recipe, from the same folder
    provenance.write_text(json.dumps(record))
    assert compare.main([str(out), "--provenance", str(provenance)]) == 0


def test_bad_input_is_one_line_naming_the_file(tmp_path, capsys):
    provenance = bundled_provenance(tmp_path)
    assert compare.main([str(tmp_path / "nowhere"), "--provenance", str(provenance)]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err
    out = recipe_folder(tmp_path)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert compare.main([str(out), "--provenance", str(broken)]) == 2
    assert capsys.readouterr().err.strip().endswith("broken.json: cannot read it as JSON (JSONDecodeError)")
    (out / "eval.json").write_text("not json")
    assert compare.main([str(out), "--provenance", str(provenance)]) == 2
    assert "eval.json: cannot read it as JSON" in capsys.readouterr().err
    (out / "eval.json").write_text("{}")
    assert compare.main([str(out), "--provenance", str(provenance)]) == 2
    assert "eval.json: not a `wux eval --json` record (no 'si_snr_improvement_db_mean')" in capsys.readouterr().err


def test_the_bundled_models_provenance_reads_as_nineteen_stages(tmp_path):
    r = compare.compare_reproduction(recipe_folder(tmp_path))  # default --provenance: the bundled default's
    assert len(r.stages) == 19 and [s.kind for s in r.stages[-4:]] == ["soup"] * 4
    assert all(s.bundled_db is not None for s in r.stages)
    assert [s.state for s in r.stages[:3]] == ["done", "done", "not started"]


def test_a_soup_whose_runs_are_done_is_being_averaged_and_a_stage_made_another_way_says_so(tmp_path, capsys):
    provenance, out = bundled_provenance(tmp_path), recipe_folder(tmp_path)
    for place in (1, 2):
        (out / f"default.stage3.run{place}.train.command").write_text("wux train ...")
        (out / f"default.stage3.run{place}.train.json").write_text(json.dumps(run(15.7, 4)))
    assert compare.compare_reproduction(out, provenance_path=provenance).stages[2].state == "averaging"
    for path in out.glob("default.stage3.*"):
        path.unlink()
    (out / "default.stage3.train.command").write_text("wux train ...")  # the recipe's stage 3: one run, not a soup
    (out / "default.stage3.train.json").write_text(json.dumps(run(16.2)))
    third = compare.compare_reproduction(out, provenance_path=provenance).stages[2]
    assert (third.kind, third.state, third.bundled_kind, round(third.difference_db, 6)) == ("run", "done", "soup", 0.2)
    compare.main([str(out), "--provenance", str(provenance)])
    assert "the bundled stage was a soup" in capsys.readouterr().out


def test_the_recipes_own_files_read_as_its_stages_done(tmp_path):
    """The recipe (with its stand-in wux) and this comparison agree on every file name: base, run, soup of runs."""
    from tests.perf.test_train_default_model import run_recipe

    recipe = run_recipe(tmp_path, WUX_EVAL_OK="1", FINETUNE="--seed 1", FINETUNE2="--seed 2 | --seed 3")
    assert recipe.returncode == 0, recipe.stderr
    provenance = bundled_provenance(tmp_path)
    stages = compare.compare_stages(tmp_path / "out", "default", json.loads(provenance.read_text()))
    assert [(s.kind, s.state) for s in stages] == [("run", "done"), ("run", "done"), ("soup", "done")]


def test_a_stage_trained_in_another_arithmetic_than_the_bundled_one_says_so(tmp_path, capsys):
    """FINETUNE_PRECISION=fp32 on a CPU without bfloat16 instructions: the figures are judged as ever, and each stage
    trained otherwise than the bundled one is named, a soup by its runs' epochs so far."""
    record = json.loads(bundled_provenance(tmp_path).read_text())
    record["stages"][1]["train"] = run(15.0, precision="bf16")
    record["train"] = soup(16.0, [run(15.8, 4, precision="bf16"), run(15.6, 4, precision="bf16")])
    provenance = tmp_path / "bf16.json"
    provenance.write_text(json.dumps(record))
    out = recipe_folder(tmp_path)
    (out / "default.stage2.train.json").write_text(json.dumps(run(14.9, precision="fp32")))
    soup_run_in_training(out, epochs=2)  # its resumable checkpoint records no arithmetic
    (out / "default.stage3.run1.train.json").write_text(json.dumps(run(15.7, 4, precision="fp32")))
    stages = compare.compare_reproduction(out, provenance_path=provenance).stages
    assert [(s.arithmetic, s.bundled_arithmetic) for s in stages] == [("", ""), ("fp32", "bf16"), ("fp32", "bf16")]
    assert compare.main([str(out), "--provenance", str(provenance)]) == 1  # in progress
    lines = capsys.readouterr().out.splitlines()
    assert [line.endswith("; trained in fp32, the bundled stage in bf16") for line in lines[1:4]] == [False, True, True]
    (out / "default.stage2.train.json").write_text(json.dumps(run(14.9, precision="bf16")))
    (out / "default.stage3.run1.train.json").write_text(json.dumps(run(15.7, 4, precision="bf16")))
    stages = compare.compare_reproduction(out, provenance_path=provenance).stages
    assert [s.arithmetic for s in stages] == ["", "bf16", "bf16"]
    assert "trained in" not in compare.report_text(compare.compare_reproduction(out, provenance_path=provenance))
