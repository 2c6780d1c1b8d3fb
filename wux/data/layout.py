"""The VoiceBank+DEMAND folder layout, and the corpus's own record of each file's noise kind and SNR,
shared by the synthesiser, the data set and the evaluation."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from wux.errors import DataError

SPLITS = ("train", "test")
CORPUS_RECORD = "corpus.json"  # written by `wux data synth`
EVAL_SET_RECORD = "evalset.json"  # the bundled evaluation set's
METADATA_FILES = (CORPUS_RECORD, EVAL_SET_RECORD)


def split_dirs(root: Path, split: str) -> tuple[Path, Path]:
    """(clean folder, noisy folder) of one split."""
    return Path(root) / f"clean_{split}set_wav", Path(root) / f"noisy_{split}set_wav"


@dataclass(frozen=True)
class Metadata:
    noise: dict[str, str]  # file stem -> noise kind
    snr_db: dict[str, float]  # file stem -> mix SNR
    source: str | None  # the file it came from


def read_metadata(data: Path) -> Metadata:
    """Noise kind and mix SNR per file stem from the corpus's own record, when it has one."""
    for name in METADATA_FILES:
        path = Path(data) / name
        if not path.is_file():
            continue
        try:
            doc = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        entries = (doc.get("utterances") or doc.get("files") or []) if isinstance(doc, dict) else []
        noise = {e["name"]: str(e["noise"]) for e in entries if isinstance(e, dict) and "name" in e and "noise" in e}
        snr = {e["name"]: float(e["snr_db"]) for e in entries if isinstance(e, dict) and "name" in e and "snr_db" in e}
        if noise or snr:
            return Metadata(noise, snr, str(path))
    return Metadata({}, {}, None)


def check_noise_kinds(noise_of: Mapping[str, str], names: Iterable[str], kinds: Iterable[str],
                      record: Path | str | None, files: str = "file") -> None:
    """Refuse asked-for noise kinds that none of the named `files` has, naming the kinds they do have,
    or any kind at all when the folder keeps no record of them: a typo must not pass silently."""
    kinds = set(kinds)
    if not kinds:
        return
    if not noise_of:
        raise DataError("choosing files by noise kind needs the corpus's record of each file's noise kind "
                        f"({CORPUS_RECORD}, written by `wux data synth`); this folder has none", record)
    present = {noise_of.get(n) for n in names}
    unknown = sorted(kinds - present)
    if unknown:
        have = ", ".join(sorted(k for k in present if k))
        raise DataError(f"no {files} has noise {', '.join(unknown)} (the kinds are: {have})", record)
