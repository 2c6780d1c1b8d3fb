"""Served INT8 vs FP32: the python-backend core model of each, on one tritonserver, measured alternately.

    .venv/bin/python perf/served_int8.py [--export DIR] [--seconds 6] [--concurrency 8] [--rounds 3]

--export: a `wux export` folder with ONNX fp32 and int8 (default: the bundled model, exported here with
`--precision fp32 --precision int8`, task gate included). Two repositories are generated from it
(`wux triton --precision fp32` and `--precision int8`, front models named fp32 and int8), their models
put in one repository and served by one tritonserver on 127.0.0.1, so both share the machine the same
way. Each round measures both core models with `wux perf`'s engine (windows until stable) at the same concurrency, in
alternating order (this VM's speed drifts by tens of percent within a minute); each round gives its own
INT8/FP32 throughput ratio and the median is the figure. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

PRECISIONS = ("fp32", "int8")


def core_model(precision: str) -> str:
    from wux.triton_repo.generate import PYTHON, core_name

    return core_name(precision, PYTHON)


def measure(url: str, model: str, concurrency: int, seconds: float) -> dict:
    from wux.errors import WuxError
    from wux.perf.loadgen import PerfConfig, run_perf

    window_ms = int(seconds * 1000 / 3)  # three stable windows take about `seconds`
    report = run_perf(PerfConfig(url=url, model=model, concurrency=(concurrency,), measurement_interval_ms=window_ms))
    if report.error:
        raise WuxError(report.error)
    level = report.levels[0]
    return {"infer_per_s": level.throughput_infer_per_s, "p50_ms": level.latency_p50_ms,
            "p99_ms": level.latency_p99_ms, "stable": level.stable}


def main() -> None:
    from wux.pipeline import ExportRequest, export_model
    from wux.triton_repo.config import ServingOptions
    from wux.triton_repo.generate import PYTHON, RepoRequest, generate_repository
    from wux.triton_repo.server import TritonServer

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--export", type=Path)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wux-served-int8-"))
    export = args.export
    if export is None:
        export = work / "build"
        export_model(None, export, ExportRequest(formats=("onnx",), precisions=PRECISIONS), show_progress=False)
    repo = work / "repo"
    repo.mkdir()
    for p in PRECISIONS:  # one repository holding both precisions' models (each model folder stands alone)
        generate_repository(export, work / f"repo_{p}", RepoRequest(name=p, formats=(PYTHON,), precision=p,
                                                                    options=ServingOptions(kind="cpu")))
        for model in (work / f"repo_{p}").iterdir():
            if model.is_dir():
                shutil.copytree(model, repo / model.name)
    rounds = []
    with TritonServer(repo) as info:
        for i in range(args.rounds):
            order = PRECISIONS if i % 2 == 0 else PRECISIONS[::-1]
            result = {p: measure(info.grpc_url, core_model(p), args.concurrency, args.seconds) for p in order}
            result["ratio"] = result["int8"]["infer_per_s"] / result["fp32"]["infer_per_s"]
            rounds.append(result)
    ratios = [r["ratio"] for r in rounds]
    print(json.dumps({"export": str(export), "concurrency": args.concurrency, "rounds": rounds,
                      "throughput_ratio_int8_vs_fp32": {"median": float(np.median(ratios)), "min": min(ratios),
                                                        "max": max(ratios)}}, indent=1))


if __name__ == "__main__":
    main()
