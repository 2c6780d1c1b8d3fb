"""`wux info`: what a model is, what it costs, and its audio contract with where each fact came from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from wux.model.info import count_macs
from wux.model.load import LoadedModel
from wux.model.streaming import streaming_summary


@dataclass
class ModelReport:
    source: str
    family: str
    model: dict[str, Any]  # config, or callable / kwargs / layout
    parameters: int
    macs_per_second_audio: int | None
    gmacs_per_second_audio: float | None
    contract: dict[str, Any]
    contract_origin: dict[str, str]
    latency_ms: float | None
    receptive_field_ms: float | None
    record: dict[str, Any]
    training: dict[str, Any] = field(default_factory=dict)
    probe: dict[str, Any] | None = None
    streaming: dict[str, Any] | None = None  # a causal model: frame grid, state, latency and cost when streamed

    def to_dict(self) -> dict:
        return asdict(self)


def model_report(model: LoadedModel) -> ModelReport:
    c = model.contract
    macs = c.macs_per_second or count_macs(model.module, c.sample_rate)
    rf = c.receptive_field
    return ModelReport(
        source=model.source.label(), family=model.family, model=model.model_record(),
        parameters=sum(p.numel() for p in model.module.parameters()),
        macs_per_second_audio=macs, gmacs_per_second_audio=None if macs is None else round(macs / 1e9, 3),
        contract=c.to_dict(), contract_origin=dict(model.contract_origin),
        latency_ms=None if c.latency_ms is None else round(c.latency_ms, 2),
        receptive_field_ms=None if rf is None else round(1000 * rf / c.sample_rate, 2), record=model.record,
        training={k: v for k, v in model.training.items() if k not in ("train", "history")},
        probe=model.probe.to_dict() if model.probe else None,
        streaming=streaming_summary(model.module, c.sample_rate),
    )
