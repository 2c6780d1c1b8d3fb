"""Paired clean/noisy folders in the VoiceBank+DEMAND layout, as training segments."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wux.contract import DEFAULT_SAMPLE_RATE
from wux.data.audio import Stored, read_audio_as_stored
from wux.data.augment import AugmentConfig, augment_pair, remix
from wux.data.fresh_babble import BabblePool
from wux.data.layout import Metadata, check_noise_kinds, split_dirs
from wux.data.resample import fit_length
from wux.errors import DataError


@dataclass
class Pair:
    name: str
    clean: np.ndarray
    noisy: np.ndarray
    stored: frozenset[Stored] = frozenset()  # how its two files store their audio; empty: unknown


def list_pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
    """(clean, noisy) file pairs of one split, matched by file name."""
    clean_dir, noisy_dir = split_dirs(root, split)
    if Path(root).is_file():
        raise DataError("is a file; give a data folder (clean_*set_wav/ and noisy_*set_wav/ inside)", root)
    if not Path(root).is_dir():
        raise DataError("data folder not found", root)
    for d in (clean_dir, noisy_dir):
        if not d.is_dir():
            raise DataError(
                f"missing folder {d.name}/ (expected the VoiceBank+DEMAND layout: "
                f"clean_{split}set_wav/ and noisy_{split}set_wav/)", root,
            )
    clean = {p.name: p for p in clean_dir.iterdir() if p.suffix.lower() in (".wav", ".flac")}
    noisy = {p.name: p for p in noisy_dir.iterdir() if p.suffix.lower() in (".wav", ".flac")}
    common = sorted(set(clean) & set(noisy))
    if not common:
        raise DataError(f"no matching clean/noisy files in the {split} split", root)
    return [(clean[n], noisy[n]) for n in common]


def load_pairs(root: Path, split: str, sample_rate: int = DEFAULT_SAMPLE_RATE,
               names: set[str] | None = None, limit: int | None = None) -> list[Pair]:
    """Read a split (its `names` files, its first `limit`) into memory, resampling (VoiceBank+DEMAND is 48 kHz)
    and checking lengths."""
    listed = [(clean, noisy) for clean, noisy in list_pairs(root, split) if names is None or clean.name in names]
    return read_pairs(listed[:limit], sample_rate)


def read_pairs(listed: list[tuple[Path, Path]], sample_rate: int = DEFAULT_SAMPLE_RATE) -> list[Pair]:
    """The (clean, noisy) files `listed` (list_pairs) read into memory, resampled and their lengths checked."""
    pairs = []
    for clean_path, noisy_path in listed:
        clean, clean_stored = read_audio_as_stored(clean_path, sample_rate, downmix=True, resample=True)
        noisy, noisy_stored = read_audio_as_stored(noisy_path, sample_rate, downmix=True, resample=True)
        n = min(len(clean), len(noisy))
        if abs(len(clean) - len(noisy)) > sample_rate // 100:
            raise DataError(f"clean and noisy lengths differ ({len(clean)} vs {len(noisy)})", noisy_path)
        pairs.append(Pair(clean_path.stem, clean[:n], noisy[:n], frozenset((clean_stored, noisy_stored))))
    return pairs


def conversion_notes(pairs: list[Pair], sample_rate: int) -> list[str]:
    """What load_pairs did to the stored audio, so that nobody trains or scores resampled or downmixed files
    without being told: one line each for resampling and downmixing, with how many file pairs and from what."""
    notes = []
    resampled = [p for p in pairs if any(s.rate != sample_rate for s in p.stored)]
    if resampled:
        rates = sorted({s.rate for p in resampled for s in p.stored if s.rate != sample_rate})
        notes.append(f"{len(resampled)} of {len(pairs)} file pairs resampled to the model's {sample_rate} Hz (stored "
                     f"at {', '.join(f'{r} Hz' for r in rates)})")
    downmixed = [p for p in pairs if any(s.channels > 1 for s in p.stored)]
    if downmixed:
        counts = sorted({s.channels for p in downmixed for s in p.stored if s.channels > 1})
        notes.append(f"{len(downmixed)} of {len(pairs)} file pairs downmixed to mono (stored with "
                     f"{', '.join(map(str, counts))} channels)")
    return notes


VALIDATION_SPLITS = ("file", "speaker")


def speaker_of(name: str) -> str:
    """The speaker a file belongs to, by the VoiceBank naming: p232_001 is speaker p232."""
    return name.split("_")[0]


def held_out_names(names: list[str], share: float, by: str = "file",
                   speakers: Mapping[str, str] | None = None) -> set[str]:
    """The files (of `names`, in order) validation holds out: every k-th file, deterministic and spread over
    speakers; or, `by` "speaker", every k-th speaker's files, so that validation measures voices training never
    heard. A file's speaker is `speakers[name]` (a corpus record's, where voices are not in the names) or its
    name's prefix. Names only: a resumed run checks them before any audio is read."""
    if by not in VALIDATION_SPLITS:
        raise DataError(f"validation split by {by!r}: choose from {', '.join(VALIDATION_SPLITS)}")
    if share <= 0 or len(names) < 2:
        return set()
    step = max(2, int(round(1 / share)))
    if by == "file":
        return {name for i, name in enumerate(names) if i % step == step // 2}
    speaker = {name: (speakers or {}).get(name) or speaker_of(name) for name in names}
    voices = sorted(set(speaker.values()))
    chosen = {s for i, s in enumerate(voices) if i % step == step // 2}
    if not chosen:
        raise DataError(f"--val-by speaker: {len(voices)} speaker(s) and --val-share {share} hold out none "
                        f"(every {step}th speaker is held out); raise --val-share or use --val-by file")
    return {name for name, s in speaker.items() if s in chosen}


def split_validation(pairs: list[Pair], share: float, by: str = "file",
                     speakers: Mapping[str, str] | None = None) -> tuple[list[Pair], list[Pair]]:
    """(training, validation) pairs, validation holding out what held_out_names says."""
    return split_held(pairs, held_out_names([p.name for p in pairs], share, by, speakers))


def held_out_pairs(root: Path, share: float, by: str = "file", speakers: Mapping[str, str] | None = None,
                   sample_rate: int = DEFAULT_SAMPLE_RATE) -> list[Pair]:
    """The training split's validation files, as `wux train` holds them out (held_out_names), read into memory:
    only those files are read."""
    listed = list_pairs(root, "train")
    held = held_out_names([clean.stem for clean, _ in listed], share, by, speakers)
    return read_pairs([pair for pair in listed if pair[0].stem in held], sample_rate)


def split_held(pairs: list[Pair], held: set[str]) -> tuple[list[Pair], list[Pair]]:
    """(the pairs not named in `held`, those named)."""
    return [p for p in pairs if p.name not in held], [p for p in pairs if p.name in held]


def check_kind_weights(weights: Mapping[str, float]) -> None:
    bad = {k: w for k, w in weights.items() if not 0 < w < math.inf}
    if bad:
        raise DataError(f"noise-kind weights must be positive and finite, got {bad}")


def noise_kind_weights(pairs: list[Pair], meta: Metadata, weights: Mapping[str, float],
                       folder: Path | str) -> np.ndarray:
    """Each pair's draw multiplier: its noise kind's weight, 1 for kinds not named (and files the record
    does not name)."""
    check_kind_weights(weights)
    check_noise_kinds(meta, (p.name for p in pairs), weights, folder, files="training file")
    return np.array([weights.get(meta.noise.get(p.name, ""), 1.0) for p in pairs], dtype=np.float64)


class SegmentDataset:
    """Random fixed-length crops of the pairs, augmented; `len` segments make one epoch.

    A torch-style map dataset (indexable, sized). Crops are drawn from one numpy
    Generator per item, seeded from (seed, epoch, index), so a run is reproducible.
    A file is drawn in proportion to its length times its `draw_weights` entry (1 when None);
    remixing draws its other noise the same way. With a `babble` pool and augment.fresh_babble, a segment whose
    noise (its own, or the remixed one) is babble gets new babble of other speakers with that chance.
    """

    def __init__(self, pairs: list[Pair], segment: int, augment: AugmentConfig,
                 seed: int = 0, segments_per_epoch: int | None = None, sample_rate: int = DEFAULT_SAMPLE_RATE,
                 draw_weights: np.ndarray | None = None, babble: BabblePool | None = None):
        if not pairs:
            raise DataError("no training pairs")
        if augment.fresh_babble and babble is None:
            raise DataError("fresh babble needs the pool of babble files and speakers (wux.data.fresh_babble)")
        self.pairs = pairs
        self.babble = babble if augment.fresh_babble else None
        self.cleans = [p.clean for p in pairs]
        self.segment = segment
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.sample_rate = sample_rate
        lengths = np.array([len(p.clean) for p in pairs], dtype=np.float64)
        shares = lengths if draw_weights is None else lengths * draw_weights
        self.weights = shares / shares.sum()  # long files are drawn more often
        self.length = segments_per_epoch or max(1, int(np.ceil(lengths.sum() / segment)))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        speaking = noise_of = self.draw_index(rng)
        clean, noisy = self.crop(self.pairs[speaking], rng)
        if self.augment.remix and len(self.pairs) > 1 and rng.random() < self.augment.probability:
            noise_of = self.draw_index(rng)
            other_clean, other_noisy = self.crop(self.pairs[noise_of], rng)
            noisy = remix(clean, other_noisy - other_clean, rng)
        if self.babble is not None and self.babble.is_babble[noise_of] and rng.random() < self.augment.fresh_babble:
            noisy = remix(clean, self.babble.noise_for(speaking, self.cleans, len(clean), rng), rng)
        return augment_pair(clean, noisy, self.augment, rng, self.sample_rate)

    def draw_index(self, rng: np.random.Generator) -> int:
        return int(rng.choice(len(self.pairs), p=self.weights))

    def draw_pair(self, rng: np.random.Generator) -> Pair:
        return self.pairs[self.draw_index(rng)]

    def crop(self, pair: Pair, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n = len(pair.clean)
        start = int(rng.integers(0, max(1, n - self.segment + 1)))
        return (fit_length(pair.clean[start: start + self.segment], self.segment),
                fit_length(pair.noisy[start: start + self.segment], self.segment))
