"""The ``search`` stage: params validation, bad datasets, and a tiny end-to-end run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

torch.set_num_threads(1)

from factory.nas.data import load_dataset  # noqa: E402
from factory.nas.derive import build_backbone, load_arch  # noqa: E402
from factory.nas.devices import resolve  # noqa: E402
from factory.stages.search import DeviceParams, SearchParams, run  # noqa: E402
from runtime.config import from_mapping  # noqa: E402
from runtime.errors import UserError  # noqa: E402


def image_tree(root: Path, counts: dict[str, int], size: int = 32) -> Path:
    """``root/{train,val}/<class>/*.jpg``: class k is a noisy image of grey level 60 + 80·k."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for k, (name, n) in enumerate(counts.items()):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                image = np.clip(rng.normal(60 + 80 * k, 20, (size, size, 3)), 0, 255).astype(np.uint8)
                cv2.imwrite(str(folder / f"{i:03d}.jpg"), image)
    return root


@pytest.mark.parametrize("devices, message", [
    ([{"name": "rpi"}], "unknown device 'rpi'"),
    ([{"name": "raspberry-pi-4b", "flops": 0}], "device 'raspberry-pi-4b': FLOPS must be > 0"),
    ([{"name": "host", "flops": -1.0}], "device 'host': FLOPS must be > 0"),
    ([{"name": "host"}, {"name": "host"}], "listed twice"),
])
def test_bad_devices_are_one_line_errors_naming_them(devices: list, message: str) -> None:
    with pytest.raises(UserError, match=message) as err:
        from_mapping(SearchParams, {"devices": devices}, "params.yaml: search")
    assert "\n" not in str(err.value) and "search.devices[" in str(err.value)
    with pytest.raises(UserError, match="unknown device"):
        resolve("jetson-nano", None, None, "cli")


@pytest.mark.parametrize("counts, message", [
    ({"person": 3, "vehicle": 0}, "at least 2 classes"),
    ({"person": 0, "vehicle": 0}, "no images"),
])
def test_empty_or_one_class_datasets_are_errors(tmp_path: Path, counts: dict, message: str) -> None:
    root = image_tree(tmp_path / "set", counts)
    with pytest.raises(UserError, match=message) as err:
        load_dataset(root, 32, 10, 0)
    assert str(root / "train") in str(err.value)
    with pytest.raises(UserError, match="not found"):
        load_dataset(tmp_path / "missing", 32, 10, 0)


def test_tiny_stage_writes_architectures_backbones_and_metrics(tmp_path: Path) -> None:
    root = image_tree(tmp_path / "set", {"background": 12, "person": 12, "vehicle": 12})
    params = SearchParams(out_dir=str(tmp_path / "search"), dataset=str(root), image_size=32, channels=4,
                          nodes=2, cells=3, epochs=2, warmup_epochs=1, batch_size=8, train_epochs=1, train_seeds=1,
                          devices=[DeviceParams("raspberry-pi-4b"), DeviceParams("host", 1e11)])
    metrics = run(params)
    out = tmp_path / "search"
    assert set(metrics) == {"raspberry-pi-4b", "host", "unpenalised"}
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    for name, m in metrics.items():
        arch = load_arch(out / name / "arch.json")
        assert arch["name"] == name and m["macs"] > 0 and 0.0 <= m["val_accuracy"] <= 1.0
        state = torch.load(out / name / "backbone.pt", weights_only=False)
        backbone = build_backbone(state["arch"])
        backbone.load_state_dict(state["backbone"])
        assert [f.shape[-1] for f in backbone(torch.zeros(1, 3, 64, 64))] == [8, 4, 2]
    assert metrics["raspberry-pi-4b"]["flops_source"].startswith("HPL")
    assert metrics["unpenalised"]["flops"] is None
    assert not (out / ".home").exists()
    assert not (Path(os.environ["HOME"]) / "nni-experiments").exists()
    assert (out / "params.resolved.yaml").exists()


@pytest.mark.parametrize("ops", [["sep_conv_3x3", "conv_9x9"], ["skip", "skip"], ["none"]])
def test_bad_op_sets_are_one_line_errors_naming_the_key(ops: list) -> None:
    with pytest.raises(UserError, match=r"search\.ops: expected distinct ops") as err:
        from_mapping(SearchParams, {"ops": ops}, "params.yaml: search")
    assert "\n" not in str(err.value) and str(ops) in str(err.value)


def test_a_restricted_op_set_is_the_only_one_searched_and_derived(tmp_path: Path) -> None:
    root = image_tree(tmp_path / "set", {"background": 8, "person": 8, "vehicle": 8})
    ops = ["sep_conv_3x3", "conv_3x3", "skip"]
    params = SearchParams(out_dir=str(tmp_path / "search"), dataset=str(root), image_size=32, channels=4,
                          nodes=2, cells=3, epochs=2, warmup_epochs=1, batch_size=8, train_epochs=1, train_seeds=1,
                          devices=[DeviceParams("raspberry-pi-4b")], unpenalised=False, ops=ops)
    run(params)
    arch = load_arch(tmp_path / "search" / "raspberry-pi-4b" / "arch.json")
    assert arch["space"]["ops"] == ops
    chosen = [v for k, v in arch["sample"].items() if not k.endswith("_in")]
    assert chosen and set(chosen) <= set(ops)
