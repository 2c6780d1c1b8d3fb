#!/usr/bin/env bash
# Does a recorded training stage reproduce? Reruns its command (as recorded, its --out replaced by a scratch
# folder's) until its first epoch is written, stops it, and compares that epoch's validation SI-SNR and training
# loss with the run's own record (its `wux train --json` output) to the last digit.
# Usage: perf/replay_first_epoch.sh TRAIN_JSON wux train DATA --init CKPT ... (the stage's command, without --out
# and --json). Exit 0 when both match, 1 when not, 2 on bad use. From the repository root.
set -euo pipefail
if [ $# -lt 3 ] || [ "$2" != wux ] || [ "$3" != train ]; then
  echo "usage: perf/replay_first_epoch.sh TRAIN_JSON wux train DATA ... (the stage's command without --out)" >&2
  exit 2
fi
record=$1
shift 3
WUX=${WUX:-.venv/bin/wux}
PYTHON=${PYTHON:-.venv/bin/python}
scratch=$(mktemp -d)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$scratch"; }
trap cleanup EXIT
out=$scratch/replay.wux.pt
"$WUX" train "$@" --out "$out" --json > /dev/null 2> "$scratch/train.err" &
pid=$!
# the last checkpoint is renamed into place whole: once it is there, the first epoch is in it
while [ ! -f "$scratch/replay.last.wux.pt" ] && kill -0 "$pid" 2>/dev/null; do sleep 1; done
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pid=
if [ ! -f "$scratch/replay.last.wux.pt" ]; then
  echo "replay_first_epoch.sh: the command stopped before its first epoch:" >&2
  tail -3 "$scratch/train.err" >&2
  exit 2
fi
"$PYTHON" - "$record" "$scratch/replay.last.wux.pt" <<'PY'
import json, math, sys
from wux.model.checkpoint import load_checkpoint
recorded = json.load(open(sys.argv[1]))["history"][0]
replayed = load_checkpoint(sys.argv[2]).resume["history"][0]


def value(x):  # a run without validation files records none (null in JSON, NaN in the checkpoint)
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


same = True
for key in ("val_si_snr_db", "train_loss"):
    match = value(recorded[key]) == value(replayed[key])
    same &= match
    print(f"epoch 1 {key}: recorded {recorded[key]!r}, replayed {replayed[key]!r}: {'same' if match else 'DIFFERENT'}")
sys.exit(0 if same else 1)
PY
