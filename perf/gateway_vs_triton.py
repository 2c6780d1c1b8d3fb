"""The gateway's overhead: files through `wux gateway` vs the same audio straight to Triton with `wux perf`.

    .venv/bin/python perf/gateway_vs_triton.py [--export DIR] [--concurrency 8] [--seconds 6] [--rounds 3]
                                               [--audio-s 2] [--workers 1]

One tritonserver on 127.0.0.1 serves the repository of an export (default: the bundled model, ONNX FP32,
exported here); one `wux gateway --url` process (uvicorn, --workers) sits in front of it. The audio is one
16-bit WAV of speech, --audio-s long. Each round measures, in alternating order (this VM's speed drifts by
tens of percent within a minute): `wux perf`'s engine on the front model at --concurrency (windows until
stable, the same samples as arrays) and an httpx client posting the WAV to /v1/denoise with --concurrency
requests in flight for --seconds (every answer checked to be 200 and the upload's length). The figure is the
median of the per-round ratios gateway/Triton in files (= requests) per second. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def triton_files_per_s(url: str, wav_dir: Path, samples: int, concurrency: int, seconds: float) -> dict:
    from wux.errors import WuxError
    from wux.perf.loadgen import PerfConfig, run_perf

    report = run_perf(PerfConfig(url=url, model="waveunet", concurrency=(concurrency,), lengths=((samples, 1.0),),
                                 input_data=wav_dir, measurement_interval_ms=int(seconds * 1000 / 3)),
                      show_progress=False)
    if report.error:
        raise WuxError(report.error)
    level = report.levels[0]
    return {"files_per_s": level.throughput_infer_per_s, "p50_ms": level.latency_p50_ms, "stable": level.stable}


async def gateway_load(url: str, wav: bytes, samples: int, concurrency: int, seconds: float) -> dict:
    import httpx
    import soundfile as sf

    latencies: list[float] = []
    stop = time.perf_counter() + 1.0  # warm-up, not counted

    async def worker(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            answer = await client.post("/v1/denoise", content=wav, headers={"content-type": "audio/wav"})
            if answer.status_code != 200 or sf.info(io.BytesIO(answer.content)).frames != samples:
                raise RuntimeError(f"gateway answered {answer.status_code}: {answer.text[:200]}")
            latencies.append(time.perf_counter() - t0)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))  # warm-up: the first second
        t0 = time.perf_counter()
        stop = t0 + seconds
        latencies.clear()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {"files_per_s": len(latencies) / elapsed, "p50_ms": 1e3 * float(np.median(latencies)),
            "requests": len(latencies)}


def main() -> None:
    import soundfile as sf

    from wux.gateway.process import GatewayProcess
    from wux.pipeline import ExportRequest, export_model
    from wux.triton_repo.generate import RepoRequest, generate_repository
    from wux.triton_repo.server import TritonServer
    from wux.verify.signals import make_signal

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--export", type=Path)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--audio-s", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wux-gateway-perf-"))
    export = args.export
    if export is None:
        export = work / "build"
        export_model(None, export, ExportRequest(formats=("onnx",)), show_progress=False)
    samples = int(args.audio_s * 16000)
    (work / "audio").mkdir()
    sf.write(work / "audio" / "speech.wav", make_signal("speech", 1, samples, 0)[0], 16000, subtype="PCM_16")
    wav = (work / "audio" / "speech.wav").read_bytes()
    generate_repository(export, work / "repo", RepoRequest())
    rounds = []
    with TritonServer(work / "repo") as info:
        gateway = GatewayProcess("--url", info.grpc_url, "--workers", str(args.workers), "--max-concurrent", "64")
        url = gateway.wait_ready().url
        try:
            for i in range(args.rounds):
                order = ("triton", "gateway") if i % 2 == 0 else ("gateway", "triton")
                result = {}
                for what in order:
                    if what == "triton":
                        result[what] = triton_files_per_s(info.grpc_url, work / "audio", samples, args.concurrency,
                                                          args.seconds)
                    else:
                        result[what] = asyncio.run(gateway_load(url, wav, samples, args.concurrency, args.seconds))
                result["ratio"] = result["gateway"]["files_per_s"] / result["triton"]["files_per_s"]
                rounds.append(result)
                print(f"round {i + 1}: {json.dumps(result)}", file=sys.stderr)
        finally:
            gateway.stop()
    ratios = [r["ratio"] for r in rounds]
    print(json.dumps({"export": str(export), "concurrency": args.concurrency, "audio_s": args.audio_s,
                      "gateway_workers": args.workers, "rounds": rounds,
                      "throughput_ratio_gateway_vs_triton": {"median": float(np.median(ratios)), "min": min(ratios),
                                                              "max": max(ratios)}}, indent=1))


if __name__ == "__main__":
    main()
