#!/usr/bin/env python3
"""Bundle a small speech set with clean references into the package: the default gate set for INT8.

    wux data synth /tmp/evalcorpus --recipe rich --minutes 4 --seed 11 --test-share 0.5
    python perf/bundle_eval_set.py /tmp/evalcorpus

One test-split file per noise family of the corpus (the rich recipe's ten: voices the bundled model never
heard, seed 11, not the training corpus's 0), each by another voice where it can be, its first 3 s, as 16-bit
FLAC in the VoiceBank+DEMAND layout, with the voice, noise kind and SNR of each in evalset.json.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import soundfile as sf

from wux.contract import DEFAULT_SAMPLE_RATE as RATE
from wux.data.audio import read_audio
from wux.data.layout import CORPUS_RECORD, EVAL_SET_RECORD, split_dirs
from wux.fsutil import atomic_dir
from wux.resources import EVAL_SET, bundled

SECONDS = 3.0
MADE_BY = "wux data synth --recipe rich --minutes 4 --seed 11 --test-share 0.5; perf/bundle_eval_set.py"


def one_per_noise_kind(tests: list[dict]) -> list[dict]:
    """One file of each noise kind, its voices and engines spread greedily: each kind (the rarest first) takes
    a voice no earlier pick has, from the engine picked least so far, the first such file in name order."""
    picked, voices, engines = [], set(), Counter()
    files_of = Counter(u["noise"] for u in tests)
    for kind in sorted(files_of, key=lambda k: (files_of[k], k)):
        own = [u for u in tests if u["noise"] == kind]
        pick = min(own, key=lambda u: (u["voice"] in voices, engines[u.get("engine")], u["name"]))
        picked.append(pick)
        voices.add(pick["voice"])
        engines[pick.get("engine")] += 1
    return picked


def write_files(corpus: Path, dest: Path, chosen: list[dict]) -> None:
    clean_out, noisy_out = split_dirs(dest, "test")
    clean_out.mkdir(parents=True)
    noisy_out.mkdir(parents=True)
    clean_in, noisy_in = split_dirs(corpus, "test")
    for u in chosen:
        for src, out in ((clean_in, clean_out), (noisy_in, noisy_out)):
            wave = read_audio(src / f"{u['name']}.wav", RATE)[: int(SECONDS * RATE)]
            sf.write(out / f"{u['name']}.flac", wave, RATE, subtype="PCM_16")
    keep = ("name", "voice", "engine", "noise", "snr_db", "text")
    (dest / EVAL_SET_RECORD).write_text(json.dumps({
        "made_by": MADE_BY,
        "seconds_each": SECONDS, "files": [{k: u[k] for k in keep if k in u} for u in chosen]}, indent=1) + "\n")


def main(corpus: Path) -> None:
    record = json.loads((corpus / CORPUS_RECORD).read_text())
    tests = [u for u in record["utterances"] if u["split"] == "test"]
    chosen = sorted(one_per_noise_kind(tests), key=lambda u: u["name"])
    dest = bundled(EVAL_SET)
    with atomic_dir(dest, force=True) as tmp:  # the old set is replaced whole, or not at all
        write_files(corpus, tmp, chosen)
    print(f"{len(chosen)} files into {dest}: {', '.join(u['noise'] for u in chosen)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
