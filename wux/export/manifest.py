"""manifest.json: the single source of truth that verify, bench, denoise and the Triton step read."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wux.contract import AudioContract
from wux.errors import ConfigError, WuxError
from wux.export.formats import FORMATS
from wux.fsutil import atomic_file, sha256_file
from wux.ort_settings import OrtOptions
from wux.runtime.base import ShapeLimits, TensorIO

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 2


@dataclass
class TensorInfo:
    name: str
    dtype: str
    dims: list[Any]  # ints, or names of dynamic dims ("batch", "samples")


@dataclass
class Artifact:
    format: str
    precision: str
    file: str
    sha256: str
    bytes: int
    input: TensorInfo
    output: TensorInfo
    profiles: dict[str, dict[str, int]]  # dim name -> {min, opt, max}; samples min == max: fixed length
    opset: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    verification: dict[str, Any] | None = None
    runtime: dict[str, Any] | None = None  # onnxruntime settings and batch tuned on a machine (wux bench --tune)

    @property
    def key(self) -> str:
        return f"{self.format}-{self.precision}"

    @property
    def io(self) -> TensorIO:
        return TensorIO(self.input.name, self.output.name)

    @property
    def limits(self) -> ShapeLimits:
        return ShapeLimits.from_profiles(self.profiles)

    @property
    def fixed_length(self) -> bool:
        return self.limits.fixed_length

    @property
    def session(self) -> OrtOptions:
        """The onnxruntime settings to run it with: tuned ones when the manifest has them."""
        return OrtOptions.from_dict((self.runtime or {}).get("session"))

    @property
    def batch(self) -> int | None:
        """The tuned in-process batch (windows per run), if tuned."""
        return (self.runtime or {}).get("batch")


@dataclass
class Manifest:
    wux_version: str
    created_utc: str
    source: dict[str, Any]  # where the reference model comes from (wux.model.load.ModelSource.from_record)
    model: dict[str, Any]  # how it is built: a Wave-U-Net config, or the user's callable, kwargs and layout
    contract: AudioContract
    spec: dict[str, Any]
    versions: dict[str, str | None]
    artifacts: list[Artifact] = field(default_factory=list)
    manifest_version: int = MANIFEST_VERSION
    streaming: dict[str, Any] | None = None  # a causal model's step files (wux.export.step.StreamingRecord)

    @property
    def max_batch(self) -> int:
        return int(self.spec["batch"]["max"])

    def to_dict(self) -> dict:
        d = asdict(self)
        d["contract"] = self.contract.to_dict()
        return d

    def artifact(self, fmt: str, precision: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.format == fmt and a.precision == precision), None)

    def write(self, folder: Path) -> Path:
        """Written to a temporary name and renamed: a reader never sees half a manifest."""
        path = Path(folder) / MANIFEST_NAME
        with atomic_file(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_problem(folder: Path, art) -> str | None:
    """Why the artifact's file (an Artifact, or a step model's record: anything with `file` and `sha256`) is not
    the one the export wrote and verified (None: it is)."""
    name = Path(art.file)
    if name.is_absolute() or ".." in name.parts:
        return "outside the export folder, where the manifest points"
    path = Path(folder) / art.file
    if path.is_dir():
        return "a folder, not the file the export wrote"
    if not path.is_file():
        return "file missing"
    return None if sha256_file(path) == art.sha256 else "sha256 differs from the manifest"


def artifact_path(folder: Path, art) -> Path:
    """The artifact's file, to run: inside the export folder, present, and the bytes the export wrote and
    verified (anything else is one line naming the file, before a runtime is asked to load it)."""
    problem = file_problem(folder, art)
    if problem:
        raise WuxError(f"{problem}; export again or run `wux verify`", Path(folder) / art.file)
    return Path(folder) / art.file


def check_artifact_kinds(artifacts: list[Artifact]) -> None:
    """Each artifact a format and precision this wux exports (a hand-edited 'bogus' is refused when read)."""
    for art in artifacts:
        fmt = FORMATS.get(art.format)
        if fmt is None or art.precision not in fmt.precisions:
            known = ", ".join(f"{f.name}-{p}" for f in FORMATS.values() for p in f.precisions)
            raise ConfigError(f"artifact {art.key} is not one this wux exports ({known})")


def read_manifest(folder: Path) -> Manifest:
    path = Path(folder) / MANIFEST_NAME
    if Path(folder).is_file():
        raise WuxError("is a file; give the folder `wux export` wrote", folder)
    if not Path(folder).is_dir():
        raise WuxError("export folder not found", folder)
    if not path.is_file():
        raise WuxError(f"no {MANIFEST_NAME} here; create the folder with `wux export`", folder)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WuxError(f"corrupt manifest (not JSON: {e})", path) from None
    if not isinstance(data, dict) or data.get("manifest_version") != MANIFEST_VERSION:
        version = data.get("manifest_version") if isinstance(data, dict) else None
        raise WuxError(f"unknown manifest version {version!r} (this wux reads {MANIFEST_VERSION}; "
                       "re-export with this wux)", path)
    try:
        artifacts = [
            Artifact(**{**a, "input": TensorInfo(**a["input"]), "output": TensorInfo(**a["output"])})
            for a in data.pop("artifacts")
        ]
        contract = AudioContract.from_dict(data.pop("contract"))
        manifest = Manifest(**data, contract=contract, artifacts=artifacts)
        if manifest.max_batch < 1:  # read here, once, not as a traceback at first use
            raise ConfigError(f"its largest batch is {manifest.max_batch}")
        check_artifact_kinds(manifest.artifacts)
        return manifest
    except ConfigError as e:
        raise WuxError(f"corrupt manifest ({e})", path) from None
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise WuxError(f"corrupt manifest ({type(e).__name__}: {e})", path) from None
