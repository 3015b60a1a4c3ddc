"""The ``discovery`` config section: defaults, help texts, bounds and unknown keys."""

from __future__ import annotations

import dataclasses

import pytest

from runtime.config import from_mapping, to_mapping
from runtime.discovery import DiscoveryConfig
from runtime.errors import UserError


def test_defaults_round_trip_and_help() -> None:
    cfg = from_mapping(DiscoveryConfig, {}, "c.yaml: discovery")
    assert cfg == DiscoveryConfig()
    assert from_mapping(DiscoveryConfig, to_mapping(cfg), "x") == cfg
    for f in dataclasses.fields(DiscoveryConfig):
        assert f.default is not dataclasses.MISSING
        assert f.metadata.get("help"), f.name
    assert cfg.min_member_fraction == 0.05 and 240 <= cfg.width <= 320


@pytest.mark.parametrize("data,message", [
    ({"widht": 320}, "c.yaml: discovery.widht: unknown key"),
    ({"width": 8}, "discovery.width: 8 must be >= 32"),
    ({"min_member_fraction": 1.5}, "discovery.min_member_fraction: 1.5 must be <= 1.0"),
    ({"diff_threshold": 2.5}, "discovery.diff_threshold: expected an integer"),
    ({"region_scale": 0.5}, "discovery.region_scale: 0.5 must be >= 1.0"),
])
def test_bad_values_are_one_line_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=message.replace(".", r"\.")):
        from_mapping(DiscoveryConfig, data, "c.yaml: discovery")
