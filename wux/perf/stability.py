"""perf_analyzer's measurement rules: stability over the last three windows, latency percentiles."""

from __future__ import annotations

import numpy as np

PERCENTILES = (50, 90, 95, 99)


def is_stable(throughputs: list[float], latencies: list[float], percentage: float) -> bool:
    """True when each of the last three windows is within `percentage` % of their mean, for both."""
    if len(throughputs) < 3 or len(latencies) < 3:
        return False
    for series in (throughputs[-3:], latencies[-3:]):
        mean = float(np.mean(series))
        if mean <= 0 or any(abs(v - mean) > percentage / 100 * mean for v in series):
            return False
    return True


def latency_percentiles_ms(latencies_s: list[float]) -> dict[str, float]:
    """avg and p50/p90/p95/p99 in ms (numpy's linear interpolation)."""
    arr = np.asarray(latencies_s, dtype=np.float64) * 1e3
    if arr.size == 0:
        return {"avg": float("nan"), **{f"p{p}": float("nan") for p in PERCENTILES}}
    return {"avg": float(arr.mean()), **{f"p{p}": float(np.percentile(arr, p)) for p in PERCENTILES}}
