"""Typed YAML: a parsed mapping checked against a dataclass's annotations, section by section.

:func:`build_dataclass` is how a profile (:mod:`heritage_core.suite.profiles`) is validated: unknown keys (with
the closest allowed one), missing required keys and values of the wrong type are :class:`ConfigError` naming the
dotted key (``train.batch_size``); lists become tuples, nested dataclasses are built recursively, and each
dataclass's ``__post_init__`` then checks its values.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any

from heritage_core.errors import ConfigError

__all__ = ["build_dataclass", "plain", "bad_value", "check_at_least"]


def plain(value: Any) -> Any:
    """``value`` with every tuple turned into a list, recursively (for ``yaml.safe_dump``)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"a mapping of str to {_type_name(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {type(None): "null", bool: "true/false", int: "int", float: "number", str: "str",
            Any: "any value"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, key: str) -> Any:
    """``value`` checked against the annotation ``tp`` (lists become tuples); ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(options) < len(typing.get_args(tp)):
            return None
        if len(options) == 1 and (dataclasses.is_dataclass(options[0]) or typing.get_origin(options[0])):
            return _convert(value, options[0], key)  # the inner message names the exact key
        for option in typing.get_args(tp):
            try:
                return _convert(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"key '{key}' must be {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return build_dataclass(tp, value, key)
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise ConfigError(f"key '{key}' must be {_type_name(tp)}, got {value!r} ({type(value).__name__})")
        return tuple(_convert(v, typing.get_args(tp)[0], f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict) or any(not isinstance(k, str) for k in value):
            raise ConfigError(f"key '{key}' must be {_type_name(tp)}, got {value!r} ({type(value).__name__})")
        return {k: _convert(v, typing.get_args(tp)[1], f"{key}.{k}") for k, v in value.items()}
    ok = {
        type(None): value is None,
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[tp]
    if not ok:
        raise ConfigError(f"key '{key}' must be {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    return float(value) if tp is float else value


def build_dataclass(cls: type, raw: Any, key: str) -> Any:
    """An instance of dataclass ``cls`` from the mapping ``raw`` of section ``key`` ('' for the top level)."""
    where = f"section '{key}'" if key else "the profile"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping, got {raw!r} ({type(raw).__name__})")
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    prefix = f"{key}." if key else ""
    unknown = sorted(str(k) for k in set(raw) - set(fields))
    if unknown:
        hints_text = "".join(
            f" ('{prefix + k}': did you mean '{prefix + close[0]}'?)"
            for k in unknown if (close := difflib.get_close_matches(k, fields, n=1))
        )
        raise ConfigError(f"unknown key(s) {[prefix + k for k in unknown]} in {where}{hints_text}; allowed are {fields}")
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in raw
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where} lacks the required key(s) {[prefix + k for k in missing]}")
    return cls(**{name: _convert(value, hints[name], prefix + name) for name, value in raw.items()})


def bad_value(key: str, value: object, allowed: str) -> ConfigError:
    """The error for a value of the right type but outside its allowed set, naming the dotted ``key``."""
    return ConfigError(f"key '{key}' is {value!r}; it must be {allowed}")


def check_at_least(section: str, spec: object, low: int, *names: str, unit: str = "") -> None:
    """Raise :func:`bad_value` for the first field of ``names`` on ``spec`` (of ``section``) below ``low``.

    Args:
        section: the profile section, for the dotted key (``evaluate``).
        spec: the section's dataclass.
        low: the smallest allowed value.
        *names: the integer fields to check.
        unit: what the values count, shown in the message (``px``).
    """
    for name in names:
        value = getattr(spec, name)
        if value < low:
            raise bad_value(f"{section}.{name}", value, f"an integer >= {low}" + (f" ({unit})" if unit else ""))
