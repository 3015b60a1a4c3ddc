"""One source of defaults: every params.yaml section equals its stage's dataclass defaults, key by key, and dvc.yaml
names the outputs that factory/paths.py lays out.

params.yaml is the embedded default run; the dataclasses' defaults (their help, their fallbacks) must describe
the same run. A default changed on one side only fails here, naming the dotted key and both values.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from factory import paths
from factory.pipeline import SECTIONS, read_params
from runtime.config import from_mapping, to_mapping

REPO = Path(__file__).resolve().parents[2]

PARAMS_CLASSES = {
    "world": "factory.stages.world:WorldParams",
    "label": "factory.stages.label:LabelParams",
    "datasets": "factory.stages.datasets:DatasetsParams",
    "objectness": "factory.stages.objectness:ObjectnessParams",
    "search": "factory.stages.search:SearchParams",
    "pretrain": "factory.stages.pretrain:PretrainParams",
    "finetune": "factory.stages.finetune_params:FinetuneParams",
    "refine": "factory.stages.refine:RefineParams",
    "export": "factory.stages.export:ExportParams",
    "profile": "factory.stages.profile:ProfileParams",
    "bundle": "factory.stages.bundle:BundleParams",
    "evaluate": "factory.report.config:EvaluateParams",
    "keypoints": "factory.stages.keypoints:KeypointsParams",
}
"""params.yaml section → the dataclass its stage loads it into."""

STAGE_OUTS = {
    "world": {paths.WORLD_DIR},
    "label": {paths.LABEL_DIR},
    "datasets": {paths.DATASETS_DIR},
    "objectness": {paths.OBJECTNESS_DIR},
    "search": {paths.SEARCH_DIR},
    "pretrain": {paths.PRETRAIN_DIR},
    "finetune": {paths.DETECTORS_DIR},
    "refine": {paths.REFINED_DIR},
    "export": {paths.EXPORT_DIR},
    "profile": {paths.PROFILE_DIR},
    "bundle": {paths.BUNDLE_DIR},
    "evaluate": {paths.REPORT_DIR, paths.REPORT_MD},
    "keypoints": {paths.KEYPOINTS_DIR},
}
"""DVC stage → its ``outs`` in dvc.yaml, from the layout module."""


def params_class(section: str) -> type:
    module, name = PARAMS_CLASSES[section].split(":")
    return getattr(importlib.import_module(module), name)


def differences(ours: Any, default: Any, where: str) -> list[str]:
    """Dotted keys (and list indices) where the params.yaml value and the default differ, with both values."""
    if isinstance(ours, dict) and isinstance(default, dict):
        out = []
        for key in sorted(set(ours) | set(default), key=str):
            if key not in ours or key not in default:
                out.append(f"{where}.{key}: only in {'the default' if key not in ours else 'params.yaml'}")
            else:
                out += differences(ours[key], default[key], f"{where}.{key}")
        return out
    if isinstance(ours, list) and isinstance(default, list) and len(ours) == len(default):
        pairs = enumerate(zip(ours, default, strict=True))
        return [d for i, (a, b) in pairs for d in differences(a, b, f"{where}[{i}]")]
    return [] if ours == default else [f"{where}: params.yaml {ours!r} != dataclass default {default!r}"]


def test_every_section_has_its_params_class() -> None:
    assert set(PARAMS_CLASSES) == set(SECTIONS)
    assert set(read_params(REPO / "params.yaml")) == set(SECTIONS)


@pytest.mark.parametrize("section", list(PARAMS_CLASSES))
def test_params_yaml_equals_the_dataclass_defaults(section: str) -> None:
    cls = params_class(section)
    data = read_params(REPO / "params.yaml")[section]
    ours = to_mapping(from_mapping(cls, data, f"params.yaml: {section}"))
    default = to_mapping(from_mapping(cls, {}, f"defaults: {section}"))  # the defaults also pass validation
    diff = differences(ours, default, section)
    assert not diff, "params.yaml and the dataclass defaults differ:\n" + "\n".join(diff)


def test_the_check_sees_a_nested_difference() -> None:
    cls = params_class("finetune")
    data = read_params(REPO / "params.yaml")["finetune"]
    changed = {**data, "mini": {**data["mini"], "top_k": data["mini"]["top_k"] + 1}}
    ours = to_mapping(from_mapping(cls, changed, "finetune"))
    assert differences(ours, to_mapping(cls()), "finetune") == [
        f"finetune.mini.top_k: params.yaml {data['mini']['top_k'] + 1} != dataclass default {data['mini']['top_k']}"]


def test_dvc_yaml_outputs_follow_the_layout() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert set(stages) == set(STAGE_OUTS)
    for name, stage in stages.items():
        outs = {next(iter(o)) if isinstance(o, dict) else o for o in stage.get("outs", [])}
        assert outs == STAGE_OUTS[name], name
        assert params_class(name)().out_dir in outs, name
    metrics = {next(iter(m)) for m in stages["evaluate"]["metrics"]}
    assert metrics == {f"{paths.EVALUATE_DIR}/metrics.json"}
    assert {str(Path(next(iter(p))).parent) for p in stages["evaluate"]["plots"]} == {paths.EVALUATE_DIR}


def test_dvc_yaml_reads_only_outputs_of_stages() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    produced = set().union(*STAGE_OUTS.values())
    for name, stage in stages.items():
        for dep in stage.get("deps", []):
            if dep.startswith(f"{paths.MODELS_DIR}/"):
                assert any(dep == out or dep.startswith(f"{out}/") for out in produced), f"{name}: {dep}"
