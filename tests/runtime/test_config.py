"""The strict config loader: unknown keys and bad values are errors that name the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from runtime.config import bounded, from_mapping, to_mapping
from runtime.errors import UserError


@dataclass
class Inner:
    rate: float = bounded(0.5, "a rate", ge=0, le=1)


@dataclass
class Outer:
    name: str = "x"
    mode: Literal["a", "b"] = "a"
    sizes: list[int] = bounded([160, 240], "input sizes")
    span: tuple[float, float] = (0.5, 1.0)
    inner: Inner = field(default_factory=Inner)
    extra: int | None = None


def test_defaults_and_conversion() -> None:
    cfg = from_mapping(Outer, {"sizes": [320], "span": [0.6, 0.9], "inner": {"rate": 1}}, "p")
    assert cfg.sizes == [320] and cfg.span == (0.6, 0.9) and cfg.inner.rate == 1.0
    assert to_mapping(cfg)["inner"] == {"rate": 1.0}


@pytest.mark.parametrize("data, message", [
    ({"nmae": "y"}, "p.nmae: unknown key"),
    ({"inner": {"rte": 1}}, "p.inner.rte: unknown key"),
    ({"inner": {"rate": 2}}, "p.inner.rate: 2.0 must be <= 1"),
    ({"mode": "c"}, "p.mode"),
    ({"sizes": ["a"]}, "p.sizes[0]"),
    ({"extra": "n"}, "p.extra"),
    ({"inner": {"rate": float("nan")}}, "NaN"),
])
def test_errors_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        from_mapping(Outer, data, "p")
