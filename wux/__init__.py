"""wux: from a trained PyTorch speech denoiser to a faithful, measured Triton deployment.

The Python API for notebooks mirrors the CLI; its entry points import torch lazily:
    model = wux.load_model(model="my_models.py:build", kwargs={"width": 48}, weights="w.pt", sample_rate=48000)
    model.contract          # the audio contract (declared, recorded or measured)
    wux.probe(model)        # measure it again: lengths, alignment, receptive field, causality
"""

__version__ = "0.2.0"

_API = {"load_model": "wux.api", "probe": "wux.api", "export": "wux.api", "ModelSource": "wux.model.load"}


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'wux' has no attribute {name!r}")
