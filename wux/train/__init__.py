"""Training and evaluation of Wave-U-Net denoisers."""

# Arithmetic a training run's forward and backward passes compute in; weights and optimizer stay float32 in every
# case. auto: float16 with loss scaling on CUDA, float32 on the CPU. bf16: bfloat16 autocast on either device; a
# CPU with bfloat16 instructions (AVX512-BF16, AMX) runs a step about 2x faster (measure yours:
# python perf/train_precision.py). fp16: CUDA only.
TRAIN_PRECISIONS = ("auto", "fp32", "bf16", "fp16")
