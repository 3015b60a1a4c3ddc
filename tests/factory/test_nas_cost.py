"""MACs at real shapes, the expected MACs of the relaxation, and the derived backbone's structure."""

from __future__ import annotations

import pytest
import torch
from torch import nn

torch.set_num_threads(1)

from factory.nas.backbone import Classifier, cell_plan  # noqa: E402
from factory.nas.cost import ExpectedMacs, count_macs, edge_costs  # noqa: E402
from factory.nas.derive import arch_json, build_backbone, derive, load_arch  # noqa: E402
from factory.nas.ops import SepConv  # noqa: E402
from factory.nas.search import architecture_logits  # noqa: E402
from factory.nas.space import CellSpace, SpaceConfig  # noqa: E402

TINY = SpaceConfig(channels=4, nodes=2, cells=4, num_classes=2)


def supernet(config: SpaceConfig = TINY) -> CellSpace:
    from nni.nas.strategy import DARTS

    torch.manual_seed(0)
    model = CellSpace(config)
    DARTS().mutate_model(model)
    return model


def test_count_macs_follows_the_formulas() -> None:
    x = torch.zeros(1, 8, 10, 12)
    assert count_macs(nn.Conv2d(8, 16, 3, padding=1, bias=False), x) == 16 * 10 * 12 * 8 * 9
    assert count_macs(nn.Conv2d(8, 16, 3, 2, 1, bias=False), x) == 16 * 5 * 6 * 8 * 9
    assert count_macs(SepConv(8, 5, 1), x) == 2 * (8 * 120 * 25 + 8 * 120 * 8)
    assert count_macs(nn.MaxPool2d(3, 1, 1), x) == 8 * 120 * 9
    assert count_macs(nn.Sequential(nn.Flatten(), nn.Linear(8 * 120, 3)), x) == 8 * 120 * 3


def test_edge_costs_use_each_edges_real_input_shape() -> None:
    edges, fixed = edge_costs(supernet(), 32)
    assert fixed > 0
    by_label = {e.label: e for e in edges}
    # 4 cells = 3 reduction + 1 normal (stage 0): reduction instances see 4, 8, 16 channels at 8, 4, 2 px
    red = by_label["reduce_n0_e0"]
    assert red.instances == 3
    assert [s[1:] for s in red.shapes] == [[4, 8, 8], [8, 4, 4], [16, 2, 2]]
    conv = dict(zip(red.ops, red.macs, strict=False))["conv_3x3"]
    assert conv == sum(c * c * 9 * (h // 2) ** 2 for _, c, h, _ in red.shapes)  # stride 2 edges
    normal = dict(zip(by_label["normal_n1_e2"].ops, by_label["normal_n1_e2"].macs, strict=False))
    assert normal["conv_3x3"] == 4 * 4 * 9 * 4 * 4  # stride 1 inside the cell (4 channels at 4 px)
    assert normal["none"] == 0 and normal["skip"] == 0
    assert normal["sep_conv_5x5"] > normal["sep_conv_3x3"] > normal["max_pool_3x3"] > 0  # conv_3x3 < sep_5x5 at 4 ch


def test_expected_macs_of_a_one_hot_architecture_equal_the_derived_models_macs() -> None:
    model = supernet()
    edges, fixed = edge_costs(model, 32)
    cost = ExpectedMacs(edges, fixed)
    alphas = architecture_logits(model)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for a in alphas.values():
            a.copy_(torch.randn(a.shape, generator=generator) * 50)  # (nearly) one-hot softmax
    sample, genotype = derive(alphas, {e.label: e.ops for e in edges}, TINY.nodes)
    with torch.no_grad():  # make the logits agree with the derivation (which skips `none`, keeps 2 inputs)
        for e in edges:
            alphas[e.label][e.ops.index(sample[e.label])] = 1e4
        for label, chosen in sample.items():
            if label.endswith("_in"):
                alphas[label][chosen] = 1e4
    arch = arch_json(sample, genotype, {"channels": 4, "nodes": 2, "cells": 4})
    derived = Classifier(build_backbone(arch), build_backbone(arch).feature_channels[-1], 2)
    assert float(cost(alphas).detach()) == pytest.approx(count_macs(derived, torch.zeros(1, 3, 32, 32)), rel=1e-4)


def test_derived_backbone_has_features_at_strides_8_16_32(tmp_path) -> None:
    model = supernet()
    edges, _ = edge_costs(model, 32)
    sample, genotype = derive(architecture_logits(model), {e.label: e.ops for e in edges}, TINY.nodes)
    assert "none" not in {op for node in genotype["normal"] + genotype["reduce"] for _, op in node}
    assert all(len(node) == 2 for node in genotype["normal"])
    import json

    (tmp_path / "arch.json").write_text(json.dumps(arch_json(sample, genotype, {"channels": 4, "nodes": 2,
                                                                                  "cells": 4})))
    backbone = build_backbone(load_arch(tmp_path / "arch.json"))
    features = backbone(torch.zeros(1, 3, 64, 64))
    assert [f.shape[-1] for f in features] == [8, 4, 2]
    assert [f.shape[1] for f in features] == backbone.feature_channels == [8, 16, 32]
    frozen = CellSpace(TINY).freeze(sample)  # the NNI sample is complete and valid
    assert frozen(torch.zeros(2, 3, 32, 32)).shape == (2, 2)


def test_cell_plan_puts_a_reduction_cell_first_in_each_stage() -> None:
    assert cell_plan(3) == [(0, True), (1, True), (2, True)]
    assert cell_plan(5) == [(0, True), (0, False), (1, True), (1, False), (2, True)]
    with pytest.raises(ValueError):
        cell_plan(2)
