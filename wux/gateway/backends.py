"""What turns a mono waveform at the model's rate into its denoised twin: an export in-process, or Triton."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wux.gateway.config import GatewayConfig


@dataclass
class Backend:
    name: str
    sample_rate: int
    denoise: Callable[[np.ndarray], np.ndarray]  # thread-safe: the gateway calls it from worker threads
    ready: Callable[[], bool]
    close: Callable[[], None]


def open_backend(cfg: GatewayConfig) -> Backend:
    return open_export(cfg) if cfg.export else open_replicas(cfg)


def open_export(cfg: GatewayConfig) -> Backend:
    from wux.denoise import export_denoiser
    from wux.export.manifest import read_manifest

    folder = Path(cfg.export)
    rate = read_manifest(folder).contract.sample_rate
    denoise = export_denoiser(folder, precision=cfg.precision)  # onnxruntime sessions run from many threads
    return Backend(cfg.backend_name, rate, denoise, ready=lambda: True, close=lambda: None)


def open_replicas(cfg: GatewayConfig) -> Backend:
    from wux.clients.replicas import ReplicaSet

    replicas = ReplicaSet(list(cfg.urls), cfg.model, cfg.protocol, cfg.timeout_s)
    return Backend(cfg.backend_name, replicas.contract.sample_rate, replicas.denoise, replicas.ready,
                   replicas.close)
