"""One way in for every model: a wux checkpoint, or the user's own callable with weights.

`load_model` returns the module wux runs and exports ([batch, 1, samples] in and out, at any
length), its audio contract, and where it came from. The contract is, in order of precedence:
given by the caller (an export's manifest), declared by the user, recorded in the checkpoint,
derived from the config (wux's own Wave-U-Nets), or measured by the probe.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from wux.contract import AudioContract, LengthRule
from wux.errors import ConfigError, ModelError, first_line
from wux.model.adapter import Layout, WaveformAdapter
from wux.model.checkpoint import USER, WAVEUNET, Checkpoint, load_checkpoint, load_weights, read_weights
from wux.model.config import WaveUNetConfig
from wux.model.declared import CONTRACT_KEYS, LAYOUT_KEYS, checked_facts, length_rule
from wux.model.info import count_macs, macs_per_second, waveunet_contract
from wux.model.probe import ProbeReport, contract_from_probe, layout_of, probe_model
from wux.model.user import UserModel, build_user_model, resolve_factory
from wux.runtime.eager import TorchRunner

# Contract fields the probe measures; the rest (rate, names, serving chunk) are declared or defaulted.
MEASURED_KEYS = ("length", "align", "receptive_field", "context", "context_exact", "causal", "lookahead",
                 "macs_per_second")


KWARGS_WITHOUT_MODEL = ("--model-kwargs and --weights describe a --model MODULE:CALLABLE; pass --model too (a wux "
                        "checkpoint needs neither)")

@dataclass(frozen=True)
class ModelSource:
    """What the user named: a wux checkpoint (None: the bundled model), or a callable plus weights."""

    checkpoint: Path | None = None
    factory: str | None = None  # --model MODULE:CALLABLE or path/to/file.py:CALLABLE
    kwargs: dict[str, Any] = field(default_factory=dict)  # --model-kwargs
    weights: Path | None = None  # --weights
    declared: dict[str, Any] = field(default_factory=dict)  # contract and layout facts the user states

    def __post_init__(self) -> None:
        checked_facts(self.declared, "--contract")
        if self.factory and self.checkpoint:
            raise ConfigError("give either a wux checkpoint or --model, not both")
        if not self.factory and (self.kwargs or self.weights):
            raise ConfigError(KWARGS_WITHOUT_MODEL)

    @property
    def user(self) -> UserModel | None:
        return UserModel(self.factory, dict(self.kwargs)) if self.factory else None

    def label(self) -> str:
        if self.factory:
            return f"{self.factory}" + (f" + {self.weights}" if self.weights else "")
        return str(self.checkpoint) if self.checkpoint else "the bundled default model"

    @classmethod
    def from_record(cls, record: dict[str, Any], model: dict[str, Any] | None = None) -> ModelSource:
        """The source an export's manifest recorded (and how its model record says it is called)."""
        if record.get("kind") == "user":
            weights = record.get("weights")
            layout = dict((model or {}).get("layout") or {})
            return cls(factory=record["factory"], kwargs=dict(record.get("kwargs") or {}),
                       weights=Path(weights) if weights else None, declared=layout)
        return cls(checkpoint=Path(record["path"]))


@dataclass
class LoadedModel:
    module: Any  # torch.nn.Module: [batch, 1, samples] -> [batch, 1, samples], eval mode
    contract: AudioContract
    source: ModelSource
    record: dict[str, Any]  # provenance for manifests: enough to find and check the same weights again
    family: str  # WAVEUNET or USER
    layout: Layout = Layout()
    config: WaveUNetConfig | None = None
    user: UserModel | None = None
    training: dict[str, Any] = field(default_factory=dict)
    contract_origin: dict[str, str] = field(default_factory=dict)  # field -> declared/recorded/derived/measured
    probe: ProbeReport | None = None

    def runner(self, device: str = "cpu"):
        return TorchRunner(self.module, device)

    def files(self) -> list[Path]:
        """The files this model was read from (checkpoint, weights, a stand-alone .py): inputs no output may
        replace."""
        user_file = self.user.file if self.user is not None else None
        return [Path(p) for p in (self.record.get("path"), self.record.get("weights"), user_file) if p]

    def model_record(self) -> dict[str, Any]:
        """How the model is built: the Wave-U-Net config, or the callable, its kwargs and layout."""
        if self.config is not None:
            return {"family": WAVEUNET, "config": self.config.to_dict()}
        return {"family": USER, **self.user.to_dict(), "layout": self.layout.to_dict()}

    def checkpoint(self, training: dict | None = None) -> Checkpoint:
        """This model as a wux checkpoint (a user model keeps its callable, kwargs and contract)."""
        state = {k: v.detach().cpu() for k, v in self.raw_module().state_dict().items()}
        contract = None if self.user is None else {**self.contract.to_dict(), **self.layout.to_dict()}
        return Checkpoint(state_dict=state, config=self.config, user=self.user, contract=contract,
                          sample_rate=self.contract.sample_rate, training=dict(training or self.training))

    def raw_module(self):
        """The model as its code defines it (without wux's adapter)."""
        return self.module.model if isinstance(self.module, WaveformAdapter) else self.module


