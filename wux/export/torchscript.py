"""TorchScript: torch.jit.script, with tracing only as a checked fallback."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from wux.errors import WuxError, first_line
from wux.export.spec import ExportSpec


def _quiet_jit():
    # torch 2.13 marks torch.jit as deprecated, but it is still what Triton's libtorch backend serves.
    return warnings.catch_warnings()


def export_torchscript(model, spec: ExportSpec, path: Path) -> dict:
    """Script (or, failing that, trace) `model`, freeze it, save it, reload it and run it once.

    Freezing inlines the weights as constants and folds BatchNorm into the convolutions, so
    the saved module is what an inference server should run; parity is checked on it.
    """
    import torch

    with _quiet_jit():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            module, method = torch.jit.script(model), "script"
        except Exception as script_error:  # noqa: BLE001 - any scripting failure falls back to tracing
            module, method = trace_with_check(model, spec, script_error), "trace"
        module = torch.jit.freeze(module.eval())
        torch.jit.save(module, str(path))
        reloaded = torch.jit.load(str(path), map_location=spec.device)
    x = torch.randn(1, 1, spec.length.opt, device=spec.device)
    with torch.inference_mode():
        if not torch.allclose(reloaded(x), model(x), atol=1e-5):
            raise WuxError("reloaded TorchScript module disagrees with the model", path)
    return {"method": method, "frozen": True}


def trace_with_check(model, spec: ExportSpec, script_error: Exception):
    """Trace at the opt shape, then prove the trace generalises to the profile's other shapes."""
    import torch

    example = torch.randn(spec.batch.opt, 1, spec.length.opt, device=spec.device)
    traced = torch.jit.trace(model, example, check_trace=False)
    for b, n in [(spec.batch.min, spec.length.min), (spec.batch.max, spec.length.max),
                 (1, spec.length.min + 1)]:
        x = torch.randn(b, 1, n, device=spec.device)
        with torch.inference_mode():
            ref, got = model(x), traced(x)
        if got.shape != ref.shape or not torch.allclose(got, ref, atol=1e-5):
            raise WuxError(
                f"torch.jit.script failed ({first_line(script_error)}) and the trace does not "
                f"generalise to shape {(b, 1, n)}"
            )
    return traced


class TorchScriptRunner:
    name = "torchscript"

    def __init__(self, path: Path, device: str = "cpu"):
        import torch

        with _quiet_jit():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.module = torch.jit.load(str(path), map_location=device).eval()
        self.device = device

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)).to(self.device)
            return self.module(x.unsqueeze(1)).squeeze(1).float().cpu().numpy()
