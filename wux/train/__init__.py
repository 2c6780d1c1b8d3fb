"""Training and evaluation of Wave-U-Net denoisers."""

DEFAULT_LR = 1e-3  # Adam's rate for a new run (wux train --lr)
DEFAULT_LR_PATIENCE = 2  # epochs without a better validation score before the rate halves (wux train --lr-patience)
# How the rate moves over a run (wux train --lr-schedule). plateau: halved after --lr-patience epochs without a
# better validation score. cosine: a half cosine from the given rate at the first epoch down to zero after
# --epochs (Loshchilov & Hutter's SGDR without restarts), the same rates whatever validation says
PLATEAU, COSINE = "plateau", "cosine"
LR_SCHEDULES = (PLATEAU, COSINE)
DEFAULT_LR_SCHEDULE = PLATEAU
# The loss's terms beside -SI-SNR (wux train --level-weight, --dc-weight): SI-SNR cannot see the output's gain or
# its mean; the level term holds one, the DC term the other (0 trains as wux did before 2026-12-05)
DEFAULT_LEVEL_WEIGHT = 0.1
DEFAULT_DC_WEIGHT = 1.0
# Arithmetic a training run's forward and backward passes compute in; weights and optimizer stay float32 in every
# case. auto: float16 with loss scaling on CUDA, float32 on the CPU. bf16: bfloat16 autocast on either device,
# faster on CPUs with bfloat16 instructions (AVX512-BF16, AMX), slower without them (perf/train_precision.py
# measures both). fp16: CUDA only.
TRAIN_PRECISIONS = ("auto", "fp32", "bf16", "fp16")
