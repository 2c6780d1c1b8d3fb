#!/usr/bin/env bash
# Rebuild a bundled model with wux's own tools: corpus, training, evaluation (beside RNNoise and spectral
# gating), a comparison with the bundled model it rebuilds (perf/compare_reproduction.py), bundling as the bundled
# model NAME. From the repository root: `make default-model` (rich corpus,
# the context preset, hours), `make classic-model` or `make causal-model` (classic corpus, 24 minutes, no
# remixing: as they were made). Training stops after EPOCHS, or earlier at MAX_MINUTES (then the steps reached
# depend on the machine's speed; the PROVENANCE files record them); MAX_MINUTES= (empty) sets no time limit.
# FINETUNE (wux train options) adds a second stage: fine-tuning the first run's best checkpoint with those
# options (the default's: weighted towards babble, music, traffic and fan); FINETUNE2 a third, from the second's
# best, and so on up to FINETUNE20 (each refused without the one before). A stage's options may name several runs
# separated by "|": each is fine-tuned from the stage before (one after the other, or side by side when each trains
# on one thread, --threads 1), and the stage's model is their
# uniform average (`wux soup`, a model soup), scored on the corpus's validation files with its runs.
set -euo pipefail
if [ "${BASH_VERSINFO[0]}" -lt 4 ] || { [ "${BASH_VERSINFO[0]}" -eq 4 ] && [ "${BASH_VERSINFO[1]}" -lt 4 ]; }; then
  # negative array indices (4.3) and empty arrays under set -u (4.4); macOS's /bin/bash is 3.2
  echo "train_default_model.sh: needs bash >= 4.4, this is $BASH_VERSION (run it with a newer bash)" >&2
  exit 2
