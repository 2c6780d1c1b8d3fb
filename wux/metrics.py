"""SI-SNR, the scale-invariant signal-to-noise ratio, in numpy and torch."""

from __future__ import annotations

import numpy as np

EPS = 1e-8
SILENCE_ENERGY = EPS  # an output whose energy (mean removed) is below it scores by the guards: within 3 dB of 0


def centred(signal: np.ndarray) -> np.ndarray:
    """The signal flattened to float64 with its mean removed: what SI-SNR compares."""
    flat = np.asarray(signal, dtype=np.float64).reshape(-1)
    return flat - flat.mean()


def si_snr_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    """SI-SNR of `estimate` against `reference` in dB (1-D arrays), float64 throughout."""
    est, ref = centred(estimate), centred(reference)
    target = (est @ ref) / (ref @ ref + EPS) * ref
    residual = est - target
    return float(10 * np.log10((target @ target + EPS) / (residual @ residual + EPS)))


def scored_as_silence(estimate: np.ndarray) -> bool:
    """Whether si_snr_db scores `estimate` by its EPS guards, not by its signal: nothing is left once its mean is
    removed (zeros, a constant, or a signal some 120 dB below full scale), which it puts within 3 dB of 0 whatever the
    reference."""
    est = centred(estimate)
    return float(est @ est) < SILENCE_ENERGY


def improvement_drop_db(reference: np.ndarray, artifact: np.ndarray, clean: np.ndarray) -> float:
    """How much less the artifact's output improves SI-SNR than the reference's (the noisy input's SI-SNR
    cancels out): positive is worse."""
    return si_snr_db(reference, clean) - si_snr_db(artifact, clean)


def si_snr_torch(estimate, reference, cap_db: float | None = None):
    """Per-item SI-SNR in dB for [..., samples] tensors (differentiable). `cap_db` caps it softly (thresholded
    SNR, Wisdom et al. 2020): the residual's power gets a floor cap_db below the target's, so an item near or
    above the cap adds little gradient and one far below it counts as before."""
    import torch

    est = estimate - estimate.mean(dim=-1, keepdim=True)
    ref = reference - reference.mean(dim=-1, keepdim=True)
    scale = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + EPS)
    target = scale * ref
    residual = est - target
    power = target.pow(2).sum(-1)
    floor = 0.0 if cap_db is None else 10 ** (-cap_db / 10) * power
    return 10 * torch.log10((power + EPS) / (residual.pow(2).sum(-1) + floor + EPS))
