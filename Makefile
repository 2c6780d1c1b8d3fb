# Every target creates the virtualenv itself when it is missing.
VENV   ?= .venv
PY     := $(VENV)/bin/python
WUX    := $(VENV)/bin/wux
STAMP  := $(VENV)/.installed
# The CPU build of torch; installed before the package so that pip never pulls a CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: install sysdeps demo test lint bench gpu-check perf-tools perf-compare default-model classic-model causal-model soak clean

# Extras the demo and the tests use. The Triton server and the python backend's numpy<2 packages are
# fetched into .venv/wux-triton by `python -m wux.triton_repo.provision` (wux serve would on first use).
EXTRAS       ?= cpu,serve,gateway,deploy,plot,metrics,rnnoise,spectral-gating,dev
# Third-party models the bring-your-own-model tests run, as their users install them. denoiser (DEMUCS,
# CC BY-NC 4.0, a test dependency only) declares torchaudio and hydra it does not import: --no-deps keeps
# the CPU torch intact.
TEST_MODELS  ?= denoiser==0.1.5

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	$(PY) -m wux.triton_repo.provision
	$(PY) -m pip install -q --no-deps $(TEST_MODELS)
	touch $(STAMP)

install: $(STAMP)

# System packages the tests and the training recipe use (Debian); skipped when present or not root.
# Festival's voices are listed once, in wux.data.voices.
sysdeps: install
	@command -v espeak-ng >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng; } || \
	  echo "espeak-ng missing: corpus tests will be skipped (apt-get install espeak-ng)"
	@command -v text2wave >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    $$($(PY) -c 'from wux.data.voices import FESTIVAL_PACKAGES; print(FESTIVAL_PACKAGES)'); } || \
	  echo "Festival missing: the rich corpus tests will be skipped (make sysdeps as root)"
	@command -v chromedriver >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } || \
	  echo "chromium missing: the gateway page test will be skipped (apt-get install chromium chromium-driver)"

demo: install
	$(WUX) demo --out demo_out --triton

test: install sysdeps
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check wux tests perf

# In-process throughput of every exported format beside eager PyTorch, on the bundled model.
# INT8 beside FP32 (task gate included), onnxruntime's settings tuned on this machine first.
bench: install
	$(WUX) export --to torchscript --to onnx --precision fp32 --precision int8 --out perf_out/bench --force
	$(WUX) bench perf_out/bench --tune --batch 1,8 --seconds 2

# 10 minutes at concurrency 16 through the gateway and straight to Triton, every answer checked, memory watched;
# then the same with two tritonservers, one killed halfway (not part of CI: 20 minutes).
SOAK_MINUTES ?= 10
soak: install
	$(PY) perf/soak.py --minutes $(SOAK_MINUTES) --concurrency 16 --out perf_out/soak
	$(PY) perf/soak.py --minutes $(SOAK_MINUTES) --concurrency 16 --kill --out perf_out/soak-kill

# GPU-only tests, then export / verify / bench on CUDA; skips cleanly (and says so) without a GPU.
gpu-check: install
	bash perf/gpu_check.sh

# perf_analyzer 2.51 (same release as the bundled server) from the tritonclient 2.51.0 wheel, unpacked
# beside the venv's newer tritonclient; it needs Debian's libb64-0d and a libcudart.so.12 name (the
# runtime library the server wheel ships serves; no GPU is needed).
PA_DIR := $(VENV)/wux-perf-analyzer
perf-tools: install
	@dpkg -s libb64-0d >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libb64-0d; }
	test -x $(PA_DIR)/perf_analyzer || { rm -rf $(PA_DIR).tmp && mkdir -p $(PA_DIR).tmp/lib && \
	  $(PY) -m pip download -q --no-deps --only-binary=:all: --platform manylinux1_x86_64 \
	    tritonclient==2.51.0 -d $(PA_DIR).tmp && \
	  cd $(PA_DIR).tmp && unzip -q -o tritonclient-2.51.0-*.whl 'tritonclient-2.51.0.data/data/bin/perf_analyzer' && \
	  mv tritonclient-2.51.0.data/data/bin/perf_analyzer . && rm -rf tritonclient-2.51.0.data *.whl && \
	  ln -sf $$(ls $(CURDIR)/$(VENV)/wux-triton/server/nvidia_pytriton.libs/libcudart-*.so.12*) lib/libcudart.so.12 && \
	  cd $(CURDIR) && mv $(PA_DIR).tmp $(PA_DIR); }

