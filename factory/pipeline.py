"""Reading ``params.yaml``: one typed section per stage, unknown sections and keys rejected by name.

Every stage module declares its section as a dataclass and calls :func:`load_section`. The set of known
top-level sections is :data:`SECTIONS`; a new stage adds its name there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from runtime.config import from_mapping, read_yaml
from runtime.errors import UserError

T = TypeVar("T")

SECTIONS = ("world", "label", "datasets", "objectness", "search", "pretrain", "finetune", "refine", "export", "profile",
            "bundle", "evaluate", "keypoints")

DEFAULT_PARAMS = Path("params.yaml")


def params_path() -> Path:
    """The params file: ``$PARALOUPE_PARAMS`` if set, else ``params.yaml`` in the working directory."""
    return Path(os.environ.get("PARALOUPE_PARAMS", DEFAULT_PARAMS))


def read_params(path: str | Path | None = None) -> dict[str, Any]:
    """Read the whole params file and reject unknown top-level sections by name."""
    path = Path(path) if path is not None else params_path()
    data = read_yaml(path)
    for key in data:
        if key not in SECTIONS:
            raise UserError(f"{path}: {key}: unknown section (known: {', '.join(SECTIONS)})")
    return data


def load_section(name: str, cls: type[T], path: str | Path | None = None) -> T:
    """The typed section ``name`` of the params file (defaults where the section or a key is absent)."""
    path = Path(path) if path is not None else params_path()
    data = read_params(path)
    return from_mapping(cls, data.get(name) or {}, f"{path}: {name}")


def resolve_path(value: str | Path) -> Path:
    """A params path relative to the working directory (where ``dvc repro`` runs), ``~`` expanded."""
    return Path(os.path.expanduser(str(value)))
