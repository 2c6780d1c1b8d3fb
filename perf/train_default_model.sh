#!/usr/bin/env bash
# Rebuild a bundled model with wux's own tools: corpus, training, evaluation (beside RNNoise and spectral
# gating), bundling. From the repository root: `make default-model`, `make causal-model` (classic corpus,
# 24 minutes, no remixing: as they were made) or `make context-model` (rich corpus, 157 minutes). Training stops
# at MAX_MINUTES, so the steps reached depend on the machine's speed; the PROVENANCE files record them.
set -euo pipefail
WUX=${WUX:-.venv/bin/wux}
PRESET=${PRESET:-default}
RECIPE=${RECIPE:-rich}
MINUTES=${MINUTES:-120}
MAX_MINUTES=${MAX_MINUTES:-65}
EPOCHS=${EPOCHS:-100}
AUGMENT=${AUGMENT:-"--augment-probability 0.4"}
OUT=${OUT:-build/$PRESET-model}
mkdir -p "$OUT"
synth="wux data synth $OUT/corpus --recipe $RECIPE --minutes $MINUTES --seed 0 --force --json"
train="wux train $OUT/corpus --out $OUT/$PRESET.wux.pt --preset $PRESET --epochs $EPOCHS --max-minutes $MAX_MINUTES \
--seed 0 --threads 2 --batch-size 16 --segments-per-epoch 1600 --lr 0.002 $AUGMENT --json"
evaluate="wux eval $OUT/$PRESET.wux.pt --data $OUT/corpus --split test --baseline rnnoise --baseline spectral-gating --json"
${synth/wux/$WUX} > "$OUT/synth.json"
${train/wux/$WUX} > "$OUT/train.json"
${evaluate/wux/$WUX} > "$OUT/eval.json"
.venv/bin/python perf/bundle_default_model.py --name "$PRESET" "$OUT/$PRESET.wux.pt" "$OUT/corpus" \
  "$OUT/train.json" "$OUT/eval.json" "$synth" "$train" "$evaluate"
