"""Copy a trained default model, its demo sample and its provenance into wux/model/default/."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from wux.constants import SAMPLE_RATE
from wux.fsutil import sha256_file
from wux.model.checkpoint import load_checkpoint, save_checkpoint

DEST = Path(__file__).resolve().parents[1] / "wux" / "model" / "default"
SAMPLE_NOISE = "pink"  # the demo sample: the first test utterance with this noise family
SAMPLE_SECONDS = 6.0


def pick_sample(corpus: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Join test utterances with SAMPLE_NOISE until SAMPLE_SECONDS: unseen speakers, unseen text."""
    meta = json.loads((corpus / "corpus.json").read_text())["utterances"]
    names = sorted(u["name"] for u in meta if u["split"] == "test" and u["noise"] == SAMPLE_NOISE)
    clean, noisy, used = [], [], []
    for name in names:
        clean.append(sf.read(corpus / "clean_testset_wav" / f"{name}.wav", dtype="float32")[0])
        noisy.append(sf.read(corpus / "noisy_testset_wav" / f"{name}.wav", dtype="float32")[0])
        used.append(name)
        if sum(len(c) for c in clean) >= SAMPLE_SECONDS * SAMPLE_RATE:
            break
    return np.concatenate(clean), np.concatenate(noisy), used


def main(out: Path) -> None:
    ckpt = load_checkpoint(out / "default.wux.pt")
    ckpt.training.pop("history", None)  # kept in PROVENANCE.md; the bundled file stays small
    DEST.mkdir(parents=True, exist_ok=True)
    save_checkpoint(ckpt, DEST / "default.wux.pt")
    clean, noisy, used = pick_sample(out / "corpus")
    sf.write(DEST / "sample_clean.wav", clean, SAMPLE_RATE, subtype="PCM_16")
    sf.write(DEST / "sample_noisy.wav", noisy, SAMPLE_RATE, subtype="PCM_16")
    record = {
        "checkpoint_sha256": sha256_file(DEST / "default.wux.pt"),
        "corpus": json.loads((out / "corpus.json").read_text()),
        "train": json.loads((out / "train.json").read_text()),
        "eval": json.loads((out / "eval.json").read_text()),
        "demo_sample": {"utterances": used, "noise": SAMPLE_NOISE},
    }
    (DEST / "provenance.json").write_text(json.dumps(record, indent=1))
    shutil.copyfile(out / "eval.json", DEST / "eval.json")
    print(json.dumps({"bundled": str(DEST), "sha256": record["checkpoint_sha256"],
                      "si_snr_improvement_db_mean": record["eval"]["si_snr_improvement_db_mean"]}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
