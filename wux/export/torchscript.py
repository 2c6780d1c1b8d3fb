"""TorchScript: scripted when it can be, traced otherwise, at a fixed length when the trace must be."""

from __future__ import annotations

from pathlib import Path

from wux.errors import ExportError
from wux.export.check import Outcome, dynamic_shapes, failure, fixed_shapes, unfaithful
from wux.export.spec import Profile
from wux.runtime.torchscript import TorchScriptRunner, quiet_jit


def save_frozen(module, path: Path, device: str) -> TorchScriptRunner:
    """Freeze (weights become constants, BatchNorm folds into the convolutions), save, and load it back."""
    import torch

    with quiet_jit():
        torch.jit.save(torch.jit.freeze(module.eval()), str(path))
    return TorchScriptRunner(path, device)


def export_torchscript(job) -> Outcome:
    """Script, check over the length profile; else trace at the chunk and check it dynamic, then fixed."""
    import torch

    module, spec, path = job.module, job.spec, job.path
    attempts: list[str] = []
    if not spec.fixed_length:
        try:
            with quiet_jit():
                scripted = torch.jit.script(module)
            problem = unfaithful(save_frozen(scripted, path, spec.device), module, dynamic_shapes(spec), spec.device)
            if problem is None:
                return Outcome(spec.length, {"method": "script", "frozen": True})
            attempts.append(f"script: {problem}")
        except Exception as e:  # noqa: BLE001 - any scripting failure falls back to tracing
            attempts.append(f"script: {failure(e)}")
    example = torch.randn(spec.batch.opt, 1, job.contract.chunk, device=spec.device)
    try:
        with quiet_jit():
            traced = torch.jit.trace(module, example, check_trace=False)
        runner = save_frozen(traced, path, spec.device)
    except Exception as e:  # noqa: BLE001 - the tracer rejected the model
        attempts.append(f"trace: {failure(e)}")
        raise ExportError(f"torchscript: {'; '.join(attempts)}") from None
    if not spec.fixed_length:
        problem = unfaithful(runner, module, dynamic_shapes(spec), spec.device)
        if problem is None:
            return Outcome(spec.length, {"method": "trace", "frozen": True, "attempts": attempts})
        attempts.append(f"trace, dynamic length: {problem}")
    problem = unfaithful(runner, module, fixed_shapes(spec, job.contract), spec.device)
    if problem is not None:
        attempts.append(f"trace at {job.contract.chunk} samples: {problem}")
        raise ExportError(f"torchscript: no faithful export ({'; '.join(attempts)})")
    return Outcome(Profile.fixed(job.contract.chunk), {"method": "trace", "frozen": True, "attempts": attempts})