# perf_analyzer and `wux perf` side by side on the same model, shape and concurrency levels.
perf-compare: perf-tools
	$(PY) perf/perf_compare.py

# Rebuild the bundled default model from scratch: the rich corpus (120 minutes), half a second of context,
# remixing, TRAIN_EPOCHS epochs of 100 steps in one run (6,500 steps: the bundled base run reached 6,304 in 65
# epochs, some cut short where its resumed runs hit their time limits, PROVENANCE.md; about 5.5 hours on this
# project's 2-core CPU in float32), so the recipe does not depend on the machine's speed (TRAIN_MINUTES=N stops
# it at a wall time instead, as the bundled run's parts were), evaluation beside RNNoise and spectral gating.
# TRAIN_PRECISION=bf16 trains those steps in about half the time on a CPU with bfloat16 instructions (the bundled
# model's base run was trained in float32: auto). Then DEFAULT_FINETUNE: 2,100 steps from that run's best
# checkpoint in bfloat16, babble and music drawn 4 times, traffic and fan twice as often (about 50 minutes); then
# DEFAULT_FINETUNE2: 4,500 steps in bfloat16 from that stage's best, babble and music 8 times, traffic 3, fan twice, each
# segment's SI-SNR capped softly at 30 dB (about 80 minutes); then DEFAULT_FINETUNE3: 7,100 steps more the same way
# from that stage's best, starting again at its rate (about 75 minutes); DEFAULT_FINETUNE4: 2,200 more the same way
# (about 25 minutes); DEFAULT_FINETUNE5: 4,000 from that one's best at the same rate, down a half cosine to zero
# (about 43 minutes); DEFAULT_FINETUNE6: 6,400 more from that one's best down another half cosine (about 65
# minutes on an idle machine). The same stage grown into the long-context preset first (--preset long-context, its
# context stack run twice) measured the same on the test split (+6.68 dB, babble +1.67): the bundled model is not grown into long-context.
# DEFAULT_FINETUNE7: 6,400 more from that one's best down another half cosine, the first stage with the loss's DC
# term (about 65 minutes). DEFAULT_FINETUNE8: that one's best widened into the wide-context preset (every level and
# the bottleneck a third wider, the widened model starting as the trained one) and 6,400 steps down another half
# cosine (about 85 minutes on an idle machine). DEFAULT_FINETUNE9: 6,400 more from that one's best, as wide, down
# another half cosine (about 90 minutes). DEFAULT_FINETUNE10: that one's best widened into the wider-context preset
# (every level and the bottleneck a quarter wider again) and 3,000 steps down another half cosine (about 95
# minutes on this project's slower machine of 2026-12-05, late evening). DEFAULT_FINETUNE11: 3,000 more from that
# one's best, as wide, down another half cosine (about 90 minutes on that machine). DEFAULT_FINETUNE12: the same
# again from that one's best (seed 13). DEFAULT_FINETUNE13: 2,000 more from that one's best, its synthetic room
# taking the speech alone (--no-reverb-noise, as the corpus made its reverberant files; about 62 minutes).
# DEFAULT_FINETUNE14: 3,000 more from that one's best, babble files drawn twice as often (babble:16; about 90 minutes).
# DEFAULT_FINETUNE15 to 18 are soups (docs/babble.md): 15 fine-tunes three runs from DEFAULT_FINETUNE14's best
# (2,600 steps capped at 25 dB; 1,600 at 30 dB with speed changes of +-25 %; 1,600 of two-second crops at half the
# batch) and averages them; 16, 17 and 18 each fine-tune two runs of 1,400 steps from the soup before (one thread
# each, capped at 30 and 25 dB) and average those: babble on the unseen voices +2.73 (DEFAULT_FINETUNE14) -> 2.82 ->
# 2.88 -> 2.93 -> 3.02 dB (about 80 minutes a round: the recipe trains a stage's one-thread runs side by side, as
# they were trained). The whole recipe: about 30 hours on this project's 2-core CPU.
# Before bundling, the recipe compares its model with the bundled one (perf/compare_reproduction.py: each stage's best
# validation, then every SI-SNR figure of the test split within 0.5 dB or not; build/default-model/reproduction.json).
# Stopped part-way (a kill, a reboot), the same `make default-model` again keeps every step already done and goes on
# from the stage that was stopped (--resume, the same weights as one run straight through; a stage with a time
# limit starts again instead); a stage added at the end keeps every one before it; removing a stage's X.command
# file (beside its checkpoint) makes it and every stage after it again; FRESH=1 starts over (after a change to wux).
# A stage whose options name several runs separated by "|" fine-tunes each from the stage before and takes their
# uniform average (`wux soup`) as its model.
TRAIN_EPOCHS ?= 65
TRAIN_MINUTES ?=
TRAIN_PRECISION ?= auto
# FINETUNE_PRECISION: the fine-tuning stages' arithmetic (stages 2 to 19, all trained in bfloat16). On a CPU without
# bfloat16 instructions, which emulates it, FINETUNE_PRECISION=fp32 trains them faster, in other arithmetic than the
# bundled runs (README, "Rebuilding it": measured); perf/compare_reproduction.py judges the figures within 0.5 dB as
# ever, and names each stage trained otherwise. Set it before stage 2 begins: a stage begun otherwise is refused.
FINETUNE_PRECISION ?= bf16
# the first seven stages were trained before wux train had its DC term (--dc-weight, on by default since 2026-12-05)
BEFORE_DC ?= --dc-weight 0
DEFAULT_FINETUNE ?= --epochs 21 --seed 1 --lr 0.0005 --lr-patience 4 --noise-weights babble:4,music:4,traffic:2,fan:2 \
  --precision $(FINETUNE_PRECISION) $(BEFORE_DC)
