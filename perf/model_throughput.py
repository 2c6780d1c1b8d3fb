"""In-process throughput of the bundled model in eager PyTorch and TorchScript, side by side.

`make bench` runs this until `wux bench` (export issue) covers every format.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from wux.model.checkpoint import load_checkpoint
from wux.model.info import model_info


def time_runs(fn, x, seconds: float) -> list[float]:
    for _ in range(2):
        fn(x)  # warm-up: allocator, oneDNN primitive cache
    runs = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(runs) < 3:
        t0 = time.perf_counter()
        fn(x)
        runs.append(time.perf_counter() - t0)
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--samples", type=int, default=16384)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("skipped: no CUDA device")
        return
    torch.set_num_threads(args.threads)
    ckpt = load_checkpoint()
    model = ckpt.build_model().to(args.device)
    macs_per_sample = model_info(model).macs_per_second_audio / ckpt.sample_rate
    runners = {"eager": model, "torchscript": torch.jit.freeze(torch.jit.script(model))}
    rows = []
    for batch in (int(b) for b in args.batch.split(",")):
        x = torch.randn(batch, 1, args.samples, device=args.device)
        eager_median = None
        for name, fn in runners.items():
            def call(inp, fn=fn):
                with torch.inference_mode():
                    fn(inp)
                if args.device == "cuda":
                    torch.cuda.synchronize()

            runs = time_runs(call, x, args.seconds)
            median = statistics.median(runs)
            eager_median = eager_median or median
            samples_per_s = batch * args.samples / median
            rows.append({
                "runner": name, "device": args.device, "batch": batch, "samples": args.samples,
                "threads": args.threads, "runs": len(runs), "median_ms": median * 1e3,
                "spread_ms": (max(runs) - min(runs)) * 1e3, "samples_per_s": samples_per_s,
                "real_time_factor": samples_per_s / ckpt.sample_rate,
                "gmacs_per_s": samples_per_s * macs_per_sample / 1e9,
                "speedup_vs_eager": eager_median / median,
            })
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'runner':12} {'batch':>5} {'median ms':>10} {'spread ms':>10} {'x realtime':>10} "
          f"{'GMAC/s':>7} {'vs eager':>8}")
    for r in rows:
        print(f"{r['runner']:12} {r['batch']:>5} {r['median_ms']:>10.1f} {r['spread_ms']:>10.1f} "
              f"{r['real_time_factor']:>10.1f} {r['gmacs_per_s']:>7.1f} {r['speedup_vs_eager']:>8.2f}")


if __name__ == "__main__":
    main()
