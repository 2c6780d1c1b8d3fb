"""Can a model fit one noise kind at all? StftMask trained from scratch on a few fixed training-length segments of
the training split's files of that kind (the corpus's corpus.json names each file's noise), printing the mean
SI-SNR over those segments every 50 steps. Not a benchmark: a capacity probe (docs/babble.md, its
results). Usage: python perf/overfit_probe.py CORPUS KIND [--steps 400] [--files 8]"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from wux.data.audio import read_audio
from wux.metrics import si_snr_torch
from wux.model.stft_mask import StftMask

SEGMENT = 16_384  # samples: wux train's default segment (1.02 s at 16 kHz)


def segments(corpus: Path, kind: str, files: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(noisy, clean) SEGMENT-long segments, back to back, of the first `files` training files of `kind`."""
    record = json.loads((corpus / "corpus.json").read_text())
    chosen = [u for u in record["utterances"] if u["split"] == "train" and u["noise"] == kind][:files]
    noisy, clean = [], []
    for u in chosen:
        c = read_audio(corpus / "clean_trainset_wav" / f"{u['name']}.wav")
        n = read_audio(corpus / "noisy_trainset_wav" / f"{u['name']}.wav")
        for s in range(0, len(c) - SEGMENT, SEGMENT):
            clean.append(c[s:s + SEGMENT])
            noisy.append(n[s:s + SEGMENT])
    return torch.tensor(np.array(noisy)), torch.tensor(np.array(clean))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("kind")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--files", type=int, default=8)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    noisy, clean = segments(args.corpus, args.kind, args.files)
    print(f"{args.kind}: {len(noisy)} segments; input SI-SNR {si_snr_torch(noisy, clean).mean():.2f} dB", flush=True)
    model = StftMask()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    draw = torch.Generator().manual_seed(0)
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, len(noisy), (8,), generator=draw)
        loss = -si_snr_torch(model(noisy[idx].unsqueeze(1)).squeeze(1), clean[idx]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            with torch.no_grad():
                fitted = si_snr_torch(model(noisy.unsqueeze(1)).squeeze(1), clean).mean()
            print(f"step {step}: SI-SNR over the segments {fitted:.2f} dB", flush=True)


if __name__ == "__main__":
    main()
