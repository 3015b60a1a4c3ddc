"""Model profiler (paper §III-D1): accuracy α_i^j of model j on device i, fixed, read from the bundle.

Input is the bundle-like table device name → model name → {"accuracy": α, ...} (F1 on the held-out patch
set, in [0, 1]); other keys (latency, memory) are the device profiler's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from runtime.errors import UserError


class ModelProfiler:
    """Accuracy table α (unitless F1, [0, 1]) per device and model."""

    def __init__(self, accuracy: Mapping[str, Mapping[str, float]]) -> None:
        self._table = {d: dict(models) for d, models in accuracy.items()}

    @classmethod
    def from_profiles(cls, profiles: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> ModelProfiler:
        """Build from device name → model name → {"accuracy": α, ...}; a missing or bad α names its key."""
        table: dict[str, dict[str, float]] = {}
        for device, models in profiles.items():
            if not models:
                raise UserError(f"profiles.{device}: lists no models")
            for name, row in models.items():
                where = f"profiles.{device}.{name}.accuracy"
                value = row.get("accuracy") if isinstance(row, Mapping) else None
                if value is None:
                    raise UserError(f"{where}: required key is missing")
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                        or not 0.0 <= value <= 1.0:
                    raise UserError(f"{where}: {value!r} must be a number in [0, 1]")
                table.setdefault(str(device), {})[str(name)] = float(value)
        return cls(table)

    def accuracy(self, device: str, model: str) -> float | None:
        """α of ``model`` on ``device``, or None when not profiled."""
        return self._table.get(device, {}).get(model)

    def table(self) -> dict[str, dict[str, float]]:
        """A copy of the whole table: device → model → α."""
        return {d: dict(m) for d, m in self._table.items()}
