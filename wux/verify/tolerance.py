"""Parity tolerances per precision: the one place they are defined."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Tolerance:
    max_abs: float | None  # largest |artifact - reference| allowed; None: not gated
    min_si_snr_db: float | None  # SI-SNR of artifact output against reference output; None: not gated

    def to_dict(self) -> dict:
        return asdict(self)


# FP32: different kernels and summation orders stay far inside 1e-4 (measured ~1e-7 on CPU).
# FP16: a 10-bit mantissa cannot meet an absolute bound meant for FP32; 30 dB SI-SNR means the
# difference is 1000x weaker than the signal, inaudible next to the noise being removed.
# INT8: its raw difference from FP32 is reported, not gated; what gates it is the task (TASK_TOLERANCES).
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(max_abs=1e-4, min_si_snr_db=60.0),
    "fp16": Tolerance(max_abs=None, min_si_snr_db=30.0),
    "int8": Tolerance(max_abs=None, min_si_snr_db=None),
}


@dataclass(frozen=True)
class TaskTolerance:
    """How much denoising an approximate artifact may lose against the FP32 model, on speech with clean
    references: the SI-SNR improvement's drop, mean over the files and on the worst file."""

    max_mean_drop_db: float
    max_worst_drop_db: float

    def breaches(self, mean_drop_db: float, worst_drop_db: float, worst_on: str) -> list[str]:
        """Which limit the drops exceed, one line each (`worst_on` names where the worst drop is)."""
        out = []
        if mean_drop_db > self.max_mean_drop_db:
            out.append(f"SI-SNR improvement {mean_drop_db:.2f} dB below FP32 on average "
                       f"> {self.max_mean_drop_db:g} dB")
        if worst_drop_db > self.max_worst_drop_db:
            out.append(f"{worst_drop_db:.2f} dB below FP32 on {worst_on} > {self.max_worst_drop_db:g} dB")
        return out

    def to_dict(self) -> dict:
        return asdict(self)


# INT8 must denoise as well as FP32 to within what a listener cannot tell apart (0.3 dB mean), and never
# lose a whole decibel on any one file.
TASK_TOLERANCES: dict[str, TaskTolerance] = {"int8": TaskTolerance(max_mean_drop_db=0.3, max_worst_drop_db=1.0)}


def tolerance_for(precision: str, max_abs: float | None = None, min_si_snr_db: float | None = None) -> Tolerance:
    """The default for `precision`, with any user overrides applied."""
    base = DEFAULT_TOLERANCES[precision]
    return Tolerance(max_abs=base.max_abs if max_abs is None else max_abs,
                     min_si_snr_db=base.min_si_snr_db if min_si_snr_db is None else min_si_snr_db)
