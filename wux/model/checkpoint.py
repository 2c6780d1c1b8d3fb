"""Self-describing, safe checkpoints: tensors and plain data only, loaded with weights_only=True.

A wux checkpoint holds either a Wave-U-Net of wux's own family (its config) or a user model (the
callable that builds it and its kwargs, plus the audio contract wux measured or was told), and the
weights. Format 1 (wux 0.1) held Wave-U-Nets only and is still read.
"""

from __future__ import annotations

import hashlib
import io
import math
import pickle
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wux import __version__
from wux.contract import DEFAULT_SAMPLE_RATE, DERIVED_KEYS, MAX_SAMPLE_RATE, AudioContract
from wux.errors import CheckpointError, ConfigError, few, first_line
from wux.fsutil import atomic_file, sha256_file, torch_bytes_kind
from wux.model.config import WaveUNetConfig
from wux.model.user import UserModel, build_user_model
from wux.resources import BUNDLED_MODELS, bundled, default_checkpoint_path

CHECKPOINT_FORMAT = "wux-checkpoint"
CHECKPOINT_VERSION = 2
READABLE_VERSIONS = (1, 2)
CHECKPOINT_SUFFIX = ".wux.pt"
WAVEUNET, USER = "waveunet", "user"  # wux's own Wave-U-Net, or a model built by the user's code
FAMILIES = (WAVEUNET, USER)
# Where people's own files keep the state_dict ("state": DEMUCS's {"class","args","kwargs","state"} package).
STATE_DICT_KEYS = ("model_state_dict", "state_dict", "model", "state")


@dataclass
class Checkpoint:
    state_dict: dict[str, Any]
    config: WaveUNetConfig | None = None  # wux's own family...
    user: UserModel | None = None  # ...or a model built by the user's own code
    contract: dict[str, Any] | None = None  # the audio contract recorded with a user model
    sample_rate: int = DEFAULT_SAMPLE_RATE
    training: dict[str, Any] = field(default_factory=dict)
    wux_version: str = __version__
    resume: dict[str, Any] | None = None  # optimizer/scheduler state; only in training checkpoints
    path: Path | None = None
    # the sha256 of the file as it was read (load_checkpoint), so a record names the bytes these weights came from,
    # not whatever lies at `path` by the time it is written (a soup's members are scored for minutes first)
    # (not an argument: dataclasses.replace makes another checkpoint, which has none)
    read_sha256: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.config is None) == (self.user is None):
            raise ConfigError("a checkpoint holds either a Wave-U-Net config or a user model, exactly one")

    @property
    def family(self) -> str:
        return WAVEUNET if self.config is not None else USER

    def build_model(self):
        """The model in eval mode holding these weights."""
        model = build_model(self.config) if self.config is not None else build_user_model(self.user)
        load_weights(model, self.state_dict, self.path)
        return model.eval()

    @property
    def sha256(self) -> str | None:
        """The file's: as read when loaded, else as it is now (a checkpoint saved, or made in memory: None)."""
        if self.read_sha256 is not None:
            return self.read_sha256
        return sha256_file(self.path) if self.path else None

    def model_record(self) -> dict[str, Any]:
        if self.config is not None:
            return {"family": WAVEUNET, "config": self.config.to_dict()}
        return {"family": USER, **self.user.to_dict()}

    def to_payload(self) -> dict[str, Any]:
        payload = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "model": self.model_record(),
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in self.state_dict.items()},
            "sample_rate": int(self.sample_rate),
            "training": dict(self.training),
            "wux_version": self.wux_version,
        }
        if self.contract is not None:
            payload["contract"] = dict(self.contract)
        if self.resume is not None:
            payload["resume"] = self.resume
        return payload


def build_model(config: WaveUNetConfig):
    from wux.model.waveunet import WaveUNet

    return WaveUNet(config)


def resolve_checkpoint_path(path: Path | str | None) -> Path:
    """A file; or, when no file has that name, a bundled model's name (`causal`); None: the bundled default."""
    if path is None:
        return default_checkpoint_path()
    if str(path) in BUNDLED_MODELS and not Path(path).exists():
        return bundled(BUNDLED_MODELS[str(path)])
    return Path(path)


