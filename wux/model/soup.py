"""`wux soup`: the uniform average of several trained checkpoints of one architecture (a model soup).

Fine-tunes started from one checkpoint stay in one basin of the loss, and the average of their weights is often
better than each of them (Wortsman et al., "Model soups", 2022), at no cost when the model runs: it is one model
of the same size. A tensor every member holds alike (a mask, a counter) is kept as it is; a floating-point one
that differs is averaged in float64 and stored in its own dtype; an integer one (BatchNorm's batch counter) takes
the members' mean, rounded down. BatchNorm's running statistics are averaged too: the mean of the members', not
measured again on the soup.

With `validation` (a corpus), the soup and each member are scored on the training split's validation files, held out
as `wux train` holds them out, and the scores are recorded in the soup: whether the average beats its members is
measured, not assumed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wux.errors import CheckpointError, ConfigError, DataError
from wux.fsutil import check_new_file
from wux.model.checkpoint import Checkpoint, load_checkpoint, resolve_checkpoint_path, save_checkpoint

MIN_MEMBERS = 2


@dataclass(frozen=True)
class SoupMember:
    checkpoint: str
    sha256: str


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


@dataclass(frozen=True)
class SoupResult:
    checkpoint: str
    sha256: str
    family: str
    members: tuple[SoupMember, ...]
    tensors_averaged: int  # tensors the members hold differently
    tensors_shared: int  # tensors every member holds alike, kept as they are
    validation: SoupScores | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_soup(output: Path, members: list[Path], force: bool = False,
              validation: SoupValidation | None = None) -> SoupResult:
    """Average the checkpoints `members` (one architecture, one sample rate) into a new checkpoint at `output`,
    scored on `validation`'s files (and each member too) when it is given."""
    if len(members) < MIN_MEMBERS:
        raise ConfigError(f"a soup needs at least {MIN_MEMBERS} checkpoints, got {len(members)}")
    paths = [resolve_checkpoint_path(path) for path in members]  # a bundled model's name: its file
    check_new_file(output, force, paths)
    loaded = [load_checkpoint(path) for path in paths]
    check_same_architecture(loaded)
    check_different_weights(loaded)
    state, averaged = averaged_state(loaded)
    first = loaded[0]
    record = [SoupMember(str(c.path), c.sha256) for c in loaded]
    training: dict[str, Any] = {"soup": {"members": [asdict(m) for m in record], "weights": "uniform"}}
    soup = Checkpoint(state_dict=state, config=first.config, user=first.user, contract=first.contract,
                      sample_rate=first.sample_rate, training=training)
    scores = None if validation is None else validation_scores(soup, loaded, validation)
    if scores is not None:
        training["soup"]["validation"] = {**asdict(scores), "members_si_snr_db": list(scores.members_si_snr_db)}
    save_checkpoint(soup, output)
    return SoupResult(str(output), soup.sha256, soup.family, tuple(record), averaged, len(state) - averaged, scores)


def validation_scores(soup: Checkpoint, members: list[Checkpoint], validation: SoupValidation) -> SoupScores:
    """The soup's and each member's mean SI-SNR on the validation files `wux train` holds out of `validation.data`."""
    from wux.data.dataset import held_out_pairs
    from wux.data.layout import read_metadata
    from wux.train.loop import validation_si_snr

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


def check_different_weights(members: list[Checkpoint]) -> None:
    """No member holds exactly another's weights (a copy, or a run's best and last checkpoint when its last epoch
    was its best): the soup would weigh those weights twice."""
    import torch

    for i, ckpt in enumerate(members):
        for other in members[:i]:
            if all(torch.equal(t, other.state_dict[k]) for k, t in ckpt.state_dict.items()):
                raise CheckpointError(f"holds the same weights as {other.path}: a soup averages different weights",
                                      ckpt.path)


def check_same_architecture(members: list[Checkpoint]) -> None:
    """Every member is the first one's model (family, config or factory and arguments, contract, sample rate)
    with tensors of the same names, shapes and dtypes."""
    first = members[0]
    for ckpt in members[1:]:
        for what, mine, theirs in (("model", ckpt.model_record(), first.model_record()),
                                   ("sample rate", ckpt.sample_rate, first.sample_rate),
                                   ("audio contract", ckpt.contract, first.contract)):
            if mine != theirs:
                raise CheckpointError(f"its {what} is not {first.path}'s ({first_difference(mine, theirs)}); "
                                      "a soup averages checkpoints of one architecture", ckpt.path)
        check_same_tensors(ckpt, first)


