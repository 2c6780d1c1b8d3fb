"""Compare a `make default-model` run with the bundled model it rebuilds, stage by stage and figure by figure.

Usage: python perf/compare_reproduction.py [OUT] [--name NAME] [--provenance JSON] [--tolerance DB] [--json]
[--save JSON]

OUT is the recipe's folder (build/default-model). Each stage's best validation SI-SNR (a soup's: its score on the
same validation files) beside the bundled stage's; the stage still training at its last epoch beside the bundled run
at that epoch, with the time its run has left at the pace of its last epochs; and, once the recipe has evaluated its
model (OUT/eval.json), every SI-SNR improvement of the test-split table (mean, median, each noise kind, input SNR
band and room) beside the bundled model's, each within --tolerance dB (0.5: issue 11's bar) or not. A stage whose
epochs trained in another arithmetic than the bundled stage's (`make default-model FINETUNE_PRECISION=fp32`) is
named as such. Exit 0: every figure within it; 1: a figure outside it, or the recipe not finished; 2: bad input; 3:
nothing to compare (the provenance holds this run's own evaluation).

The recipe runs this before it bundles its model (its report: OUT/reproduction.json). Once bundled, the provenance
in wux/model/default holds the reproduction's own evaluation, which is refused (exit 3): compare with the one before
it, e.g. `git show HEAD~:wux/model/default/provenance.json > earlier.json` and `--provenance earlier.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from wux.errors import WuxError
from wux.fsutil import atomic_file
from wux.resources import PROVENANCE_FILES, bundled

TOLERANCE_DB = 0.5  # issue 11: the recipe reproduces the bundled model's figures within 0.5 dB
PACE_EPOCHS = 5  # a run's time left is taken at the pace of its last epochs (the machine's speed drifts)
EVAL_RECORD = "eval.json"  # the recipe's `wux eval --json` of its model


@dataclass(frozen=True)
class StageComparison:
    stage: int  # 1: the base run
    kind: str  # "run" or "soup"
    state: str  # "done", "training", "averaging" (a soup's runs done, the soup not yet) or "not started"
    bundled_db: float | None  # the bundled stage's best validation SI-SNR (a soup's score)
    reproduced_db: float | None  # done: the same of this run; training: its last epoch's validation
    epoch: int | None = None  # training: its last epoch done (a soup: of the run in training)
    bundled_at_epoch_db: float | None = None  # training: the bundled run's validation at that epoch
    bundled_kind: str = ""  # the bundled stage's kind ("run" or "soup"): another than `kind` when the recipe changed
    arithmetic: str = ""  # the precision its epochs trained in so far ("bf16", "fp32", "bf16+fp32"; "": none yet)
    bundled_arithmetic: str = ""  # the bundled stage's (FINETUNE_PRECISION=fp32 makes them differ)
    epochs: int | None = None  # training: the epochs the run in training was started for (its --epochs)
    epoch_seconds: float | None = None  # training: the mean seconds of its last PACE_EPOCHS epochs
    minutes_left: float | None = None  # training: the run's (not the stage's) time left: minutes_left()

    @property
    def difference_db(self) -> float | None:
        reference = self.bundled_at_epoch_db if self.state == "training" else self.bundled_db
        if reference is None or self.reproduced_db is None:
            return None
        return self.reproduced_db - reference


@dataclass(frozen=True)
class FigureComparison:
    figure: str  # "mean", "median", or a table row's group: "noise babble", "snr 15..20 dB", "room dry"
    bundled_db: float
    reproduced_db: float | None  # None: the reproduction's table has no such row
    within: bool

    @property
    def difference_db(self) -> float | None:
        return None if self.reproduced_db is None else self.reproduced_db - self.bundled_db


@dataclass(frozen=True)
class Reproduction:
    out: str
    provenance: str
    tolerance_db: float
    stages: list[StageComparison]
    figures: list[FigureComparison]  # empty until the recipe has evaluated its model

    @property
    def verdict(self) -> str:
        if not self.figures:
            return "in progress"
        return "reproduced" if all(f.within for f in self.figures) else "not reproduced"

    def to_dict(self) -> dict:
        return {"out": self.out, "provenance": self.provenance, "tolerance_db": self.tolerance_db,
                "verdict": self.verdict,
                "stages": [{**asdict(s), "difference_db": s.difference_db} for s in self.stages],
                "figures": [{**asdict(f), "difference_db": f.difference_db} for f in self.figures]}


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise WuxError(f"cannot read it as JSON ({e.__class__.__name__})", path) from None


def bundled_stages(provenance: dict) -> list[dict]:
    """The bundled model's stages in order, each a run's `wux train` record or a soup's `wux soup` record, its own
    last (as perf/bundle_default_model.py keeps them)."""
    return [stage["train"] for stage in provenance.get("stages", [])] + [provenance["train"]]


def stage_score(record: dict) -> float | None:
    """A run's best validation SI-SNR, or a soup's score on the validation files (None: made without --data)."""
    if "members" in record:
        return (record.get("validation") or {}).get("soup_si_snr_db")
    return record.get("best_val_si_snr_db")


def stage_prefix(out: Path, name: str, stage: int, stages: int) -> Path:
    """The recipe's name for a stage's files without their endings (X.train.json, X.soup.json, X.last.wux.pt): the
    base run's is NAME.base when the recipe has stages after it (NAME when its base run makes the model), by the
    files there, else by the bundled model's count of stages."""
    if stage > 1:
        return out / f"{name}.stage{stage}"
    for prefix in (out / f"{name}.base", out / name):
        if with_ending(prefix, ".train.command").exists() or with_ending(prefix, ".train.json").exists():
            return prefix
    return out / (f"{name}.base" if stages > 1 else name)


