"""The bundling step's provenance text: a stage made by one run, or by a soup of several (their tables in order)."""

import importlib.util
import json
from pathlib import Path

import pytest

BUNDLER = Path(__file__).resolve().parents[2] / "perf" / "bundle_default_model.py"
spec = importlib.util.spec_from_file_location("bundle_default_model", BUNDLER)
bundle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bundle)


def run_record(path: Path, seed: int) -> dict:
    """A `wux train --json` record of a two-epoch run whose checkpoint is `path`, written beside it."""
    record = {"checkpoint": str(path), "steps": 200, "minutes": 3.0, "best_val_si_snr_db": 17.0 + seed / 10,
              "history": [{"epoch": e, "steps": 100 * e, "train_loss": -17.0 - seed, "val_si_snr_db": 16.9 + seed / 10,
                           "lr": 1e-4, "seconds": 90.0} for e in (1, 2)]}
    path.write_bytes(f"weights {seed}".encode())
    path.with_name(path.name.removesuffix(".wux.pt") + ".train.json").write_text(json.dumps(record))
    return record


def test_a_soup_stage_keeps_each_of_its_runs_training_record_and_shows_each_table(tmp_path):
    runs = [tmp_path / f"stage3.run{k}.wux.pt" for k in (1, 2)]
    for seed, path in enumerate(runs, 1):
        run_record(path, seed)
    soup = tmp_path / "stage3.wux.pt"
    soup.write_bytes(b"averaged")
    soup_json = tmp_path / "stage3.soup.json"
    soup_json.write_text(json.dumps({"checkpoint": str(soup), "sha256": "s", "family": "waveunet",
                                     "members": [{"checkpoint": str(p), "sha256": f"m{k}"} for k, p in
                                                 enumerate(runs, 1)], "tensors_averaged": 9, "tensors_shared": 0,
                                     "validation": None}))  # wux soup --json without --data
    base = tmp_path / "base.wux.pt"
    run_record(base, 0)
    stages = [bundle.stage_of_run(tmp_path / "base.train.json"), bundle.stage_of_run(soup_json)]
    assert stages[1]["checkpoint_sha256"] == bundle.sha256_file(soup)
    assert [m["train"]["best_val_si_snr_db"] for m in stages[1]["train"]["members"]] == [17.1, 17.2]
    last = tmp_path / "stage4.wux.pt"
    text = bundle.training_text({"stages": stages, "train": run_record(last, 4)})
    assert text.count("| epoch | steps |") == 4  # the base run, the soup's two runs, the last stage
    soup_part = text.split("### Stage 2")[1].split("### Stage 3")[0]
    assert "The uniform average (`wux soup`) of 2 runs" in soup_part
    assert soup_part.index("Run 1 (checkpoint sha256 `m1`)") < soup_part.index("Run 2 (checkpoint sha256 `m2`)")
    assert "best validation SI-SNR 17.20 dB" in soup_part
    assert "### Stage 3: from stage 2 (this checkpoint)" in text
    alone = bundle.training_text({"train": bundle.stage_record(soup_json)})  # a soup as the model's own stage
    assert alone.startswith("The uniform average") and alone.count("| epoch | steps |") == 2
    assert "Validation SI-SNR" not in text  # a soup made without --data has no scores to show
    scored = json.loads(soup_json.read_text()) | {"validation": {
        "data": "corpus", "share": 0.05, "by": "file", "files": 70, "soup_si_snr_db": 17.666,
        "members_si_snr_db": [17.633, 17.578]}}
    soup_json.write_text(json.dumps(scored))
    shown = bundle.training_text({"train": bundle.stage_record(soup_json)})
    assert shown.endswith("the soup **17.67 dB**, its runs 17.63, 17.58 dB.") and "the 70 files" in shown
    soup_json.write_text(json.dumps(scored | {"weights": "greedy"}))  # wux soup --greedy's record
    greedy = bundle.training_text({"train": bundle.stage_record(soup_json)})
    assert greedy.startswith("The greedy soup (`wux soup --greedy`: each run kept only where it did not lower")


def test_a_soup_member_without_its_training_record_is_refused_in_one_line(tmp_path):
    run = tmp_path / "stage3.run1.wux.pt"
    run.write_bytes(b"weights")
    soup_json = tmp_path / "stage3.soup.json"
    soup_json.write_text(json.dumps({"checkpoint": str(tmp_path / "stage3.wux.pt"),
                                     "members": [{"checkpoint": str(run), "sha256": "m1"}]}))
    with pytest.raises(SystemExit) as stop:
        bundle.stage_record(soup_json)
    assert str(stop.value) == (f"{soup_json}: soup member {run} has no training record "
                               f"{tmp_path / 'stage3.run1.train.json'} beside it")
