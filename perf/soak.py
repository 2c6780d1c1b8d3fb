"""Soak: minutes of load through the gateway and straight to Triton, every answer checked, memory watched.

    .venv/bin/python perf/soak.py [--minutes 10] [--concurrency 16] [--kill] [--export DIR] [--out DIR]

Serves an export (default: the bundled model, ONNX FP32, exported here) with real tritonservers on 127.0.0.1
(two with --kill, else one) and one `wux gateway --url ...` process in front. Half of --concurrency posts WAV
files to the gateway (httpx), half sends the same audio to Triton's front model (wux's ReplicaSet, gRPC).
Every answer is compared with the export run in-process: the gateway's 16-bit WAV within 16-bit rounding of
it, Triton's floats within 1e-3. Every 10 s: answers, failures, latency p50/p99 per path, and the resident
memory (VmRSS) of every process: each tritonserver with its python-backend stubs, the gateway. With --kill,
one tritonserver is SIGKILLed halfway: requests to it must be retried on the other (counted), any request
that still fails is reported with its error. Writes OUT/soak.json, OUT/timeline.csv and OUT/soak.png; exit 1
when any failure is unexplained (every failure is, in this script, listed with its error).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SAMPLE_EVERY_S = 10.0
LENGTHS_S = (0.5, 1.0, 2.0, 4.0)  # uploads of several lengths, each with its in-process reference


@dataclass
class Flow:
    """One load path's answers, failures (each with its error) and latencies since the last sample."""

    answers: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # since the last sample
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, ok: bool, latency: float, why: str = "") -> None:
        with self.lock:
            if ok:
                self.answers += 1
                self.latencies.append(latency)
            else:
                self.failures.append(why)

    def take(self) -> list[float]:
        with self.lock:
            out, self.latencies = self.latencies, []
            return out


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def family(pid: int) -> list[int]:
    """`pid` and its descendants (a tritonserver's stubs, uvicorn's workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            children = []
        todo += [int(c) for c in children]
    return out


def processes(servers, gateway) -> dict[str, int]:
    named = {}
    for i, s in enumerate(servers):
        if s.process is not None and s.process.poll() is None:
            for j, p in enumerate(family(s.process.pid)):
                named[f"triton{i}" if j == 0 else f"triton{i}-stub{j}"] = p
    for j, p in enumerate(family(gateway.pid)):
        named["gateway" if j == 0 else f"gateway-worker{j}"] = p
    return named


async def gateway_worker(url, uploads, refs, path: Flow, stop: threading.Event, seed: int) -> None:
    import httpx
    import soundfile as sf

    rng = np.random.default_rng(seed)
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        while not stop.is_set():
            k = int(rng.integers(len(uploads)))
            t0 = time.perf_counter()
            try:
                answer = await client.post("/v1/denoise", content=uploads[k])
                if answer.status_code != 200:
                    path.record(False, 0, f"gateway {answer.status_code}: {answer.text[:200]}")
                    continue
                out, _ = sf.read(io.BytesIO(answer.content), dtype="float32")
                err = float(np.abs(out - refs[k]).max()) if out.shape == refs[k].shape else float("inf")
                path.record(err <= 2 / 32768, time.perf_counter() - t0, f"gateway answer off by {err:.2e}")
            except Exception as e:  # noqa: BLE001 - every failure is listed with its error
                path.record(False, 0, f"gateway: {type(e).__name__}: {e}")


def triton_worker(replicas, waves, refs, path: Flow, stop: threading.Event, seed: int) -> None:
    rng = np.random.default_rng(seed)
    while not stop.is_set():
        k = int(rng.integers(len(waves)))
        t0 = time.perf_counter()
        try:
            out = replicas.denoise(waves[k])
            err = float(np.abs(out - refs[k]).max())
            path.record(err <= 1e-3, time.perf_counter() - t0, f"triton answer off by {err:.2e}")
        except Exception as e:  # noqa: BLE001
            path.record(False, 0, f"triton: {type(e).__name__}: {e}")


def percentile_ms(xs: list[float], q: float) -> float | None:
    return 1e3 * float(np.percentile(xs, q)) if xs else None


def write_plot(path: Path, timeline: list[dict], names: list[str], killed_at: float | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [row["t_s"] / 60 for row in timeline]
    fig, (lat, mem) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for p in ("gateway", "triton"):
        lat.plot(t, [row[f"{p}_p50_ms"] for row in timeline], label=f"{p} p50")
        lat.plot(t, [row[f"{p}_p99_ms"] for row in timeline], "--", label=f"{p} p99")
    lat.set_ylabel("latency, ms")
    lat.legend(fontsize=8)
    lat.grid(alpha=0.3)
    for n in names:
        mem.plot(t, [row.get(f"rss_{n}_mb") for row in timeline], label=n)
    mem.set_ylabel("resident memory, MB")
    if killed_at is not None:
        for ax in (lat, mem):
            ax.axvline(killed_at / 60, color="k", lw=0.8, ls=":")
        lat.annotate("tritonserver 0 killed", (killed_at / 60, lat.get_ylim()[1]), fontsize=8, va="top")
    mem.set_xlabel("minutes")
    mem.legend(fontsize=7, ncol=3)
    mem.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    import soundfile as sf

    from wux.clients.replicas import ReplicaSet
    from wux.denoise import export_denoiser
    from wux.gateway.process import GatewayProcess
    from wux.pipeline import ExportRequest, export_model
    from wux.triton_repo.generate import RepoRequest, generate_repository
    from wux.triton_repo.server import TritonServer
    from wux.verify.signals import make_signal

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--kill", action="store_true", help="two tritonservers; SIGKILL one halfway")
    ap.add_argument("--export", type=Path)
    ap.add_argument("--out", type=Path, default=Path("perf_out/soak"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wux-soak-"))
    export = args.export
    if export is None:
        export = work / "build"
        export_model(None, export, ExportRequest(formats=("onnx",)), show_progress=False)
    denoise_here = export_denoiser(export)
    waves = [make_signal("speech", 1, int(s * 16000), i)[0].astype(np.float32) for i, s in enumerate(LENGTHS_S)]
    refs = [denoise_here(w) for w in waves]
    uploads, wav_refs = [], []
    for w in waves:  # the gateway gets 16-bit WAV: its reference is the export on those 16-bit samples
        buf = io.BytesIO()
        sf.write(buf, w, 16000, format="WAV", subtype="PCM_16")
        uploads.append(buf.getvalue())
        wav_refs.append(denoise_here(sf.read(io.BytesIO(uploads[-1]), dtype="float32")[0]))
    generate_repository(export, work / "repo", RepoRequest())
    servers = [TritonServer(work / "repo") for _ in range(2 if args.kill else 1)]
    infos = [s.start() for s in servers]
    urls = [i.grpc_url for i in infos]
    gateway = GatewayProcess(*[a for u in urls for a in ("--url", u)], "--max-concurrent", str(4 * args.concurrency))
    gateway_url = gateway.wait_ready().url
    paths = {"gateway": Flow(), "triton": Flow()}
    stop = threading.Event()
    half = args.concurrency // 2
    timeline: list[dict] = []
    killed_at = None
    try:
        with ReplicaSet(urls) as replicas, ThreadPoolExecutor(half + 1) as pool:
            loop_thread = threading.Thread(target=asyncio.run, args=(run_gateway_workers(
                gateway_url, uploads, wav_refs, paths["gateway"], stop, args.concurrency - half),))
            loop_thread.start()
            futures = [pool.submit(triton_worker, replicas, waves, refs, paths["triton"], stop, 100 + i)
                       for i in range(half)]
            t0 = time.monotonic()
            end = t0 + 60 * args.minutes
            while (now := time.monotonic()) < end:
                time.sleep(min(SAMPLE_EVERY_S, end - now))
                row = {"t_s": round(time.monotonic() - t0, 1)}
                for name, p in paths.items():
                    lat = p.take()
                    row.update({f"{name}_answers": p.answers, f"{name}_failures": len(p.failures),
                                f"{name}_p50_ms": percentile_ms(lat, 50), f"{name}_p99_ms": percentile_ms(lat, 99)})
                for name, pid in processes(servers, gateway).items():
                    row[f"rss_{name}_mb"] = round(rss_mb(pid), 1)
                timeline.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
                if args.kill and killed_at is None and time.monotonic() - t0 >= 30 * args.minutes:
                    os.kill(infos[0].pid, signal.SIGKILL)
                    killed_at = round(time.monotonic() - t0, 1)
                    print(f"killed tritonserver {infos[0].pid} ({urls[0]}) at {killed_at} s", file=sys.stderr)
            stop.set()
            loop_thread.join()
            for f in futures:
                f.result()
            served = replicas.served
            failovers = replicas.failovers
    finally:
        stop.set()
        gateway.stop()
        for s in servers:
            s.stop()
    names = sorted({k[4:-3] for row in timeline for k in row if k.startswith("rss_")})
    growth = {}
    for n in names:  # from the first sample after a minute of load (warm caches) to the last one alive
        values = [row[f"rss_{n}_mb"] for row in timeline if row.get(f"rss_{n}_mb") and row["t_s"] >= 60]
        if len(values) >= 2:
            growth[n] = {"first_mb": values[0], "last_mb": values[-1],
                         "growth_percent": round(100 * (values[-1] - values[0]) / values[0], 2)}
    failures = {name: p.failures for name, p in paths.items()}
    summary = {"minutes": args.minutes, "concurrency": args.concurrency, "servers": urls, "killed": killed_at,
               "answers": {name: p.answers for name, p in paths.items()},
               "failures": {name: len(f) for name, f in failures.items()},
               "failure_examples": {name: f[:10] for name, f in failures.items()},
               "direct_requests_per_replica": served, "direct_failovers": failovers, "memory": growth}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(summary, indent=1))
    with open(args.out / "timeline.csv", "w", newline="") as f:
        columns = sorted({k for row in timeline for k in row}, key=lambda k: (k != "t_s", k))
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(timeline)
    write_plot(args.out / "soak.png", timeline, names, killed_at)
    print(json.dumps(summary, indent=1))
    return 1 if any(failures.values()) else 0


async def run_gateway_workers(url, uploads, refs, path, stop, n) -> None:
    await asyncio.gather(*(gateway_worker(url, uploads, refs, path, stop, i) for i in range(n)))


if __name__ == "__main__":
    sys.exit(main())
