"""perf results as perf_analyzer-compatible CSV (same column names and units: microseconds)."""

from __future__ import annotations

import csv
from pathlib import Path

from wux.fsutil import atomic_file

CSV_COLUMNS = ("Inferences/Second", "Client Send", "Network+Server Send/Recv", "Server Queue",
               "Server Compute Input", "Server Compute Infer", "Server Compute Output", "Client Recv",
               "p50 latency", "p90 latency", "p95 latency", "p99 latency")


def csv_row(level) -> list:
    us = 1e3  # ms -> us
    server_total = level.server_queue_ms + level.server_compute_input_ms + level.server_compute_infer_ms \
        + level.server_compute_output_ms
    network = max(0.0, level.latency_avg_ms - server_total - level.client_send_ms - level.client_recv_ms)
    return [level.concurrency, round(level.throughput_infer_per_s, 2), round(level.client_send_ms * us),
            round(network * us), round(level.server_queue_ms * us), round(level.server_compute_input_ms * us),
            round(level.server_compute_infer_ms * us), round(level.server_compute_output_ms * us),
            round(level.client_recv_ms * us), round(level.latency_p50_ms * us), round(level.latency_p90_ms * us),
            round(level.latency_p95_ms * us), round(level.latency_p99_ms * us)]


def write_csv(path: Path, levels) -> Path:
    """Rows sorted by increasing throughput, as perf_analyzer writes them."""
    with atomic_file(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("Concurrency", *CSV_COLUMNS))
        for level in sorted(levels, key=lambda lv: lv.throughput_infer_per_s):
            w.writerow(csv_row(level))
    return path