def save_checkpoint(ckpt: Checkpoint, path: Path | str) -> Path:
    """Write atomically: a crash mid-save leaves the previous file intact. The bytes depend on the checkpoint
    alone: torch.save names the zip's root folder after a path it is given (here a random temporary name), so it
    gets an open file instead, whose root folder is always "archive"."""
    import torch

    path = Path(path)
    with atomic_file(path) as tmp, open(tmp, "wb") as out:
        torch.save(ckpt.to_payload(), out)
    ckpt.path, ckpt.read_sha256 = path, None  # its sha256: the file just written's
    return path


def read_torch_file(path: Path | str, allowed_globals: tuple = (), what: str = "checkpoint") -> tuple[Any, str]:
    """torch.load with weights_only=True, turning every failure into one CheckpointError line; with the sha256 of
    the bytes loaded (the file is read once: a record names exactly the bytes the weights came from).

    `allowed_globals` are classes the file may name (never call): the user's own model class,
    which DEMUCS-style packages store beside the weights."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{what} file not found", path)
    if path.is_dir():
        raise CheckpointError(f"is a folder, not a {what} file", path)
    data = path.read_bytes()
    if not data:
        raise CheckpointError("file is empty", path)
    return load_torch_bytes(data, path, allowed_globals), hashlib.sha256(data).hexdigest()


def load_torch_bytes(data: bytes, path: Path, allowed_globals: tuple) -> Any:
    import torch

    kind = torch_bytes_kind(data)
    if kind == "zip":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                z.namelist()
        except zipfile.BadZipFile:
            raise CheckpointError("truncated or corrupt torch file (its zip archive is incomplete)", path) from None
    elif kind is None:
        raise CheckpointError("not a PyTorch file (neither a torch zip archive nor a pickle)", path)
    try:
        with torch.serialization.safe_globals(list(allowed_globals)), warnings.catch_warnings():
            # a plain pickle's protocol note would print before the one line saying what is wrong with the file
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
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
    import torch

    path = resolve_checkpoint_path(path)
    payload, read_sha256 = read_torch_file(path)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            "not a wux checkpoint (no 'format' marker); use it with --weights (and --model for your own "
            "model class), or convert it with `wux import`",
            path,
        )
    version = payload.get("format_version")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(
            f"unknown checkpoint format version {version!r}; this wux ({__version__}) reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}", path)
    model = payload.get("model") if version >= 2 else {"family": WAVEUNET, "config": payload.get("config")}
    if not isinstance(model, dict) or "state_dict" not in payload:
        raise CheckpointError("checkpoint lacks its model record or state_dict", path)
    family = model.get("family")
    if family not in FAMILIES:
        raise CheckpointError(f"bad model record: family {family!r} is none of {', '.join(map(repr, FAMILIES))}", path)
    try:
        config = WaveUNetConfig.from_dict(dict(model["config"])) if family == WAVEUNET else None
        user = UserModel.from_dict(model) if family == USER else None
    except (ConfigError, KeyError, TypeError) as e:
        raise CheckpointError(f"bad model record: {first_line(e)}", path) from None
    if user is not None and payload.get("contract") is not None:
        check_recorded_contract(payload["contract"], path)
    try:
        ckpt = Checkpoint(
            state_dict=dict(payload["state_dict"]), config=config, user=user, contract=payload.get("contract"),
            sample_rate=stored_rate(payload.get("sample_rate", DEFAULT_SAMPLE_RATE)),
            training=dict(payload.get("training", {})), wux_version=str(payload.get("wux_version", "unknown")),
            resume=payload.get("resume"), path=path,
        )
    except (ValueError, TypeError) as e:  # a field of the wrong type: a damaged or hand-made file
        raise CheckpointError(f"bad checkpoint record: {first_line(e)}", path) from None
    if not all(isinstance(t, torch.Tensor) for t in ckpt.state_dict.values()):
        raise CheckpointError("bad checkpoint record: its state_dict holds values that are not tensors", path)
    if config is not None:
        load_weights(build_model(config), ckpt.state_dict, path)  # fail now, not at first use
    ckpt.read_sha256 = read_sha256
    return ckpt


def check_recorded_contract(contract: Any, path: Path) -> None:
    """A user model's recorded contract and layout: facts of the kinds and values a declared one may hold."""
    from wux.model.adapter import Layout  # imports torch: not for `wux --help`
    from wux.model.declared import CONTRACT_KEYS, LAYOUT_KEYS, checked_facts

    what = "bad contract record"
    if not isinstance(contract, dict):
        raise CheckpointError(f"{what}: {type(contract).__name__} {contract!r:.40}, not a record", path)
    try:
        facts = checked_facts({k: v for k, v in contract.items() if k not in DERIVED_KEYS}, what)
    except ConfigError as e:
        raise CheckpointError(first_line(e), path) from None
    try:
        AudioContract(**{k: v for k, v in facts.items() if k in CONTRACT_KEYS})
        Layout(**{k: v for k, v in facts.items() if k in LAYOUT_KEYS})
    except ConfigError as e:
        raise CheckpointError(f"{what}: {first_line(e)}", path) from None


