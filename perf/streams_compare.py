"""Live streams measured by the real perf_analyzer 2.51 and by `wux perf --streams`, one server, one run.

    .venv/bin/python perf/streams_compare.py [--export DIR] [--levels 8,12,16] [--frame-ms 20] [--seconds 10]

Starts a real tritonserver on 127.0.0.1 with the streaming model `wux triton` generates from a causal export
(default: the bundled causal model, exported here). At each level N it runs, one after the other:
  - perf_analyzer in request-rate mode, N sequences at N frames per frame period (`--request-rate-range`,
    `--num-of-sequences N --serial-sequences`: a stream's next frame waits for the previous one's answer, as in
    `wux perf --streams`), speech frames as input, its per-request timestamps exported
    (`--profile-export-file`); a frame later than one frame period after it was sent is a deadline miss;
  - `wux perf --streams N` (wux.perf.streams), the same frames' size, pace and deadline.
The clocks differ in one way: perf_analyzer times a frame from when it was sent, `wux perf` from when it was due
(a frame a lagging client sends late counts against it); perf_analyzer says what share of its requests it sent
late (`sent_late_percent`, absent when none). perf_analyzer is C++: its client costs the shared CPU a fraction
of what the Python load generator does (about 0.5 ms of CPU a frame), so the two together say how much of a
miss is the server's and how much the client's. Needs `make perf-tools`. Prints JSON.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np

STREAM_MODEL = "waveunet_stream"
EXPORT_RECORD = re.compile(rb'"timestamp":\s*(\d+),\s*"sequence_id":\s*\d+,\s*"request_inputs":\s*\{.*?\},\s*'
                           rb'"response_timestamps":\s*\[(\d*)')


def speech_sequences(path: Path, streams: int, steps: int, frame: int) -> Path:
    """perf_analyzer --input-data for a sequence model: one list of frames per stream (float32, base64)."""
    from wux.verify.signals import make_signal

    audio = make_signal("speech", streams, steps * frame, 0).astype(np.float32)
    data = [[{"frame": {"b64": base64.b64encode(row[k * frame: (k + 1) * frame].tobytes()).decode(),
                        "shape": [1, frame]}} for k in range(steps)] for row in audio]
    path.write_text(json.dumps({"data": data}))
    return path


def request_latencies_s(export: Path) -> tuple[list[float], int]:
    """(latency of each answered request in seconds, requests never answered) from a profile export. Read with a
    pattern, not a JSON parser: the file also holds every input and output, hundreds of MB at 16 streams."""
    latencies, unanswered = [], 0
    for sent, answered in EXPORT_RECORD.findall(export.read_bytes()):
        if answered:
            latencies.append((int(answered) - int(sent)) / 1e9)
        else:
            unanswered += 1
    return latencies, unanswered


def perf_analyzer_level(binary: Path, url: str, n: int, frame: int, rate: int, seconds: float,
                        work: Path) -> dict:
    period_s = frame / rate
    steps = int(round(seconds / period_s))
    data = speech_sequences(work / f"speech_{n}.json", n, steps, frame)
    export = work / f"export_{n}.json"
    env = dict(os.environ, LD_LIBRARY_PATH=os.pathsep.join([str(binary.parent / "lib"),
                                                              os.environ.get("LD_LIBRARY_PATH", "")]))
    per_second = n / period_s
    cmd = [str(binary), "-m", STREAM_MODEL, "-u", url, "-i", "grpc", "--shape", f"frame:1,{frame}",
           "--input-data", str(data), "--request-rate-range", f"{per_second:g}:{per_second:g}",
           "--request-distribution", "constant", "--num-of-sequences", str(n), "--serial-sequences",
           "--sequence-length", str(steps), "--sequence-length-variation", "0", "--request-count", str(n * steps),
           "--profile-export-file", str(export)]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if run.returncode != 0:
        raise SystemExit(f"perf_analyzer failed: {run.stderr.strip() or run.stdout[-800:]}")
    latencies, unanswered = request_latencies_s(export)
    export.unlink()
    if not latencies and not unanswered:
        raise SystemExit("perf_analyzer's profile export held no request this script could read")
    return summary(latencies, unanswered, period_s, run.stdout)


def summary(latencies: list[float], unanswered: int, period_s: float, stdout: str = "") -> dict:
    from wux.perf.stability import latency_percentiles_ms

    pct = latency_percentiles_ms(latencies)
    delayed = re.search(r"([\d.]+)% of the requests were delayed", stdout)
    return {"frames": len(latencies) + unanswered, "misses": sum(t > period_s for t in latencies) + unanswered,
            "p50_ms": round(pct["p50"], 2), "p99_ms": round(pct["p99"], 2),
            "max_ms": round(1e3 * max(latencies, default=0.0), 2),
            **({"sent_late_percent": float(delayed.group(1))} if delayed else {})}


def main() -> None:
    from wux.errors import WuxError
    from wux.model.load import ModelSource
    from wux.perf.streams import StreamsConfig, run_streams
    from wux.pipeline import ExportRequest, export_model
    from wux.tools import find_perf_analyzer
    from wux.triton_repo.generate import RepoRequest, generate_repository
    from wux.triton_repo.server import TritonServer

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--export", type=Path, help="a `wux export` folder of a causal model")
    ap.add_argument("--levels", default="8,12,16")
    ap.add_argument("--frame-ms", type=float, default=20.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    binary = find_perf_analyzer()
    if binary is None:
        raise WuxError("perf_analyzer not found: run `make perf-tools`")
    work = Path(tempfile.mkdtemp(prefix="wux-streams-compare-"))
    export = args.export
    if export is None:
        export = work / "build"
        export_model(ModelSource(checkpoint="causal"), export, ExportRequest(formats=("onnx",)), show_progress=False)
    generate_repository(export, work / "repo", RepoRequest(formats=("python",)))
    rows = []
    with TritonServer(work / "repo") as info:
        for n in (int(x) for x in args.levels.split(",")):
            own = run_streams(StreamsConfig(url=info.grpc_url, model=STREAM_MODEL, streams=(n,),
                                            frame_ms=args.frame_ms, seconds=args.seconds))
            level, frame = own.levels[0], own.frame_samples
            rate = round(frame * 1000 / args.frame_ms)
            pa = perf_analyzer_level(binary, info.grpc_url, n, frame, rate, args.seconds, work)
            rows.append({"streams": n, "perf_analyzer": pa,
                         "wux": {"frames": level.frames, "misses": level.misses, "p50_ms": level.latency_p50_ms,
                                 "p99_ms": level.latency_p99_ms, "max_ms": level.latency_max_ms}})
    print(json.dumps({"frame_ms": args.frame_ms, "seconds": args.seconds, "deadline_ms": args.frame_ms,
                      "levels": rows}, indent=1))


if __name__ == "__main__":
    main()
