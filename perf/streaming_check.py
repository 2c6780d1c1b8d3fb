"""Streamed vs offline on a 10 s file: the causal model in PyTorch, its step model in onnxruntime, and Triton.

    .venv/bin/python perf/streaming_check.py [--export DIR] [--frame-ms 20] [--seconds 10]

--export: a `wux export` folder of a causal model (default: the bundled causal model, exported here). The file is
the bundled noisy sample repeated to --seconds. The reference is the offline forward of the whole file in
PyTorch; each way of streaming sends it in --frame-ms frames from a zero state. Triton: the repository
`wux triton` generates from the export, served by a real tritonserver on 127.0.0.1. Prints JSON (SI-SNR dB and
max abs error of each against the offline forward).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    from wux.clients.streaming import TritonStreamer
    from wux.data.audio import read_audio
    from wux.export.manifest import read_manifest
    from wux.export.step import StreamingRecord, load_step
    from wux.metrics import si_snr_db
    from wux.model.load import ModelSource, load_model
    from wux.model.streaming import StreamingWaveUNet, stream_through, stream_wave
    from wux.pipeline import ExportRequest, export_model
    from wux.resources import SAMPLE_NOISY, bundled
    from wux.triton_repo.generate import RepoRequest, generate_repository
    from wux.triton_repo.server import TritonServer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--export", type=Path)
    ap.add_argument("--frame-ms", type=float, default=20.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wux-stream-check-"))
    export = args.export
    if export is None:
        export = work / "build"
        export_model(ModelSource(checkpoint=Path("causal")), export, ExportRequest(formats=("onnx",)),
                     show_progress=False)
    manifest = read_manifest(export)
    record = StreamingRecord.from_dict(manifest.streaming)
    rate = record.sample_rate
    frame = round(rate * args.frame_ms / 1000)
    wave = np.resize(read_audio(bundled(SAMPLE_NOISY)), int(args.seconds * rate)).astype(np.float32)
    model = load_model(ModelSource.from_record(manifest.source, manifest.model), contract=manifest.contract)
    offline = model.runner("cpu")(wave[None])[0]
    streamed = {
        "pytorch": stream_wave(StreamingWaveUNet(model.module).eval(), wave, frame),
        "onnxruntime": stream_through(load_step(export, record, "onnx"), wave, frame, record.state_size),
    }
    generate_repository(export, work / "repo", RepoRequest(formats=("python",)))
    with TritonServer(work / "repo") as info, TritonStreamer(info.grpc_url) as streamer:
        streamed["triton"] = streamer.stream(wave, frame)
    print(json.dumps({"export": str(export), "seconds": args.seconds, "frame_samples": frame,
                      "vs_offline": {k: {"si_snr_db": round(si_snr_db(v, offline), 2),
                                         "max_abs_err": float(np.abs(v - offline).max())}
                                     for k, v in streamed.items()}}, indent=1))


if __name__ == "__main__":
    main()
