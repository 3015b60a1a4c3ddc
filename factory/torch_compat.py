"""Make ``import torchvision`` (and so timm, torchmetrics, pytorch_lightning, nni) work beside a CPU torch.

PyPI's torchvision 0.28 wheel is a CUDA build: next to the CPU torch its ``_C`` extension fails to load, and
its Python code then dies at import with ``RuntimeError: operator torchvision::nms does not exist``
(docs/STACK.md). :func:`ensure_torchvision` registers the two operator schemas that torchvision's Python code
looks up at import (``nms`` and ``qnms``), only when torchvision's own operators are absent. Transforms,
datasets and ``ops.misc`` then work; the C++ ops (nms, roi_align) stay unavailable. On a normal install
(CPU or CUDA torchvision whose ``_C`` loads) this is a no-op.

Import this module before the first import of torchvision, timm, torchmetrics, pytorch_lightning or nni;
importing it applies the fix once.
"""

from __future__ import annotations

import importlib.util
import sys

_LIBRARY = None  # keeps the torch.library fragment alive for the process


def _torchvision_ops_loaded() -> bool:
    import torch

    try:
        torch.ops.torchvision.nms  # noqa: B018 - attribute access resolves the operator
    except (AttributeError, RuntimeError):
        return False
    return True


def _native_extension_loads() -> bool:
    """Whether torchvision's ``_C`` extension loads (it registers nms itself then)."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    import glob
    import os

    import torch

    for location in spec.submodule_search_locations:
        for path in glob.glob(os.path.join(location, "_C*.so")) + glob.glob(os.path.join(location, "_C*.pyd")):
            try:
                torch.ops.load_library(path)
                return True
            except (OSError, RuntimeError):
                return False
    return False


def ensure_torchvision() -> None:
    """Register torchvision's ``nms``/``qnms`` schemas when its native ops cannot load (else do nothing)."""
    global _LIBRARY
    if _LIBRARY is not None or "torchvision" in sys.modules:
        return
    if importlib.util.find_spec("torchvision") is None:
        return
    if _torchvision_ops_loaded() or _native_extension_loads():
        return
    import torch

    lib = torch.library.Library("torchvision", "FRAGMENT")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIBRARY = lib


ensure_torchvision()
