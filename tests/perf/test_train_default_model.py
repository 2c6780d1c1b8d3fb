import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "perf" / "train_default_model.sh"
ROOT = SCRIPT.parents[1]

# Stands in for wux: logs each command line and succeeds, printing a record, except `eval`, which fails so that the
# recipe stops there (set -e) before it bundles anything (unless WUX_EVAL_OK), and a command with the words
# WUX_FAIL, which fails after it "saved an epoch" (the .last checkpoint beside its --out), as a stopped stage would,
# or WUX_FAIL_EARLY, which fails before (a run stopped while it read its data), or WUX_INTERRUPT, which waits for a
# SIGINT or SIGTERM and then says so and exits 130, as wux does. With WUX_MEET=N, a run on one thread
# waits (up to WUX_MEET_TICKS tenths of a second, 400 by default, then fails) until N such runs have begun: it passes
# only when they run beside each other.
STUB = """#!/usr/bin/env bash
echo "$*" >> "$WUX_LOG"
[ "$1" != eval ] || [ -n "${WUX_EVAL_OK:-}" ] || exit 3
[ -z "${WUX_FAIL_EARLY:-}" ] || [[ " $* " != *" $WUX_FAIL_EARLY "* ]] || exit 5
out=""; before=""
for word in "$@"; do [ "$before" != --out ] || out=$word; before=$word; done
if [ -n "${WUX_MEET:-}" ] && [[ " $* " == *" --threads 1 "* ]]; then
  touch "$out.began"
  for tick in $(seq "${WUX_MEET_TICKS:-400}"); do
    [ "$(ls "$(dirname "$out")" | grep -c '[.]began$')" -lt "$WUX_MEET" ] || break
    sleep 0.1
  done
  [ "$(ls "$(dirname "$out")" | grep -c '[.]began$')" -ge "$WUX_MEET" ] || exit 6
fi
if [ -n "${WUX_INTERRUPT:-}" ] && [[ " $* " == *" $WUX_INTERRUPT "* ]]; then
  trap 'echo "error: interrupted" >&2; exit 130' INT TERM  # as wux says a Ctrl-C, and takes SIGTERM as one
  touch "$out.waiting"
  for tick in $(seq 600); do sleep 0.1; done
  exit 7
fi
[ -z "$out" ] || touch "$out" "${out%.wux.pt}.last.wux.pt"
[ "$1" != train ] || echo "epoch 1/1: ${out##*/}" >&2  # as wux train says each epoch, --json too
[ -z "${WUX_FAIL:-}" ] || [[ " $* " != *" $WUX_FAIL "* ]] || exit 4
echo '{}'
"""
# Stands in for the Python of the steps after the evaluation: the comparison with the bundled model (logs its
# arguments, writes its --save report unless COMPARE_SAVES is "no", exits COMPARE_EXIT: 1 not reproduced, 2 bad
# input, 3 nothing to compare) and the bundling (logs its arguments, one per line).
BUNDLER = """#!/usr/bin/env bash
if [ "$1" = perf/compare_reproduction.py ]; then
  echo "$*" > "$COMPARE_LOG"
  [ ! -e "$BUNDLE_LOG" ] || echo "bundled before the comparison" >> "$COMPARE_LOG"
  [ "${COMPARE_SAVES:-}" = no ] || echo '{}' > "${@: -1}"
  exit "${COMPARE_EXIT:-0}"
fi
printf '%s\\n' "$@" > "$BUNDLE_LOG"
"""


