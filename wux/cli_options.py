"""The options commands share, and the value syntaxes (lists, ranges, length mixes, JSON) typer parses.

Each parser raises typer.BadParameter, which the CLI prints as one line with exit code 2.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from wux.contract import MAX_SAMPLE_RATE
from wux.errors import WuxError
from wux.export.spec import PRECISIONS
from wux.resources import BUNDLED_MODELS


def server_url(text: str) -> str:
    """HOST:PORT as given (a scheme, [IPv6] or no port allowed), its port a number in 1..65535: a wrapped-around
    or misspelt port is a bad option, not a connection failure."""
    port = url_port(text)
    if port is not None and not (port.isdigit() and 0 < int(port) <= 65535):
        raise typer.BadParameter(f"{text!r}: port {port!r} is not a number in 1..65535")
    return text


def url_port(text: str) -> str | None:
    """The port part of HOST:PORT, [IPV6]:PORT or scheme://HOST:PORT/path; None where there is none."""
    host = text.split("://", 1)[-1].split("/", 1)[0]
    if host.startswith("["):
        _, close, rest = host.partition("]")
        return rest[1:] if close and rest.startswith(":") else None
    if host.count(":") != 1:
        return None  # no port, or a bare IPv6 address
    return host.rpartition(":")[2]


def int_list(text: str, minimum: int = 1) -> tuple[int, ...]:
    """'1,2,4,8' -> (1, 2, 4, 8): values >= minimum, in the order given, without repeats."""
    try:
        values = tuple(dict.fromkeys(int(p) for p in text.split(",")))
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use comma-separated whole numbers like 1,2,4") from None
    if any(v < minimum for v in values):
        raise typer.BadParameter(f"{text!r}: values must be at least {minimum}")
    return values


def counts(text: str) -> tuple[int, ...]:
    return int_list(text, 1)


def counts_or_zero(text: str) -> tuple[int, ...]:
    return int_list(text, 0)


def levels(text: str, kind=int) -> tuple:
    """'start:end:step' (perf_analyzer's --concurrency-range / --request-rate-range) -> the levels;
    a comma list ('1,2,4,8') gives those levels exactly."""
    if "," in text:
        try:
            values = tuple(dict.fromkeys(kind(p) for p in text.split(",")))
        except ValueError:
            raise typer.BadParameter(f"{text!r}: use start:end[:step] or a list like 1,2,4") from None
        if any(v <= 0 for v in values):
            raise typer.BadParameter(f"{text!r}: levels must be positive")
        return values
    try:
        parts = [kind(p) for p in text.split(":")]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use start:end[:step]") from None
    start, end, step = (parts + [parts[0], 1])[:3] if len(parts) == 1 else (parts + [1])[:3]
    if start <= 0 or end < start or step <= 0:
        raise typer.BadParameter(f"{text!r}: use start:end[:step] with 0 < start <= end")
    out, v = [], start
    while v <= end + 1e-9:
        out.append(v)
        v += step
    return tuple(out)


def kind_weights(text: str) -> tuple[tuple[str, float], ...]:
    """'babble:3,music:2' -> (('babble', 3.0), ('music', 2.0)): positive, finite weights by name."""
    out = []
    for item in text.split(","):
        name, sep, weight = item.partition(":")
        try:
            value = float(weight)
        except ValueError:
            value = float("nan")
        if not (name.strip() and sep and 0 < value < float("inf")):
            raise typer.BadParameter(f"item {item!r}: use KIND:WEIGHT with a positive weight, like babble:3")
        out.append((name.strip(), value))
    return tuple(out)


def merged_kind_weights(values: list[tuple[tuple[str, float], ...]] | None) -> dict[str, float]:
    """Every --noise-weights value (repeated or comma-listed) as one mapping; a kind given twice is refused,
    not silently overridden."""
    merged: dict[str, float] = {}
    for name, weight in (pair for value in values or () for pair in value):
        if name in merged:
            raise typer.BadParameter(f"noise kind {name!r} is given twice (KIND:WEIGHT)",
                                     param_hint="'--noise-weights'")
        merged[name] = weight
    return merged


