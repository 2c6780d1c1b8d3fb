"""How good a denoiser is: scores per noise kind and SNR band, well-known baselines, spectrogram pictures."""

# The baselines `wux eval --baseline` runs (wux.quality.baselines implements each); here so the CLI can list
# them without importing numpy.
BASELINE_NAMES = ("rnnoise", "spectral-gating")