def run_recipe(tmp_path: Path, **env_vars: str) -> subprocess.CompletedProcess:
    """The recipe with the stand-ins, its stages (FINETUNE...) and other settings from `env_vars`."""
    return subprocess.run(["bash", str(SCRIPT)], env=recipe_env(tmp_path, **env_vars), cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def recipe_env(tmp_path: Path, **env_vars: str) -> dict[str, str]:
    stub, bundler = tmp_path / "wux", tmp_path / "python"
    for path, text in ((stub, STUB), (bundler, BUNDLER)):
        path.write_text(text)
        path.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINETUNE", "FRESH", "WUX_"))}
    env.update(WUX=str(stub), WUX_LOG=str(tmp_path / "calls.log"), PYTHON=str(bundler),
               BUNDLE_LOG=str(tmp_path / "bundle.log"),
               COMPARE_LOG=str(tmp_path / "compare.log"), OUT=str(tmp_path / "out"), **env_vars)
    return env


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_a_stage_without_the_one_before_is_refused_before_anything_runs(tmp_path):
    r = run_recipe(tmp_path, FINETUNE="--epochs 1", FINETUNE2="--epochs 1", FINETUNE10="--epochs 1")
    assert r.returncode == 2
    assert "FINETUNE10 needs FINETUNE9" in r.stderr
    assert calls(tmp_path) == [] and not (tmp_path / "out").exists()


def test_every_stage_up_to_the_twentieth_trains_from_the_one_before(tmp_path):
    stages = {"FINETUNE": "--seed 1", **{f"FINETUNE{i}": f"--seed {i}" for i in range(2, 21)}}
    r = run_recipe(tmp_path, **stages)
    assert r.returncode == 3, r.stderr  # stopped by the stub's failing eval, after every training stage
    made = calls(tmp_path)
    assert made[0].startswith("data synth") and made[1].startswith("train") and made[-1].startswith("eval")
    finetunes = made[2:-1]
    assert len(finetunes) == 20
    out = tmp_path / "out"
    before = out / "default.base.wux.pt"
    for i, line in enumerate(finetunes, start=1):
        words = line.split()
        after = words[words.index("--out") + 1]
        assert words[words.index("--init") + 1] == str(before)
        assert words[words.index("--seed") + 1] == str(i)  # the stage's own options, in order
        before = after
    assert before == str(out / "default.stage21.wux.pt")  # the last stage makes the model, copied as such
    assert (out / "default.wux.pt").exists()


THREE = {"FINETUNE": "--seed 1", "FINETUNE2": "--seed 2", "FINETUNE3": "--seed 3"}


def test_a_rerun_keeps_the_steps_done_and_goes_on_from_the_stage_stopped_part_way(tmp_path):
    stopped = run_recipe(tmp_path, WUX_FAIL="--seed 2", **THREE)
    assert stopped.returncode == 4
    first = calls(tmp_path)
    assert [line.split()[0] for line in first] == ["data", "train", "train", "train"]
    out = tmp_path / "out"
    assert not (out / "default.stage3.train.json").exists()  # the stopped stage left no record
    again = run_recipe(tmp_path, WUX_EVAL_OK="1", **THREE)
    assert again.returncode == 0, again.stderr
    made = calls(tmp_path)[len(first):]
    assert len(made) == 3 and made[-1].startswith("eval")
    resumed, fresh = made[0].split(), made[1].split()
    assert resumed[resumed.index("--seed") + 1] == "2" and "--resume" in resumed and "--force" not in resumed
    assert fresh[fresh.index("--seed") + 1] == "3" and "--force" in fresh and "--resume" not in fresh
    assert again.stderr.count("kept ") == 3 and f"going on from {out / 'default.stage3.last.wux.pt'}" in again.stderr
    bundled = (tmp_path / "bundle.log").read_text().splitlines()
    assert [bundled[i + 1] for i, word in enumerate(bundled) if word == "--base"] == [
        str(out / f"default.{stage}.train.json") for stage in ("base", "stage2", "stage3")]
    commands = [line for line in bundled if line.startswith("wux ")]
    assert len(commands) == 6  # synth, four training runs, eval: as planned, the resumed one says so
    assert [c.endswith("# resumed with --resume in place of --force after an interruption") for c in commands] == [
        False, False, False, True, False, False]
    assert "--force" in commands[3] and "--seed 2" in commands[3]


def test_a_rerun_whose_stages_changed_is_refused_before_anything_runs_and_fresh_starts_over(tmp_path):
    assert run_recipe(tmp_path, **THREE).returncode == 3  # every step ran; the stub's eval stops it
    first = calls(tmp_path)
    changed = {**THREE, "FINETUNE2": "--seed 9"}
    refused = run_recipe(tmp_path, **changed)
    assert refused.returncode == 2
    record = tmp_path / "out" / "default.stage3.train"
    assert refused.stderr.strip() == (f"train_default_model.sh: {record}: made by another command ("
                                      f"wux {first[3]}); FRESH=1 starts over")
    assert calls(tmp_path) == first
    fresh = run_recipe(tmp_path, FRESH="1", **changed)
    assert fresh.returncode == 3
    made = calls(tmp_path)[len(first):]
    assert len(made) == len(first) and all("--resume" not in line for line in made)
    assert "--seed 9" in made[3]
    assert (tmp_path / "out" / "default.stage3.train.command").read_text() == f"wux {made[3]}\n"


def test_without_stages_the_base_run_makes_the_model_itself(tmp_path):
    assert run_recipe(tmp_path).returncode == 3
    made = calls(tmp_path)
    assert [line.split()[0] for line in made] == ["data", "train", "eval"]
    words = made[1].split()
    assert words[words.index("--out") + 1] == str(tmp_path / "out" / "default.wux.pt")
    assert (tmp_path / "out" / "default.train.json").read_text() == "{}\n"


def test_the_model_is_compared_with_the_bundled_one_before_bundling_and_bundled_even_when_it_differs(tmp_path):
    r = run_recipe(tmp_path, WUX_EVAL_OK="1", COMPARE_EXIT="1", **THREE)  # 1: figures outside the tolerance
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    assert (tmp_path / "compare.log").read_text().splitlines() == [
        f"perf/compare_reproduction.py {out} --name default --save {out}/reproduction.json"]
    assert (tmp_path / "bundle.log").exists()


def test_a_comparison_that_fails_on_bad_input_or_without_its_report_stops_the_recipe_before_bundling(tmp_path):
    for exit_code, saves in (("2", "no"), ("1", "no")):  # 1 without its report: a traceback, not a verdict
        r = run_recipe(tmp_path, WUX_EVAL_OK="1", COMPARE_EXIT=exit_code, COMPARE_SAVES=saves, **THREE)
        assert r.returncode == int(exit_code) and (tmp_path / "compare.log").exists()
        assert not (tmp_path / "bundle.log").exists()


def test_nothing_to_compare_with_bundles_all_the_same(tmp_path):
    r = run_recipe(tmp_path, WUX_EVAL_OK="1", COMPARE_EXIT="3", COMPARE_SAVES="no", **THREE)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "bundle.log").exists()


