"""The audio contract: what a model takes and returns, stated once and read by every part of wux.

Optimum's OnnxConfig describes a model's inputs declaratively; this does the same for a waveform
denoiser: sample rate, channels, tensor names and dims, the lengths it accepts, how much context
each output sample needs, whether it is causal and how far it looks ahead, and the serving plan
(chunk and windows) derived from those facts. Export, the manifest, verify, the Triton repository,
clients, perf and in-process denoising all read this one object; it is written into the manifest
with `to_dict()` and into Triton model configs with `to_params()`, and read back by the matching
`from_*` function and nothing else.

Standard library only: the Triton models wux generates import this file too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from wux.errors import ConfigError

DEFAULT_SAMPLE_RATE = 16000
# Above any audio interface's rate (768 kHz): a rate past it is a damaged or mistyped record, not audio.
MAX_SAMPLE_RATE = 768000
INPUT_NAME = "waveform"
OUTPUT_NAME = "denoised"
# Serving window when nothing else is said: 1.024 s (16384 samples at 16 kHz), a power of two there; longer
# for a model whose context would fill the window: the two contexts take at most this share of it (a model
# seeing 0.3 s each side recomputes them for every window, so at 1.024 s only 41 % of each window is new).
DEFAULT_CHUNK_SECONDS = 1.024
MAX_CONTEXT_SHARE = 0.25
# A serving window runs whole, every layer's activations at once: longer than this is a typo, not a plan.
MAX_CHUNK_SECONDS = 60
# What to_dict writes beside the facts, derived from them: never read back as a fact.
WINDOW_KEY = "window"
DERIVED_KEYS = (WINDOW_KEY,)
# Neighbouring windows blend over 16 ms (256 samples at 16 kHz).
DEFAULT_CROSSFADE_SECONDS = 0.016


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def default_chunk(sample_rate: int, context: int, grid: int) -> int:
    """DEFAULT_CHUNK_SECONDS, or longer where the two contexts would take more than MAX_CONTEXT_SHARE of it."""
    return round_up(max(round(sample_rate * DEFAULT_CHUNK_SECONDS), round(2 * context / MAX_CONTEXT_SHARE)), grid)


@dataclass(frozen=True)
class WindowPlan:
    """How a long waveform is cut into fixed windows and stitched back (see wux.windowing)."""

    window: int  # samples per window, the length the model runs on
    context: int  # samples dropped at each side facing a neighbour
    crossfade: int  # samples over which neighbours blend
    align: int  # window starts are multiples of this

    def __post_init__(self) -> None:
        for name in ("window", "context", "crossfade"):
            if getattr(self, name) % self.align:
                raise ConfigError(f"{name}={getattr(self, name)} is not a multiple of the alignment {self.align}")
        if self.hop <= 0:
            raise ConfigError(
                f"window {self.window} is too short for {self.context} samples of context on each side "
                f"plus a {self.crossfade}-sample crossfade; use a chunk longer than "
                f"{2 * self.context + self.crossfade}")

    @property
    def hop(self) -> int:
        return self.window - 2 * self.context - self.crossfade

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class LengthRule:
    """The input lengths a model accepts: multiples of `multiple`, at least `minimum` samples.

    wux pads any other length up to the next valid one and crops the output back."""

    multiple: int = 1
    minimum: int = 1

    def __post_init__(self) -> None:
        if self.multiple < 1 or self.minimum < 1:
            raise ConfigError(f"length rule needs multiple >= 1 and minimum >= 1, got {self.multiple}/{self.minimum}")

    def valid_length(self, samples: int) -> int:
        """The shortest accepted length >= `samples`."""
        return round_up(max(samples, self.minimum), self.multiple)

    def accepts(self, samples: int) -> bool:
        return samples >= self.minimum and samples % self.multiple == 0


@dataclass(frozen=True)
class AudioContract:
    """Everything the pipeline must agree on about one model's audio."""

    sample_rate: int = DEFAULT_SAMPLE_RATE
    channels: int = 1
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    length: LengthRule = LengthRule()
    # Output shifts with the input only for shifts that are multiples of this (strided layers are
    # not shift-invariant): windows must start on this grid for windowed output to equal whole-input output.
    align: int = 1
    receptive_field: int | None = None  # input samples one output sample depends on; None: unbounded
    context: int = 0  # samples each side of a window needs (see context_exact)
    context_exact: bool = True  # False: the model sees further (recurrent state, a global level): windows approximate
    causal: bool = False
    lookahead: int | None = None  # future samples one output sample needs; None: unbounded or unknown
    macs_per_second: int | None = None  # multiply-accumulates per second of audio
    chunk: int = 0  # samples per serving window; 0: default_chunk()
    crossfade: int = 0  # samples; 0: DEFAULT_CROSSFADE_SECONDS rounded up to the alignment

    def __post_init__(self) -> None:
        if not 0 < self.sample_rate <= MAX_SAMPLE_RATE or self.channels != 1:
            raise ConfigError(f"wux serves mono audio at a sample rate of 1 to {MAX_SAMPLE_RATE} Hz; got "
                              f"{self.channels} channel(s) at {self.sample_rate} Hz")
        if self.align < 1 or self.context < 0:
            raise ConfigError(f"align must be >= 1 and context >= 0, got {self.align} / {self.context}")
        context = round_up(self.context, self.align)  # as the window plan rounds it
        if not self.chunk:
            object.__setattr__(self, "chunk", default_chunk(self.sample_rate, context, self.grid))
        if not self.crossfade:
            object.__setattr__(self, "crossfade",
                               round_up(round(self.sample_rate * DEFAULT_CROSSFADE_SECONDS), self.align))
        if self.chunk % self.grid:
            raise ConfigError(f"chunk {self.chunk} is not a multiple of {self.grid} (the model's alignment "
                              f"{self.align} and length multiple {self.length.multiple})")
        if self.chunk < self.length.minimum:
            raise ConfigError(f"chunk {self.chunk} is shorter than the model's minimum length {self.length.minimum}")
        longest = max(MAX_CHUNK_SECONDS * self.sample_rate, default_chunk(self.sample_rate, context, self.grid))
        if self.chunk > longest:
            raise ConfigError(f"chunk {self.chunk} is {self.chunk / self.sample_rate:.1f} s at {self.sample_rate} Hz; "
                              f"a serving window runs whole, so wux takes at most {longest} samples "
                              f"({longest / self.sample_rate:.1f} s)")
        self.window  # noqa: B018 - validates the window plan

    @property
    def grid(self) -> int:
        """Chunks are multiples of this: aligned windows of a length the model accepts as is."""
        a, m = self.align, self.length.multiple
        return a * m // _gcd(a, m)

    @property
    def window(self) -> WindowPlan:
        return WindowPlan(window=self.chunk, context=round_up(self.context, self.align),
                          crossfade=round_up(self.crossfade, self.align), align=self.align)

    @property
    def dims(self) -> tuple[str | int, ...]:
        """Tensor dims of every artifact's input and output."""
        return ("batch", self.channels, "samples")

    @property
    def latency_ms(self) -> float | None:
        """Algorithmic latency: how far ahead of an output sample the model must have heard."""
        return None if self.lookahead is None else 1000.0 * self.lookahead / self.sample_rate

    def seconds(self, samples: int) -> float:
        return samples / self.sample_rate

    def with_serving(self, chunk: int | None = None, crossfade: int | None = None) -> AudioContract:
        """The same model facts with another serving chunk / crossfade (None: keep)."""
        return replace(self, chunk=self.chunk if chunk is None else chunk,
                       crossfade=self.crossfade if crossfade is None else crossfade)

    # -- the manifest's encoding

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d[WINDOW_KEY] = self.window.to_dict()  # derived, written for people reading the manifest
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None) -> AudioContract:
        data = {k: v for k, v in data.items() if k not in DERIVED_KEYS}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown audio contract field(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}", source)
        if isinstance(data.get("length"), dict):
            data["length"] = LengthRule(**data["length"])
        try:
            return cls(**data)
        except TypeError as e:
            raise ConfigError(f"invalid audio contract: {e}", source) from None

    # -- Triton model-config parameters: flat string values

    def to_params(self) -> dict[str, str]:
        flat = {k: v for k, v in asdict(self).items() if k != "length"}
        flat["length_multiple"], flat["length_minimum"] = self.length.multiple, self.length.minimum
        return {k: _to_text(v) for k, v in flat.items()}

    @classmethod
    def from_params(cls, params: dict[str, str], model: str = "this model") -> AudioContract:
        missing = sorted(set(PARAM_KEYS) - set(params))
        if missing:
            raise ConfigError(f"{model} is not a wux model: its config lacks the audio contract parameters "
                              f"{', '.join(missing[:4])}")
        types = {f.name: f.type for f in fields(cls)}
        values = {k: _from_text(params[k], types[k]) for k in types if k != "length"}
        length = LengthRule(int(params["length_multiple"]), int(params["length_minimum"]))
        return cls(**values, length=length)


