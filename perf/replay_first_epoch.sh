#!/usr/bin/env bash
# Does a recorded training stage reproduce? Reruns its command (as recorded, its --out replaced by a scratch
# folder's) until its first epoch is written, stops it, and compares that epoch's validation SI-SNR and training
# loss with the run's own record (its `wux train --json` output) to the last digit. The record must come from a
# run whose first epoch ran whole (not one cut short by --max-minutes). Same machine, same threads: bit-exact.
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
first_epoch() {  # the record's first epoch, as JSON; a one-line error (exit 2) when it has none
  "$PYTHON" - "$1" <<'PY'
import json, sys
try:
    print(json.dumps(json.load(open(sys.argv[1]))["history"][0]))
except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
    sys.exit(f"replay_first_epoch.sh: {sys.argv[1]}: no first epoch recorded ({type(e).__name__}: {e})")
PY
}
recorded=$(first_epoch "$record") || exit 2
scratch=$(mktemp -d)
pid=
stop_training() { [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; pid=; }
trap 'stop_training; rm -rf "$scratch"' EXIT
out=$scratch/replay.wux.pt
last=$("$PYTHON" -c "import sys; from pathlib import Path; from wux.train.loop import last_checkpoint_path
print(last_checkpoint_path(Path(sys.argv[1])))" "$out")
"$WUX" train "$@" --out "$out" --json > /dev/null 2> "$scratch/train.err" &
pid=$!
# the last checkpoint is renamed into place whole: once it is there, the first epoch is in it
while [ ! -f "$last" ] && kill -0 "$pid" 2>/dev/null; do sleep 1; done
stop_training
if [ ! -f "$last" ]; then
  echo "replay_first_epoch.sh: the command stopped before its first epoch: $(tail -1 "$scratch/train.err")" >&2
  exit 2
fi
"$PYTHON" - "$recorded" "$last" "$(dirname "$0")" <<'PY'
import json, sys
from wux.model.checkpoint import load_checkpoint
sys.path.insert(0, sys.argv[3])
from compare_replay import EPOCH_KEYS, value  # what a replay compares, as a whole stage's replay does
recorded = json.loads(sys.argv[1])
replayed = load_checkpoint(sys.argv[2]).resume["history"][0]
same = True
for key in EPOCH_KEYS:
    match = value(recorded[key]) == value(replayed[key])
    same &= match
    print(f"epoch 1 {key}: recorded {recorded[key]!r}, replayed {replayed[key]!r}: {'same' if match else 'DIFFERENT'}")
sys.exit(0 if same else 1)
PY
