"""What an export must support: precisions, opset, batch and length profiles, serving chunk."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from wux.constants import DEFAULT_CHUNK
from wux.errors import WuxError

PRECISIONS = ("fp32", "fp16")
DEFAULT_OPSET = 18
DEFAULT_MAX_BATCH = 8


@dataclass(frozen=True)
class Profile:
    """min / opt / max of one dynamic dimension (TensorRT optimization-profile style)."""

    min: int
    opt: int
    max: int

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise WuxError(f"profile must satisfy 1 <= min <= opt <= max, got {self.min}/{self.opt}/{self.max}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ExportSpec:
    chunk: int = DEFAULT_CHUNK  # the fixed window length the serving side sends
    batch: Profile = Profile(1, DEFAULT_MAX_BATCH, DEFAULT_MAX_BATCH)
    length: Profile = Profile(DEFAULT_CHUNK // 4, DEFAULT_CHUNK, DEFAULT_CHUNK * 4)
    opset: int = DEFAULT_OPSET
    device: str = "cpu"

    def to_dict(self) -> dict:
        return {"chunk": self.chunk, "batch": self.batch.to_dict(), "length": self.length.to_dict(),
                "opset": self.opset, "device": self.device}

    def shapes(self) -> dict[str, tuple[int, int, int]]:
        """TensorRT-style min / opt / max input shapes [batch, 1, samples]."""
        return {k: (getattr(self.batch, k), 1, getattr(self.length, k)) for k in ("min", "opt", "max")}


def make_spec(chunk: int = DEFAULT_CHUNK, max_batch: int = DEFAULT_MAX_BATCH, min_len: int | None = None,
              opt_len: int | None = None, max_len: int | None = None, opset: int = DEFAULT_OPSET,
              device: str = "cpu", total_stride: int = 1) -> ExportSpec:
    """Fill unset lengths from the chunk (a quarter, one, four chunks) and check them against the model."""
    if chunk % total_stride:
        raise WuxError(f"--chunk {chunk} is not a multiple of the model's total stride {total_stride}")
    length = Profile(min_len or max(chunk // 4, total_stride + 1), opt_len or chunk, max_len or 4 * chunk)
    if not length.min <= chunk <= length.max:
        raise WuxError(f"--chunk {chunk} lies outside the length profile {length.min}..{length.max}")
    if length.min <= total_stride:
        # torch.export specialises a bottleneck of length 1 (see wux.model.waveunet)
        raise WuxError(f"--min-len must exceed the model's total stride {total_stride}")
    return ExportSpec(chunk=chunk, batch=Profile(1, max_batch, max_batch), length=length,
                      opset=opset, device=device)
