"""The Python API: the same operations as the CLI, for notebooks and scripts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wux.model.load import LoadedModel, ModelSource
from wux.model.load import load_model as load_source
from wux.model.probe import ProbeReport, probe_model
from wux.pipeline import ExportRequest, ExportResult, export_model


def source_of(checkpoint: str | Path | None = None, *, model: str | None = None, kwargs: dict | None = None,
              weights: str | Path | None = None, sample_rate: int | None = None,
              contract: dict[str, Any] | None = None) -> ModelSource:
    declared = dict(contract or {})
    if sample_rate is not None:
        declared["sample_rate"] = sample_rate
    return ModelSource(checkpoint=Path(checkpoint) if checkpoint else None, factory=model, kwargs=dict(kwargs or {}),
                       weights=Path(weights) if weights else None, declared=declared)


def load_model(checkpoint: str | Path | None = None, **how) -> LoadedModel:
    """A wux checkpoint (None: the bundled model), or `model="module:callable"` with `kwargs`, `weights`,
    `sample_rate` and any other declared `contract` facts. Returns the model with its audio contract."""
    return load_source(source_of(checkpoint, **how))


def probe(model: LoadedModel | None = None, **how) -> ProbeReport:
    """Measure a model's audio contract (lengths, alignment, receptive field, causality, MACs)."""
    model = model or load_model(**how)
    return probe_model(model.raw_module(), model.contract.sample_rate, model.layout)


def export(model: LoadedModel | str | Path | None, out: str | Path, **request) -> ExportResult:
    """Export and verify, like `wux export`; `request` holds ExportRequest fields (formats, precisions, chunk, ...)."""
    source = model if isinstance(model, LoadedModel) else source_of(model)
    return export_model(source, Path(out), ExportRequest(**request), show_progress=False)
