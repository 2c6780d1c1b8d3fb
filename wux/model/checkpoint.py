"""Self-describing, safe checkpoints: tensors and plain data only, loaded with weights_only=True."""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from wux import __version__
from wux.constants import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, SAMPLE_RATE
from wux.errors import CheckpointError, ConfigError, first_line
from wux.fsutil import atomic_file, sha256_file
from wux.model.config import WaveUNetConfig

DEFAULT_CHECKPOINT_NAME = "default.wux.pt"
STATE_DICT_KEYS = ("model_state_dict", "state_dict", "model")


@dataclass
class Checkpoint:
    config: WaveUNetConfig
    state_dict: dict[str, Any]
    sample_rate: int = SAMPLE_RATE
    training: dict[str, Any] = field(default_factory=dict)
    wux_version: str = __version__
    resume: dict[str, Any] | None = None  # optimizer/scheduler state; only in training checkpoints
    path: Path | None = None

    def build_model(self):
        """A WaveUNet in eval mode holding these weights."""
        model = build_model(self.config)
        load_weights(model, self.state_dict, self.path)
        return model.eval()

    @property
    def sha256(self) -> str | None:
        return sha256_file(self.path) if self.path else None

    def to_payload(self) -> dict[str, Any]:
        payload = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "config": self.config.to_dict(),
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in self.state_dict.items()},
            "sample_rate": int(self.sample_rate),
            "training": dict(self.training),
            "wux_version": self.wux_version,
        }
        if self.resume is not None:
            payload["resume"] = self.resume
        return payload


def build_model(config: WaveUNetConfig):
    from wux.model.waveunet import WaveUNet

    return WaveUNet(config)


def default_checkpoint_path() -> Path:
    return Path(str(resources.files("wux.model") / "default" / DEFAULT_CHECKPOINT_NAME))


def resolve_checkpoint_path(path: Path | str | None) -> Path:
    return Path(path) if path is not None else default_checkpoint_path()


def save_checkpoint(ckpt: Checkpoint, path: Path | str) -> Path:
    """Write atomically: a crash mid-save leaves the previous file intact."""
    import torch

    path = Path(path)
    with atomic_file(path) as tmp:
        torch.save(ckpt.to_payload(), tmp)
    ckpt.path = path
    return path


def read_torch_file(path: Path | str) -> Any:
    """torch.load with weights_only=True, turning every failure into one CheckpointError line."""
    import torch

    path = Path(path)
    if not path.exists():
        raise CheckpointError("checkpoint file not found", path)
    if path.is_dir():
        raise CheckpointError("is a folder, not a checkpoint file", path)
    if path.stat().st_size == 0:
        raise CheckpointError("file is empty", path)
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as z:
                z.namelist()
        except zipfile.BadZipFile:
            raise CheckpointError("truncated or corrupt torch file (its zip archive is incomplete)", path) from None
    elif head[:1] != b"\x80":
        raise CheckpointError("not a PyTorch file (neither a torch zip archive nor a pickle)", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Weights only load failed" in str(e):
            raise CheckpointError(
                "contains pickled Python objects that would run code when loaded; refusing. "
                "Re-save it as a plain state_dict (torch.save(model.state_dict(), ...))",
                path,
            ) from None
        raise CheckpointError(f"corrupt pickle data ({first_line(e)})", path) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"truncated or corrupt torch file ({first_line(e)})", path) from None



def load_checkpoint(path: Path | str | None = None) -> Checkpoint:
    """Load a wux checkpoint; None means the bundled default model."""
    path = resolve_checkpoint_path(path)
    payload = read_torch_file(path)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            "not a wux checkpoint (no 'format' marker); convert a plain state_dict with "
            "`wux import STATE_DICT --config CONFIG.json -o model.wux.pt`",
            path,
        )
    version = payload.get("format_version")
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"unknown checkpoint format version {version!r}; this wux ({__version__}) reads "
            f"version {CHECKPOINT_VERSION}",
            path,
        )
    missing = [k for k in ("config", "state_dict") if k not in payload]
    if missing:
        raise CheckpointError(f"checkpoint lacks {', '.join(missing)}", path)
    try:
        config = WaveUNetConfig.from_dict(dict(payload["config"]))
    except ConfigError as e:
        raise CheckpointError(str(e), path) from None
    ckpt = Checkpoint(
        config=config,
        state_dict=dict(payload["state_dict"]),
        sample_rate=int(payload.get("sample_rate", SAMPLE_RATE)),
        training=dict(payload.get("training", {})),
        wux_version=str(payload.get("wux_version", "unknown")),
        resume=payload.get("resume"),
        path=path,
    )
    load_weights(build_model(config), ckpt.state_dict, path)  # fail now, not at first use
    return ckpt


def load_weights(model, state_dict: dict[str, Any], path: Path | None) -> None:
    """Strict load with a one-line error naming the first offending keys."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_few(unexpected)}")
        raise CheckpointError(
            "weights do not fit the model config: " + "; ".join(parts), path
        )
    for key, tensor in state_dict.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"shape mismatch for {key}: checkpoint has {tuple(tensor.shape)}, "
                f"the model config needs {tuple(expected[key].shape)}",
                path,
            )
    model.load_state_dict(state_dict, strict=True)


def _few(keys: list[str], n: int = 3) -> str:
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def extract_state_dict(obj: Any, path: Path) -> dict[str, Any]:
    """Find the state_dict in the containers people save: plain, or under a known key."""
    import torch

    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        obj = obj.get("state_dict", {})
    elif isinstance(obj, dict):
        for key in STATE_DICT_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(
        isinstance(v, torch.Tensor) for v in obj.values()
    ):
        raise CheckpointError(
            f"no state_dict found: expected a dict of tensors, or one under "
            f"{' / '.join(STATE_DICT_KEYS)}",
            path,
        )
    return {_strip_module_prefix(k): v for k, v in obj.items()}


def _strip_module_prefix(key: str) -> str:
    # DataParallel / DistributedDataParallel save every key under "module.".
    return key[len("module."):] if key.startswith("module.") else key


def import_state_dict(
    path: Path | str, config: WaveUNetConfig, sample_rate: int = SAMPLE_RATE
) -> Checkpoint:
    """Turn a foreign state_dict file into a Checkpoint (checked against `config`)."""
    path = Path(path)
    state = extract_state_dict(read_torch_file(path), path)
    load_weights(build_model(config), state, path)
    return Checkpoint(
        config=config,
        state_dict=state,
        sample_rate=sample_rate,
        training={"imported_from": path.name, "source_sha256": sha256_file(path)},
    )