def test_a_stage_added_after_the_last_keeps_every_step_before_it(tmp_path):
    assert run_recipe(tmp_path, **THREE).returncode == 3
    first = calls(tmp_path)
    assert run_recipe(tmp_path, FINETUNE4="--seed 4", **THREE).returncode == 3
    made = calls(tmp_path)[len(first):]
    assert len(made) == 2 and made[1].startswith("eval")
    words = made[0].split()
    out = tmp_path / "out"
    assert words[words.index("--init") + 1] == str(out / "default.stage4.wux.pt")
    assert words[words.index("--out") + 1] == str(out / "default.stage5.wux.pt") and "--seed 4" in made[0]


def seeds(lines: list[str]) -> list[str]:
    """The seeds of the training runs among the logged command lines, in order (the base run's is 0)."""
    return [line.split()[line.split().index("--seed") + 1] for line in lines if line.startswith("train ")]


def test_a_fresh_start_stopped_again_leaves_nothing_a_rerun_would_keep(tmp_path):
    plan = {"MAX_MINUTES": "", **THREE}  # as make default-model: no time limit, so a stopped base run goes on
    assert run_recipe(tmp_path, **plan).returncode == 3
    first = calls(tmp_path)
    stopped_run = run_recipe(tmp_path, FRESH="1", WUX_FAIL="--preset default", **plan)  # the base run's only --preset
    assert stopped_run.returncode == 4
    stopped = calls(tmp_path)[len(first):]
    assert [line.split()[0] for line in stopped] == ["data", "train"]
    again = run_recipe(tmp_path, **plan)
    assert again.returncode == 3
    made = calls(tmp_path)[len(first) + len(stopped):]
    assert seeds(made) == ["0", "1", "2", "3"]  # the base run goes on; the old run's stages are not kept
    assert "--resume" in made[0] and all("--force" in line for line in made[1:-1])
    assert again.stderr.count("kept ") == 1  # the fresh run's corpus


