"""Prometheus metrics of one gateway (requests by status, latency, audio seconds, in progress).

With several worker processes `wux gateway` sets PROMETHEUS_MULTIPROC_DIR before they start, and /metrics
sums every worker's files (prometheus_client's multiprocess mode)."""

from __future__ import annotations

import os
from dataclasses import dataclass

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class GatewayMetrics:
    registry: object
    requests: object  # Counter by HTTP status
    latency: object  # Histogram of whole-request seconds (successful denoising)
    audio: object  # Counter of audio seconds denoised
    in_progress: object  # Gauge

    @classmethod
    def create(cls) -> GatewayMetrics:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        registry = CollectorRegistry()
        return cls(
            registry,
            Counter("wux_gateway_requests", "Denoising requests answered, by HTTP status", ["status"],
                    registry=registry),
            Histogram("wux_gateway_request_seconds", "Seconds from upload received to denoised audio sent",
                      buckets=LATENCY_BUCKETS_S, registry=registry),
            Counter("wux_gateway_audio_seconds", "Seconds of audio denoised", registry=registry),
            Gauge("wux_gateway_requests_in_progress", "Denoising requests in progress", registry=registry,
                  multiprocess_mode="livesum"),
        )

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
