#!/usr/bin/env bash
# Rebuild the bundled default model with wux's own tools: corpus, training, evaluation, sample.
# About 26 minutes on 2 CPU cores. Run from the repository root: `make default-model`.
set -euo pipefail
WUX=${WUX:-.venv/bin/wux}
OUT=${OUT:-build/default-model}
mkdir -p "$OUT"
$WUX data synth "$OUT/corpus" --minutes 60 --seed 0 --force --json > "$OUT/corpus.json"
$WUX train "$OUT/corpus" --out "$OUT/default.wux.pt" --preset default --epochs 30 --max-minutes 24 \
  --seed 0 --threads 2 --json > "$OUT/train.json"
$WUX eval "$OUT/default.wux.pt" --data "$OUT/corpus" --split test --json > "$OUT/eval.json"
.venv/bin/python perf/bundle_default_model.py "$OUT"
