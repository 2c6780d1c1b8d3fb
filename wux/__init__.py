"""wux: from a trained Wave-U-Net speech denoiser to a faithful, measured Triton deployment."""

__version__ = "0.1.0"
