import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "perf" / "train_default_model.sh"


def run_recipe(tmp_path: Path, **stages: str) -> subprocess.CompletedProcess:
    # WUX points nowhere: a recipe that got past its stage check would fail on the first command, not train
    env = {**os.environ, "WUX": str(tmp_path / "no-wux"), "OUT": str(tmp_path / "out"), **stages}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def test_a_stage_without_the_one_before_is_refused_before_anything_runs(tmp_path):
    r = run_recipe(tmp_path, FINETUNE="--epochs 1", FINETUNE2="--epochs 1", FINETUNE10="--epochs 1")
    assert r.returncode == 2
    assert "FINETUNE10 needs FINETUNE9" in r.stderr
    assert not (tmp_path / "out").exists()


def test_stages_in_order_get_past_the_check(tmp_path):
    """The check above can fail: with every stage up to FINETUNE10 given, the recipe goes on to its first command."""
    stages = {"FINETUNE": "--epochs 1", **{f"FINETUNE{i}": "--epochs 1" for i in range(2, 11)}}
    r = run_recipe(tmp_path, **stages)
    assert r.returncode != 2 and "needs" not in r.stderr
    assert (tmp_path / "out").is_dir()  # made before the first command, which fails: no wux there
