"""Served throughput of the python-backend core model vs in-process onnxruntime, one run, same chunk.

    .venv/bin/python perf/serving_vs_inprocess.py [--export DIR] [--seconds 10] [--concurrency 8]

In-process: `wux bench`'s timer on the export's model.onnx. Served: `wux perf`'s engine (time
windows until stable) on a real tritonserver on 127.0.0.1, started and stopped here, with a
repository generated from the export. Both get the same speech-like chunks.

The two alternate for `--rounds` rounds and each round gives its own ratio: on a shared machine
the CPU's speed drifts by tens of percent within a minute, so one in-process measurement followed
by one served measurement can show a ratio that is only drift. The median ratio is the figure.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

MODEL = "waveunet_python"


def in_process(export: Path, seconds: float, threads: int) -> dict:
    from wux.export.formats import get_format
    from wux.export.manifest import read_manifest
    from wux.perf.bench import interleaved_timings
    from wux.verify.signals import make_signal

    manifest = read_manifest(export)
    art = manifest.artifact("onnx", "fp32")
    runner = get_format("onnx").runner(export / art.file, art.io, session=art.session.with_threads(threads),
                                       limits=art.limits)
    x = make_signal("speech", 1, manifest.contract.chunk, 0).astype(np.float32)
    lat = interleaved_timings({"onnxruntime": runner}, x, seconds)["onnxruntime"]
    return {"infer_per_s": len(lat) / sum(lat), "p50_ms": 1e3 * float(np.median(lat)),
            "p99_ms": 1e3 * float(np.percentile(lat, 99))}


def served(url: str, levels: tuple[int, ...], seconds: float) -> dict[int, dict]:
    from wux.errors import WuxError
    from wux.perf.loadgen import PerfConfig, run_perf

    window_ms = int(seconds * 1000 / 3)  # three stable windows take about `seconds`
    report = run_perf(PerfConfig(url=url, model=MODEL, concurrency=levels, measurement_interval_ms=window_ms))
    if report.error:
        raise WuxError(report.error)
    return {lv.concurrency: {"infer_per_s": lv.throughput_infer_per_s, "p50_ms": lv.latency_p50_ms,
                             "p99_ms": lv.latency_p99_ms, "stable": lv.stable,
                             "client_cpu_percent": lv.client_cpu_percent} for lv in report.levels}


def main() -> None:
    from wux.export.manifest import read_manifest
    from wux.pipeline import ExportRequest, export_model
    from wux.triton_repo.config import ServingOptions
    from wux.triton_repo.generate import RepoRequest, generate_repository
    from wux.triton_repo.server import TritonServer

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--export", type=Path)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wux-serving-"))
    export = args.export
    if export is None:
        export = work / "build"
        export_model(None, export, ExportRequest(formats=("onnx",)), show_progress=False)
    generate_repository(export, work / "repo", RepoRequest(formats=("python",), options=ServingOptions(kind="cpu")))
    rounds = []
    with TritonServer(work / "repo") as info:
        for _ in range(args.rounds):
            local = in_process(export, args.seconds, args.threads)
            levels = served(info.grpc_url, (1, args.concurrency), args.seconds)
            rounds.append({"in_process_onnxruntime": local,
                           **{f"served_concurrency_{c}": v for c, v in levels.items()},
                           "ratio": levels[args.concurrency]["infer_per_s"] / local["infer_per_s"]})
    ratios = [r["ratio"] for r in rounds]
    report = {"chunk": read_manifest(export).contract.chunk, "concurrency": args.concurrency, "rounds": rounds,
              "throughput_ratio_served_vs_in_process": {"median": float(np.median(ratios)), "min": min(ratios),
                                                        "max": max(ratios)}}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