def test_a_run_stopped_before_its_first_epoch_starts_again_instead_of_resuming_an_older_one(tmp_path):
    assert run_recipe(tmp_path, **THREE).returncode == 3  # leaves every stage's .last checkpoint
    first = calls(tmp_path)
    assert run_recipe(tmp_path, FRESH="1", WUX_FAIL_EARLY="--seed 2", **THREE).returncode == 5
    stopped = calls(tmp_path)[len(first):]
    again = run_recipe(tmp_path, **THREE)
    assert again.returncode == 3
    made = calls(tmp_path)[len(first) + len(stopped):]
    assert seeds(made) == ["2", "3"] and all("--resume" not in line for line in made)


def test_a_run_with_a_time_limit_starts_again_instead_of_resuming_with_the_whole_limit_again(tmp_path):
    assert run_recipe(tmp_path, MAX_MINUTES="5", WUX_FAIL="--preset default", **THREE).returncode == 4
    first = calls(tmp_path)
    assert run_recipe(tmp_path, MAX_MINUTES="5", **THREE).returncode == 3
    made = calls(tmp_path)[len(first):]
    assert seeds(made) == ["0", "1", "2", "3"] and "--max-minutes 5" in made[0]
    assert all("--resume" not in line for line in made)


def test_a_resumed_stage_made_again_from_the_start_is_no_longer_recorded_as_resumed(tmp_path):
    assert run_recipe(tmp_path, WUX_FAIL="--seed 2", **THREE).returncode == 4
    assert run_recipe(tmp_path, WUX_EVAL_OK="1", **THREE).returncode == 0  # stage 3 resumed
    assert sum("# resumed" in line for line in (tmp_path / "bundle.log").read_text().splitlines()) == 1
    (tmp_path / "out" / "default.stage2.train.command").unlink()  # stage 2 and every stage after it again
    done = len(calls(tmp_path))
    assert run_recipe(tmp_path, WUX_EVAL_OK="1", **THREE).returncode == 0
    assert seeds(calls(tmp_path)[done:]) == ["1", "2", "3"]
    assert not any("# resumed" in line for line in (tmp_path / "bundle.log").read_text().splitlines())


def test_a_record_left_without_its_command_is_made_again(tmp_path):
    """A stage whose record a run of the recipe did not write (no command beside it) is not taken as done."""
    assert run_recipe(tmp_path, **THREE).returncode == 3
    first = calls(tmp_path)
    (tmp_path / "out" / "default.stage2.train.command").unlink()
    assert run_recipe(tmp_path, **THREE).returncode == 3
    made = calls(tmp_path)[len(first):]
    assert seeds(made) == ["1", "2", "3"]
    assert all("--force" in line for line in made[:-1])


REPLAY = ROOT / "perf" / "replay_first_epoch.sh"


def wux_command(tmp_path: Path) -> Path:
    """This interpreter's wux, as one executable (the replay script runs `$WUX train ...`)."""
    script = tmp_path / "wux-here"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "from wux.cli import main; main()" "$@"\n')
    script.chmod(0o755)
    return script