def stored_rate(value: Any) -> int:
    """A checkpoint's sample rate: a whole number of Hz an audio file can have (16000.7, "abc" or 1e12 is a
    damaged record)."""
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value != int(value) or not 0 < value <= MAX_SAMPLE_RATE):
        raise ValueError(f"sample_rate {value!r} is not a whole number of Hz from 1 to {MAX_SAMPLE_RATE}")
    return int(value)


def load_weights(model, state_dict: dict[str, Any], path: Path | None) -> None:
    """Strict load with a one-line error naming the first offending keys."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {few(unexpected)}")
        raise CheckpointError("weights do not fit the model: " + "; ".join(parts), path)
    for key, tensor in state_dict.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"shape mismatch for {key}: the weights have {tuple(tensor.shape)}, "
                f"the model needs {tuple(expected[key].shape)}",
                path,
            )
    params = dict(model.named_parameters())  # buffers may hold infinities on purpose (an attention mask)
    broken = non_finite_tensors({k: v for k, v in state_dict.items() if k in params})
    if broken:
        raise CheckpointError(f"NaN or Inf weights in {few(broken)}: the file is corrupt or its training diverged",
                              path)
    model.load_state_dict(state_dict, strict=True)


def non_finite_tensors(state_dict: dict[str, Any]) -> list[str]:
    """Names of the floating-point tensors holding a NaN or an infinity."""
    import torch

    return [k for k, t in state_dict.items()
            if torch.is_tensor(t) and t.is_floating_point() and not bool(torch.isfinite(t).all())]


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


WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DataParallel / DistributedDataParallel; torch.compile


def _strip_module_prefix(key: str) -> str:
    """A key without the prefixes wrappers save every key under (nested: a compiled DataParallel model)."""
    left = list(WRAPPER_PREFIXES)  # each wrapper once, in either order; a submodule named `module` stays
    while prefix := next((p for p in left if key.startswith(p)), None):
        key = key[len(prefix):]
        left.remove(prefix)
    return key


@dataclass(frozen=True)
class Weights:
    """A weights file of any common shape, read once."""
    state_dict: dict[str, Any]
    extra: dict[str, Any]  # the container's other plain entries (DEMUCS-style packages: args, kwargs)
    sha256: str  # of the bytes read


def read_weights(path: Path | str, allowed_globals: tuple = ()) -> Weights:
    path = Path(path)
    obj, digest = read_torch_file(path, allowed_globals, what="weights")
    extra = {k: v for k, v in obj.items() if k in ("args", "kwargs")} if isinstance(obj, dict) else {}
    return Weights(extract_state_dict(obj, path), extra, digest)


def import_state_dict(
    path: Path | str, config: WaveUNetConfig, sample_rate: int = DEFAULT_SAMPLE_RATE
) -> Checkpoint:
    """Turn a foreign state_dict file into a Wave-U-Net Checkpoint (checked against `config`)."""
    path = Path(path)
    weights = read_weights(path)
    load_weights(build_model(config), weights.state_dict, path)
    return Checkpoint(
        state_dict=weights.state_dict,
        config=config,
        sample_rate=sample_rate,
        training={"imported_from": path.name, "source_sha256": weights.sha256},
    )
