"""perf_analyzer's measurement rules, as its source states them (perf_analyzer inference_profiler.cc).

Stability: the last STABILITY_WINDOW windows are stable when, for throughput and for the stabilising
latency alike, max / min <= 1 + percentage / 100, and no window had zero throughput. The stabilising
latency is the average, or the --percentile one when given. Percentiles take the latency at sorted
index int(p / 100 * (n - 1) + 0.5).
"""

from __future__ import annotations

import numpy as np

PERCENTILES = (50, 90, 95, 99)
STABILITY_WINDOW = 3


def within(series: list[float], percentage: float) -> bool:
    return min(series) > 0 and max(series) / min(series) <= 1 + percentage / 100


def is_stable(throughputs: list[float], latencies: list[float], percentage: float, check_latency: bool = True) -> bool:
    """perf_analyzer's DetermineStability over the last STABILITY_WINDOW windows."""
    if len(throughputs) < STABILITY_WINDOW or len(latencies) < STABILITY_WINDOW:
        return False
    recent = throughputs[-STABILITY_WINDOW:]
    return within(recent, percentage) and (not check_latency or within(latencies[-STABILITY_WINDOW:], percentage))


def percentile(sorted_values: np.ndarray, p: float) -> float:
    """perf_analyzer's percentile: the value at index int(p / 100 * (n - 1) + 0.5) of the sorted list."""
    return float(sorted_values[int(p / 100 * (len(sorted_values) - 1) + 0.5)])


def latency_percentiles_ms(latencies_s: list[float]) -> dict[str, float]:
    """avg and p50/p90/p95/p99 in ms."""
    arr = np.sort(np.asarray(latencies_s, dtype=np.float64)) * 1e3
    if arr.size == 0:
        return {"avg": float("nan"), **{f"p{p}": float("nan") for p in PERCENTILES}}
    return {"avg": float(arr.mean()), **{f"p{p}": percentile(arr, p) for p in PERCENTILES}}
