"""Fresh babble for training (dynamic mixing): a babble segment's noise made anew, each time it is drawn, from
other training speakers' clean speech, the way the corpus made its own babble (wux.data.noise.babble).

A corpus's babble files are a fixed few minutes of noise (the rich corpus's training split: 139 files, 10.5 minutes)
that a long run hears again and again; the speech of the training split, mixed anew, is never the same twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wux.data import noise as noises
from wux.data.layout import CORPUS_RECORD, Metadata
from wux.data.synth import RICH
from wux.errors import DataError

BABBLE = "babble"
DEFAULT_TALKERS = RICH.babble_talkers  # for a corpus whose record does not name its own


@dataclass(frozen=True)
class SpeechOf(Sequence):
    """The clean speech of the pairs at `indices`, as a sequence (what wux.data.noise.babble draws talkers from)."""

    cleans: Sequence[np.ndarray]
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k):
        return self.cleans[int(self.indices[k])]


@dataclass(frozen=True)
class BabblePool:
    """Which training pairs are babble, and whose speech may babble under each pair's speaker."""

    is_babble: np.ndarray  # bool per pair: its own noise is babble
    others: tuple[np.ndarray, ...]  # per pair: indices of the pairs spoken by someone else
    talkers: tuple[int, int]  # inclusive range of voices in one babble

    def noise_for(self, index: int, cleans: Sequence[np.ndarray], length: int,
                  rng: np.random.Generator) -> np.ndarray:
        """New babble of `length` samples for pair `index`'s speech: other speakers only."""
        return noises.babble(rng, length, SpeechOf(cleans, self.others[index]), self.talkers)


def corpus_talkers(meta: Metadata) -> tuple[int, int]:
    """The babble talker range the corpus's record (corpus.json's recipe) names; DEFAULT_TALKERS without one."""
    return meta.babble_talkers or DEFAULT_TALKERS


def babble_pool(names: Sequence[str], meta: Metadata, folder: Path | str,
                talkers: tuple[int, int] = DEFAULT_TALKERS) -> BabblePool:
    """The pool for training files `names`; refuses a corpus whose record does not say every file's noise kind
    and speaker, or that has no babble file or only one speaker (no one else to babble)."""
    if meta.unreadable:
        raise DataError("--fresh-babble needs every training file's noise kind and speaker, which this record "
                        f"does not give ({meta.problem})", meta.unreadable)
    where = meta.source or f"{folder}/{CORPUS_RECORD}"
    unknown = [n for n in names if n not in meta.noise or n not in meta.speaker]
    if unknown:
        raise DataError(f"{where}: --fresh-babble needs every training file's noise kind and speaker; "
                        f"{len(unknown)} file(s) have none (first: {unknown[0]})")
    is_babble = np.array([meta.noise[n] == BABBLE for n in names])
    if not is_babble.any():
        raise DataError(f"{where}: --fresh-babble: no training file has noise {BABBLE}")
    speakers = np.array([meta.speaker[n] for n in names])
    by_speaker = {s: np.flatnonzero(speakers != s) for s in set(speakers.tolist())}
    if any(len(v) == 0 for v in by_speaker.values()):
        raise DataError(f"{where}: --fresh-babble needs training files of at least two speakers")
    return BabblePool(is_babble, tuple(by_speaker[s] for s in speakers.tolist()), talkers)
