"""`make perf-compare`: perf_analyzer and `wux perf` on the same model, shape and concurrency, one run.

Starts a real tritonserver on 127.0.0.1 (python-backend core model of the bundled default model,
its default chunk), runs the real perf_analyzer 2.51 and then `wux perf` at each concurrency level,
and prints both tables and the ratios. Targets: throughput within +-10 %, p50 within +-20 %.

On a 2-core machine a load generator's own CPU use slows the server it measures, so by default
the server (one onnxruntime thread) is pinned to core 0 and each load generator to core 1: the
comparison is then between the tools, not between how much CPU each one steals.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import tempfile
from pathlib import Path

MODEL = "waveunet_python"


def speech_input_json(path: Path, chunk: int) -> Path:
    """The speech windows `wux perf` sends, as perf_analyzer --input-data: the same bytes for both tools.

    perf_analyzer's default random bytes include denormals and NaNs, which CPU kernels run far
    slower than audio: comparing on those would compare inputs, not load generators.
    """
    from wux.perf.loadgen import POOL
    from wux.verify.signals import make_signal

    rows = make_signal("speech", POOL, chunk, 0)
    data = [{"waveform": {"content": [float(v) for v in row], "shape": [1, chunk]}} for row in rows]
    path.write_text(json.dumps({"data": data}))
    return path


def perf_analyzer_level(binary: Path, url: str, chunk: int, concurrency: int, interval_ms: int,
                        cpus: set[int] | None, input_data: Path) -> dict:
    fd, out = tempfile.mkstemp(suffix=".csv")
    os.close(fd)
    env = dict(os.environ, LD_LIBRARY_PATH=os.pathsep.join([str(binary.parent / "lib"),
                                                              os.environ.get("LD_LIBRARY_PATH", "")]))
    cmd = [str(binary), "-m", MODEL, "-u", url, "-i", "grpc", "--shape", f"waveform:1,{chunk}",
           "--concurrency-range", f"{concurrency}:{concurrency}", "-p", str(interval_ms),
           "--stability-percentage", "10", "--max-trials", "10", "--input-data", str(input_data), "-f", out]
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, preexec_fn=pin)
    if run.returncode != 0:
        raise SystemExit(f"perf_analyzer failed: {run.stderr.strip() or run.stdout[-500:]}")
    row = next(csv.DictReader(io.StringIO(Path(out).read_text())))
    Path(out).unlink()
    return {"infer_per_s": float(row["Inferences/Second"]), "p50_ms": float(row["p50 latency"]) / 1e3,
            "p99_ms": float(row["p99 latency"]) / 1e3}


def main() -> None:
    from wux.errors import WuxError
    from wux.export.manifest import read_manifest
    from wux.perf.loadgen import PerfConfig, run_perf
    from wux.pipeline import ExportRequest, export_model
    from wux.tools import find_perf_analyzer
    from wux.triton_repo.config import ServingOptions
    from wux.triton_repo.generate import RepoRequest, generate_repository
    from wux.triton_repo.server import TritonServer

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--levels", default="1,2,4,8")
    ap.add_argument("--interval-ms", type=int, default=3000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-pin", action="store_true", help="do not pin server and clients to separate cores")
    args = ap.parse_args()
    pinned = not args.no_pin and len(os.sched_getaffinity(0)) >= 2
    server_cpus, client_cpus = ({0}, {1}) if pinned else (None, None)
    binary = find_perf_analyzer()
    if binary is None:
        raise WuxError("perf_analyzer not found: run `make perf-tools`")
    work = Path(tempfile.mkdtemp(prefix="wux-perf-compare-"))
    export_model(None, work / "build", ExportRequest(formats=("onnx",)), show_progress=False)
    chunk = read_manifest(work / "build").contract.chunk
    options = ServingOptions(kind="cpu", threads=1 if pinned else 0)
    generate_repository(work / "build", work / "repo", RepoRequest(formats=("python",), options=options))
    data = speech_input_json(work / "speech.json", chunk)
    rows = []
    own = os.sched_getaffinity(0)
    with TritonServer(work / "repo", cpus=server_cpus) as info:
        for c in (int(x) for x in args.levels.split(",")):
            pa = perf_analyzer_level(binary, info.grpc_url, chunk, c, args.interval_ms, client_cpus, data)
            if client_cpus:
                os.sched_setaffinity(0, client_cpus)
            try:
                lv = run_perf(PerfConfig(url=info.grpc_url, model=MODEL, concurrency=(c,),
                                         measurement_interval_ms=args.interval_ms, max_trials=10),
                              show_progress=False).levels[0]
            finally:
                os.sched_setaffinity(0, own)
            rows.append({"concurrency": c, "perf_analyzer": pa,
                         "wux": {"infer_per_s": lv.throughput_infer_per_s, "p50_ms": lv.latency_p50_ms,
                                 "p99_ms": lv.latency_p99_ms, "stable": lv.stable,
                                 "client_cpu_percent": lv.client_cpu_percent},
                         "throughput_ratio": lv.throughput_infer_per_s / pa["infer_per_s"],
                         "p50_ratio": lv.latency_p50_ms / pa["p50_ms"]})
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"model {MODEL}, shape [1, 1, {chunk}], gRPC, measurement window {args.interval_ms} ms, "
          + ("server on core 0 (1 onnxruntime thread), load generators on core 1" if pinned else "unpinned"))
    print(f"{'conc':>4} | {'perf_analyzer infer/s':>21} {'p50 ms':>7} | {'wux infer/s':>11} {'p50 ms':>7} "
          f"{'CPU %':>6} | {'thr ratio':>9} {'p50 ratio':>9}")
    for r in rows:
        pa, wx = r["perf_analyzer"], r["wux"]
        ok = abs(r["throughput_ratio"] - 1) <= 0.10 and abs(r["p50_ratio"] - 1) <= 0.20
        print(f"{r['concurrency']:>4} | {pa['infer_per_s']:>21.1f} {pa['p50_ms']:>7.1f} | {wx['infer_per_s']:>11.1f} "
              f"{wx['p50_ms']:>7.1f} {wx['client_cpu_percent']:>6.0f} | {r['throughput_ratio']:>9.3f} "
              f"{r['p50_ratio']:>9.3f} {'ok' if ok else 'OUTSIDE TARGET'}")


if __name__ == "__main__":
    main()