def rate_levels(text: str) -> tuple[float, ...]:
    return levels(text, float)


def lengths(text: str) -> tuple[tuple[int, float], ...]:
    """'8000:0.7,24000:0.3' -> ((8000, 0.7), (24000, 0.3))."""
    out = []
    for item in text.split(","):
        n, _, share = item.partition(":")
        try:
            out.append((int(n), float(share or 1.0)))
        except ValueError:
            raise typer.BadParameter(f"item {item!r}: use SAMPLES:SHARE") from None
    if any(n < 1 or s <= 0 for n, s in out):
        raise typer.BadParameter("needs positive samples and shares")
    return tuple(out)


def preferred(text: str) -> tuple[tuple[int, ...], ...]:
    """'default,4,2+4' -> ((), (4,), (2, 4)): alternatives to try; 'default' leaves the choice to Triton."""
    out: list[tuple[int, ...]] = []
    for item in text.split(","):
        item = item.strip()
        choice = () if item == "default" else int_list(item.replace("+", ","))
        if choice not in out:
            out.append(choice)
    return tuple(out)


def names(values: list[str] | None) -> tuple[str, ...]:
    """Repeatable and comma-separated at once: --to onnx --to trt, or --to onnx,trt."""
    return tuple(v.strip() for item in values or () for v in item.split(",") if v.strip())


def json_object(text: str) -> dict[str, Any]:
    """A JSON object given inline, or the path of a .json file holding one."""
    source = text
    if not text.lstrip().startswith("{") and Path(text).is_file():
        source = Path(text).read_text()
    try:
        value = json.loads(source)
    except json.JSONDecodeError as e:
        raise typer.BadParameter(f"not a JSON object ({e})") from None
    if not isinstance(value, dict):
        raise typer.BadParameter("must be a JSON object, like '{\"hidden\": 48}'")
    return value


Device = Literal["cpu", "cuda"]
Protocol = Literal["grpc", "http"]
Precision = Literal[PRECISIONS]  # wux.export.spec: the one list
CHECKPOINT_HELP = (f"wux checkpoint, or a bundled model by name: {', '.join(BUNDLED_MODELS)} (when omitted: "
                   "default; not with --model)")
