"""The runner interface every runtime shares (Polygraphy-style lifecycle): activate, infer, deactivate.

A runner takes [batch, samples] float32 and returns what the runtime returned, as [batch, samples]
float32. It checks its input against what the artifact declares (rank, dtype, finite samples, the
batch and length limits of its profile) before running, and leaves judging the output to
wux.verify.compare: a wrong length or a NaN is a verdict, not an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wux.errors import WuxError


@dataclass(frozen=True)
class TensorIO:
    """Names of the one input and one output tensor, as the artifact calls them."""

    input_name: str
    output_name: str


@dataclass(frozen=True)
class ShapeLimits:
    """Batch and length range an artifact accepts (its export profile); None: unbounded."""

    batch_min: int = 1
    batch_max: int | None = None
    samples_min: int = 1
    samples_max: int | None = None

    @classmethod
    def from_profiles(cls, profiles: dict[str, dict[str, int]]) -> ShapeLimits:
        b, n = profiles["batch"], profiles["samples"]
        return cls(b["min"], b["max"], n["min"], n["max"])

    @property
    def fixed_length(self) -> bool:
        return self.samples_max == self.samples_min

    def problem(self, batch: int, samples: int) -> str | None:
        if batch < self.batch_min or (self.batch_max is not None and batch > self.batch_max):
            return f"batch {batch} is outside {self.batch_min}..{self.batch_max}"
        if samples < self.samples_min or (self.samples_max is not None and samples > self.samples_max):
            rule = f"exactly {self.samples_min}" if self.fixed_length else f"{self.samples_min}..{self.samples_max}"
            return f"{samples} samples, but it takes {rule}"
        return None


class Runner:
    """Subclasses implement load() (activate), run(wave) and release() (deactivate)."""

    name = "runner"

    def __init__(self, limits: ShapeLimits | None = None):
        self.limits = limits or ShapeLimits()
        self.active = False

    def load(self) -> None:
        """Build the session / engine / module."""

    def run(self, wave: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def release(self) -> None:
        """Free what load() built."""

    def activate(self) -> Runner:
        if not self.active:
            self.load()
            self.active = True
        return self

    def deactivate(self) -> None:
        if self.active:
            self.release()
            self.active = False

    def infer(self, wave: np.ndarray) -> np.ndarray:
        """[batch, samples] float32 in, [batch, samples'] float32 out (activating on first use)."""
        wave = self.check_input(wave)
        self.activate()
        return np.asarray(self.run(wave), dtype=np.float32)

    __call__ = infer

    def check_input(self, wave: np.ndarray) -> np.ndarray:
        wave = np.ascontiguousarray(wave, dtype=np.float32)
        if wave.ndim != 2:
            raise WuxError(f"{self.name}: expected [batch, samples], got shape {wave.shape}")
        problem = self.limits.problem(*wave.shape)
        if problem:
            raise WuxError(f"{self.name}: input of {problem}")
        if not np.all(np.isfinite(wave)):
            raise WuxError(f"{self.name}: input has NaN or Inf samples")
        return wave

    def __enter__(self) -> Runner:
        return self.activate()

    def __exit__(self, *exc) -> None:
        self.deactivate()
