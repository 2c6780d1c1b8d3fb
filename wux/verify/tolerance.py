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
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(max_abs=1e-4, min_si_snr_db=60.0),
    "fp16": Tolerance(max_abs=None, min_si_snr_db=30.0),
}


def tolerance_for(precision: str, max_abs: float | None = None, min_si_snr_db: float | None = None) -> Tolerance:
    """The default for `precision`, with any user overrides applied."""
    base = DEFAULT_TOLERANCES[precision]
    return Tolerance(max_abs=base.max_abs if max_abs is None else max_abs,
                     min_si_snr_db=base.min_si_snr_db if min_si_snr_db is None else min_si_snr_db)