CheckpointArg = Annotated[Optional[Path], typer.Argument(help=CHECKPOINT_HELP, show_default=False)]
CheckpointOpt = Annotated[Optional[Path], typer.Option(help=CHECKPOINT_HELP, show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]
# validation files held out of a training split, as wux train holds them out (wux.data.dataset.held_out_names)
ValShareOpt = Annotated[Optional[float], typer.Option(
    min=0.0, max=0.9, help="Share of training files held out for validation")]
ValByOpt = Annotated[Optional[Literal["file", "speaker"]], typer.Option(
    help="Hold out every k-th file, or every k-th speaker's files (voices training never hears)")]


def available_device(device: str) -> str:
    """--device cuda on a machine (or torch build) without CUDA: one line when the options are read, before any
    work, the same for every command."""
    from wux.runtime.device import require_device

    require_device(device)
    return device


DeviceOpt = Annotated[Device, typer.Option(callback=available_device, help="Where PyTorch / onnxruntime run.")]
# load-generation options shared by `wux perf` and `wux tune`
LengthsOpt = Annotated[Optional[tuple], typer.Option(parser=lengths, metavar="SAMPLES:SHARE,...",
                                                     help="Request lengths and their shares (default: the chunk).")]
# perf_analyzer's own names where the meaning is the same
IntervalOpt = Annotated[int, typer.Option("-p", "--measurement-interval", help="Measurement window, ms.")]
StabilityOpt = Annotated[float, typer.Option(
    "-s", "--stability-percentage", help="The last 3 windows are stable when max/min <= 1 + this %.")]
MaxTrialsOpt = Annotated[int, typer.Option("-r", "--max-trials", help="Windows per level before giving up on "
                                                                       "stability.")]
InputDataOpt = Annotated[Optional[Path], typer.Option(
    help="Folder of WAV or FLAC files to send (at any rate and channel count: resampled to the model's, mixed to "
         "mono).")]


def typed_on_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether the user typed the option (not a default or the environment); by name, since typer may bring its
    own copy of click's ParameterSource."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def form_typed(ctx: typer.Context, param) -> str:
    """The option as the user typed it: a --x/--no-x flag set to False was typed in its --no- form."""
    if getattr(param, "secondary_opts", None) and ctx.params.get(param.name) is False:
        return param.secondary_opts[-1]
    return param.opts[-1]


def refuse_unused(ctx: typer.Context, used: set[str], mode: str, *names: str) -> None:
    """Of the options `names`, those typed on the command line that this run's mode does not use are refused,
    not silently ignored (`--format trt` without --export would otherwise run the model itself)."""
    typed = [form_typed(ctx, p) for p in ctx.command.params if p.name in names and p.name not in used
             and typed_on_command_line(ctx, p.name)]
    if typed:
        raise WuxError(f"{', '.join(typed)} {'does' if len(typed) == 1 else 'do'} not apply {mode}")


# ---------------------------------------------------------------- how models are named


@dataclass(frozen=True)
class ModelOptions:
    """--model, --model-kwargs, --weights, --sample-rate, --contract: a model from the user's own code."""

    model: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    weights: Path | None = None
    sample_rate: int | None = None
    contract: dict[str, Any] = field(default_factory=dict)

    def source(self, checkpoint: Path | None = None):
        from wux.model.load import ModelSource

        declared = dict(self.contract)
        if self.sample_rate is not None:
            declared["sample_rate"] = self.sample_rate
        return ModelSource(checkpoint=checkpoint, factory=self.model, kwargs=dict(self.model_kwargs),
                           weights=self.weights, declared=declared)


MODEL_PARAMETERS = [
    inspect.Parameter("model", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[str], typer.Option("--model", help="Your model: MODULE:CALLABLE or path/to/file.py:CALLABLE.",
                                    rich_help_panel="Model")]),
    inspect.Parameter("model_kwargs", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[dict], typer.Option("--model-kwargs", parser=json_object, metavar="JSON",
                                     help="Keyword arguments for --model, as a JSON object.",
                                     rich_help_panel="Model")]),
    inspect.Parameter("weights", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[Path], typer.Option("--weights", help="Weights for --model: a state_dict, or one under "
                                     "state_dict / model / model_state_dict / state.", rich_help_panel="Model")]),
    inspect.Parameter("sample_rate", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[int], typer.Option("--sample-rate", min=1, max=MAX_SAMPLE_RATE,
                                    help="The rate --model was trained at, Hz.", rich_help_panel="Model")]),
    inspect.Parameter("contract", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[dict], typer.Option("--contract", parser=json_object, metavar="JSON",
                                     help="Audio-contract facts you know (else measured): e.g. "
                                          "'{\"length\": {\"multiple\": 64}, \"causal\": true}'.",
                                     rich_help_panel="Model")]),
]


def takes_model(fn):
    """Add the --model options to a command; it receives them as `model_options: ModelOptions`."""
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn, include_extras=True)
    own = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
           if p.name != "model_options"]

    @functools.wraps(fn)
    def wrapper(**kwargs):
        values = {p.name: kwargs.pop(p.name) for p in MODEL_PARAMETERS}
        if values["model_kwargs"] is not None and values["model"] is None:  # an empty object too: given, unused
            from wux.model.load import KWARGS_WITHOUT_MODEL

            raise WuxError(KWARGS_WITHOUT_MODEL)
        options = ModelOptions(**{k: v for k, v in values.items() if v is not None})
        return fn(model_options=options, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=own + MODEL_PARAMETERS)
    return wrapper
