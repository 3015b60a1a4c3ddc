"""Typed, strict configuration: dataclasses loaded from YAML mappings, unknown keys rejected by name.

Every stage (factory) and role (runtime) declares its section as a ``@dataclass`` whose fields carry a
default and, where useful, bounds in ``field(metadata={"ge": .., "le": .., "gt": .., "lt": ..})``.
:func:`from_mapping` converts a plain mapping (from YAML) into that dataclass:

- a key the dataclass does not declare is an error naming it (``params.yaml: world.fsp: unknown key``);
- values are checked against the annotation (int, float, bool, str, Literal, Enum (a member's value),
  Optional, list/tuple, dict[str, X] and nested dataclasses) and the bounds, and an error names the dotted
  key path.

Written by hand because the runtime may not depend on pydantic (the edge install is numpy, numba, OpenCV,
ncnn, pyzmq and PyYAML only); the factory uses the same loader so both sides behave the same.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from runtime.errors import UserError, read_text

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def key_path(where: str, key: object) -> str:
    """``where`` extended by one key: ``p.key``; after a prefix ending in ``:`` (a file name) the key path
    starts there: ``manifest.json:`` + ``models`` → ``manifest.json: models``."""
    return f"{where} {key}" if where.endswith(":") else f"{where}.{key}"


def _convert(value: Any, tp: Any, where: str, meta: Mapping[str, Any]) -> Any:
    """``value`` checked and converted to annotation ``tp``; errors name ``where``."""
    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return _convert_union(value, tp, where, meta)
    if origin is Literal:
        return _convert_literal(value, tp, where)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _convert_enum(value, tp, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise UserError(f"{where}: expected a mapping, got {type(value).__name__}")
        return from_mapping(tp, value, where)
    if origin in (list, tuple) or tp in (list, tuple):
        return _convert_sequence(value, tp, where, meta)
    if origin is dict or tp is dict:
        return _convert_dict(value, tp, where)
    scalar = _SCALARS.get(tp)
    if scalar is None:
        raise UserError(f"{where}: unsupported type {_type_name(tp)}")
    return scalar(value, where, meta)


def _convert_union(value: Any, tp: Any, where: str, meta: Mapping[str, Any]) -> Any:
    options = get_args(tp)
    if value is None and type(None) in options:
        return None
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return _convert(value, option, where, meta)
        except UserError as exc:
            errors.append(str(exc))
    raise UserError(errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of {tp}")


def _convert_literal(value: Any, tp: Any, where: str) -> Any:
    if value not in get_args(tp):
        choices = ", ".join(repr(c) for c in get_args(tp))
        raise UserError(f"{where}: {value!r} is not one of {choices}")
    return value


def _convert_enum(value: Any, tp: type[enum.Enum], where: str) -> enum.Enum:
    """A member of ``tp`` from the member or its value; else the one-line error of a Literal."""
    try:
        return tp(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in tp)
        raise UserError(f"{where}: {value!r} is not one of {choices}") from None


def _convert_sequence(value: Any, tp: Any, where: str, meta: Mapping[str, Any]) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise UserError(f"{where}: expected a list, got {type(value).__name__}")
    origin, args = get_origin(tp), get_args(tp)
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(args) != len(value):
            raise UserError(f"{where}: expected {len(args)} items, got {len(value)}")
        items = [_convert(v, a, f"{where}[{i}]", meta) for i, (v, a) in enumerate(zip(value, args, strict=False))]
    else:
        item_tp = args[0] if args else Any
        items = [_convert(v, item_tp, f"{where}[{i}]", meta) for i, v in enumerate(value)]
    return tuple(items) if (origin is tuple or tp is tuple) else items


def _convert_dict(value: Any, tp: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise UserError(f"{where}: expected a mapping, got {type(value).__name__}")
    args = get_args(tp)
    val_tp = args[1] if args else Any
    return {str(k): _convert(v, val_tp, key_path(where, k), {}) for k, v in value.items()}


def _to_bool(value: Any, where: str, meta: Mapping[str, Any]) -> bool:
    if not isinstance(value, bool):
        raise UserError(f"{where}: expected true/false, got {value!r}")
    return value


def _to_int(value: Any, where: str, meta: Mapping[str, Any]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{where}: expected an integer, got {value!r}")
    _check_bounds(value, where, meta)
    return value


def _to_float(value: Any, where: str, meta: Mapping[str, Any]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{where}: expected a number, got {value!r}")
    if math.isnan(float(value)):
        raise UserError(f"{where}: NaN is not allowed")
    _check_bounds(float(value), where, meta)
    return float(value)


def _to_str(value: Any, where: str, meta: Mapping[str, Any]) -> str:
    if not isinstance(value, str):
        raise UserError(f"{where}: expected a string, got {value!r}")
    return value


def _to_path(value: Any, where: str, meta: Mapping[str, Any]) -> Path:
    if not isinstance(value, (str, Path)):
        raise UserError(f"{where}: expected a path, got {value!r}")
    return Path(value)


_SCALARS: dict[Any, Callable[[Any, str, Mapping[str, Any]], Any]] = {
    bool: _to_bool, int: _to_int, float: _to_float, str: _to_str, Path: _to_path}


def _check_bounds(value: float, where: str, meta: Mapping[str, Any]) -> None:
    checks = {"ge": (lambda a, b: a >= b, ">="), "gt": (lambda a, b: a > b, ">"),
              "le": (lambda a, b: a <= b, "<="), "lt": (lambda a, b: a < b, "<")}
    for key, (ok, sign) in checks.items():
        if key in meta and not ok(value, meta[key]):
            raise UserError(f"{where}: {value!r} must be {sign} {meta[key]}")


def from_mapping(cls: type[T], data: Mapping[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from ``data``; ``where`` prefixes every error (``params.yaml: world``, or a file
    name ending in ``:``, see :func:`key_path`). A ``validate(where)`` method of ``cls`` runs last."""
    data = dict(data or {})
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = [k for k in data if k not in fields]
    if unknown:
        known = ", ".join(sorted(fields))
        raise UserError(f"{key_path(where, unknown[0])}: unknown key (known: {known})")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(value, hints[name], key_path(where, name), fields[name].metadata)
    missing = [n for n, f in fields.items() if n not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise UserError(f"{key_path(where, missing[0])}: required key is missing")
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{where.removesuffix(':')}: {exc}") from None
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(where)
    return obj


def to_mapping(obj: Any) -> Any:
    """Plain YAML/JSON-ready data of a (nested) config dataclass, for writing the resolved config."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_mapping(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_mapping(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_mapping(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    return obj


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a syntax error is a one-line :class:`UserError`."""
    path = Path(path)
    text = read_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{path}:{line} invalid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping at the top level")
    return data


def bounded(default: Any, help: str = "", **bounds: float) -> Any:
    """A dataclass field with a default, a description and bounds (``ge``, ``gt``, ``le``, ``lt``)."""
    meta = dict(bounds)
    meta["help"] = help
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: typing.cast(Any, default).copy(), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def load_section(cls: type[T], path: str | None, name: str, overrides: Sequence[str] = ()) -> T:
    """Dataclass ``cls`` from section ``name`` of the YAML file ``path`` (or the whole file when it has no such
    section; no file = defaults), with ``KEY=VALUE`` ``overrides`` (values parsed as YAML) applied on top —
    the ``--config`` / ``--set`` pair of the benchmarks."""
    section: dict[str, Any] = {}
    if path:
        data = read_yaml(path)
        inner = data.get(name, data)
        section = dict(inner) if isinstance(inner, Mapping) else {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set: expected KEY=VALUE, got {item!r}")
        section[key] = yaml.safe_load(value)
    return from_mapping(cls, section, f"{path or '--set'}: {name}")
