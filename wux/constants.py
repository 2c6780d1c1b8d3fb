"""One place for the facts every part of wux shares."""

from __future__ import annotations

SAMPLE_RATE = 16_000

# Tensor names used by every exported artifact and by the Triton repository.
INPUT_NAME = "waveform"
OUTPUT_NAME = "denoised"
# Triton's pytorch_libtorch backend addresses TorchScript tensors by position under these names.
TORCHSCRIPT_INPUT_NAME = "INPUT__0"
TORCHSCRIPT_OUTPUT_NAME = "OUTPUT__0"
MANIFEST_NAME = "manifest.json"

CHECKPOINT_FORMAT = "wux-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_SUFFIX = ".wux.pt"

# Serving window length (samples) used when nothing else is said: ~1 s at 16 kHz,
# a multiple of every total stride the model family can have up to 2**14.
DEFAULT_CHUNK = 16_384

# Crossfade between neighbouring windows, samples (rounded up to the total stride).
DEFAULT_CROSSFADE = 256