def load_model(source: ModelSource | None = None, contract: AudioContract | None = None,
               require_weights: bool = False) -> LoadedModel:
    """The model `source` names, with its audio contract (`contract` given: used as is, nothing probed)."""
    source = source or ModelSource()
    if source.factory:
        return load_user_model(source, contract, require_weights)
    return model_of_checkpoint(load_checkpoint(source.checkpoint), source, contract)


def model_of_checkpoint(ckpt: Checkpoint, source: ModelSource | None = None,
                        contract: AudioContract | None = None) -> LoadedModel:
    """load_model of a checkpoint already loaded (its file not read again)."""
    source = source or ModelSource(checkpoint=ckpt.path)
    record = {"kind": "checkpoint", "path": str(Path(ckpt.path).resolve()), "sha256": ckpt.sha256}
    if ckpt.user is not None:
        recorded = dict(ckpt.contract or {})
        return finish_user_model(ckpt.build_model(), source, ckpt.user, record, recorded, contract,
                                 training=ckpt.training)
    if source.declared:
        raise ConfigError(f"{ckpt.path} states its own audio contract; --sample-rate / --contract declare one "
                          "for a --model")
    module = ckpt.build_model()
    if contract is None:
        contract = waveunet_contract(ckpt.config, ckpt.sample_rate, count_macs(module, ckpt.sample_rate))
    return LoadedModel(module, contract, source, record, WAVEUNET,
                       config=ckpt.config, training=ckpt.training,
                       contract_origin={"sample_rate": "recorded", **dict.fromkeys(MEASURED_KEYS, "config")})


def load_user_model(source: ModelSource, contract: AudioContract | None, require_weights: bool) -> LoadedModel:
    user = source.user
    factory = resolve_factory(user.factory)
    record = {"kind": "user", **user.to_dict(), "weights": None, "weights_sha256": None}
    if source.weights is not None:
        classes = (factory,) if isinstance(factory, type) else ()
        weights = read_weights(source.weights, classes)
        extra = weights.extra
        if not user.kwargs and extra.get("kwargs") and not extra.get("args"):
            user = replace(user, kwargs=dict(extra["kwargs"]))  # DEMUCS-style packages carry their kwargs
            record.update(kwargs=user.kwargs)
        model = build_user_model(user)
        load_weights(model, weights.state_dict, source.weights)
        record.update(weights=str(Path(source.weights).resolve()), weights_sha256=weights.sha256)
    else:
        model = build_user_model(user)
        if require_weights and any(p.numel() for p in model.parameters()):  # a fixed filter needs none
            raise ConfigError(f"--weights is needed: without them {user.factory} would run on untrained weights")
    return finish_user_model(model, source, user, record, {}, contract)


