#!/usr/bin/env bash
# Rebuild a bundled model with wux's own tools: corpus, training, evaluation (beside RNNoise and spectral
# gating), bundling as the bundled model NAME. From the repository root: `make default-model` (rich corpus,
# the context preset, hours), `make classic-model` or `make causal-model` (classic corpus, 24 minutes, no
# remixing: as they were made). Training stops after EPOCHS, or earlier at MAX_MINUTES (then the steps reached
# depend on the machine's speed; the PROVENANCE files record them); MAX_MINUTES= (empty) sets no time limit.
# FINETUNE (wux train options) adds a second stage: fine-tuning the first run's best checkpoint with those
# options (the default's: weighted towards babble, music, traffic and fan); FINETUNE2 a third, from the second's
# best, and so on up to FINETUNE20 (each refused without the one before).
set -euo pipefail
WUX=${WUX:-.venv/bin/wux}
PRESET=${PRESET:-default}
NAME=${NAME:-default}
RECIPE=${RECIPE:-rich}
MINUTES=${MINUTES:-120}
MAX_MINUTES=${MAX_MINUTES-65}
EPOCHS=${EPOCHS:-100}
AUGMENT=${AUGMENT:-"--augment-probability 0.4"}
PRECISION=${PRECISION:-auto}
OUT=${OUT:-build/$NAME-model}
# the bundled models' base runs were trained before the DC term existed (wux train --dc-weight)
BASE_LOSS=${BASE_LOSS:---dc-weight 0}
stages=()  # the fine-tuning stages' options, in order
before=FINETUNE
for var in FINETUNE FINETUNE{2..20}; do
  options=${!var:-}
  if [ -n "$options" ] && [ -z "${!before:-}" ]; then  # FINETUNE is its own "before": never refused
    echo "train_default_model.sh: each FINETUNE stage starts from the one before: $var needs $before" >&2
    exit 2
  fi
  [ -z "$options" ] || stages+=("$options")
  before=$var
done
mkdir -p "$OUT"
# stage i's checkpoint: the first is the base run, the last is the model
checkpoints=("$OUT/$NAME.base.wux.pt")
for ((i = 1; i < ${#stages[@]}; i++)); do
  checkpoints[i]=$OUT/$NAME.stage$((i + 1)).wux.pt
done
checkpoints[${#stages[@]}]=$OUT/$NAME.wux.pt
first=${checkpoints[0]}
limit=${MAX_MINUTES:+ --max-minutes $MAX_MINUTES}
synth="wux data synth $OUT/corpus --recipe $RECIPE --minutes $MINUTES --seed 0 --force --json"
train="wux train $OUT/corpus --out $first --force --preset $PRESET --epochs $EPOCHS$limit \
--seed 0 --threads 2 --batch-size 16 --segments-per-epoch 1600 --lr 0.002 --precision $PRECISION $AUGMENT \
$BASE_LOSS --json"
evaluate="wux eval $OUT/$NAME.wux.pt --data $OUT/corpus --split test --baseline rnnoise --baseline spectral-gating --json"
${synth/wux/$WUX} > "$OUT/synth.json"
${train/wux/$WUX} > "$OUT/train.json"
commands=("$synth" "$train")
base=()
for i in "${!stages[@]}"; do
  from=${checkpoints[$i]}
  mv "$OUT/train.json" "${from%.wux.pt}.train.json"
  base+=(--base "${from%.wux.pt}.train.json")
  finetune="wux train $OUT/corpus --init $from --out ${checkpoints[$((i + 1))]} --force --threads 2 --batch-size 16 \
--segments-per-epoch 1600 $AUGMENT ${stages[$i]} --json"
  ${finetune/wux/$WUX} > "$OUT/train.json"
  commands+=("$finetune")
done
${evaluate/wux/$WUX} > "$OUT/eval.json"
.venv/bin/python perf/bundle_default_model.py --name "$NAME" "${base[@]}" "$OUT/$NAME.wux.pt" "$OUT/corpus" \
  "$OUT/train.json" "$OUT/eval.json" "${commands[@]}" "$evaluate"