PARAM_KEYS = tuple([f.name for f in fields(AudioContract) if f.name != "length"] + ["length_multiple",
                                                                                      "length_minimum"])


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def _to_text(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _from_text(text: str, annotation: str) -> Any:
    if annotation == "str":
        return text
    value = json.loads(text)
    if "float" in annotation and isinstance(value, int):
        return float(value)
    return value


def parameters_of(config: Any) -> dict[str, str]:
    """A Triton model config's parameters as {key: string value}, whatever form the config comes in:
    a ModelConfig protobuf, the JSON dict of the HTTP/gRPC APIs, or the python backend's JSON text."""
    if isinstance(config, str):
        config = json.loads(config)
    if isinstance(config, dict):
        config = config.get("config", config)
        return {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
    return {k: v.string_value for k, v in config.parameters.items()}


@dataclass(frozen=True)
class CoreRef:
    """The core model a wux front model sends its windows to (front-model config parameters)."""

    model: str
    input_name: str
    output_name: str

    def to_params(self) -> dict[str, str]:
        return {"core_model": self.model, "core_input": self.input_name, "core_output": self.output_name}

    @classmethod
    def from_params(cls, params: dict[str, str]) -> CoreRef | None:
        """None when the parameters are a core model's (it has no core of its own)."""
        if "core_model" not in params:
            return None
        return cls(params["core_model"], params["core_input"], params["core_output"])


# A causal model's step model (wux.export.step writes it; the streaming Triton model and its clients call it):
# one frame and the state in, the denoised frame and the next state out.
STEP_FRAME, STEP_STATE, STEP_DENOISED, STEP_NEXT_STATE = "frame", "state", "denoised", "next_state"


@dataclass(frozen=True)
class StreamParams:
    """What a streaming model's config tells its backend and its clients (config parameters)."""

    frame_multiple: int  # frames are multiples of this many samples
    state_size: int  # floats of state per stream
    frame: int  # the default frame, samples
    idle_s: float  # a stream silent this long is dropped

    def to_params(self) -> dict[str, str]:
        return {"stream_frame_multiple": str(self.frame_multiple), "stream_state_size": str(self.state_size),
                "stream_frame": str(self.frame), "stream_idle_s": f"{self.idle_s:g}"}

    @classmethod
    def from_params(cls, params: dict[str, str]) -> StreamParams | None:
        """None when the parameters are not a streaming model's."""
        if "stream_frame_multiple" not in params:
            return None
        return cls(int(params["stream_frame_multiple"]), int(params["stream_state_size"]),
                   int(params["stream_frame"]), float(params["stream_idle_s"]))
