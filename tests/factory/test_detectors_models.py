"""Backbone registry, mini/baseline detectors, checkpoints, MACs, target assignment and loss (tiny sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from factory.models.backbones import create_backbone, list_backbones
from factory.models.complexity import count_macs, count_params
from factory.models.detector import (
    baseline_spec,
    build_detector,
    load_backbone_weights,
    load_detector,
    mini_spec,
    save_backbone,
    save_detector,
)
from factory.models.loss import Targets, assign, cell_centres, detection_loss
from runtime.decode import decode
from runtime.errors import UserError

torch.set_num_threads(1)
CLASSES = ["person", "vehicle"]
SMALL = {"standin": {"width": 8}, "resnet-lite": {"width": 8}}


@pytest.mark.parametrize("name", list_backbones())
def test_registered_backbones_give_three_strides(name: str) -> None:
    bb = create_backbone(name, **SMALL.get(name, {}))
    feats = bb(torch.zeros(1, 3, 64, 96))
    assert [tuple(f.shape[-2:]) for f in feats] == [(8, 12), (4, 6), (2, 3)]
    assert [f.shape[1] for f in feats] == bb.out_channels and bb.size_multiple == 32


def test_unknown_and_unsearched_backbones_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown"):
        create_backbone("resnet-9000")
    with pytest.raises(UserError, match="no searched architecture"):
        create_backbone("searched:raspberry-pi-4b", search_dir=str(tmp_path))


def test_searched_backbone_from_arch_json(tmp_path: Path) -> None:
    pytest.importorskip("factory.nas.derive")
    genotype = [[[0, "sep_conv_3x3"], [1, "skip"]], [[0, "max_pool_3x3"], [2, "skip"]]]
    arch = {"format": 1, "space": {"channels": 8, "nodes": 2, "cells": 3}, "sample": {},
            "genotype": {"normal": genotype, "reduce": genotype}}
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "arch.json").write_text(json.dumps(arch))
    model = build_detector(mini_spec("searched:dev", CLASSES, 48, 16, 16, 1, {"search_dir": str(tmp_path)}))
    assert model.backbone.identity["name"] == "searched:dev"
    assert tuple(model(torch.zeros(1, 3, 48, 48))[0].shape) == (1, 6, 3, 3)  # 48: padded to 64 inside


def test_mini_pads_to_the_backbone_multiple_and_crops_back() -> None:
    model = build_detector(mini_spec("standin", CLASSES, 240, 16, 16, 1, {"width": 8})).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 240, 240))
    assert len(out) == 1 and tuple(out[0].shape) == (2, 6, 15, 15)
    assert float(out[0][:, :2].max()) <= 1.0 and float(out[0][:, 2:].min()) > 0.0
    det = decode([out[0][:1].numpy()], model.strides, CLASSES, score_threshold=0.0, top_k=5)
    assert len(det) >= 1 and det.boxes.shape[1] == 4


def test_baseline_is_multiscale_and_input_sizes_are_checked() -> None:
    model = build_detector(baseline_spec(CLASSES, width=8, fpn_width=16, head_depth=1)).eval()
    out = model(torch.zeros(1, 3, 192, 320))
    assert [tuple(o.shape[-2:]) for o in out] == [(24, 40), (12, 20), (6, 10)]
    with pytest.raises(UserError, match="multiples of 32"):
        model.check_input(200, 320)
    with pytest.raises(UserError, match="multiples of 16"):
        build_detector(mini_spec("standin", CLASSES, 250, backbone_kwargs={"width": 8}))


def test_macs_of_a_known_conv_and_baseline_heavier_than_mini() -> None:
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1, bias=False))
    assert count_macs(conv, 10, 10) == 10 * 10 * 8 * 3 * 9
    mini = build_detector(mini_spec("standin", CLASSES, 160))
    base = build_detector(baseline_spec(CLASSES))
    assert count_macs(base, 384, 640) >= 3 * count_macs(mini, 384, 640)
    assert count_params(base) > count_params(mini)


def test_checkpoints_refuse_another_architecture(tmp_path: Path) -> None:
    spec = mini_spec("standin", CLASSES, 64, 16, 16, 1, {"width": 8})
    model = build_detector(spec)
    path = save_detector(tmp_path / "m.pt", model)
    again = load_detector(path, expect=spec)
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(again.eval()(x)[0], model.eval()(x)[0])
    other = mini_spec("standin", CLASSES, 64, 32, 16, 1, {"width": 8})
    with pytest.raises(UserError, match="another architecture"):
        load_detector(path, expect=other)
    data = torch.load(path, weights_only=False)
    data["spec"] = other  # weights of one architecture under the spec of another
    torch.save(data, tmp_path / "bad.pt")
    with pytest.raises(UserError, match="do not fit") as err:
        load_detector(tmp_path / "bad.pt")
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="not a paraloupe-detector"):
        load_detector(save_backbone(tmp_path / "b.pt", model.backbone))
    with pytest.raises(UserError, match="another architecture"):
        load_backbone_weights(create_backbone("standin", width=16), tmp_path / "b.pt")
    load_backbone_weights(create_backbone("standin", width=8), tmp_path / "b.pt")


def test_tiny_box_gets_its_centre_cell_and_crowd_is_ignored() -> None:
    centres, strides, levels = cell_centres([(8, 8), (4, 4)], [8, 16], torch.device("cpu"))
    t = Targets(torch.tensor([[10.0, 10.0, 14.0, 13.0], [32.0, 32.0, 64.0, 64.0]]), torch.tensor([0, 1]),
                torch.tensor([False, True]))
    assigned, ignore = assign(t, centres, strides, levels, [16.0], radius=1.5)
    pos = torch.nonzero(assigned == 0).squeeze(1).tolist()
    assert pos == [1 * 8 + 1]  # the stride-8 cell holding the 4×3 box's centre, nothing at stride 16
    assert ignore.any() and not (ignore & (assigned >= 0)).any()


def test_loss_falls_when_fitting_one_batch() -> None:
    torch.manual_seed(0)
    model = build_detector(mini_spec("standin", CLASSES, 64, 16, 16, 1, {"width": 8}))
    x = torch.randn(2, 3, 64, 64)
    t = [Targets(torch.tensor([[8.0, 8.0, 56.0, 50.0]]), torch.tensor([1]), torch.tensor([False])),
         Targets(torch.tensor([[10.0, 4.0, 30.0, 60.0]]), torch.tensor([0]), torch.tensor([False]))]
    opt = torch.optim.AdamW(model.parameters(), 1e-2)
    losses = []
    for _ in range(15):
        loss = detection_loss(model.forward_train(x), t, model.strides, [])
        opt.zero_grad()
        loss["loss"].backward()
        opt.step()
        losses.append(float(loss["loss"]))
    assert np.isfinite(losses).all() and losses[-1] < 0.7 * losses[0]
