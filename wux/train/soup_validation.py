"""`wux soup --data`: a soup and each of its members scored on the validation files `wux train` holds out of a
corpus's training split, with the split the members were trained with (their training records say which), so that
no member's training file counts as validation. The scores go into the soup (wux.model.soup.make_soup's `score`).
`wux soup --greedy` uses the same files to choose its members (make_greedy_soup).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wux.data.dataset import held_out_pairs
from wux.data.layout import read_metadata
from wux.errors import CheckpointError, ConfigError, DataError
from wux.model.checkpoint import Checkpoint
from wux.model.soup import SoupResult, greedy_members, load_members, write_soup
from wux.train.loop import TrainConfig, recorded_validation, validation_si_snr


@dataclass(frozen=True)
class SoupValidation:
    """Where and how to score a soup: the training split of `data`, its held-out share as `wux train` holds it out;
    `share` and `by` (None: the members' own, as their training records say, else wux train's defaults)."""
    data: Path
    share: float | None = None
    by: str | None = None  # "file" or "speaker" (wux.data.dataset.held_out_names)


@dataclass(frozen=True)
class SoupScores:
    """Mean SI-SNR (dB) over the validation files of the soup and of each member, in the members' order."""
    data: str
    share: float
    by: str
    files: int
    soup_si_snr_db: float
    members_si_snr_db: tuple[float, ...]


def held_out_split(members: list[Checkpoint], validation: SoupValidation) -> tuple[float, str]:
    """The --val-share and --val-by the members were trained with (their training records'; wux train's defaults
    for members without one), which must agree with each other and with those asked for: scored on another split, a
    member's own training files would count as validation."""
    asked = {"--val-share": validation.share, "--val-by": validation.by}
    split, source = {}, {}
    for ckpt in members:
        for option, value in recorded_validation(ckpt.training.get("train") or {}).items():
            if option in split and split[option] != value:
                raise ConfigError(f"{ckpt.path} was trained with {option} {value}, {source[option]} with "
                                  f"{split[option]}: the members held out different validation files")
            split[option], source[option] = value, ckpt.path
            if asked[option] is not None and asked[option] != value:
                raise ConfigError(f"{ckpt.path} was trained with {option} {value}, not {asked[option]}: scored "
                                  "so, its own training files would count as validation")
    share = split.get("--val-share", TrainConfig.val_share if validation.share is None else validation.share)
    return share, split.get("--val-by", validation.by or TrainConfig.val_by)


@dataclass(frozen=True)
class HeldOutFiles:
    """The validation files a soup's members held out of `data`'s training split, read once to score each model."""
    data: Path
    share: float
    by: str
    pairs: list
    say: Callable[[str], None] | None = None  # told each model's score as it is measured (long work shows progress)

    def mean_si_snr_db(self, ckpt: Checkpoint) -> float:
        scores = validation_si_snr(ckpt.build_model(), self.pairs, "cpu")
        mean = sum(scores) / len(scores)
        what = ckpt.path or "the soup of " + " + ".join(Path(m["checkpoint"]).name
                                                        for m in ckpt.training["soup"]["members"])
        if not math.isfinite(mean):  # diverged weights: a NaN would rank anywhere and compare false with anything
            raise CheckpointError(f"its validation SI-SNR on {self.data} is {mean}: its outputs are not finite", what)
        if self.say is not None:
            self.say(f"validation SI-SNR {mean:.2f} dB: {what} ({len(self.pairs)} held-out files)")
        return mean

    def scores(self, soup_db: float, members_db: list[float]) -> dict[str, Any]:
        """The plain record a soup keeps (wux.model.soup's `validation`)."""
        return {**asdict(SoupScores(str(self.data), self.share, self.by, len(self.pairs), soup_db,
                                    tuple(members_db))), "members_si_snr_db": list(members_db)}


def held_out_files(members: list[Checkpoint], validation: SoupValidation,
                   say: Callable[[str], None] | None = None) -> HeldOutFiles:
    """The files `wux train` holds out of `validation.data` with the members' split (held_out_split)."""
    share, by = held_out_split(members, validation)
    speakers = read_metadata(validation.data).speaker
    try:
        pairs = held_out_pairs(validation.data, share, by, speakers, members[0].sample_rate)
    except DataError as e:  # --val-by speaker holding no speaker out says so without the folder
        raise e if e.path is not None else DataError(str(e), validation.data) from None
    if not pairs:
        raise DataError(f"--val-share {share} holds out no validation files of its training split", validation.data)
    return HeldOutFiles(validation.data, share, by, pairs, say)


def soup_scorer(validation: SoupValidation, say: Callable[[str], None] | None = None):
    """make_soup's `score`: the soup's and each member's scores on `validation`'s files, as a plain record."""
    def score(soup: Checkpoint, members: list[Checkpoint]) -> dict[str, Any]:
        held = held_out_files(members, validation, say)
        members_db = [held.mean_si_snr_db(c) for c in members]  # first: a member that fails is named as such
        return held.scores(held.mean_si_snr_db(soup), members_db)
    return score


def make_greedy_soup(output: Path, members: list[Path], validation: SoupValidation, force: bool = False,
                     say: Callable[[str], None] | None = None) -> SoupResult:
    """`wux soup --greedy`: the members added best first on the validation files, each kept only if the soup with it
    scores no lower (greedy_members); the soup of those kept written with their scores and every step."""
    loaded = load_members(output, members, force)
    held = held_out_files(loaded, validation, say)
    greedy = greedy_members(loaded, held.mean_si_snr_db)
    return write_soup(output, greedy.soup, list(greedy.kept), greedy.tensors_averaged,
                      held.scores(greedy.soup_score, list(greedy.kept_scores)), greedy.steps)