def first_difference(mine: Any, theirs: Any, where: str = "") -> str:
    """Where two records first differ, and how: `config.causal True against False`."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        for key in [*mine, *(k for k in theirs if k not in mine)]:
            if mine.get(key) != theirs.get(key):
                return first_difference(mine.get(key), theirs.get(key), f"{where}{key}.")
    label = f"{where.rstrip('.')} " if where else ""
    return f"{label}{mine!r:.60} against {theirs!r:.60}"


def check_same_tensors(ckpt: Checkpoint, first: Checkpoint) -> None:
    if set(ckpt.state_dict) != set(first.state_dict):
        odd = sorted(set(ckpt.state_dict) ^ set(first.state_dict))
        raise CheckpointError(f"its tensors are not {first.path}'s (e.g. {odd[0]})", ckpt.path)
    for key, tensor in ckpt.state_dict.items():
        other = first.state_dict[key]
        if tensor.shape != other.shape or tensor.dtype != other.dtype:
            raise CheckpointError(f"{key} is {tuple(tensor.shape)} {tensor.dtype}, in {first.path} "
                                  f"{tuple(other.shape)} {other.dtype}", ckpt.path)


def averaged_state(members: list[Checkpoint]) -> tuple[dict[str, Any], int]:
    """The members' average state_dict, and how many of its tensors differed between them."""
    import torch

    state, averaged = {}, 0
    for key, tensor in members[0].state_dict.items():
        values = [c.state_dict[key] for c in members]
        differing = next((c for c, v in zip(members[1:], values[1:]) if not torch.equal(tensor, v)), None)
        if differing is None:
            state[key] = tensor.clone()
            continue
        averaged += 1
        state[key] = mean_tensor(key, values, members, differing)
    return state, averaged


def mean_tensor(key: str, values: list, members: list[Checkpoint], differing: Checkpoint):
    """The mean of one tensor's differing values (`differing`: a member whose value is not the first's)."""
    import torch

    first = values[0]
    if first.is_floating_point() or first.is_complex():
        for value, ckpt in zip(values, members):
            if not torch.isfinite(value).all():
                raise CheckpointError(f"{key} holds NaN or Inf: it cannot be averaged", ckpt.path)
        wide = torch.complex128 if first.is_complex() else torch.float64
        return (sum(v.to(wide) for v in values) / len(values)).to(first.dtype)
    if first.dtype == torch.bool:
        raise CheckpointError(f"{key} is a mask that differs from {members[0].path}'s: it cannot be averaged",
                              differing.path)
    return torch.div(sum(v.to(torch.int64) for v in values), len(values), rounding_mode="floor").to(first.dtype)


def held_out_split(members: list[Checkpoint], validation: SoupValidation) -> tuple[float, str]:
    """The --val-share and --val-by the members were trained with (their training records'; wux train's defaults
    for members without one), which must agree with each other and with those asked for: scored on another split, a
    member's own training files would count as validation."""
    from wux.train.loop import TrainConfig

    asked = {"--val-share": validation.share, "--val-by": validation.by}
    split, source = {}, {}
    for ckpt in members:
        run = ckpt.training.get("train") or {}
        for option, key in (("--val-share", "val_share"), ("--val-by", "val_by")):
            if key not in run:
                continue
            if option in split and split[option] != run[key]:
                raise ConfigError(f"{ckpt.path} was trained with {option} {run[key]}, {source[option]} with "
                                  f"{split[option]}: the members held out different validation files")
            split[option], source[option] = run[key], ckpt.path
            if asked[option] is not None and asked[option] != run[key]:
                raise ConfigError(f"{ckpt.path} was trained with {option} {run[key]}, not {asked[option]}: scored "
                                  "so, its own training files would count as validation")
    share = split.get("--val-share", TrainConfig.val_share if validation.share is None else validation.share)
    return share, split.get("--val-by", validation.by or TrainConfig.val_by)
