#!/usr/bin/env python3
"""Train the article's Wave-U-Net for a few hundred steps with plain PyTorch, as its author would.

No wux here: synthetic speech-like tones in white noise, SI-SNR loss, Adam; the state_dict is saved
under "model_state_dict" with the optimizer beside it, the way training scripts usually do.

    python train.py --steps 300 --out article.pt
"""

import argparse
import math

import numpy as np
import torch
from model import ArticleWaveUNet

RATE = 16000


def speechlike(rng, n):
    t = np.arange(n) / RATE
    f0 = rng.uniform(90, 220)
    wave = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(2, 5) * t), 0, None) ** 2
    return 0.1 * wave * envelope


def batch(rng, size, n):
    clean = np.stack([speechlike(rng, n) for _ in range(size)])
    noisy = clean + rng.uniform(0.01, 0.05, (size, 1)) * rng.standard_normal(clean.shape)
    as_tensor = lambda a: torch.tensor(a, dtype=torch.float32).unsqueeze(1)  # noqa: E731
    return as_tensor(clean), as_tensor(noisy)


def si_snr(estimate, reference, eps=1e-8):
    estimate = estimate - estimate.mean(-1, keepdim=True)
    reference = reference - reference.mean(-1, keepdim=True)
    target = (estimate * reference).sum(-1, keepdim=True) / (reference.pow(2).sum(-1, keepdim=True) + eps) * reference
    noise = estimate - target
    return 10 * torch.log10(target.pow(2).sum(-1) / (noise.pow(2).sum(-1) + eps) + eps)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--samples", type=int, default=8192)
    ap.add_argument("--out", default="article.pt")
    args = ap.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = ArticleWaveUNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(1, args.steps + 1):
        clean, noisy = batch(rng, args.batch, args.samples)
        loss = -si_snr(model(noisy), clean).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0 or step == args.steps:
            print(f"step {step}: SI-SNR {-loss.item():.2f} dB")
    model.eval()
    clean, noisy = batch(np.random.default_rng(1), 4, 16384)
    with torch.no_grad():
        before, after = si_snr(noisy, clean).mean().item(), si_snr(model(noisy), clean).mean().item()
    print(f"held-out SI-SNR: {before:.2f} dB in, {after:.2f} dB out")
    torch.save({"model_state_dict": model.state_dict(), "optimizer": optimizer.state_dict(), "steps": args.steps,
                "held_out_si_snr_db": [before, after]}, args.out)
    assert math.isfinite(after)


if __name__ == "__main__":
    main()
