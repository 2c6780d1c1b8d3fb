"""`wux soup --data`: a soup and each of its members scored on the validation files `wux train` holds out of a
corpus's training split, with the split the members were trained with (their training records say which), so that
no member's training file counts as validation. The scores go into the soup (wux.model.soup.make_soup's `score`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wux.data.dataset import held_out_pairs
from wux.data.layout import read_metadata
from wux.errors import ConfigError, DataError
from wux.model.checkpoint import Checkpoint
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


def soup_scorer(validation: SoupValidation):
    """make_soup's `score`: the soup's and each member's scores on `validation`'s files, as a plain record."""
    def score(soup: Checkpoint, members: list[Checkpoint]) -> dict[str, Any]:
        scores = validation_scores(soup, members, validation)
        return {**asdict(scores), "members_si_snr_db": list(scores.members_si_snr_db)}
    return score


def validation_scores(soup: Checkpoint, members: list[Checkpoint], validation: SoupValidation) -> SoupScores:
    """The soup's and each member's mean SI-SNR on the validation files `wux train` holds out of `validation.data`."""
    share, by = held_out_split(members, validation)
    speakers = read_metadata(validation.data).speaker
    try:
        pairs = held_out_pairs(validation.data, share, by, speakers, soup.sample_rate)
    except DataError as e:  # --val-by speaker holding no speaker out says so without the folder
        raise e if e.path is not None else DataError(str(e), validation.data) from None
    if not pairs:
        raise DataError(f"--val-share {share} holds out no validation files of its training split", validation.data)

    def mean_score(ckpt: Checkpoint) -> float:
        scores = validation_si_snr(ckpt.build_model(), pairs, "cpu")
        return sum(scores) / len(scores)

    return SoupScores(str(validation.data), share, by, len(pairs), mean_score(soup),
                      tuple(mean_score(c) for c in members))
