"""Files that ship inside the package: the default model and its demo sample."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_CHECKPOINT = "default.wux.pt"
# Bundled models by the name `--checkpoint NAME` takes (when no file of that name exists): the default, and its
# causal twin for streaming (perf/train_default_model.sh with PRESET=causal; CAUSAL_PROVENANCE.md).
BUNDLED_MODELS = {"default": DEFAULT_CHECKPOINT, "causal": "causal.wux.pt"}
# What each bundled model was made from and measured at when it was bundled (perf/bundle_default_model.py).
PROVENANCE_FILES = {"default": "provenance.json", "causal": "causal_provenance.json"}
SAMPLE_NOISY = "sample_noisy.wav"
SAMPLE_CLEAN = "sample_clean.wav"
EVAL_SET = "evalset"  # a small paired speech set (VoiceBank+DEMAND layout, test split): the INT8 gate's default


def bundled(name: str) -> Path:
    """Path of a file bundled with the default model (wux/model/default/)."""
    return Path(str(resources.files("wux") / "model" / "default" / name))


def default_checkpoint_path() -> Path:
    return bundled(DEFAULT_CHECKPOINT)
