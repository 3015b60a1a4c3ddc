"""Target assignment and losses of the anchor-free heads.

Assignment (FCOS-style with centre sampling, per image): a ground-truth box is eligible at the levels whose
``level_bounds`` range holds its longer side (every level when no bounds are given); at an eligible level a
cell is positive for it when the cell centre lies inside the box and within ``radius`` strides of the box
centre, and the cell that holds the box centre is always positive (so tiny boxes get a cell). A cell
claimed by several boxes takes the smallest. Cells whose centre lies in an ``iscrowd`` box and that are not
positive are ignored by the classification loss.

Losses: Quality Focal Loss (Li et al., GFL 2020) on the class logits with the IoU of the predicted box as
the positive target — so a score ranks localisation quality as well — plus ``box_weight`` × GIoU loss on
the positives; both summed and divided by the number of positives in the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Targets:
    """Ground truth of one image in input pixels: ``boxes`` (n, 4) x1y1x2y2, ``labels`` (n,) class indices,
    ``crowd`` (n,) bool (ignore regions)."""

    boxes: torch.Tensor
    labels: torch.Tensor
    crowd: torch.Tensor


def cell_centres(shapes: list[tuple[int, int]], strides: list[int], device: torch.device
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Centres (M, 2) in input pixels, stride (M,) and level index (M,) of all cells, level by level."""
    centres, stride_of, level_of = [], [], []
    for k, ((h, w), s) in enumerate(zip(shapes, strides, strict=False)):
        ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
        c = torch.stack([(xs.reshape(-1) + 0.5) * s, (ys.reshape(-1) + 0.5) * s], dim=1).float()
        centres.append(c)
        stride_of.append(torch.full((h * w,), float(s), device=device))
        level_of.append(torch.full((h * w,), k, device=device, dtype=torch.long))
    return torch.cat(centres), torch.cat(stride_of), torch.cat(level_of)


def assign(targets: Targets, centres: torch.Tensor, strides: torch.Tensor, levels: torch.Tensor,
           level_bounds: list[float], radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per cell: the index of its assigned box (−1 none) and an ignore flag (see the module docstring)."""
    m = centres.shape[0]
    assigned = torch.full((m,), -1, dtype=torch.long, device=centres.device)
    ignore = torch.zeros(m, dtype=torch.bool, device=centres.device)
    boxes, crowd = targets.boxes, targets.crowd
    if boxes.numel() == 0:
        return assigned, ignore
    cx, cy = centres[:, 0:1], centres[:, 1:2]  # (M, 1)
    x1, y1, x2, y2 = (boxes[:, i][None, :] for i in range(4))  # (1, n)
    inside = (cx > x1) & (cx < x2) & (cy > y1) & (cy < y2)
    if crowd.any():
        ignore = inside[:, crowd].any(dim=1)
    normal = ~crowd
    if not normal.any():
        return assigned, ignore
    idx = torch.nonzero(normal).squeeze(1)
    inside = inside[:, normal]
    x1, y1, x2, y2 = x1[:, normal], y1[:, normal], x2[:, normal], y2[:, normal]
    gcx, gcy = (x1 + x2) / 2, (y1 + y2) / 2
    s = strides[:, None]
    near = ((cx - gcx).abs() < radius * s) & ((cy - gcy).abs() < radius * s)
    centre_cell = (torch.floor(gcx / s) == torch.floor(cx / s)) & (torch.floor(gcy / s) == torch.floor(cy / s))
    if level_bounds:
        side = torch.maximum(x2 - x1, y2 - y1)  # (1, n)
        bounds = [0.0, *level_bounds, float("inf")]
        lo = torch.tensor(bounds[:-1], device=centres.device)[levels][:, None]
        hi = torch.tensor(bounds[1:], device=centres.device)[levels][:, None]
        eligible = (side > lo) & (side <= hi)
    else:
        eligible = torch.ones_like(near)
    pos = eligible & ((inside & near) | centre_cell)
    area = ((x2 - x1) * (y2 - y1)).expand_as(pos)
    area = torch.where(pos, area, torch.full_like(area, float("inf")))
    best_area, best = area.min(dim=1)
    has = torch.isfinite(best_area)
    assigned[has] = idx[best[has]]
    ignore = ignore & ~has
    return assigned, ignore


def giou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU and generalised IoU of paired x1y1x2y2 boxes (n, 4)."""
    iw = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    ih = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    union = (area_a + area_b - inter).clamp(min=1e-6)
    iou = inter / union
    cw = torch.maximum(a[:, 2], b[:, 2]) - torch.minimum(a[:, 0], b[:, 0])
    ch = torch.maximum(a[:, 3], b[:, 3]) - torch.minimum(a[:, 1], b[:, 1])
    hull = (cw * ch).clamp(min=1e-6)
    return iou, iou - (hull - union) / hull


def detection_loss(outputs: list[tuple[torch.Tensor, torch.Tensor]], targets: list[Targets], strides: list[int],
                   level_bounds: list[float], radius: float = 1.5, box_weight: float = 2.0
                   ) -> dict[str, torch.Tensor]:
    """``{"loss", "cls", "box", "positives"}`` of a batch (see the module docstring)."""
    device = outputs[0][0].device
    shapes = [tuple(cls.shape[-2:]) for cls, _ in outputs]
    logits = torch.cat([cls.flatten(2).transpose(1, 2) for cls, _ in outputs], dim=1)  # (N, M, C)
    dist = torch.cat([box.flatten(2).transpose(1, 2) for _, box in outputs], dim=1)  # (N, M, 4)
    centres, stride_of, level_of = cell_centres(shapes, strides, device)  # type: ignore[arg-type]
    d = dist * stride_of[None, :, None]
    pred = torch.cat([centres[None] - d[..., :2], centres[None] + d[..., 2:]], dim=2)  # (N, M, 4) x1y1x2y2
    score_t = torch.zeros_like(logits)
    weight = torch.ones_like(logits)
    pos_pred = []
    for i, t in enumerate(targets):
        assigned, ignore = assign(t, centres, stride_of, level_of, level_bounds, radius)
        weight[i, ignore] = 0.0
        cells = torch.nonzero(assigned >= 0).squeeze(1)
        if cells.numel():
            gt = t.boxes[assigned[cells]]
            pos_pred.append((i, cells, t.labels[assigned[cells]], gt))
    num_pos = sum(p[1].numel() for p in pos_pred)
    box_loss = logits.sum() * 0.0
    if pos_pred:
        preds = torch.cat([pred[i, cells] for i, cells, _, _ in pos_pred])
        gts = torch.cat([g for _, _, _, g in pos_pred])
        iou, g = giou(preds, gts)
        box_loss = (1.0 - g).sum()
        q = iou.detach().clamp(min=0.0)
        k = 0
        for i, cells, labels, _ in pos_pred:
            score_t[i, cells, labels] = q[k:k + cells.numel()]
            k += cells.numel()
    prob = logits.sigmoid()
    qfl = F.binary_cross_entropy_with_logits(logits, score_t, reduction="none") * (prob - score_t).abs().pow(2)
    denom = max(num_pos, 1)
    cls_loss = (qfl * weight).sum() / denom
    box_loss = box_weight * box_loss / denom
    return {"loss": cls_loss + box_loss, "cls": cls_loss.detach(), "box": box_loss.detach(),
            "positives": torch.tensor(float(num_pos))}
