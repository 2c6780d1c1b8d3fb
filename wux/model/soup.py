"""`wux soup`: the uniform average of several trained checkpoints of one architecture (a model soup).

Fine-tunes started from one checkpoint stay in one basin of the loss, and the average of their weights is often
better than each of them (Wortsman et al., "Model soups", 2022), at no cost when the model runs: it is one model
of the same size. A tensor every member holds alike (a mask, a counter) is kept as it is; a floating-point one
that differs is averaged in float64 and stored in its own dtype; an integer one (BatchNorm's batch counter) takes
the members' mean, rounded down. BatchNorm's running statistics are averaged too: the mean of the members', not
measured again on the soup.

With `score` (wux.train.soup_validation: the validation files `wux train` holds out), the soup and each member are
scored before the soup is written, and the scores are recorded in it: whether the average beats its members is
measured, not assumed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wux.errors import CheckpointError, ConfigError
from wux.fsutil import check_new_file
from wux.model.checkpoint import Checkpoint, load_checkpoint, resolve_checkpoint_path, save_checkpoint

MIN_MEMBERS = 2


@dataclass(frozen=True)
class SoupMember:
    checkpoint: str
    sha256: str


@dataclass(frozen=True)
class SoupResult:
    checkpoint: str
    sha256: str
    family: str
    members: tuple[SoupMember, ...]
    tensors_averaged: int  # tensors the members hold differently
    tensors_shared: int  # tensors every member holds alike, kept as they are
    validation: dict[str, Any] | None = None  # the scores `score` recorded

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_soup(output: Path, members: list[Path], force: bool = False,
              score: Callable[[Checkpoint, list[Checkpoint]], dict[str, Any]] | None = None) -> SoupResult:
    """Average the checkpoints `members` (one architecture, one sample rate) into a new checkpoint at `output`;
    `score(soup, members)`, when given, returns the scores recorded in the soup (before it is written)."""
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
    scores = None if score is None else score(soup, loaded)
    if scores is not None:
        training["soup"]["validation"] = scores
    save_checkpoint(soup, output)
    return SoupResult(str(output), soup.sha256, soup.family, tuple(record), averaged, len(state) - averaged, scores)


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