def finish_user_model(model, source: ModelSource, user: UserModel, record: dict, recorded: dict,
                      contract: AudioContract | None, training: dict | None = None) -> LoadedModel:
    """The user's module in the adapter its layout and length rule call for, with its contract: the one
    given, else what is declared or recorded, with the probe measuring whatever neither says."""
    stated = stated_contract(model)
    given = {**stated, **recorded, **source.declared}
    layout_known = any(k in given for k in LAYOUT_KEYS)
    layout = Layout(**{k: given[k] for k in LAYOUT_KEYS if k in given})
    facts = {k: v for k, v in given.items() if k in CONTRACT_KEYS}
    if "length" in facts:
        facts["length"] = length_rule(facts["length"], "the model's length rule")
    origin = {k: "declared" if k in source.declared else "recorded" if k in recorded else "stated by the model"
              for k in facts}
    report = None
    if contract is not None:
        layout = layout if layout_known else layout_of(model)  # the contract is known; how it is called is not
    else:
        rate = facts.pop("sample_rate", None) or model_sample_rate(model, user)
        if all(k in facts for k in MEASURED_KEYS if k != "macs_per_second"):
            layout = layout if layout_known else layout_of(model)
            if "macs_per_second" not in facts:  # the only fact left to measure: no probe needed for it
                adapter = WaveformAdapter(model, layout, facts.get("length", LengthRule())).eval()
                facts["macs_per_second"] = macs_per_second(adapter, rate, adapter.multiple)
                origin["macs_per_second"] = "measured"
            contract = AudioContract(sample_rate=rate, **facts)
        else:
            try:
                report = probe_model(model, rate, layout if layout_known else None, facts.get("length"),
                                     facts.get("align"))
                check_causal_claim(report, facts, origin)
            except ModelError as e:  # what the probe found is about this model: name it
                raise e if e.path else ModelError(str(e), user.factory) from None
            layout, contract = report.layout, contract_from_probe(report, facts)
            origin.update({k: "measured" for k in MEASURED_KEYS if k not in facts})
        origin.setdefault("sample_rate", "stated by the model")
    return LoadedModel(WaveformAdapter(model, layout, contract.length).eval(), contract, source, record, USER,
                       layout=layout, user=user, training=dict(training or {}), contract_origin=origin, probe=report)


def stated_contract(model) -> dict[str, Any]:
    """Contract facts a model states itself (a `wux_contract` dict or method), as a user would declare them:
    for models whose structure says what a probe cannot measure well (a context longer than the probe)."""
    name = f"{type(model).__name__}.wux_contract"
    facts = getattr(model, "wux_contract", None)
    try:
        facts = facts() if callable(facts) else facts
    except Exception as e:  # noqa: BLE001 - whatever the model's own method raises
        raise ModelError(f"{name}() failed: {type(e).__name__}: {first_line(e)}") from None
    if facts is None:
        return {}
    if not isinstance(facts, dict):
        raise ModelError(f"{name} must be a dict of contract facts, not a {type(facts).__name__}")
    try:
        checked_facts(facts, name)
    except ConfigError as e:
        raise ModelError(str(e)) from None
    return dict(facts)


def check_causal_claim(report: ProbeReport, facts: dict[str, Any], origin: dict[str, str]) -> None:
    """A model stating itself causal whose output the probe saw move before the input did is refused: streaming
    it would not give its offline output (a user's --contract declaring it is an override, taken as given)."""
    if facts.get("causal") and not report.causal and origin.get("causal") == "stated by the model":
        ahead = report.strict.future
        raise ModelError(f"causal: true is {origin['causal']}, but its output depends on "
                         f"{'the whole input' if ahead is None else f'{ahead} samples ahead'} (measured); "
                         "drop the claim or make the model causal")


def stated_sample_rate(model) -> int | None:
    """The rate the model states itself (a `sample_rate` attribute or its usual spellings), if it does."""
    for name in ("sample_rate", "samplerate", "sr"):
        value = getattr(model, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def model_sample_rate(model, user: UserModel) -> int:
    """The rate the model states itself, else the user must declare it."""
    rate = stated_sample_rate(model)
    if rate is None:
        raise ConfigError(f"{user.factory} does not state its sample rate; pass --sample-rate")
    return rate


def check_record(loaded: LoadedModel, record: dict[str, Any]) -> bool:
    """Whether `loaded` has the weights an export recorded (same checkpoint, or same callable and weights)."""
    if record.get("kind") != loaded.record.get("kind"):
        return False
    keys = ("sha256",) if record.get("kind") == "checkpoint" else ("factory", "kwargs", "weights_sha256")
    if record.get("file_sha256"):  # a stand-alone .py file: its code is part of the model
        keys += ("file_sha256",)
    if record.get("kind") == "user" and record.get("weights_sha256") is None:
        return False  # no weights recorded: nothing to match
    return all(record.get(k) == loaded.record.get(k) for k in keys)
