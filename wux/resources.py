"""Files that ship inside the package: the default model and its demo sample."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_CHECKPOINT = "default.wux.pt"
# Bundled models by the name `--checkpoint NAME` takes (when no file of that name exists): the default; its
# causal twin for streaming (`make causal-model`, CAUSAL_PROVENANCE.md); and the context model, trained on the
# rich corpus with half a second of context (`make context-model`, CONTEXT_PROVENANCE.md), the default's
# successor once its INT8 export passes the task gate.
BUNDLED_MODELS = {"default": DEFAULT_CHECKPOINT, "causal": "causal.wux.pt", "context": "context.wux.pt"}
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