def with_ending(prefix: Path, ending: str) -> Path:
    return prefix.with_name(prefix.name + ending)


def kind_of(record: dict) -> str:
    return "soup" if "members" in record else "run"


def recipe_kind(prefix: Path) -> str | None:
    """What the recipe made or is making at a stage, by its files: a soup of runs, one run, or None (nothing yet)."""
    if with_ending(prefix, ".run1.train.command").exists() or with_ending(prefix, ".soup.json").exists():
        return "soup"
    if with_ending(prefix, ".train.command").exists() or with_ending(prefix, ".train.json").exists():
        return "run"
    return None


def recipe_runs(prefix: Path, kind: str) -> list[Path]:
    """The runs the recipe began at a stage (their commands recorded), in order: X, or X.run1, X.run2, ..."""
    if kind == "run":
        return [prefix] if with_ending(prefix, ".train.command").exists() else []
    runs = []
    while with_ending(prefix, f".run{len(runs) + 1}.train.command").exists():
        runs.append(with_ending(prefix, f".run{len(runs) + 1}"))
    return runs


def bundled_run(bundled: dict, place: int) -> dict:
    """The bundled run a recipe's run at `place` of its stage repeats: the soup member of that place, or the stage's
    own run (empty when the bundled soup has fewer members)."""
    if kind_of(bundled) == "run":
        return bundled
    members = bundled["members"]
    return members[place - 1].get("train", {}) if place <= len(members) else {}


def arithmetic_of(histories: list[list[dict]]) -> str:
    """The precisions the epochs of one or more runs trained in, by their records ("bf16", or "bf16+fp32" where they
    differ; "" where none is recorded)."""
    return "+".join(sorted({epoch["precision"] for history in histories for epoch in history
                            if epoch.get("precision")}))


def bundled_histories(bundled: dict) -> list[list[dict]]:
    """The epochs of a bundled stage's run, or of each of its soup's runs."""
    if kind_of(bundled) == "run":
        return [bundled.get("history", [])]
    return [member.get("train", {}).get("history", []) for member in bundled["members"]]


def written(record: Path) -> bool:
    """A record the recipe has written (renamed into place whole; empty: not yet)."""
    return record.exists() and record.stat().st_size > 0


def run_done(run: Path) -> bool:
    return written(with_ending(run, ".train.json"))


@dataclass(frozen=True)
class RunSoFar:
    history: list[dict]  # the epochs it has trained
    epochs: int | None = None  # in training: the epochs it was started for (None when done, or nothing saved yet)
    max_minutes: float | None = None  # in training: its --max-minutes, if any
    done: bool = False  # its record written


def run_so_far(run: Path) -> RunSoFar:
    """The epochs of a run the recipe began: its record's when done, else its resumable checkpoint's."""
    return RunSoFar(read_json(with_ending(run, ".train.json")).get("history", []), done=True) if run_done(run) else \
        training_so_far(run)


def training_so_far(run: Path) -> RunSoFar:
    """The epochs a run in training (or stopped part-way) has saved in its resumable checkpoint, if any yet, and the
    epochs its command asked for."""
    from wux.model.checkpoint import load_checkpoint

    last = with_ending(run, ".last.wux.pt")
    if not last.exists():
        return RunSoFar([])
    ckpt = load_checkpoint(last)
    train = ckpt.training.get("train", {})
    return RunSoFar(list((ckpt.resume or {}).get("history", [])), train.get("epochs"), train.get("max_minutes"))


def seconds_of_epochs(history: list[dict]) -> list[float]:
    return [h["seconds"] for h in history if isinstance(h.get("seconds"), (int, float))]


