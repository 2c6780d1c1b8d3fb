"""Files that ship inside the package: the default model and its demo sample."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_CHECKPOINT = "default.wux.pt"
# Bundled models by the name `--checkpoint NAME` takes (when no file of that name exists): the default, trained
# on the rich corpus (Festival and espeak-ng voices, ten noise kinds, rooms) with half a second of context
# (`make default-model`, PROVENANCE.md); the classic model it replaced (78 ms of context, espeak-ng voices and six
# noise kinds; `make classic-model`, CLASSIC_PROVENANCE.md); and the classic model's causal twin for streaming
# (`make causal-model`, CAUSAL_PROVENANCE.md).
BUNDLED_MODELS = {"default": DEFAULT_CHECKPOINT, "classic": "classic.wux.pt", "causal": "causal.wux.pt"}
# What each bundled model was made from and measured at when it was bundled (perf/bundle_default_model.py).
PROVENANCE_FILES = {name: ("" if name == "default" else f"{name}_") + "provenance.json" for name in BUNDLED_MODELS}
SAMPLE_NOISY = "sample_noisy.wav"
SAMPLE_CLEAN = "sample_clean.wav"
EVAL_SET = "evalset"  # a small paired speech set (VoiceBank+DEMAND layout, test split): the INT8 gate's default


def bundled(name: str) -> Path:
    """Path of a file bundled with the default model (wux/model/default/)."""
    return Path(str(resources.files("wux") / "model" / "default" / name))


def default_checkpoint_path() -> Path:
    return bundled(DEFAULT_CHECKPOINT)