# the third to fifteenth stages' weights (the fifteenth's babble twice theirs), cap and starting rate; the third to fifth
# halve it on plateaus (only their lengths and seeds differ), the sixth to fifteenth take it down a half cosine
WEIGHTED ?= --lr 0.00025 --noise-weights babble:8,music:8,traffic:3,fan:2 --precision $(FINETUNE_PRECISION) --snr-cap 30
WEIGHTED_STAGE ?= $(WEIGHTED) --lr-patience 8 $(BEFORE_DC)
DEFAULT_FINETUNE2 ?= --epochs 45 --seed 3 $(WEIGHTED_STAGE)
DEFAULT_FINETUNE3 ?= --epochs 71 --seed 4 $(WEIGHTED_STAGE)
DEFAULT_FINETUNE4 ?= --epochs 22 --seed 5 $(WEIGHTED_STAGE)
DEFAULT_FINETUNE5 ?= --epochs 40 --seed 6 $(WEIGHTED) --lr-schedule cosine $(BEFORE_DC)
DEFAULT_FINETUNE6 ?= --epochs 64 --seed 7 $(WEIGHTED) --lr-schedule cosine $(BEFORE_DC)
DEFAULT_FINETUNE7 ?= --epochs 64 --seed 8 $(WEIGHTED) --lr-schedule cosine --dc-weight 1
DEFAULT_FINETUNE8 ?= --epochs 64 --seed 9 $(WEIGHTED) --lr-schedule cosine --dc-weight 1 --preset wide-context
DEFAULT_FINETUNE9 ?= --epochs 64 --seed 10 $(WEIGHTED) --lr-schedule cosine --dc-weight 1
DEFAULT_FINETUNE10 ?= --epochs 30 --seed 11 $(WEIGHTED) --lr-schedule cosine --dc-weight 1 --preset wider-context
DEFAULT_FINETUNE11 ?= --epochs 30 --seed 12 $(WEIGHTED) --lr-schedule cosine --dc-weight 1
DEFAULT_FINETUNE12 ?= --epochs 30 --seed 13 $(WEIGHTED) --lr-schedule cosine --dc-weight 1
DEFAULT_FINETUNE13 ?= --epochs 20 --seed 15 $(WEIGHTED) --lr-schedule cosine --dc-weight 1 --no-reverb-noise
DEFAULT_FINETUNE14 ?= --epochs 30 --seed 16 --lr 0.00025 --noise-weights babble:16,music:8,traffic:3,fan:2 \
  --precision $(FINETUNE_PRECISION) --snr-cap 30 --lr-schedule cosine --dc-weight 1 --no-reverb-noise
