"""`wux bench`: in-process throughput of every artifact beside eager PyTorch, measured in one run."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from wux.errors import MissingDependency, WuxError
from wux.export.formats import get_format
from wux.export.manifest import artifact_path, read_manifest
from wux.model.info import count_macs
from wux.model.load import ModelSource, load_model


@dataclass(frozen=True)
class BenchRow:
    runner: str
    device: str
    batch: int
    samples: int
    runs: int
    median_ms: float
    p10_ms: float
    p90_ms: float
    samples_per_s: float
    real_time_factor: float
    gmacs_per_s: float
    speedup_vs_eager: float
    peak_fraction: float | None


@dataclass
class BenchReport:
    folder: str
    device: str
    torch_threads: int
    ort_threads: int | None  # None: each artifact's own settings (tuned, or onnxruntime's default)
    peak_gmacs_per_s: float | None  # measured: a large FP32 matrix multiply in torch
    rows: list[BenchRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    tuned: list[dict] = field(default_factory=list)  # wux bench --tune: what was chosen per artifact

    @property
    def versus_fp32(self) -> list[dict]:
        """Each FP16/INT8 row's speed-up over its format's FP32 row at the same shape, measured in this run."""
        fp32 = {(r.runner, r.batch, r.samples): r for r in self.rows if r.runner.endswith("-fp32")}
        out = []
        for r in self.rows:
            fmt, _, precision = r.runner.rpartition("-")
            base = fp32.get((f"{fmt}-fp32", r.batch, r.samples))
            if precision not in ("fp32", "eager") and base is not None:
                out.append({"runner": r.runner, "versus": base.runner, "batch": r.batch, "samples": r.samples,
                            "speedup": base.median_ms / r.median_ms})
        return out

    def to_dict(self) -> dict:
        return {**asdict(self), "versus_fp32": self.versus_fp32}


def measure_peak_gmacs(device: str) -> float:
    """What this machine reaches on the friendliest FP32 workload: a 1024^3 matmul."""
    import torch

    a = torch.randn(1024, 1024, device=device)
    b = torch.randn(1024, 1024, device=device)
    for _ in range(3):
        a @ b
    runs = []
    for _ in range(10):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        runs.append(time.perf_counter() - t0)
    return 1024**3 / min(runs) / 1e9


BLOCKS = 4  # each runner's share of the time is split into this many blocks, alternating with the others


def interleaved_timings(runners: dict, x: np.ndarray, seconds: float, warmup: int = 2) -> dict[str, list[float]]:
    """Alternate blocks of runs until each runner had ~`seconds`: this VM's drift hits all of them alike, and
    within a block a runner runs as it would alone (a call right after another runtime's call would pay for
    that one's worker threads still spinning). Each block's first run is a warm-up, not timed."""
    for run in runners.values():
        for _ in range(warmup):
            run(x)
    times: dict[str, list[float]] = {name: [] for name in runners}
    block_s = seconds / BLOCKS
    for _ in range(BLOCKS):
        for name, run in runners.items():
            run(x)
            end = time.perf_counter() + block_s
            while True:
                t0 = time.perf_counter()
                run(x)
                times[name].append(time.perf_counter() - t0)
                if t0 >= end and len(times[name]) >= 2:
                    break
    return times


def bench_row(runner: str, device: str, batch: int, samples: int, times_s: list[float], sample_rate: int,
              macs_per_sample: float, eager_median_s: float, peak_gmacs_per_s: float | None) -> BenchRow:
    """One table row from one runner's timings: the median run, its spread, and what it means in audio."""
    median = statistics.median(times_s)
    rate = batch * samples / median
    gmacs = rate * macs_per_sample / 1e9
    return BenchRow(
        runner=runner, device=device, batch=batch, samples=samples, runs=len(times_s), median_ms=median * 1e3,
        p10_ms=float(np.percentile(times_s, 10)) * 1e3, p90_ms=float(np.percentile(times_s, 90)) * 1e3,
        samples_per_s=rate, real_time_factor=rate / sample_rate, gmacs_per_s=gmacs,
        speedup_vs_eager=eager_median_s / median,
        peak_fraction=gmacs / peak_gmacs_per_s if peak_gmacs_per_s and gmacs else None,
    )


def check_batches(manifest, runners: dict, batches: tuple[int, ...], samples: int, folder: Path) -> None:
    """Every batch size inside every chosen artifact's profile, checked before any input is made (a batch of a
    million would otherwise allocate its input before the artifact refused it)."""
    for art in manifest.artifacts:
        for batch in batches:
            problem = art.key in runners and art.limits.problem(batch, samples)
            if problem:
                raise WuxError(f"{art.key}: {problem}", folder)


def bench_folder(folder: Path, formats: list[str] | None = None, batches: tuple[int, ...] = (1, 8),
                 samples: int | None = None, seconds: float = 1.0, device: str = "cpu",
                 threads: int | None = None, source: ModelSource | None = None) -> BenchReport:
    """Every artifact of the export (and eager PyTorch of its model), interleaved, at each batch size."""
    import torch

    manifest = read_manifest(folder)
    contract = manifest.contract
    torch_threads = threads or min(torch.get_num_threads(), os.cpu_count() or 1)
    torch.set_num_threads(torch_threads)
    model = load_model(source or ModelSource.from_record(manifest.source, manifest.model), contract=contract)
    samples = samples or contract.chunk
    macs = contract.macs_per_second or count_macs(model.module, contract.sample_rate)
    macs_per_sample = (macs or 0) / contract.sample_rate
    report = BenchReport(str(folder), device, torch_threads, threads, measure_peak_gmacs(device))
    runners = {"pytorch-eager": model.runner(device)}
    wanted = {get_format(f).name for f in formats} if formats else None
    for art in manifest.artifacts:
        fmt = get_format(art.format)
        if wanted and fmt.name not in wanted:
            continue
        if fmt.needs_cuda and not device.startswith("cuda"):
            report.skipped.append(f"{art.key}: needs --device cuda")
            continue
        if art.limits.problem(1, samples):
            report.skipped.append(f"{art.key}: {art.limits.problem(1, samples)}")
            continue
        try:
            runners[art.key] = fmt.runner(artifact_path(folder, art), art.io, device, art.session.with_threads(threads),
                                          art.limits).activate()
        except MissingDependency as e:
            report.skipped.append(f"{art.key}: {e}")
    if len(runners) == 1:
        why = "; ".join(report.skipped)
        raise WuxError(f"no artifact to benchmark on this device{' (' + why + ')' if why else ''}", folder)
    check_batches(manifest, runners, batches, samples, folder)
    for batch in batches:
        x = np.random.default_rng(0).standard_normal((batch, samples)).astype(np.float32) * 0.1
        times = interleaved_timings(runners, x, seconds)
        eager = statistics.median(times["pytorch-eager"])
        for name, t in times.items():
            report.rows.append(bench_row(name, device, batch, samples, t, contract.sample_rate, macs_per_sample,
                                         eager, report.peak_gmacs_per_s))
    return report
