"""`wux import`: other people's weights as a wux checkpoint that later commands take alone."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from wux.contract import DEFAULT_SAMPLE_RATE
from wux.errors import ConfigError
from wux.fsutil import check_new_file, sha256_file
from wux.model.checkpoint import import_state_dict, save_checkpoint
from wux.model.config import load_config_json
from wux.model.load import ModelSource, load_model


@dataclass(frozen=True)
class ImportResult:
    checkpoint: str
    sha256: str
    tensors: int
    family: str

    def to_dict(self) -> dict:
        return asdict(self)


def import_weights(output: Path, source: ModelSource, state_dict: Path | None = None, config: Path | None = None,
                   sample_rate: int | None = None, force: bool = False) -> ImportResult:
    """A Wave-U-Net state_dict with its config JSON, or a user model (callable, kwargs, weights, and the
    audio contract declared or measured now, so later commands need not probe again)."""
    check_new_file(output, force, [state_dict, config, source.weights, source.user.file if source.factory else None])
    if source.factory:
        if state_dict is not None or config is not None:
            raise ConfigError("with --model, pass the weights as --weights (no STATE_DICT argument or --config)")
        model = load_model(source, require_weights=True)
        ckpt = model.checkpoint({"imported_from": str(source.weights), "source_sha256": sha256_file(source.weights)})
    else:
        if state_dict is None or config is None:
            raise ConfigError("give a STATE_DICT file and --config (a Wave-U-Net), or --model and --weights")
        ckpt = import_state_dict(state_dict, load_config_json(config),
                                 DEFAULT_SAMPLE_RATE if sample_rate is None else sample_rate)
    save_checkpoint(ckpt, output)
    return ImportResult(str(output), ckpt.sha256, len(ckpt.state_dict), ckpt.family)
