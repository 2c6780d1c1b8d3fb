"""perf results as perf_analyzer-compatible CSV (same column names and units: microseconds)."""

from __future__ import annotations

import csv
from pathlib import Path

from wux.fsutil import atomic_file
from wux.tools import require

CSV_COLUMNS = ("Inferences/Second", "Client Send", "Network+Server Send/Recv", "Server Queue",
               "Server Compute Input", "Server Compute Infer", "Server Compute Output", "Client Recv",
               "p50 latency", "p90 latency", "p95 latency", "p99 latency")


def csv_row(level) -> list:
    us = 1e3  # ms -> us
    server_total = level.server_queue_ms + level.server_compute_input_ms + level.server_compute_infer_ms \
        + level.server_compute_output_ms
    network = max(0.0, level.latency_avg_ms - server_total - level.client_send_ms - level.client_recv_ms)
    times_ms = (level.client_send_ms, network, level.server_queue_ms, level.server_compute_input_ms,
                level.server_compute_infer_ms, level.server_compute_output_ms, level.client_recv_ms,
                level.latency_p50_ms, level.latency_p90_ms, level.latency_p95_ms, level.latency_p99_ms)
    return [level.request_rate or level.concurrency, round(level.throughput_infer_per_s, 2),
            *(round(t * us) for t in times_ms)]


def write_csv(path: Path, levels) -> Path:
    """Rows sorted by increasing throughput, as perf_analyzer writes them."""
    with atomic_file(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        first = "Request Rate" if levels and levels[0].request_rate else "Concurrency"
        w.writerow((first, *CSV_COLUMNS))
        for level in sorted(levels, key=lambda lv: lv.throughput_infer_per_s):
            w.writerow(csv_row(level))
    return path


def write_plot(path: Path, levels, title: str) -> Path:
    """Latency percentiles against throughput, one point per load level (matplotlib, optional)."""
    require("matplotlib").use("Agg")
    plt = require("matplotlib.pyplot")
    ordered = sorted(levels, key=lambda lv: lv.throughput_infer_per_s)
    x = [lv.throughput_infer_per_s for lv in ordered]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in ("p50", "p90", "p99"):
        ax.plot(x, [getattr(lv, f"latency_{name}_ms") for lv in ordered], marker="o", label=name)
    for lv, xi in zip(ordered, x):
        label = f"{lv.request_rate:g}/s" if lv.request_rate else f"c={lv.concurrency}"
        ax.annotate(label, (xi, lv.latency_p99_ms), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("throughput (inferences/s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
