"""manifest.json: the single source of truth that verify, bench and the Triton step read."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wux.constants import MANIFEST_NAME
from wux.errors import WuxError

MANIFEST_VERSION = 1


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
    profiles: dict[str, dict[str, int]]  # dim name -> {min, opt, max}
    opset: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    verification: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return f"{self.format}-{self.precision}"


@dataclass
class Manifest:
    wux_version: str
    created_utc: str
    checkpoint: dict[str, Any]  # path, sha256
    model_config: dict[str, Any]
    sample_rate: int
    total_stride: int
    chunk: int
    windowing: dict[str, int]
    spec: dict[str, Any]
    versions: dict[str, str | None]
    artifacts: list[Artifact] = field(default_factory=list)
    manifest_version: int = MANIFEST_VERSION

    def to_dict(self) -> dict:
        return asdict(self)

    def artifact(self, fmt: str, precision: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.format == fmt and a.precision == precision), None)

    def write(self, folder: Path) -> Path:
        path = Path(folder) / MANIFEST_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_manifest(folder: Path) -> Manifest:
    path = Path(folder) / MANIFEST_NAME
    if not Path(folder).is_dir():
        raise WuxError("export folder not found", folder)
    if not path.is_file():
        raise WuxError(f"no {MANIFEST_NAME} here; create the folder with `wux export`", folder)
    try:
        data = json.loads(path.read_text())
        if data.get("manifest_version") != MANIFEST_VERSION:
            raise WuxError(f"unknown manifest version {data.get('manifest_version')!r}", path)
        artifacts = [
            Artifact(**{**a, "input": TensorInfo(**a["input"]), "output": TensorInfo(**a["output"])})
            for a in data.pop("artifacts")
        ]
        return Manifest(**data, artifacts=artifacts)
    except WuxError:
        raise
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise WuxError(f"corrupt manifest ({type(e).__name__}: {e})", path) from None


def tool_versions() -> dict[str, str | None]:
    from wux.doctor import package_version

    versions = {name: package_version(name) for name in ("torch", "onnx", "onnxruntime", "numpy")}
    versions["tensorrt"] = package_version("tensorrt")
    return versions
