"""`wux soup`: the uniform average of several trained checkpoints of one architecture (a model soup).

Fine-tunes started from one checkpoint stay in one basin of the loss, and the average of their weights is often
better than each of them (Wortsman et al., "Model soups", 2022), at no cost when the model runs: it is one model
of the same size. A tensor every member holds alike (a mask, a counter) is kept as it is; a floating-point one
that differs is averaged in float64 and stored in its own dtype; an integer one (BatchNorm's batch counter) takes
the members' mean, rounded down. BatchNorm's running statistics are averaged too: the mean of the members', not
measured again on the soup.

With `score` (wux.train.soup_validation: the validation files `wux train` holds out), the soup and each member are
scored before the soup is written, and the scores are recorded in it: whether the average beats its members is
measured, not assumed. A greedy soup (greedy_members, with such a score) adds the members best first and keeps each
only if the soup with it scores no lower: a member that pulls the average down is left out.
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
class GreedyStep:
    """One member tried by a greedy soup (wux.model.soup.greedy_members), best alone first."""
    checkpoint: str
    alone_si_snr_db: float  # the member's own validation score
    soup_si_snr_db: float  # the soup's with it added to those kept before (the first member: its own score)
    kept: bool  # whether it stayed: the soup with it scored no lower than without


@dataclass(frozen=True)
class SoupResult:
    checkpoint: str
    sha256: str
    family: str
    members: tuple[SoupMember, ...]  # those averaged (a greedy soup: those it kept)
    tensors_averaged: int  # tensors the members hold differently
    tensors_shared: int  # tensors every member holds alike, kept as they are
    validation: dict[str, Any] | None = None  # the scores `score` recorded
    weights: str = "uniform"  # or "greedy": members added best first, each kept only if the soup scored no lower
    greedy: tuple[GreedyStep, ...] = ()  # a greedy soup: every member tried, in the order tried

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GreedySoup:
    """What greedy_members found: the members kept, their soup (not written) and its score, and every step tried."""
    kept: tuple[Checkpoint, ...]
    soup: Checkpoint  # the best member alone when no other one helped
    tensors_averaged: int  # tensors the kept members hold differently
    steps: tuple[GreedyStep, ...]

    @property
    def soup_score(self) -> float:
        """The soup's: its score when the last member kept was added (the first step: the best member alone)."""
        return [s.soup_si_snr_db for s in self.steps if s.kept][-1]

    @property
    def kept_scores(self) -> tuple[float, ...]:
        """Each kept member's own score, in the order kept."""
        return tuple(s.alone_si_snr_db for s in self.steps if s.kept)


def make_soup(output: Path, members: list[Path], force: bool = False,
              score: Callable[[Checkpoint, list[Checkpoint]], dict[str, Any]] | None = None) -> SoupResult:
    """Average the checkpoints `members` (one architecture, one sample rate) into a new checkpoint at `output`;
    `score(soup, members)`, when given, returns the scores recorded in the soup (before it is written)."""
    loaded = load_members(output, members, force)
    soup, averaged = soup_of(loaded)
    scores = None if score is None else score(soup, loaded)
    return write_soup(output, soup, loaded, averaged, scores)


def load_members(output: Path, members: list[Path], force: bool) -> list[Checkpoint]:
    """The members loaded (a bundled model's name: its file), after checking `output` may be written, that they
    are one architecture and that no two hold the same weights."""
    if len(members) < MIN_MEMBERS:
        raise ConfigError(f"a soup needs at least {MIN_MEMBERS} checkpoints, got {len(members)}")
    paths = [resolve_checkpoint_path(path) for path in members]
    check_new_file(output, force, paths)
    loaded = [load_checkpoint(path) for path in paths]
    check_same_architecture(loaded)
    check_different_weights(loaded)
    return loaded


def soup_of(members: list[Checkpoint], weights: str = "uniform") -> tuple[Checkpoint, int]:
    """The members' average as a checkpoint (not written; one member: its weights), and how many tensors differed.
    Its members are named by path; write_soup adds their sha256, each taken as its file was read (not at every greedy
    trial, nor after minutes of scoring)."""
    state, averaged = averaged_state(members)
    first = members[0]
    training: dict[str, Any] = {"soup": {"members": [{"checkpoint": str(c.path)} for c in members],
                                         "weights": weights}}
    return Checkpoint(state_dict=state, config=first.config, user=first.user, contract=first.contract,
                      sample_rate=first.sample_rate, training=training), averaged


def write_soup(output: Path, soup: Checkpoint, members: list[Checkpoint], averaged: int,
               scores: dict[str, Any] | None, greedy: tuple[GreedyStep, ...] = ()) -> SoupResult:
    """Record the members, the scores (and a greedy soup's steps) in the soup, write it, and say what it is."""
    record = soup.training["soup"]
    record["members"] = [asdict(SoupMember(str(c.path), c.sha256)) for c in members]
    if scores is not None:
        record["validation"] = scores
    if greedy:
        record["greedy"] = [asdict(step) for step in greedy]
    save_checkpoint(soup, output)
    return SoupResult(str(output), soup.sha256, soup.family, tuple(SoupMember(**m) for m in record["members"]),
                      averaged, len(soup.state_dict) - averaged, scores, record["weights"], greedy)


def greedy_members(members: list[Checkpoint], score: Callable[[Checkpoint], float]) -> GreedySoup:
    """A greedy soup (Wortsman et al. 2022): the members by their own `score`, best first (ties in the order
    given); each next one stays only if the soup with it scores no lower than the soup without."""
    alone = [score(c) for c in members]
    order = sorted(range(len(members)), key=lambda i: -alone[i])
    first = order[0]
    kept, best = [first], alone[first]
    soup, averaged = soup_of([members[first]], "greedy")
    steps = [GreedyStep(str(members[first].path), alone[first], alone[first], True)]
    for i in order[1:]:
        trial, trial_averaged = soup_of([members[k] for k in (*kept, i)], "greedy")
        with_it = score(trial)
        keep = with_it >= best
        if keep:
            kept, best, soup, averaged = [*kept, i], with_it, trial, trial_averaged
        steps.append(GreedyStep(str(members[i].path), alone[i], with_it, keep))
    return GreedySoup(tuple(members[k] for k in kept), soup, averaged, tuple(steps))


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