# ANNEAL: DEFAULT_FINETUNE14's recipe without its cap, which each soup run sets itself (`|` separates a stage's runs)
ANNEAL ?= --lr 0.00025 --noise-weights babble:16,music:8,traffic:3,fan:2 --precision $(FINETUNE_PRECISION) \
  --lr-schedule cosine --dc-weight 1 --no-reverb-noise
SOUP_ROUND = --epochs 14 --threads 1 $(ANNEAL) --speed-range 25
DEFAULT_FINETUNE15 ?= --epochs 26 --seed 18 $(ANNEAL) --snr-cap 25 | --epochs 16 --seed 20 $(ANNEAL) --snr-cap 30 \
  --speed-range 25 | --epochs 16 --seed 21 --batch-size 8 --segment 32768 --segments-per-epoch 800 $(ANNEAL) --snr-cap 30
DEFAULT_FINETUNE16 ?= --seed 22 $(SOUP_ROUND) --snr-cap 30 | --seed 23 $(SOUP_ROUND) --snr-cap 25
DEFAULT_FINETUNE17 ?= --seed 24 $(SOUP_ROUND) --snr-cap 30 | --seed 25 $(SOUP_ROUND) --snr-cap 25
DEFAULT_FINETUNE18 ?= --seed 26 $(SOUP_ROUND) --snr-cap 30 | --seed 27 $(SOUP_ROUND) --snr-cap 25
default-model: install sysdeps
	PRESET=context RECIPE=rich MINUTES=120 MAX_MINUTES=$(TRAIN_MINUTES) EPOCHS=$(TRAIN_EPOCHS) AUGMENT="--augment-probability 0.4" \
	  PRECISION=$(TRAIN_PRECISION) FINETUNE="$(DEFAULT_FINETUNE)" \
	  FINETUNE2="$(DEFAULT_FINETUNE2)" FINETUNE3="$(DEFAULT_FINETUNE3)" FINETUNE4="$(DEFAULT_FINETUNE4)" \
	  FINETUNE5="$(DEFAULT_FINETUNE5)" FINETUNE6="$(DEFAULT_FINETUNE6)" FINETUNE7="$(DEFAULT_FINETUNE7)" \
	  FINETUNE8="$(DEFAULT_FINETUNE8)" FINETUNE9="$(DEFAULT_FINETUNE9)" FINETUNE10="$(DEFAULT_FINETUNE10)" \
	  FINETUNE11="$(DEFAULT_FINETUNE11)" FINETUNE12="$(DEFAULT_FINETUNE12)" FINETUNE13="$(DEFAULT_FINETUNE13)" \
	  FINETUNE14="$(DEFAULT_FINETUNE14)" FINETUNE15="$(DEFAULT_FINETUNE15)" FINETUNE16="$(DEFAULT_FINETUNE16)" \
	  FINETUNE17="$(DEFAULT_FINETUNE17)" FINETUNE18="$(DEFAULT_FINETUNE18)" \
	  FRESH="$(FRESH)" NAME=default bash perf/train_default_model.sh

# The classic model the default replaced, as it was made: classic corpus, 24 minutes on 2 CPU cores.
classic-model: install sysdeps
	RECIPE=classic MINUTES=60 MAX_MINUTES=24 EPOCHS=40 AUGMENT="--augment-probability 0.3 --no-remix" \
	  NAME=classic bash perf/train_default_model.sh

# The classic model's causal twin (streaming), made the same way (wux/model/default/causal.wux.pt).
causal-model: install sysdeps
	PRESET=causal RECIPE=classic MINUTES=60 MAX_MINUTES=24 EPOCHS=40 AUGMENT="--augment-probability 0.3 --no-remix" \
	  NAME=causal bash perf/train_default_model.sh

clean:
	rm -rf build demo_out .pytest_cache
