"""Export-time proof that an artifact is faithful at the shapes it claims, before it is kept.

Exporters are not trusted with shapes: a trace can freeze a length that Python code computed, and
an exporter can specialise a dimension it was told is dynamic. Each candidate artifact is loaded
back with its own runtime and judged against the eager model on speech at several shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from wux.contract import AudioContract
from wux.errors import MissingDependency, first_line
from wux.export.spec import ExportSpec, Profile
from wux.runtime.eager import TorchRunner
from wux.verify.compare import compare
from wux.verify.signals import make_signal
from wux.verify.tolerance import tolerance_for

OP_PATTERN = re.compile(r"aten(?:::|\.)[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Outcome:
    """What one export produced: the length profile it is faithful over, and how it got there."""

    length: Profile
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def fixed_length(self) -> bool:
        return self.length.min == self.length.max


def dynamic_shapes(spec: ExportSpec) -> list[tuple[int, int]]:
    """(batch, samples) pairs covering the length profile: its ends, its opt at max batch, an odd length."""
    lo, opt, hi = spec.length.min, spec.length.opt, spec.length.max
    odd = next(n for n in (opt + 37, opt - 37, lo) if lo <= n <= hi)
    return list(dict.fromkeys([(1, lo), (spec.batch.max, opt), (1, hi), (min(2, spec.batch.max), odd)]))


def fixed_shapes(spec: ExportSpec, contract: AudioContract) -> list[tuple[int, int]]:
    return list(dict.fromkeys([(1, contract.chunk), (spec.batch.max, contract.chunk)]))


def unfaithful(runner, module, shapes: list[tuple[int, int]], device: str = "cpu") -> str | None:
    """Why `runner` is not faithful to `module` at `shapes` (None: it is), judged as FP32."""
    reference = TorchRunner(module, device)
    tolerance = tolerance_for("fp32")
    for batch, samples in shapes:
        x = make_signal("speech", batch, samples)
        try:
            out = runner(x)
        except MissingDependency:
            raise  # the runtime is not installed: nothing was learnt about the artifact
        except Exception as e:  # noqa: BLE001 - a runtime refusing the shape is the finding
            return f"at [{batch}, 1, {samples}] it raised {type(e).__name__}: {first_line(e)}"
        verdict = compare(out, reference(x), tolerance)
        if not verdict.passed:
            return f"at [{batch}, 1, {samples}]: {verdict.reasons[0]}"
    return None


def rejected_ops(e: BaseException) -> list[str]:
    """Names of the torch ops an exporter's error message blames (aten::x / aten.x.default)."""
    text = str(e)
    return list(dict.fromkeys(m.replace("::", ".") for m in OP_PATTERN.findall(text)))


def failure(e: BaseException) -> str:
    """One line on why an export step raised, naming the op where the message does."""
    ops = rejected_ops(e)
    blamed = f"op {', '.join(ops[:3])}: " if ops else ""
    return f"{blamed}{type(e).__name__}: {first_line(e)}"
