"""What a gateway serves and the limits it keeps; passed to worker processes as one JSON environment value."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wux.errors import ConfigError

ENV_VAR = "WUX_GATEWAY_CONFIG"  # how `wux gateway --workers N` hands the configuration to each worker
DEFAULT_PORT = 8080


@dataclass(frozen=True)
class GatewayConfig:
    export: str | None = None  # an export folder, denoised in-process (onnxruntime)...
    urls: tuple[str, ...] = field(default_factory=tuple)  # ...or Triton replicas serving its repository
    model: str = "waveunet"  # the front model on Triton
    protocol: str = "grpc"
    precision: str = "fp32"  # of the export's artifact (in-process)
    max_body_mb: float = 50.0  # larger uploads: 413
    max_seconds: float = 600.0  # longer audio: 413
    max_concurrent: int = 8  # requests in progress per worker; more: 429 with Retry-After
    timeout_s: float = 60.0  # per request to Triton

    def __post_init__(self):
        if (self.export is None) == (not self.urls):
            raise ConfigError("the gateway needs --export DIR or --url URL (one or several), not both")
        if self.export is not None and not Path(self.export).is_dir():
            raise ConfigError("export folder not found", self.export)
        for name in ("max_body_mb", "max_seconds", "max_concurrent", "timeout_s"):
            if not 0 < getattr(self, name) < float("inf"):  # NaN too
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive number, got {getattr(self, name)}")

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def backend_name(self) -> str:
        return f"export {self.export} ({self.precision})" if self.export else f"Triton {', '.join(self.urls)}"

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> GatewayConfig:
        raw = os.environ.get(ENV_VAR)
        if raw is None:
            raise ConfigError(f"{ENV_VAR} is not set (start workers with `wux gateway`)")
        d = json.loads(raw)
        return cls(**{**d, "urls": tuple(d["urls"])})