def pace_seconds(history: list[dict]) -> float | None:
    """The mean seconds of the last PACE_EPOCHS epochs (None when none records its time)."""
    seconds = seconds_of_epochs(history[-PACE_EPOCHS:])
    return sum(seconds) / len(seconds) if seconds else None


def minutes_left(run: RunSoFar) -> float | None:
    """A run's epochs still to train at its recent pace, or what its --max-minutes leaves it when that ends it
    sooner (the recipe starts a time-limited run again rather than resuming it: its epochs are this run's)."""
    pace = pace_seconds(run.history)
    if run.epochs is None or not run.history or pace is None:
        return None
    left = max(run.epochs - run.history[-1]["epoch"], 0) * pace / 60
    if run.max_minutes is not None:
        left = min(left, max(run.max_minutes - sum(seconds_of_epochs(run.history)) / 60, 0))
    return left


def epoch_scores(history: list[dict]) -> dict[int, float]:
    return {h["epoch"]: h["val_si_snr_db"] for h in history}


def compare_stage(prefix: Path, stage: int, bundled: dict, started: bool) -> StageComparison:
    bundled_kind = kind_of(bundled)
    kind = recipe_kind(prefix) or bundled_kind
    runs = recipe_runs(prefix, kind) if started else []
    so_far = [run_so_far(run) for run in runs]  # each read once: a record, or a checkpoint of 17 MB
    compared = partial(StageComparison, stage, kind, bundled_db=stage_score(bundled), bundled_kind=bundled_kind,
                       arithmetic=arithmetic_of([run.history for run in so_far]),
                       bundled_arithmetic=arithmetic_of(bundled_histories(bundled)))
    record = with_ending(prefix, ".soup.json" if kind == "soup" else ".train.json")
    if written(record):
        return compared("done", reproduced_db=stage_score(read_json(record)))
    for place, done_so_far in enumerate(so_far, start=1):
        if not done_so_far.done:
            history = done_so_far.history
            if not history:
                return compared("training", reproduced_db=None)
            epoch, score = history[-1]["epoch"], history[-1]["val_si_snr_db"]
            at_epoch = epoch_scores(bundled_run(bundled, place).get("history", [])).get(epoch)
            return compared("training", reproduced_db=score, epoch=epoch, bundled_at_epoch_db=at_epoch,
                            epochs=done_so_far.epochs, epoch_seconds=pace_seconds(history),
                            minutes_left=minutes_left(done_so_far))
    if runs and kind == "soup":  # every run done, their soup not yet written: being averaged and scored
        return compared("averaging", reproduced_db=None)
    return compared("not started", reproduced_db=None)


def compare_stages(out: Path, name: str, provenance: dict) -> list[StageComparison]:
    """Every bundled stage beside the recipe's: those done, the first not done (training, when its resumable
    checkpoint is there), then the ones not started."""
    bundled_list = bundled_stages(provenance)
    compared, started = [], True
    for stage, bundled_stage in enumerate(bundled_list, start=1):
        prefix = stage_prefix(out, name, stage, len(bundled_list))
        comparison = compare_stage(prefix, stage, bundled_stage, started)
        started = comparison.state == "done"
        compared.append(comparison)
    return compared


def model_figures(evaluation: dict, path: Path) -> dict[str, float]:
    """The evaluated model's SI-SNR improvements: mean, median and each row of its table but the overall one."""
    try:
        figures = {"mean": evaluation["si_snr_improvement_db_mean"],
                   "median": evaluation["si_snr_improvement_db_median"]}
        for row in evaluation.get("rows", []):
            if row["system"] == evaluation["model"] and row["group"] != "all":
                figures[row["group"]] = row["si_snr_improvement_db_mean"]
    except (KeyError, TypeError) as e:
        raise WuxError(f"not a `wux eval --json` record (no {e})", path) from None
    return figures


def compare_figures(bundled: tuple[dict, Path], reproduced: tuple[dict, Path],
                    tolerance_db: float) -> list[FigureComparison]:
    mine_all = model_figures(*reproduced)
    compared = []
    for figure, bundled_db in model_figures(*bundled).items():
        mine = mine_all.get(figure)
        within = mine is not None and abs(mine - bundled_db) <= tolerance_db
        compared.append(FigureComparison(figure, bundled_db, mine, within))
    return compared


class NothingToCompare(WuxError):
    """The bundled provenance holds this very evaluation: the recipe has bundled its own model (exit 3)."""


