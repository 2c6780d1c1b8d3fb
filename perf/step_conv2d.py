"""The step model's cost per frame in onnxruntime, with 1-D convolutions and with wux's 2-D rewrite, side by side.

    .venv/bin/python perf/step_conv2d.py [--checkpoint causal] [--frame 320] [--rounds 6]

Exports the checkpoint's step model to ONNX once (wux.export.step.step_onnx, as `wux export` does before its
rewrite), makes the 2-D twin with wux.export.conv2d, and times both on one thread (as Triton's stream instances
run them),
alternating rounds so this VM's drifting speed hits both alike. Prints JSON: ms per call at batch 1, 4, 8, the
ratio, and the largest difference between the two outputs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def export_1d(checkpoint: str, folder: Path, frame: int) -> Path:
    import onnx

    from wux.export.step import step_model_of, step_onnx
    from wux.model.load import ModelSource, load_model

    path = folder / "step_1d.onnx"
    onnx.save(step_onnx(step_model_of(load_model(ModelSource(checkpoint=checkpoint)).module), frame), str(path))
    return path


def session(path: Path):
    """One thread, no spinning: as Triton's stream instances run it."""
    import onnxruntime as ort

    from wux.ort_settings import OrtOptions

    options = OrtOptions(intra_op_threads=1, inter_op_threads=1).session_options(ort)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    import onnx

    from wux.contract import STEP_FRAME, STEP_STATE
    from wux.export.conv2d import as_2d_convolutions

    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", default="causal")
    parser.add_argument("--frame", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path_1d = export_1d(args.checkpoint, Path(tmp), args.frame)
        model = onnx.load(str(path_1d))
        rewritten = as_2d_convolutions(model)
        path_2d = Path(tmp) / "step_2d.onnx"
        onnx.save(model, str(path_2d))
        sessions = {"conv1d": session(path_1d), "conv2d": session(path_2d)}
        state_size = sessions["conv1d"].get_inputs()[1].shape[1]
        rng = np.random.default_rng(0)
        rows = []
        for batch in (1, 4, 8):
            feed = {STEP_FRAME: (0.1 * rng.standard_normal((batch, 1, args.frame))).astype(np.float32),
                    STEP_STATE: (0.1 * rng.standard_normal((batch, state_size))).astype(np.float32)}
            outs = {k: s.run(None, feed) for k, s in sessions.items()}
            spent = dict.fromkeys(sessions, 0.0)
            for _ in range(args.rounds):
                for name, s in sessions.items():
                    start = time.perf_counter()
                    for _ in range(args.calls):
                        s.run(None, feed)
                    spent[name] += time.perf_counter() - start
            ms = {k: 1e3 * v / (args.rounds * args.calls) for k, v in spent.items()}
            diff = max(float(np.abs(a - b).max()) for a, b in zip(outs["conv1d"], outs["conv2d"]))
            rows.append({"batch": batch, "conv1d_ms": round(ms["conv1d"], 3), "conv2d_ms": round(ms["conv2d"], 3),
                         "speedup": round(ms["conv1d"] / ms["conv2d"], 2), "max_abs_diff": diff})
    print(json.dumps({"checkpoint": args.checkpoint, "frame": args.frame, "convolutions_rewritten": rewritten,
                      "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
