"""Does a whole training stage replay exactly? Compares a replayed run with the stage it replays, epoch by epoch
and weight by weight.

A stage's recorded command, run again from the checkpoint it started from (`git show` of the bundled model
then), on a CPU with the same instructions and the same threads, should give the same numbers to the last digit:
every epoch's training loss and validation SI-SNR as its record says (the bundled provenance.json's stage, or a
`wux train --json` record), and a best checkpoint whose every tensor equals the bundled one's bit for bit.

Usage (from the repository root):
  .venv/bin/python perf/compare_replay.py --stage 14 REPLAYED.train.json \
      [--weights REPLAYED.wux.pt BUNDLED.wux.pt] [--provenance P.json | --record RECORD.json] [--json]
Exit 0 when every compared figure and tensor is the same, 1 when one differs, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wux.errors import WuxError
from wux.resources import PROVENANCE_FILES, bundled

EPOCH_KEYS = ("train_loss", "val_si_snr_db")  # what an epoch's record says that its arithmetic decides


class BadInput(WuxError):
    pass


def read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot read it as JSON ({e.__class__.__name__})", path) from None
    if not isinstance(record, dict):
        raise BadInput("not a JSON record", path)
    return record


@dataclass(frozen=True)
class EpochDifference:
    epoch: int
    key: str
    recorded: float | None
    replayed: float | None


@dataclass(frozen=True)
class WeightComparison:
    tensors: int  # compared, by name
    different: list[str]  # names of tensors whose values differ
    max_abs_difference: float  # over those that are float
    reshaped: list[str] = field(default_factory=list)  # names of tensors of another shape or dtype
    missing: list[str] = field(default_factory=list)  # in one checkpoint only


@dataclass(frozen=True)
class ReplayComparison:
    epochs_recorded: int
    epochs_replayed: int
    epoch_differences: list[EpochDifference]
    weights: WeightComparison | None

    @property
    def same(self) -> bool:
        w = self.weights
        weights_same = w is None or not (w.different or w.reshaped or w.missing)
        return self.epochs_recorded == self.epochs_replayed and not self.epoch_differences and weights_same

    def to_dict(self) -> dict:
        return {**asdict(self), "same": self.same}


def value(x):
    """A figure as compared: a run without validation files records none (null in JSON, NaN in a checkpoint)."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def stage_record(provenance: Path, stage: int) -> dict:
    """The bundled stage's `wux train --json` record (stages count from 1, the base run)."""
    stages = read_record(provenance).get("stages", [])
    if not 1 <= stage <= len(stages):
        raise BadInput(f"no stage {stage} (it records {len(stages)})", provenance)
    record = stages[stage - 1].get("train", {})
    if "history" not in record:
        raise BadInput(f"stage {stage} is no training run (a soup?): it records no epochs", provenance)
    return record


def history_of(record: dict, path: Path) -> list[dict]:
    history = record.get("history")
    if not isinstance(history, list) or not history:
        raise BadInput("no epochs recorded (not a `wux train --json` record?)", path)
    return history


def epoch_differences(recorded: list[dict], replayed: list[dict]) -> list[EpochDifference]:
    """Every figure of EPOCH_KEYS, epoch by epoch, that differs (the epochs both have)."""
    differences = []
    for was, now in zip(recorded, replayed):
        for key in EPOCH_KEYS:
            if value(was.get(key)) != value(now.get(key)):
                differences.append(EpochDifference(was["epoch"], key, was.get(key), now.get(key)))
    return differences


def compare_weights(replayed: Path, bundled: Path) -> WeightComparison:
    """Tensor by tensor, by name: equal means the same shape, dtype and every value bit for bit."""
    import torch

    from wux.model.checkpoint import load_checkpoint

    mine, theirs = load_checkpoint(replayed).state_dict, load_checkpoint(bundled).state_dict
    different, reshaped, largest = [], [], 0.0
    for name in sorted(mine.keys() & theirs.keys()):
        a, b = mine[name], theirs[name]
        if a.shape != b.shape or a.dtype != b.dtype:
            reshaped.append(name)
        elif not torch.equal(a, b):
            different.append(name)
            if a.is_floating_point():
                largest = max(largest, (a.double() - b.double()).abs().max().item())
    return WeightComparison(len(mine.keys() & theirs.keys()), different, largest, reshaped,
                            sorted(mine.keys() ^ theirs.keys()))


def compare_replay(record: dict, record_path: Path, replayed: dict, replayed_path: Path,
                   weights: tuple[Path, Path] | None = None) -> ReplayComparison:
    recorded, now = history_of(record, record_path), history_of(replayed, replayed_path)
    return ReplayComparison(len(recorded), len(now), epoch_differences(recorded, now),
                            compare_weights(*weights) if weights else None)


def report_text(c: ReplayComparison) -> str:
    lines = [f"epochs: {c.epochs_recorded} recorded, {c.epochs_replayed} replayed"]
    compared = min(c.epochs_recorded, c.epochs_replayed)
    if c.epoch_differences:
        lines += [f"epoch {d.epoch} {d.key}: recorded {d.recorded!r}, replayed {d.replayed!r}: DIFFERENT"
                  for d in c.epoch_differences]
    else:
        lines.append(f"epochs 1 to {compared}: {', '.join(EPOCH_KEYS)} the same to the last digit")
    if c.weights is not None:
        w = c.weights
        if w.different or w.reshaped or w.missing:
            lines.append(f"weights: of {w.tensors} tensors, {len(w.different)} differ in value (largest difference "
                         f"{w.max_abs_difference:.3g}), {len(w.reshaped)} in shape or dtype; in one checkpoint only: "
                         f"{', '.join(w.missing) or 'none'}")
        else:
            lines.append(f"weights: all {w.tensors} tensors the same, bit for bit")
    lines.append("the same" if c.same else "NOT the same")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("replayed", type=Path, help="the replayed run's `wux train --json` record")
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--stage", type=int, help="the bundled stage replayed (1: the base run)")
    source.add_argument("--record", type=Path, help="or the replayed run's own record, a `wux train --json`")
    ap.add_argument("--provenance", type=Path, default=bundled(PROVENANCE_FILES["default"]))
    ap.add_argument("--weights", type=Path, nargs=2, metavar=("REPLAYED", "BUNDLED"),
                    help="also compare the replay's best checkpoint with the bundled stage's, tensor by tensor")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        if args.record is not None:
            record, record_path = read_record(args.record), args.record
        else:
            record, record_path = stage_record(args.provenance, args.stage), args.provenance
        for path in args.weights or ():
            if not path.is_file():
                raise BadInput("no such checkpoint", path)
        result = compare_replay(record, record_path, read_record(args.replayed), args.replayed, args.weights)
    except WuxError as e:  # a record or checkpoint that cannot be read
        print(f"compare_replay.py: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2) if args.json else report_text(result))
    return 0 if result.same else 1


if __name__ == "__main__":
    sys.exit(main())