def check_not_its_own(provenance: dict, provenance_path: Path, evaluation: dict, name: str) -> None:
    """After the recipe bundles its model, the bundled provenance holds the recipe's own evaluation: compared with
    itself, every figure would agree. (Two evaluations of one model differ: RNNoise's figures move between runs.)"""
    if provenance["eval"] == evaluation:
        earlier = PROVENANCE_FILES[name]
        raise NothingToCompare(f"holds this run's own evaluation (the recipe bundled its model): compare with the "
                               f"provenance before it (git show HEAD~:wux/model/default/{earlier} > earlier.json; "
                               "--provenance earlier.json)", provenance_path)


def compare_reproduction(out: Path, name: str = "default", provenance_path: Path | None = None,
                         tolerance_db: float = TOLERANCE_DB) -> Reproduction:
    if not out.is_dir():
        raise WuxError("no such folder: the recipe (make default-model) writes its runs there", out)
    provenance_path = provenance_path or bundled(PROVENANCE_FILES[name])
    provenance = read_json(provenance_path)
    if "train" not in provenance or "eval" not in provenance:
        raise WuxError("not a bundled model's provenance (no train or eval record)", provenance_path)
    stages = compare_stages(out, name, provenance)
    evaluation_path = out / EVAL_RECORD
    figures = []
    if evaluation_path.exists():
        evaluation = read_json(evaluation_path)
        check_not_its_own(provenance, provenance_path, evaluation, name)
        figures = compare_figures((provenance["eval"], provenance_path), (evaluation, evaluation_path), tolerance_db)
    return Reproduction(str(out), str(provenance_path), tolerance_db, stages, figures)


def db(value: float | None, signed: bool = False) -> str:
    return "-" if value is None else format(value, "+.2f" if signed else ".2f")


def duration(minutes: float) -> str:
    """'about 2 h 05 min', 'about 12 min'."""
    whole = round(minutes)
    return f"about {whole // 60} h {whole % 60:02d} min" if whole >= 60 else f"about {whole} min"


def stage_line(s: StageComparison) -> str:
    other = f"; the bundled stage was a {s.bundled_kind}" if s.bundled_kind and s.bundled_kind != s.kind else ""
    if s.arithmetic and s.bundled_arithmetic and s.arithmetic != s.bundled_arithmetic:
        other += f"; trained in {s.arithmetic}, the bundled stage in {s.bundled_arithmetic}"
    if s.state == "training" and s.epoch is not None:
        of = "" if s.epochs is None else f" of {s.epochs}"
        left = "" if s.minutes_left is None else \
            f"; {duration(s.minutes_left)} left in this run ({s.epoch_seconds:.0f} s an epoch lately)"
        return (f"stage {s.stage:>2} {s.kind:<4} training  epoch {s.epoch}{of}: {db(s.reproduced_db)} dB, the "
                f"bundled run then {db(s.bundled_at_epoch_db)} ({db(s.difference_db, True)}); its best "
                f"{db(s.bundled_db)}{left}{other}")
    return (f"stage {s.stage:>2} {s.kind:<4} {s.state:<11} {db(s.reproduced_db):>6} dB, bundled "
            f"{db(s.bundled_db):>6} ({db(s.difference_db, True)}){other}")


def report_text(r: Reproduction) -> str:
    lines = [f"{r.out} against {r.provenance}: best validation SI-SNR by stage"]
    lines += [stage_line(s) for s in r.stages]
    if r.figures:
        lines.append(f"test split, SI-SNR improvement (dB), within {r.tolerance_db} dB of the bundled model's:")
        lines += [f"  {f.figure:<22} {db(f.reproduced_db):>6}  bundled {db(f.bundled_db):>6}  "
                  f"({db(f.difference_db, True)}) {'ok' if f.within else 'OUTSIDE'}" for f in r.figures]
    else:
        lines.append(f"no {EVAL_RECORD} yet: the recipe has not evaluated its model")
    lines.append(f"verdict: {r.verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path("build/default-model"))
    parser.add_argument("--name", default="default", choices=sorted(PROVENANCE_FILES))
    parser.add_argument("--provenance", type=Path, help="a bundled model's provenance.json (default: the bundled one)")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE_DB, help="dB (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="the comparison as JSON on stdout")
    parser.add_argument("--save", type=Path, help="also write the comparison as JSON to this file")
    args = parser.parse_args(argv)
    try:
        result = compare_reproduction(args.out, args.name, args.provenance, args.tolerance)
    except WuxError as e:
        print(f"compare_reproduction.py: {e}", file=sys.stderr)
        return 3 if isinstance(e, NothingToCompare) else 2
    record = json.dumps(result.to_dict(), indent=1)
    if args.save is not None:
        with atomic_file(args.save) as tmp:
            tmp.write_text(record + "\n")
    print(record if args.json else report_text(result))
    return 0 if result.verdict == "reproduced" else 1


if __name__ == "__main__":
    sys.exit(main())
