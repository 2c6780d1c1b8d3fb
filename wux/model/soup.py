"""`wux soup`: the uniform average of several trained checkpoints of one architecture (a model soup).

Fine-tunes started from one checkpoint stay in one basin of the loss, and the average of their weights is often
better than each of them (Wortsman et al., "Model soups", 2022), at no cost when the model runs: it is one model
of the same size. A tensor every member holds alike (a mask, a counter) is kept as it is; a floating-point one
that differs is averaged in float64 and stored in its own dtype; an integer one (BatchNorm's batch counter) takes
the members' mean, rounded down. BatchNorm's running statistics are averaged too: the mean of the members', not
measured again on the soup.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wux.errors import CheckpointError, ConfigError
from wux.fsutil import check_new_file
from wux.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_soup(output: Path, members: list[Path], force: bool = False) -> SoupResult:
    """Average the checkpoints `members` (one architecture, one sample rate) into a new checkpoint at `output`."""
    if len(members) < MIN_MEMBERS:
        raise ConfigError(f"a soup needs at least {MIN_MEMBERS} checkpoints, got {len(members)}")
    check_new_file(output, force, members)
    loaded = [load_checkpoint(path) for path in members]
    check_no_copies(loaded)
    check_same_architecture(loaded)
    state, averaged = averaged_state(loaded)
    first = loaded[0]
    record = [SoupMember(str(c.path), c.sha256) for c in loaded]
    soup = Checkpoint(state_dict=state, config=first.config, user=first.user, contract=first.contract,
                      sample_rate=first.sample_rate, training={"soup": {"members": [asdict(m) for m in record],
                                                                        "weights": "uniform"}})
    save_checkpoint(soup, output)
    return SoupResult(str(output), soup.sha256, soup.family, tuple(record), averaged, len(state) - averaged)


def check_no_copies(members: list[Checkpoint]) -> None:
    seen: dict[str, Checkpoint] = {}
    for ckpt in members:
        twin = seen.setdefault(ckpt.sha256, ckpt)
        if twin is not ckpt:
            raise CheckpointError(f"the same file as {twin.path}: a soup averages different checkpoints", ckpt.path)


def check_same_architecture(members: list[Checkpoint]) -> None:
    """Every member is the first one's model (family, config or factory and arguments, contract, sample rate)
    with tensors of the same names, shapes and dtypes."""
    first = members[0]
    for ckpt in members[1:]:
        for what, mine, theirs in (("model", ckpt.model_record(), first.model_record()),
                                   ("sample rate", ckpt.sample_rate, first.sample_rate),
                                   ("audio contract", ckpt.contract, first.contract)):
            if mine != theirs:
                raise CheckpointError(f"its {what} is not {first.path}'s ({mine!r:.80} against {theirs!r:.80}); "
                                      "a soup averages checkpoints of one architecture", ckpt.path)
        check_same_tensors(ckpt, first)


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
        if all(torch.equal(tensor, v) for v in values[1:]):
            state[key] = tensor.clone()
            continue
        averaged += 1
        differing = next(c for c, v in zip(members[1:], values[1:]) if not torch.equal(tensor, v))
        state[key] = mean_tensor(key, values, members, differing)
    return state, averaged


def mean_tensor(key: str, values: list, members: list[Checkpoint], differing: Checkpoint):
    """The mean of one tensor's differing values (`differing`: a member whose value is not the first's)."""
    import torch

    first = values[0]
    if first.is_floating_point() or first.is_complex():
        for value, ckpt in zip(values, members):
            if not torch.isfinite(value).all():
                raise CheckpointError(f"{key} holds NaN or Inf where the members differ: it cannot be averaged",
                                      ckpt.path)
        wide = torch.complex128 if first.is_complex() else torch.float64
        return (sum(v.to(wide) for v in values) / len(values)).to(first.dtype)
    if first.dtype == torch.bool:
        raise CheckpointError(f"{key} is a mask that differs from {members[0].path}'s: it cannot be averaged",
                              differing.path)
    return torch.div(sum(v.to(torch.int64) for v in values), len(values), rounding_mode="floor").to(first.dtype)