def replay(tmp_path: Path, record: Path, *command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WUX": str(wux_command(tmp_path)), "PYTHON": sys.executable}
    return subprocess.run(["bash", str(REPLAY), str(record), "wux", "train", *command], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_a_recorded_stage_replays_to_the_last_digit_and_another_seed_does_not(tiny_corpus, tmp_path):
    stage = [str(tiny_corpus), "--preset", "tiny", "--epochs", "3", "--batch-size", "4", "--segment", "2048",
             "--segments-per-epoch", "8", "--val-share", "0.34", "--lr-schedule", "cosine", "--precision", "bf16"]
    record = tmp_path / "train.json"
    run = subprocess.run([str(wux_command(tmp_path)), "train", *stage, "--seed", "4", "--out",
                          str(tmp_path / "m.wux.pt"), "--json"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    record.write_text(run.stdout)
    same = replay(tmp_path, record, *stage, "--seed", "4")
    assert same.returncode == 0, same.stderr
    assert same.stdout.count(": same") == 2
    other = replay(tmp_path, record, *stage, "--seed", "5")
    assert other.returncode == 1 and "DIFFERENT" in other.stdout


def test_replaying_something_other_than_a_training_command_or_without_a_record_is_refused(tmp_path):
    r = subprocess.run(["bash", str(REPLAY), str(tmp_path / "train.json"), "wux", "eval"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith("usage:")
    (tmp_path / "train.json").write_text("")  # a run whose output was lost: refused before anything trains
    r = replay(tmp_path, tmp_path / "train.json", "no-such-corpus")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"replay_first_epoch.sh: {tmp_path / 'train.json'}: no first epoch "
                                             "recorded (JSONDecodeError: Expecting value: line 1 column 1 (char 0))"]
    (tmp_path / "train.json").write_text('{"history": [{"val_si_snr_db": 1.0, "train_loss": -1.0}]}')
    r = replay(tmp_path, tmp_path / "train.json", str(tmp_path / "no-such-corpus"))  # fails before it trains
    assert r.returncode == 2
    assert r.stderr.startswith("replay_first_epoch.sh: the command stopped before its first epoch: ")
    assert "no-such-corpus" in r.stderr


SOUPED = {"FINETUNE": "--seed 1", "FINETUNE2": " --seed 2 | --seed 3 ", "FINETUNE3": "--seed 4"}


def bundled_records(tmp_path: Path) -> tuple[list[str], str]:
    """The stage records the bundler was given (--base ...), and the one it takes as the model's own."""
    args = (tmp_path / "bundle.log").read_text().splitlines()
    bases = [args[i + 1] for i, word in enumerate(args) if word == "--base"]
    return bases, args[2 * len(bases) + 5]  # after --name NAME, the bases, the model and the corpus


def test_a_stage_of_several_runs_trains_each_from_the_stage_before_and_its_model_is_their_soup(tmp_path):
    r = run_recipe(tmp_path, WUX_EVAL_OK="1", **SOUPED)
    assert r.returncode == 0, r.stderr
    made = calls(tmp_path)
    assert [line.split()[0] for line in made] == ["data", "train", "train", "train", "train", "soup", "train", "eval"]
    out = tmp_path / "out"
    runs = [str(out / f"default.stage3.run{k}.wux.pt") for k in (1, 2)]
    for line, run, seed in zip(made[3:5], runs, ("2", "3")):
        words = line.split()
        assert words[words.index("--init") + 1] == str(out / "default.stage2.wux.pt")
        assert words[words.index("--out") + 1] == run and line.endswith(f" --seed {seed} --json")
    soup = out / "default.stage3.wux.pt"
    assert made[5] == f"soup {runs[0]} {runs[1]} --out {soup} --data {out / 'corpus'} --force --json"
    after = made[6].split()
    assert after[after.index("--init") + 1] == str(soup)
    stages = [out / f"default.{name}.json" for name in ("base.train", "stage2.train", "stage3.soup", "stage4.train")]
    assert bundled_records(tmp_path) == ([str(p) for p in stages[:3]], str(stages[3]))
    assert (out / "default.stage3.soup.command").read_text() == f"wux {made[5]}\n"


def test_a_rerun_goes_on_from_a_stopped_run_of_a_soup_stage_and_makes_a_failed_soup_again_alone(tmp_path):
    assert run_recipe(tmp_path, WUX_FAIL="--seed 3", **SOUPED).returncode == 4
    first = calls(tmp_path)
    assert run_recipe(tmp_path, WUX_FAIL="soup", **SOUPED).returncode == 4
    second = calls(tmp_path)[len(first):]
    assert [line.split()[0] for line in second] == ["train", "soup"]
    assert "--seed 3" in second[0] and "--resume" in second[0]
    assert run_recipe(tmp_path, WUX_EVAL_OK="1", **SOUPED).returncode == 0
    third = calls(tmp_path)[len(first) + len(second):]
    assert [line.split()[0] for line in third] == ["soup", "train", "eval"]
    assert "--resume" not in third[0] and "--force" in third[0]


def test_a_stage_made_the_other_way_is_refused_on_a_rerun_and_fresh_forgets_it(tmp_path):
    one_run = {**SOUPED, "FINETUNE2": "--seed 2"}
    assert run_recipe(tmp_path, WUX_EVAL_OK="1", **one_run).returncode == 0
    out = tmp_path / "out"
    refused = run_recipe(tmp_path, WUX_EVAL_OK="1", **SOUPED)
    assert refused.returncode == 2 and "default.stage3.train: made another way" in refused.stderr
    assert run_recipe(tmp_path, WUX_EVAL_OK="1", FRESH="1", **SOUPED).returncode == 0
    assert not (out / "default.stage3.train.json").exists() and (out / "default.stage3.soup.json").exists()
    first = len(calls(tmp_path))
    back = run_recipe(tmp_path, WUX_EVAL_OK="1", **one_run)  # and back: the soup's records refuse it
    assert back.returncode == 2 and "default.stage3.soup: made another way" in back.stderr
    assert len(calls(tmp_path)) == first


def test_a_soup_stage_with_an_empty_or_a_repeated_run_is_refused_before_anything_runs(tmp_path):
    for options, why in (("--seed 2 |", "names a run without options"), ("| --seed 2", "names a run without options"),
                         ("--seed 2 || --seed 3", "names a run without options"),
                         ("--seed 2 | --seed 2 ", 'names the run "--seed 2" twice')):
        r = run_recipe(tmp_path, **{**SOUPED, "FINETUNE2": options})
        assert r.returncode == 2 and f"FINETUNE2 {why}" in r.stderr, (options, r.stderr)
        assert calls(tmp_path) == []


BESIDE = {"FINETUNE": "--seed 1", "FINETUNE2": "--seed 2 --threads 1 | --seed 3 --threads 1", "FINETUNE3": "--seed 4"}


def test_the_runs_of_a_soup_stage_on_one_thread_each_train_beside_each_other(tmp_path):
    r = run_recipe(tmp_path, WUX_EVAL_OK="1", WUX_MEET="2", **BESIDE)  # each run waits until the other has begun
    assert r.returncode == 0, r.stderr
    made = [line.split()[0] for line in calls(tmp_path)]
    assert made == ["data", "train", "train", "train", "train", "soup", "train", "eval"]
    out = tmp_path / "out"
    assert all((out / f"default.stage3.run{k}.train.json").exists() for k in (1, 2))
    said = [line for line in r.stderr.splitlines() if "epoch 1/1" in line]  # each run's lines named by its record
    assert sorted(said) == sorted(f"default.{x}.train: epoch 1/1: default.{x}.wux.pt" for x in (
        "base", "stage2", "stage3.run1", "stage3.run2", "stage4")), r.stderr


def test_a_run_that_fails_beside_another_fails_the_recipe_after_both_and_a_rerun_keeps_the_one_done(tmp_path):
    stopped = run_recipe(tmp_path, WUX_MEET="2", WUX_FAIL="--seed 2", **BESIDE)
    assert stopped.returncode == 4
    out = tmp_path / "out"
    assert (out / "default.stage3.run2.train.json").exists() and not (out / "default.stage3.run1.train.json").exists()
    first = len(calls(tmp_path))
    again = run_recipe(tmp_path, WUX_EVAL_OK="1", **BESIDE)
    assert again.returncode == 0, again.stderr
    rerun = calls(tmp_path)[first:]
    assert [line.split()[0] for line in rerun] == ["train", "soup", "train", "eval"]
    assert "--seed 2" in rerun[0] and "--resume" in rerun[0]  # the stopped one goes on, the one done is kept
    assert f"kept {out / 'default.stage3.run2.train.json'}" in again.stderr


def take_ctrl_c() -> None:
    """SIGINT as a shell at a terminal gets it, even where these tests were started with it ignored (a job started
    in the background, `cmd &`, ignores SIGINT, and so does everything it starts: bash could not trap it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupted_recipe(tmp_path: Path, waiting: list[str], to_group: bool, **env_vars: str):
    """The recipe stopped by SIGINT to its whole group (Ctrl-C) or SIGTERM to its own process alone (kill), once
    the runs `waiting` (their --out names) wait to be interrupted: its exit status and stderr."""
    recipe = subprocess.Popen(["bash", str(SCRIPT)], env=recipe_env(tmp_path, **env_vars), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                              preexec_fn=take_ctrl_c)
    try:
        files = [tmp_path / "out" / f"{name}.waiting" for name in waiting]
        for _ in range(600):
            if all(f.exists() for f in files) or recipe.poll() is not None:
                break
            time.sleep(0.1)
        assert all(f.exists() for f in files), "the runs did not start"
        if to_group:
            os.killpg(recipe.pid, signal.SIGINT)
        else:
            os.kill(recipe.pid, signal.SIGTERM)
        _, said = recipe.communicate(timeout=30)  # a run left going would hold stderr open for a minute
    finally:
        if recipe.poll() is None:
            os.killpg(recipe.pid, signal.SIGKILL)
            recipe.wait()
    return recipe.returncode, said


def test_a_run_interrupted_says_its_last_line_named_and_the_recipe_ends_after_it_as_it_did(tmp_path):
    for to_group in (True, False):  # Ctrl-C; SIGTERM to the recipe alone, which passes it on
        (tmp_path / str(to_group)).mkdir()
        code, said = interrupted_recipe(tmp_path / str(to_group), ["default.stage3.wux.pt"], to_group,
                                        WUX_INTERRUPT="--seed 2", **THREE)
        assert code == 130, said
        assert said.splitlines()[-1] == "default.stage3.train: error: interrupted", said


def test_runs_beside_each_other_interrupted_both_say_so_and_the_recipe_ends_after_both(tmp_path):
    code, said = interrupted_recipe(tmp_path, [f"default.stage3.run{k}.wux.pt" for k in (1, 2)], True,
                                    WUX_INTERRUPT="--threads 1", **BESIDE)
    assert code == 130, said
    assert sorted(said.splitlines()[-2:]) == [f"default.stage3.run{k}.train: error: interrupted" for k in (1, 2)]


def test_runs_on_more_threads_train_one_after_the_other(tmp_path):
    mixed = {**BESIDE, "FINETUNE2": "--seed 2 --threads 1 | --seed 3"}
    r = run_recipe(tmp_path, WUX_EVAL_OK="1", WUX_MEET="2", WUX_MEET_TICKS="20", **mixed)
    assert r.returncode == 6  # the one-thread run waited for one that never began beside it, and gave up
    assert [line.split()[0] for line in calls(tmp_path)] == ["data", "train", "train", "train"]


def test_finetune_precision_sets_every_fine_tuning_runs_arithmetic_and_leaves_the_base_runs():
    """make default-model FINETUNE_PRECISION=fp32 (a CPU without bfloat16 instructions): every run of stages 2 to 19,
    soup runs included, in float32; the base run as before (TRAIN_PRECISION)."""
    recipe_knobs = ("FINETUNE", "DEFAULT_", "TRAIN_", "MAKE", "MFLAGS", "WEIGHTED", "ANNEAL", "BEFORE_DC")
    env = {k: v for k, v in os.environ.items() if not k.startswith(recipe_knobs)}  # not `make test X=...`'s

    def planned(*overrides: str) -> str:
        return subprocess.run(["make", "-n", "default-model", *overrides], cwd=ROOT, capture_output=True, text=True,
                              check=True, env=env).stdout

    bundled, fp32 = planned(), planned("FINETUNE_PRECISION=fp32")
    runs = 14 + 3 + 3 * 2  # stages 2 to 15 one run each, stage 16 a soup of three, stages 17 to 19 of two each
    assert bundled.count("--precision bf16") == fp32.count("--precision fp32") == runs
    assert "--precision bf16" not in fp32 and "PRECISION=auto" in bundled and "PRECISION=auto" in fp32
    assert bundled.replace("--precision bf16", "--precision fp32") == fp32
