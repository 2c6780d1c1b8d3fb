#!/usr/bin/env python3
"""Bundle a small speech set with clean references into the package: the default gate set for INT8.

    wux data synth /tmp/evalcorpus --minutes 2 --seed 11 --test-share 0.5
    python perf/bundle_eval_set.py /tmp/evalcorpus

Eight test-split files (voices the bundled model never heard; seed 11, not the training corpus's 0), one
or two per noise family, the first 3 s of each, as 16-bit FLAC in the VoiceBank+DEMAND layout, with the
noise kind and SNR of each in evalset.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import soundfile as sf

from wux.data.audio import read_audio
from wux.data.layout import CORPUS_RECORD, EVAL_SET_RECORD, split_dirs
from wux.resources import EVAL_SET, bundled

SECONDS = 3.0
FILES = 8


def main(corpus: Path) -> None:
    record = json.loads((corpus / CORPUS_RECORD).read_text())
    tests = [u for u in record["utterances"] if u["split"] == "test"]
    chosen, seen = [], {}
    for u in sorted(tests, key=lambda u: u["name"]):  # round-robin over noise families, in name order
        if seen.get(u["noise"], 0) < 2 and len(chosen) < FILES:
            chosen.append(u)
            seen[u["noise"]] = seen.get(u["noise"], 0) + 1
    dest = bundled(EVAL_SET)
    clean_out, noisy_out = split_dirs(dest, "test")
    clean_out.mkdir(parents=True, exist_ok=True)
    noisy_out.mkdir(parents=True, exist_ok=True)
    clean_in, noisy_in = split_dirs(corpus, "test")
    rate = 16000
    for u in chosen:
        for src, out in ((clean_in, clean_out), (noisy_in, noisy_out)):
            wave = read_audio(src / f"{u['name']}.wav", rate)[: int(SECONDS * rate)]
            sf.write(out / f"{u['name']}.flac", wave, rate, subtype="PCM_16")
    keep = ("name", "voice", "noise", "snr_db", "text")
    (dest / EVAL_SET_RECORD).write_text(json.dumps({
        "made_by": "wux data synth --minutes 2 --seed 11 --test-share 0.5; perf/bundle_eval_set.py",
        "seconds_each": SECONDS, "files": [{k: u[k] for k in keep if k in u} for u in chosen]}, indent=1) + "\n")
    print(f"{len(chosen)} files into {dest}: {sorted(seen.items())}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
