"""Is babble learnable when its talkers are far away? A copy of a rich corpus with distant babble.

    .venv/bin/python perf/far_babble_probe.py build/rich/corpus build/far/corpus [--rt60 0.5 1.0]

Writes a copy of a corpus (VoiceBank+DEMAND layout, both splits, its corpus.json) in which every babble file is
mixed again, at its own SNR, from 2-8 other speakers' clean files of its split (the recipe's pool), each talker
heard in a room of its own (RT60 drawn from --rt60, seconds): a cafe's talkers are metres away, the target at
the microphone. Every other file is hard-linked unchanged. Seeded by each file's own seed: the same copy every
time. Train on the copy and score its test split's babble (`wux eval CKPT --data COPY --split test --noise
babble`) to see whether a model uses the room as a cue.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from wux.data import noise as noises
from wux.data.augment import fft_convolve, room_impulse_response
from wux.data.layout import CORPUS_RECORD, SPLITS, split_dirs
from wux.data.synth import RICH, Utterance, babble_sources


def far_babble(rng: np.random.Generator, n: int, pool: list[Path], rt60_s: tuple[float, float],
               rate: int) -> np.ndarray:
    """Babble as noise.babble makes it from the clean files in `pool`, each talker first put in a room of its own."""
    out = np.zeros(n)
    for _ in range(int(rng.integers(RICH.babble_talkers[0], RICH.babble_talkers[1] + 1))):
        voice, _ = sf.read(pool[int(rng.integers(0, len(pool)))], dtype="float64")
        voice = fft_convolve(voice, room_impulse_response(rng, rate, rt60=rng.uniform(*rt60_s)))
        offset = int(rng.integers(0, max(1, len(voice))))
        out += np.resize(np.roll(voice, -offset), n) * rng.uniform(0.5, 1.0) / (np.sqrt(np.mean(voice**2)) + 1e-9)
    return out


def copy_with_far_babble(src: Path, dst: Path, rt60_s: tuple[float, float]) -> None:
    plan = [Utterance(**u) for u in json.loads((src / CORPUS_RECORD).read_text())["utterances"]]
    for split in SPLITS:
        (src_clean, src_noisy), (clean_dir, noisy_dir) = split_dirs(src, split), split_dirs(dst, split)
        clean_dir.mkdir(parents=True), noisy_dir.mkdir(parents=True)
        idx = [i for i, u in enumerate(plan) if u.split == split]
        for i in idx:
            u, name = plan[i], f"{plan[i].name}.wav"
            if u.noise != "babble":
                os.link(src_clean / name, clean_dir / name), os.link(src_noisy / name, noisy_dir / name)
                continue
            clean, rate = sf.read(src_clean / name, dtype="float64")
            pool = [src_clean / f"{plan[j].name}.wav" for j in babble_sources(plan, idx, i, RICH)]
            babble = far_babble(np.random.default_rng((u.seed, 11)), len(clean), pool, rt60_s, rate)
            clean, noisy = noises.within_full_scale(clean, noises.mix_at_snr(clean, babble, u.snr_db))
            sf.write(clean_dir / name, clean.astype(np.float32), rate, subtype="PCM_16")
            sf.write(noisy_dir / name, noisy.astype(np.float32), rate, subtype="PCM_16")
    shutil.copy(src / CORPUS_RECORD, dst / CORPUS_RECORD)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--rt60", type=float, nargs=2, default=(0.5, 1.0), metavar=("LOW", "HIGH"))
    args = parser.parse_args()
    copy_with_far_babble(args.src, args.dst, tuple(args.rt60))


if __name__ == "__main__":
    main()
