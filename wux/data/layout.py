"""The VoiceBank+DEMAND folder layout, and the corpus's own record of each file's noise kind and SNR,
shared by the synthesiser, the data set and the evaluation."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from wux.data.voices import ESPEAK, timbre
from wux.errors import DataError

SPLITS = ("train", "test")
CORPUS_RECORD = "corpus.json"  # written by `wux data synth`
EVAL_SET_RECORD = "evalset.json"  # the bundled evaluation set's
METADATA_FILES = (CORPUS_RECORD, EVAL_SET_RECORD)
# What can be wrong with a record that is there (Metadata.problem): said in notes and refusals alike.
RECORD_NOT_JSON = "not valid JSON"
RECORD_NO_LIST = "not a list of files"
RECORD_LISTS_NOTHING = "lists no file's noise kind or SNR"


def split_dirs(root: Path, split: str) -> tuple[Path, Path]:
    """(clean folder, noisy folder) of one split."""
    return Path(root) / f"clean_{split}set_wav", Path(root) / f"noisy_{split}set_wav"


@dataclass(frozen=True)
class Metadata:
    noise: dict[str, str]  # file stem -> noise kind
    snr_db: dict[str, float]  # file stem -> mix SNR
    source: str | None  # the file it came from
    unreadable: str | None = None  # a record there that could not be used (when none could be)...
    problem: str = ""  # ...and why: RECORD_NOT_JSON, RECORD_NO_LIST, RECORD_LISTS_NOTHING or the system's error
    speaker: dict[str, str] = field(default_factory=dict)  # file stem -> who speaks (a record's voice's timbre)
    room: dict[str, str] = field(default_factory=dict)  # file stem -> DRY or REVERBERANT, by the record's rt60_s
    babble_talkers: tuple[int, int] | None = None  # the talker range of the corpus's babble, when its recipe names one


def read_metadata(data: Path) -> Metadata:
    """Noise kind and mix SNR per file stem from the corpus's own record, when it has one."""
    problem = None  # (record, why) of the first record there that could not be used
    for name in METADATA_FILES:
        path = Path(data) / name
        if not path.is_file():
            continue
        try:
            doc = json.loads(path.read_text())
        except OSError as e:
            problem = problem or (path, f"cannot be read ({e.strerror})")
            continue
        except (UnicodeDecodeError, json.JSONDecodeError):
            problem = problem or (path, RECORD_NOT_JSON)
            continue
        entries = next((doc[k] for k in ("utterances", "files") if k in doc), []) if isinstance(doc, dict) else None
        if not isinstance(entries, list):  # JSON, but not a record of files
            problem = problem or (path, RECORD_NO_LIST)
            continue
        files = file_entries(entries, path)
        noise = {e["name"]: str(e["noise"]) for e in files if "noise" in e}
        snr = {e["name"]: float(e["snr_db"]) for e in files if "snr_db" in e}
        if noise or snr:
            return Metadata(noise, snr, str(path), speaker=speakers_of(files), room=rooms_of(files),
                            babble_talkers=babble_talkers_of(doc))
        problem = problem or (path, RECORD_LISTS_NOTHING)  # {} or {"files": []}: not the same as no record
    if problem is None:
        return Metadata({}, {}, None)
    return Metadata({}, {}, None, str(problem[0]), problem[1])


def unread_record_notes(meta: Metadata) -> list[str]:
    """A note, when the folder's record is there but could not be read: what is run without it (no groups by noise
    kind, SNR and room; SNR bands from the measured input; validation voices from file names) must not look as if
    the record had been used."""
    if not meta.unreadable:
        return []
    return [f"{meta.unreadable}: {meta.problem}, so its noise kinds, SNRs, speakers and rooms are not used"]


NUMBER_FIELDS = ("snr_db", "rt60_s")  # a record's per-file numbers (wux.data.synth writes them)


def file_entries(entries: list, path: Path) -> list[dict]:
    """The record's entries that name a file (anything else in the list is skipped), each checked: a name that is
    not text or a number that is not a number is refused, since read as they are, its SNR bands and rooms would be
    wrong or the read would fail half-way."""
    files = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or "name" not in e:
            continue
        if not isinstance(e["name"], str):
            raise DataError(f"entry {i}: name {e['name']!r} is not text", path)
        for key in NUMBER_FIELDS:
            if key in e and (isinstance(e[key], bool) or not isinstance(e[key], (int, float))):
                raise DataError(f"entry {i} ({e['name']}): {key} {e[key]!r} is not a number", path)
        files.append(e)
    return files


def babble_talkers_of(doc: dict) -> tuple[int, int] | None:
    """The (fewest, most) talkers of the corpus's babble, as `wux data synth` records them in its recipe; None for a
    record without one, or with a range that is not one."""
    try:
        low, high = (int(t) for t in doc["recipe"]["babble_talkers"])
    except (ValueError, KeyError, TypeError):
        return None
    return (low, high) if 1 <= low <= high else None


DRY, REVERBERANT = "dry", "reverberant"  # the rooms a corpus record tells apart


def rooms_of(files: list[dict]) -> dict[str, str]:
    """File stem -> DRY or REVERBERANT, for the entries (file_entries') that give the speech's room (wux's rich
    corpus: rt60_s, 0 when dry)."""
    return {e["name"]: REVERBERANT if float(e["rt60_s"]) > 0 else DRY for e in files if "rt60_s" in e}


def speakers_of(files: list[dict]) -> dict[str, str]:
    """File stem -> speaker, for the entries (file_entries'): a record's own "speaker", else the timbre of its
    "voice" (wux's corpora name files by voice index, and several espeak-ng voices share one timbre)."""
    out = {}
    for e in files:
        if "speaker" in e:
            out[e["name"]] = str(e["speaker"])
        elif "voice" in e:
            out[e["name"]] = timbre(str(e.get("engine", ESPEAK)), str(e["voice"]))
    return out


def check_noise_kinds(meta: Metadata, names: Iterable[str], kinds: Iterable[str], folder: Path | str,
                      files: str = "file") -> None:
    """Refuse asked-for noise kinds that none of the named `files` has (naming the kinds they do have), and
    any kind at all when the folder's record of kinds is missing or unreadable: a typo must not pass silently."""
    kinds = set(kinds)
    if not kinds:
        return
    if not meta.noise:
        if meta.unreadable:
            raise DataError(f"{meta.problem}, so the files' noise kinds are unknown", meta.unreadable)
        raise DataError("choosing files by noise kind needs the corpus's record of each file's noise kind "
                        f"({CORPUS_RECORD}, written by `wux data synth`); this folder has none", folder)
    present = {meta.noise[n] for n in names if n in meta.noise}
    if not present:
        raise DataError(f"records no noise kind for any {files} in {folder}", meta.source)
    unknown = sorted(kinds - present)
    if unknown:
        named = ", ".join(k if k and k == k.strip() else repr(k) for k in unknown)  # --noise "" or " babble" shown so
        raise DataError(f"no {files} has noise {named} (the kinds are: {', '.join(sorted(present))})", meta.source)
