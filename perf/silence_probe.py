"""How much of each noise kind a model lets through where the target speaker is silent, and while they speak.

    .venv/bin/python perf/silence_probe.py pad build/rich/corpus build/pad/corpus      # a corpus with pauses
    .venv/bin/python perf/silence_probe.py measure default build/pad/corpus            # or a checkpoint path

`pad` writes a copy of a corpus (VoiceBank+DEMAND layout, both splits, its corpus.json) with 0.3-1.0 s of
silence before and after every utterance, the file's own noise running on through it, as in a recording that
starts before the talker does (seeded: the same copy every time). `measure` denoises the test split in 32 ms
frames and prints, per noise kind, the median over files of: output energy over noise energy in the frames
where the clean target is 50 dB below its loudest frame ("passed where silent"), and residual (output minus
clean) over noise where the target is within 20 dB of its loudest frame. The model's output gain is free
(SI-SNR training), so each output is first scaled to match the clean file. JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from wux.api import load_model
from wux.data.dataset import list_pairs, load_pairs
from wux.data.layout import CORPUS_RECORD, read_metadata, split_dirs
from wux.denoise import denoise_wave

FRAME = 512  # 32 ms at 16 kHz
SILENT_DB, ACTIVE_DB = -50.0, -20.0  # frame energy against the file's loudest clean frame
PAD_SECONDS = (0.3, 1.0)
PEAK = 0.99


def padded(clean: np.ndarray, noisy: np.ndarray, lead: int, tail: int) -> tuple[np.ndarray, np.ndarray]:
    """The pair with silence around the speech and the noise carried on (looped) through it."""
    noise = np.resize(np.roll(noisy - clean, lead), lead + len(clean) + tail)
    clean = np.concatenate([np.zeros(lead), clean, np.zeros(tail)])
    noisy = clean + noise
    scale = min(1.0, PEAK / max(float(np.abs(noisy).max()), 1e-12))  # scale both alike, never clip one
    return clean * scale, noisy * scale


def pad_corpus(src: Path, dst: Path, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        clean_dir, noisy_dir = split_dirs(dst, split)
        clean_dir.mkdir(parents=True), noisy_dir.mkdir(parents=True)
        for clean_path, noisy_path in list_pairs(src, split):
            clean, rate = sf.read(clean_path, dtype="float64")
            noisy, _ = sf.read(noisy_path, dtype="float64")
            lead, tail = (int(rng.uniform(*PAD_SECONDS) * rate) for _ in range(2))
            clean, noisy = padded(clean, noisy, lead, tail)
            sf.write(clean_dir / clean_path.name, clean.astype(np.float32), rate, subtype="PCM_16")
            sf.write(noisy_dir / noisy_path.name, noisy.astype(np.float32), rate, subtype="PCM_16")
    shutil.copy(src / CORPUS_RECORD, dst / CORPUS_RECORD)


def frame_energy(x: np.ndarray, frames: int) -> np.ndarray:
    return (x[: frames * FRAME].reshape(frames, FRAME) ** 2).mean(1) + 1e-12


def ratio_db(part: np.ndarray, whole: np.ndarray) -> float:
    return float(10 * np.log10(part.sum() / whole.sum()))


def probe_file(clean: np.ndarray, noisy: np.ndarray, out: np.ndarray) -> tuple[float | None, float]:
    """(noise passed where the target is silent, residual where it is active), dB; None: too few silent frames."""
    out = out * (clean @ clean) / (out @ clean)  # undo the model's free gain
    frames = len(clean) // FRAME
    target, noise = frame_energy(clean, frames), frame_energy(noisy - clean, frames)
    output, residual = frame_energy(out, frames), frame_energy(out - clean, frames)
    silent = target < target.max() * 10 ** (SILENT_DB / 10)
    active = target > target.max() * 10 ** (ACTIVE_DB / 10)
    passed = ratio_db(output[silent], noise[silent]) if silent.sum() >= 4 else None
    return passed, ratio_db(residual[active], noise[active])


def measure(model_name: str, corpus: Path) -> dict[str, dict]:
    model = load_model(model_name)
    runner, plan = model.runner("cpu"), model.contract.window
    kinds = read_metadata(corpus).noise
    if not kinds:
        raise SystemExit(f"{corpus}: the probe groups files by noise kind: it needs a readable {CORPUS_RECORD} "
                         "with each file's noise kind (`wux data synth` writes one)")
    found: dict[str, dict[str, list]] = {}
    for pair in load_pairs(corpus, "test", model.contract.sample_rate):
        passed, residual = probe_file(pair.clean, pair.noisy, denoise_wave(runner, pair.noisy, plan))
        kind = found.setdefault(kinds.get(pair.name, "unrecorded"), {"passed": [], "residual": []})
        kind["residual"].append(residual)
        if passed is not None:
            kind["passed"].append(passed)
    return {name: {"files": len(k["residual"]), "passed_where_silent_db": float(np.median(k["passed"])),
                   "residual_where_active_db": float(np.median(k["residual"]))} for name, k in sorted(found.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pad = sub.add_parser("pad", help="write a copy of a corpus with silence around every utterance")
    pad.add_argument("src", type=Path)
    pad.add_argument("dst", type=Path)
    probe = sub.add_parser("measure", help="noise passed where the target is silent, per noise kind")
    probe.add_argument("model", help="'default' or a checkpoint path")
    probe.add_argument("corpus", type=Path)
    probe.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.command == "pad":
        pad_corpus(args.src, args.dst)
        return
    result = measure(args.model, args.corpus)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    for name, k in result.items():
        print(f"{name:9s} {k['files']:3d} files  passed where silent {k['passed_where_silent_db']:+6.1f} dB  "
              f"residual where active {k['residual_where_active_db']:+6.1f} dB")


if __name__ == "__main__":
    main()