fi
WUX=${WUX:-.venv/bin/wux}
PYTHON=${PYTHON:-.venv/bin/python}
PRESET=${PRESET:-default}
NAME=${NAME:-default}
RECIPE=${RECIPE:-rich}
MINUTES=${MINUTES:-120}
MAX_MINUTES=${MAX_MINUTES-65}
EPOCHS=${EPOCHS:-100}
AUGMENT=${AUGMENT:-"--augment-probability 0.4"}
PRECISION=${PRECISION:-auto}
OUT=${OUT:-build/$NAME-model}
FRESH=${FRESH:-}  # non-empty: every step from the start (by default a rerun keeps the steps done, below)
# the bundled models' base runs were trained before the DC term existed (wux train --dc-weight)
BASE_LOSS=${BASE_LOSS:---dc-weight 0}
trimmed() {  # TEXT: without the spaces around it
  local text=${1#"${1%%[![:space:]]*}"}
  echo "${text%"${text##*[![:space:]]}"}"
}

check_runs() {  # VAR: a stage of several runs names each with options of its own
  local run seen=$'\n' runs
  IFS='|' read -ra runs <<< "${!1//$'\n'/ }|"  # the "|" added: a trailing one still makes an empty run
  for run in "${runs[@]}"; do
    run=$(trimmed "$run")
    if [ -z "$run" ]; then
      echo "train_default_model.sh: $1 names a run without options (between or beside its \"|\")" >&2
      exit 2
    fi
    if [[ "$seen" == *$'\n'"$run"$'\n'* ]]; then
      echo "train_default_model.sh: $1 names the run \"$run\" twice (it would train the same weights)" >&2
      exit 2
    fi
    seen+="$run"$'\n'
  done
}

stages=()  # the fine-tuning stages' options, in order
before=FINETUNE
for var in FINETUNE FINETUNE{2..20}; do
  options=${!var:-}
  if [ -n "$options" ] && [ -z "${!before:-}" ]; then  # FINETUNE is its own "before": never refused
    echo "train_default_model.sh: each FINETUNE stage starts from the one before: $var needs $before" >&2
    exit 2
  fi
  [[ "$options" != *"|"* ]] || check_runs "$var"
  [ -z "$options" ] || stages+=("$options")
  before=$var
done
mkdir -p "$OUT"
# the base run's checkpoint, then each stage's (named by its place, so that a stage added later keeps the ones
# before), the last copied as the model; without stages the base run makes the model itself. Each training run's
# `wux train --json` record lies beside its checkpoint (X.wux.pt: X.train.json), the command that made it in X.command;
# a stage of several runs has them as X.runK.wux.pt, and its soup's `wux soup --json` record as X.soup.json
model=$OUT/$NAME.wux.pt
first=$OUT/$NAME.base.wux.pt
[ ${#stages[@]} -gt 0 ] || first=$model
limit=${MAX_MINUTES:+ --max-minutes $MAX_MINUTES}
synth="wux data synth $OUT/corpus --recipe $RECIPE --minutes $MINUTES --seed 0 --force --json"
train="wux train $OUT/corpus --out $first --force --preset $PRESET --epochs $EPOCHS$limit \
--seed 0 --threads 2 --batch-size 16 --segments-per-epoch 1600 --lr 0.002 --precision $PRECISION $AUGMENT \
$BASE_LOSS --json"
evaluate="wux eval $model --data $OUT/corpus --split test --baseline rnnoise --baseline spectral-gating --json"

one_thread() {  # OPTIONS: they leave a fine-tuning run one thread (their last --threads, after the recipe's 2)
  local word before="" threads=2
  for word in $1; do
    [ "$before" != --threads ] || threads=$word
    before=$word
  done
  [ "$threads" = 1 ]
}

finetune() {  # FROM TO OPTIONS: the command of one fine-tuning run
  echo "wux train $OUT/corpus --init $1 --out $2 --force --threads 2 \
--batch-size 16 --segments-per-epoch 1600 $AUGMENT $3 --json"
}

commands=("$synth" "$train")
records=("$OUT/synth.json" "${first%.wux.pt}.train.json")
# per step, the files that the other way of making its stage (one run, or several and a soup) would have left
# beside the stage's checkpoint: a step that runs removes them, a rerun that finds their commands is refused
others=("" "")
# per step, the stage whose runs it trains beside each other (one thread each, as the bundled soups' runs were
# trained: on a 2-core machine, in half the time one after the other would take), or "" (it runs alone)
together=("" "")
stage_records=("${records[1]}")  # each stage's own record (a run's, or its soup's), the base run's first
before=$first
for i in "${!stages[@]}"; do
  stage=$OUT/$NAME.stage$((i + 2)).wux.pt
  x=${stage%.wux.pt}
  if [[ "${stages[$i]}" != *"|"* ]]; then
    commands+=("$(finetune "$before" "$stage" "${stages[$i]}")")
    records+=("$x.train.json")
    others+=("$x.soup.* $x.run*.train.* $x.run*.last.wux.pt")
    together+=("")
  else
    IFS='|' read -ra runs <<< "${stages[$i]//$'\n'/ }"
    members=()
    side=$((i + 2))
    for run in "${runs[@]}"; do
      one_thread "$run" || side=""
    done
    for j in "${!runs[@]}"; do
      member=$x.run$((j + 1)).wux.pt
      commands+=("$(finetune "$before" "$member" "$(trimmed "${runs[$j]}")")")
      records+=("${member%.wux.pt}.train.json")
      others+=("$x.train.* $x.last.wux.pt")
      together+=("$side")
      members+=("$member")
    done
    commands+=("wux soup ${members[*]} --out $stage --data $OUT/corpus --force --json")  # scored on validation
    records+=("$x.soup.json")
    others+=("$x.train.* $x.last.wux.pt")
    together+=("")
  fi
  stage_records+=("${records[-1]}")
  before=$stage
done

left_by_other_way() {  # INDEX: the files of others[INDEX] (patterns, expanded here) that are there
  local file
  for file in ${others[$1]}; do
    [ ! -e "$file" ] || echo "$file"
  done
}

# A step whose record is there, made by the same command, is kept. The first step without one runs, and every step
# after it; the records, commands and resumable states of those steps are removed first, so that a run stopped again
# leaves nothing a rerun would take for done. Where that first step is a training stage stopped part-way (its .last
# checkpoint there, by the same command) and has no --max-minutes (a resumed run would get the whole budget again),
# it goes on with --resume (the same weights as one run straight through) and its planned command is recorded with
# "# resumed". The runs of a soup stage that each train on one thread (--threads 1) train beside each other; when
# the first step to run is one of them, each of the others is kept when done and goes on when stopped part-way, as
# that first step does. Refused (exit 2, before anything runs): a record or a part-way stage left by another command.
# FRESH=1 runs every step from the start; removing a step's X.command file runs it and every step after it again.
refuse_other_commands() {
  local i planned made left
  for i in "${!commands[@]}"; do
    left=$(left_by_other_way "$i" | grep '\.command$' | head -n 1 || true)
    if [ -n "$left" ]; then
      echo "train_default_model.sh: ${left%.command}: made another way (one run, or several runs and a soup) than" \
        "${records[$i]%.json} is now; FRESH=1 starts over" >&2
      exit 2
    fi
    planned=${records[$i]%.json}.command
    [ -e "$planned" ] || continue
    made=$(<"$planned")
    if [ "$made" != "${commands[$i]}" ]; then
      echo "train_default_model.sh: ${records[$i]%.json}: made by another command ($made); FRESH=1 starts over" >&2
      exit 2
    fi
  done
}

resumable() {  # INDEX: the step is a training run stopped part-way by its planned command, and may go on
  local record=${records[$1]}
  [[ "${commands[$1]}" == "wux train "* ]] && [ -e "${record%.train.json}.last.wux.pt" ] \
    && [ -e "${record%.json}.command" ] && [[ "${commands[$1]}" != *" --max-minutes "* ]]
}

forget_step() {  # INDEX [resume]: remove what step INDEX left (its record, command, resume note, the other way's
  # files, and its resumable state unless resuming)
  local record=${records[$1]}
  rm -f "$record" "$record.partial" "${record%.json}.command" "${record%.json}.resumed"
  left_by_other_way "$1" | while read -r file; do rm -f "$file"; done
  if [[ "${commands[$1]}" == "wux train "* ]] && [ "${2:-}" != resume ]; then
    rm -f "${record%.train.json}.last.wux.pt"
  fi
}

forget_from() {  # INDEX: forget every step from INDEX on
  local i
  for ((i = $1; i < ${#records[@]}; i++)); do
    forget_step "$i"
  done
}

made_by_its_command() {  # INDEX: its record is there, made by its command (refuse_other_commands checked which)
  local record=${records[$1]}
  [ -s "$record" ] && [ -e "${record%.json}.command" ]
}

group_end() {  # INDEX: one past the last step trained beside step INDEX (INDEX + 1 when it runs alone)
  local end=$(($1 + 1))
  while [ -n "${together[$1]}" ] && [ "$end" -lt "${#commands[@]}" ] && [ "${together[$end]}" = "${together[$1]}" ]
  do
    end=$((end + 1))
  done
  echo "$end"
}

named() {  # NAME: each line of stdin to stderr after "NAME: " (runs side by side say which said what)
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    printf '%s: %s\n' "$1" "$line" >&2
  done
}

run_step() {  # INDEX [resume]: the step's command (resumed: --resume in place of --force), its record written under
  # a temporary name until the step ends, what it says on stderr (wux train: a line an epoch) named by its record
  local i=$1 command=${commands[$1]} record=${records[$1]} name=${records[$1]##*/}
  name=${name%.json}
  if [ "${2:-}" = resume ]; then
    command="${command/ --force / } --resume"
    : > "${record%.json}.resumed"
  fi
  printf '%s\n' "${commands[$i]}" > "${record%.json}.command"
  # a pipeline, not a process substitution: its lines are all said before the step ends, and the reader outlives a
  # Ctrl-C or SIGTERM (ignores both), so the run's own last line and exit status (130) are kept
  ${command/wux/$WUX} 2>&1 > "$record.partial" | { trap '' INT TERM; named "$name"; }
  mv "$record.partial" "$record"
}

stop_runs() {  # PID...: SIGTERM, which wux takes as Ctrl-C (its epoch saved, "error: interrupted", exit 130), to the
  # processes of each step's pipeline (started in the background, they ignore SIGINT; its reader ignores both)
  local pid
  for pid in "$@"; do
    pkill -TERM -P "$pid" 2>/dev/null || true
  done
}

wait_for() {  # PID: its exit status, waited for again while a signal the recipe took cut the wait short
  local status
  until wait "$1"; do
    status=$?
    kill -0 "$1" 2>/dev/null || return "$status"
  done
}

run_group() {  # START END: steps START..END-1, beside each other when more than one, each as how_of says (kept: not
  # run; resume: going on); one that fails fails the recipe once every one of them has ended. Each runs in the
  # background, so that a Ctrl-C or a SIGTERM to the recipe reaches it (stop_runs) and the recipe ends after it
  local i status=0 pids=()
  for ((i = $1; i < $2; i++)); do
    [ "${how_of[$i]:-}" != kept ] || continue
    run_step "$i" ${how_of[$i]:-} &
    pids+=($!)
  done
  trap 'stop_runs "${pids[@]}"' INT TERM
  for i in "${pids[@]}"; do
    wait_for "$i" || status=$?
  done
  trap - INT TERM
  [ "$status" -eq 0 ] || exit "$status"
}

[ -n "$FRESH" ] || refuse_other_commands
first_to_run=""
for i in "${!commands[@]}"; do
  if [ -z "$FRESH" ] && made_by_its_command "$i"; then
    echo "train_default_model.sh: kept ${records[$i]} (made by the same command)" >&2
  else
    first_to_run=$i
    break
  fi
done
how_of=()
if [ -n "$first_to_run" ]; then
  # the first step to run, and the steps trained beside it: each kept when done, going on when stopped part-way
  end=$(group_end "$first_to_run")
  for ((i = first_to_run; i < end; i++)); do
    if [ -z "$FRESH" ] && [ "$i" -gt "$first_to_run" ] && made_by_its_command "$i"; then
      how_of[i]=kept
      echo "train_default_model.sh: kept ${records[$i]} (made by the same command)" >&2
      continue
    elif [ -z "$FRESH" ] && resumable "$i"; then
      how_of[i]=resume
      echo "train_default_model.sh: going on from ${records[$i]%.train.json}.last.wux.pt" >&2
    fi
    forget_step "$i" ${how_of[$i]:-}
  done
  forget_from "$end"
  run_group "$first_to_run" "$end"
  for ((i = end; i < ${#commands[@]}; i = end)); do
    end=$(group_end "$i")
    run_group "$i" "$end"
  done
fi
if [ "$before" != "$model" ]; then
  cp "$before" "$model.partial"
  mv "$model.partial" "$model"
fi
${evaluate/wux/$WUX} > "$OUT/eval.json.partial"
mv "$OUT/eval.json.partial" "$OUT/eval.json"
# stage by stage and figure by figure beside the bundled model it rebuilds, before bundling replaces that one (its
# report in $OUT/reproduction.json); figures outside the tolerance (exit 1, the report saved) are shown and the model
# bundled all the same, as when the bundled provenance holds this very evaluation (exit 3: nothing to compare)
rm -f "$OUT/reproduction.json"
compared=0
"$PYTHON" perf/compare_reproduction.py "$OUT" --name "$NAME" --save "$OUT/reproduction.json" >&2 || compared=$?
[ "$compared" -eq 0 ] || [ "$compared" -eq 3 ] || { [ "$compared" -eq 1 ] && [ -e "$OUT/reproduction.json" ]; } \
  || exit "$compared"
recorded=()
for i in "${!commands[@]}"; do
  note=""
  [ ! -e "${records[$i]%.json}.resumed" ] || note="  # resumed with --resume in place of --force after an interruption"
  recorded+=("${commands[$i]}$note")
done
base=()
for record in "${stage_records[@]:0:${#stage_records[@]}-1}"; do
  base+=(--base "$record")
done
"$PYTHON" perf/bundle_default_model.py --name "$NAME" "${base[@]}" "$model" "$OUT/corpus" \
  "${stage_records[-1]}" "$OUT/eval.json" "${recorded[@]}" "$evaluate"
