"""From architecture weights to an architecture JSON, and from that JSON to a plain frozen backbone.

Derivation (DARTS, Liu et al. 2019 §2.4): every edge keeps its strongest candidate other than ``none``
(``none`` only scales an edge down during the search); node j ≥ 1 keeps the two incoming edges with the
largest input logits; node 0 keeps both cell inputs. The JSON (``arch.json``)::

    {"format": 1,
     "space": {"channels", "nodes", "cells", "ops", "image_size", "num_classes"},
     "sample": {label: op name | [input indices]},      # NNI sample: CellSpace(...).freeze(sample) works
     "genotype": {"normal": [[[input, op], [input, op]], ...per node], "reduce": [...]},
     ...more keys (device, MACs, accuracy) added by the stage}

:func:`build_backbone` needs only torch (no NNI): it builds :class:`factory.nas.backbone.Backbone`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from factory.nas.backbone import Backbone
from factory.nas.ops import NONE
from runtime.errors import UserError

FORMAT = 1


def derive(alphas: Mapping[str, torch.Tensor], ops: Mapping[str, list[str]], nodes: int
           ) -> tuple[dict[str, Any], dict[str, list[list[tuple[int, str]]]]]:
    """``(sample, genotype)`` from the architecture logits ``alphas`` (label → logits) and the candidate names
    ``ops`` of each edge label."""
    sample: dict[str, Any] = {}
    genotype: dict[str, list[list[tuple[int, str]]]] = {}
    for kind in ("normal", "reduce"):
        if f"{kind}_n0_e0" not in alphas:  # e.g. no normal cell when cells == 3
            continue
        cell = []
        for j in range(nodes):
            for i in range(2 + j):
                label = f"{kind}_n{j}_e{i}"
                logits = alphas[label].detach().float().cpu()
                names = ops[label]
                keep = [k for k, name in enumerate(names) if name != NONE]
                sample[label] = names[max(keep, key=lambda k: float(logits[k]))]
            if j == 0:
                chosen = [0, 1]
            else:
                logits = alphas[f"{kind}_n{j}_in"].detach().float().cpu()
                chosen = sorted(torch.argsort(-logits)[:2].tolist())
                sample[f"{kind}_n{j}_in"] = chosen
            cell.append([(i, sample[f"{kind}_n{j}_e{i}"]) for i in chosen])
        genotype[kind] = cell
    return sample, genotype


def arch_json(sample: Mapping[str, Any], genotype: Mapping[str, Any], space: Mapping[str, Any],
              **extra: Any) -> dict[str, Any]:
    """The architecture document (see module docstring)."""
    return {"format": FORMAT, "space": dict(space), "sample": dict(sample),
            "genotype": {k: [[list(edge) for edge in node] for node in v] for k, v in genotype.items()},
            **extra}


def load_arch(path: str | Path) -> dict[str, Any]:
    """Read an ``arch.json``; a missing file or another format is a :class:`UserError`."""
    path = Path(path)
    try:
        arch = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read architecture ({exc})") from None
    if arch.get("format") != FORMAT:
        raise UserError(f"{path}: architecture format {arch.get('format')!r}, expected {FORMAT}")
    return arch


def build_backbone(arch: Mapping[str, Any]) -> Backbone:
    """The plain backbone of an architecture document: ``forward(x)`` → features at strides 8, 16, 32."""
    space = arch["space"]
    genotype = {k: [[(int(i), str(op)) for i, op in node] for node in v] for k, v in arch["genotype"].items()}
    return Backbone(genotype, int(space["channels"]), int(space["nodes"]), int(space["cells"]))
