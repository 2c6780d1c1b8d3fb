"""Served throughput of the python-backend core model vs in-process onnxruntime, one run, same chunk.

    .venv/bin/python perf/serving_vs_inprocess.py [--export DIR] [--seconds 10] [--concurrency 8]

Starts a real tritonserver on 127.0.0.1 with a repository generated from the export, and stops it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def in_process(onnx: Path, x: np.ndarray, seconds: float, threads: int) -> dict:
    from wux.export.onnx import OrtRunner

    run = OrtRunner(onnx, threads=threads)
    for _ in range(3):
        run(x)
    lat, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        run(x)
        lat.append(time.perf_counter() - t0)
    return {"infer_per_s": len(lat) / sum(lat), "p50_ms": 1e3 * float(np.median(lat)),
            "p99_ms": 1e3 * float(np.percentile(lat, 99))}


def served(url: str, model: str, x: np.ndarray, seconds: float, concurrency: int) -> dict:
    import tritonclient.grpc as client

    lat, lock = [], threading.Lock()
    stop = time.perf_counter() + seconds

    def worker():
        c = client.InferenceServerClient(url)
        inp = client.InferInput("waveform", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        mine = []
        for _ in range(2):
            c.infer(model, [inp])
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            c.infer(model, [inp])
            mine.append(time.perf_counter() - t0)
        c.close()
        with lock:
            lat.extend(mine)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"infer_per_s": len(lat) / wall, "p50_ms": 1e3 * float(np.median(lat)),
            "p99_ms": 1e3 * float(np.percentile(lat, 99)), "concurrency": concurrency}


def main() -> None:
    from wux.export.api import ExportRequest, export_artifacts
    from wux.export.manifest import read_manifest
    from wux.export.spec import make_spec
    from wux.model.checkpoint import load_checkpoint
    from wux.triton_repo.config import ServingOptions
    from wux.triton_repo.generate import RepoRequest, generate_repository
    from wux.triton_repo.server import TritonServer

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--export", type=Path)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wux-serving-"))
    export = args.export
    if export is None:
        export = work / "build"
        spec = make_spec(total_stride=load_checkpoint().config.total_stride)
        export_artifacts(None, export, ExportRequest(formats=("onnx",), spec=spec), show_progress=False)
    chunk = read_manifest(export).chunk
    x = (np.random.default_rng(0).standard_normal((1, 1, chunk)) * 0.1).astype(np.float32)
    generate_repository(export, work / "repo", RepoRequest(formats=("python",), options=ServingOptions(kind="cpu")))
    local = in_process(export / "model.onnx", x[:, 0, :], args.seconds, args.threads)
    with TritonServer(work / "repo") as info:
        c1 = served(info.grpc_url, "waveunet_python", x, args.seconds, 1)
        cn = served(info.grpc_url, "waveunet_python", x, args.seconds, args.concurrency)
    report = {"chunk": chunk, "in_process_onnxruntime": local, "served_concurrency_1": c1,
              f"served_concurrency_{args.concurrency}": cn,
              "throughput_ratio_served_vs_in_process": cn["infer_per_s"] / local["infer_per_s"]}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
