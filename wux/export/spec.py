"""What an export must support: precisions, opset, batch and length profiles."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from wux.contract import AudioContract, round_up
from wux.errors import WuxError

PRECISIONS = ("fp32", "fp16", "int8")
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

    @classmethod
    def fixed(cls, n: int) -> Profile:
        return cls(n, n, n)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ExportSpec:
    """Profiles an export tries. An artifact that cannot be faithful over `length` is exported at the
    contract's chunk instead (its own profile in the manifest says which it got)."""

    batch: Profile
    length: Profile
    opset: int = DEFAULT_OPSET
    device: str = "cpu"
    fixed_length: bool = False  # export at the chunk only, without trying a dynamic length

    def to_dict(self) -> dict:
        return {"batch": self.batch.to_dict(), "length": self.length.to_dict(), "opset": self.opset,
                "device": self.device, "fixed_length": self.fixed_length}

    def shapes(self, length: Profile) -> dict[str, tuple[int, int, int]]:
        """TensorRT-style min / opt / max input shapes [batch, 1, samples] for a length profile."""
        return {k: (getattr(self.batch, k), 1, getattr(length, k)) for k in ("min", "opt", "max")}


# INT8's per-channel QuantizeLinear / DequantizeLinear need opset 13, and so does wux.export.conv2d's rewrite
# (Unsqueeze / Squeeze axes as inputs); one floor for every ONNX file wux writes
MIN_OPSET = 13


def check_opset(opset: int) -> None:
    """An opset the installed onnx package does not know, or one below MIN_OPSET, is refused before any export
    work (the exporters would otherwise try, fail, and fall back to another opset)."""
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise WuxError(f"--opset must be between {MIN_OPSET} and {newest} (the newest this onnx {onnx.__version__} "
                       f"knows), got {opset}")


def make_spec(contract: AudioContract, max_batch: int = DEFAULT_MAX_BATCH, min_len: int | None = None,
              opt_len: int | None = None, max_len: int | None = None, opset: int = DEFAULT_OPSET,
              device: str = "cpu", fixed_length: bool = False) -> ExportSpec:
    """Fill unset lengths from the chunk (a quarter, one, four chunks) and check them against the contract."""
    chunk = contract.chunk
    # Longer than one alignment step: torch.export specialises a bottleneck of length 1 (see wux.model.waveunet).
    floor = max(contract.length.minimum, contract.align + 1)
    length = Profile(min_len or max(round_up(chunk // 4, contract.grid), floor), opt_len or chunk,
                     max_len or 4 * chunk)
    if not length.min <= chunk <= length.max:
        raise WuxError(f"the chunk {chunk} lies outside the length profile {length.min}..{length.max}")
    if length.min < floor:
        raise WuxError(f"--min-len must be at least {floor} (the model's minimum length, and more than its "
                       f"alignment {contract.align})")
    if max_batch < 1:
        raise WuxError(f"--max-batch must be at least 1, got {max_batch}")
    check_opset(opset)
    return ExportSpec(batch=Profile(1, max_batch, max_batch), length=length, opset=opset, device=device,
                      fixed_length=fixed_length)
