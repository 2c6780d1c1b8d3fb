"""Command-line value syntaxes (lists, ranges, length mixes, JSON), parsed for typer.

Each parser raises typer.BadParameter, which the CLI prints as one line with exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer


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
