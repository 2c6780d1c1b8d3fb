"""A whole stage replayed beside its record: every epoch's figures and the best checkpoint's every tensor."""

import importlib.util
import json
import sys
from pathlib import Path

from wux.model.checkpoint import load_checkpoint, save_checkpoint

SCRIPT = Path(__file__).resolve().parents[2] / "perf" / "compare_replay.py"
spec = importlib.util.spec_from_file_location("compare_replay", SCRIPT)
replay = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = replay  # its dataclasses look their module up
spec.loader.exec_module(replay)


def record(losses: list[float], scores: list[float | None]) -> dict:
    return {"history": [{"epoch": e, "train_loss": loss, "val_si_snr_db": score, "seconds": 100.0 + e}
                        for e, (loss, score) in enumerate(zip(losses, scores), start=1)]}


def write(path: Path, payload: dict) -> Path:
    path.write_text(json.dumps(payload))
    return path


def provenance(tmp_path: Path, *stages: dict) -> Path:
    return write(tmp_path / "provenance.json", {"stages": [{"train": s} for s in stages]})


def test_a_replay_equal_to_its_record_and_weights_is_the_same(tmp_path, tiny_checkpoint, capsys):
    stage = record([-10.5, -10.75], [15.25, float("nan")])  # no validation in epoch 2: NaN in JSON, null replayed
    replayed = write(tmp_path / "r.train.json", record([-10.5, -10.75], [15.25, None]))
    code = replay.main([str(replayed), "--stage", "2", "--provenance", str(provenance(tmp_path, {}, stage)),
                        "--weights", str(tiny_checkpoint), str(tiny_checkpoint)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "epochs 1 to 2: train_loss, val_si_snr_db the same to the last digit" in out
    assert "weights: all" in out and out.rstrip().endswith("the same")


def test_an_epoch_off_in_its_last_digit_differs(tmp_path, capsys):
    was = write(tmp_path / "was.json", record([-10.5, -10.75], [15.25, 15.5]))
    now = write(tmp_path / "now.json", record([-10.5, -10.750000000000002], [15.25, 15.5]))
    assert replay.main([str(now), "--record", str(was), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["same"] is False
    assert report["epoch_differences"] == [{"epoch": 2, "key": "train_loss", "recorded": -10.75,
                                            "replayed": -10.750000000000002}]


def test_a_replay_cut_short_is_not_the_stage(tmp_path):
    was = write(tmp_path / "was.json", record([-10.5, -10.75], [15.25, 15.5]))
    now = write(tmp_path / "now.json", record([-10.5], [15.25]))
    assert replay.main([str(now), "--record", str(was)]) == 1


def test_one_tensor_off_by_a_rounding_is_named(tmp_path, tiny_checkpoint, capsys):
    ckpt = load_checkpoint(tiny_checkpoint)
    name = next(k for k, v in ckpt.state_dict.items() if v.is_floating_point())
    ckpt.state_dict[name] = ckpt.state_dict[name].clone()
    ckpt.state_dict[name].view(-1)[0] += 2 ** -20
    other = save_checkpoint(ckpt, tmp_path / "other.wux.pt")
    result = replay.compare_weights(other, tiny_checkpoint)
    assert result.different == [name] and result.reshaped == [] and result.missing == []
    assert result.max_abs_difference > 0
    same = write(tmp_path / "r.json", record([-1.0], [2.0]))
    assert replay.main([str(same), "--record", str(same), "--weights", str(other), str(tiny_checkpoint)]) == 1
    assert "1 differ in value" in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    good = write(tmp_path / "r.json", record([-1.0], [2.0]))
    soup_stage = provenance(tmp_path, {"members": []})
    cases = [([str(tmp_path / "missing.json"), "--record", str(good)], "missing.json: cannot read it as JSON"),
             ([str(good), "--stage", "3", "--provenance", str(soup_stage)], "no stage 3 (it records 1)"),
             ([str(good), "--stage", "1", "--provenance", str(soup_stage)], "stage 1 is no training run"),
             ([str(write(tmp_path / "e.json", {"history": []})), "--record", str(good)], "no epochs recorded"),
             ([str(good), "--record", str(good), "--weights", str(good), str(tmp_path / "gone.wux.pt")],
              "gone.wux.pt: no such checkpoint")]
    for argv, message in cases:
        assert replay.main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
