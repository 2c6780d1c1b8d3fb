#!/usr/bin/env bash
# Rebuild the bundled default model with wux's own tools: corpus, training, evaluation, bundling.
# About 27 minutes on 2 CPU cores (training stops at --max-minutes 24). From the repository root:
# `make default-model`. The steps reached depend on the machine's speed; PROVENANCE.md records them.
# PRESET=causal (`make causal-model`) trains and bundles the causal twin the same way, on the same corpus.
set -euo pipefail
WUX=${WUX:-.venv/bin/wux}
PRESET=${PRESET:-default}
OUT=${OUT:-build/$PRESET-model}
mkdir -p "$OUT"
synth="wux data synth $OUT/corpus --minutes 60 --seed 0 --force --json"
train="wux train $OUT/corpus --out $OUT/$PRESET.wux.pt --preset $PRESET --epochs 40 --max-minutes 24 --seed 0 \
--threads 2 --batch-size 16 --segments-per-epoch 1600 --lr 0.002 --augment-probability 0.3 --json"
evaluate="wux eval $OUT/$PRESET.wux.pt --data $OUT/corpus --split test --json"
${synth/wux/$WUX} > "$OUT/synth.json"
${train/wux/$WUX} > "$OUT/train.json"
${evaluate/wux/$WUX} > "$OUT/eval.json"
.venv/bin/python perf/bundle_default_model.py --name "$PRESET" "$OUT/$PRESET.wux.pt" "$OUT/corpus" \
  "$OUT/train.json" "$OUT/eval.json" "$synth" "$train" "$evaluate"
