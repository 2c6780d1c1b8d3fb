"""A training step in float32 and in bfloat16 autocast (wux train --precision bf16), side by side.

    .venv/bin/python perf/train_precision.py [--preset context | --config big.json] [--rounds 6] [--threads 2]

Builds the model, then runs whole training steps (forward, -SI-SNR loss, backward, Adam) on one random batch
(16 x 16384 samples, as the training recipe), alternating float32 and bfloat16 round by round so this VM's
drifting speed hits both alike. Each arm has its own copy of the same initial weights and optimizer. Prints JSON:
median seconds per step of each, their ratio, and how far bfloat16's training loss (-SI-SNR dB plus the level
term) on the first step is from float32's: the arithmetic's error, before the two copies' weights part.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

from wux.runtime.device import cpu_has_bf16
from wux.train.loop import TrainConfig, autocast, loss_fn


def timed_step(model, optimizer, noisy, clean, arithmetic: str) -> tuple[float, float]:
    start = time.perf_counter()
    with autocast("cpu", arithmetic):
        loss = loss_fn(model(noisy).float(), clean, TrainConfig.level_weight, dc_weight=TrainConfig.dc_weight)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start, loss.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="context")
    parser.add_argument("--config", type=Path, help="model config JSON (overrides --preset)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--segment", type=int, default=TrainConfig.segment)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    import torch

    from wux.model.checkpoint import build_model
    from wux.model.config import load_config_json, preset
    from wux.train import DEFAULT_LR

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = load_config_json(args.config) if args.config else preset(args.preset)
    clean = 0.1 * torch.randn(args.batch, 1, args.segment)
    noisy = clean + 0.1 * torch.randn(args.batch, 1, args.segment)
    arms = {}
    for arithmetic in ("fp32", "bf16"):
        model = build_model(config) if not arms else copy.deepcopy(arms["fp32"][0])
        arms[arithmetic] = (model, torch.optim.Adam(model.parameters(), lr=DEFAULT_LR))
    seconds: dict[str, list[float]] = {a: [] for a in arms}
    first_loss = {}
    for round_ in range(args.rounds + 1):  # round 0 warms both up and is not counted
        for arithmetic, (model, optimizer) in arms.items():
            took, loss = timed_step(model, optimizer, noisy, clean, arithmetic)
            first_loss.setdefault(arithmetic, loss)
            if round_:
                seconds[arithmetic].append(took)
    fp32, bf16 = (statistics.median(seconds[a]) for a in ("fp32", "bf16"))
    print(json.dumps({
        "model": str(args.config) if args.config else args.preset,
        "parameters": sum(p.numel() for p in arms["fp32"][0].parameters()),
        "batch": args.batch, "segment": args.segment, "threads": args.threads, "rounds": args.rounds,
        "fp32_s_per_step": round(fp32, 3), "bf16_s_per_step": round(bf16, 3),
        "bf16_speedup": round(fp32 / bf16, 2),
        "first_step_loss_gap": round(abs(first_loss["bf16"] - first_loss["fp32"]), 4),
        "cpu_bf16_instructions": cpu_has_bf16(),
    }, indent=2))


if __name__ == "__main__":
    main()
