"""Audio-contract and layout facts a user declares (--contract) or a model states (`wux_contract`): the known
fields, each of the kind the contract holds, refused in one line naming where it came from otherwise."""

from __future__ import annotations

import types
import typing
from dataclasses import fields
from typing import Any

from wux.contract import AudioContract, LengthRule
from wux.errors import ConfigError
from wux.model.adapter import Layout

LAYOUT_KEYS = tuple(f.name for f in fields(Layout))
CONTRACT_KEYS = tuple(f.name for f in fields(AudioContract))
KINDS = {**typing.get_type_hints(AudioContract), **typing.get_type_hints(Layout)}
KIND_NAMES = {int: "a whole number", bool: "true or false", str: "a string"}


def allowed_kinds(key: str) -> tuple[type, ...]:
    hint = KINDS[key]
    return typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)


def fits(value: Any, kinds: tuple[type, ...]) -> bool:
    if value is None:
        return type(None) in kinds
    if isinstance(value, bool):  # JSON's true is not a count
        return bool in kinds
    return any(k is not bool and k is not type(None) and isinstance(value, k) for k in kinds)


def describe(kinds: tuple[type, ...]) -> str:
    names = [KIND_NAMES.get(k, k.__name__) for k in kinds if k is not type(None)]
    return " or ".join(names) + (" or null" if type(None) in kinds else "")


def length_rule(value: Any, where: str) -> LengthRule:
    """A length rule given as {"multiple": M, "minimum": N} (either may be left out)."""
    if isinstance(value, LengthRule):
        return value
    known = {f.name for f in fields(LengthRule)}
    if not isinstance(value, dict) or set(value) - known or not all(fits(v, (int,)) for v in value.values()):
        raise ConfigError(f"{where}: length must be an object like {{\"multiple\": 64, \"minimum\": 1024}}, "
                          f"got {value!r}")
    try:
        return LengthRule(**value)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def checked_facts(facts: dict[str, Any], where: str) -> dict[str, Any]:
    """The facts, each of its field's kind (a length rule as a LengthRule); unknown fields and wrong kinds are
    refused naming `where` (--contract, or the model's wux_contract)."""
    unknown = sorted(set(facts) - set(CONTRACT_KEYS) - set(LAYOUT_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; known: "
                          f"{', '.join(CONTRACT_KEYS + LAYOUT_KEYS)}")
    checked = {}
    for key, value in facts.items():
        if key == "length":
            value = length_rule(value, where)
        elif not fits(value, allowed_kinds(key)):
            raise ConfigError(f"{where}: {key} must be {describe(allowed_kinds(key))}, got {value!r}")
        checked[key] = value
    return checked
