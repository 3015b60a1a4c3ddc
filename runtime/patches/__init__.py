"""Object-centric patch generator (paper §III-C) and the comparison generators (EP-k, lastDet, motion regions).

Modules: ``features`` (numba kernels on the coarse grid + numpy references), ``objectness`` (model M and
its bounded online update), ``skipping`` (frame skipping, fraction of frames needing inference),
``proposer`` and ``refiner`` (RoIs → patches, the patch kinds), ``generators`` (one interface for all generators),
``motion_regions`` (Frigate NVR's motion regions), ``queue`` (patch queue entries), ``coverage`` (the coverage
metrics), ``config`` (the ``patches`` section).
"""

from runtime.patches.config import PatchConfig
from runtime.patches.generators import FramePatches, PatchGenerator, generator_names, make_generator
from runtime.patches.motion_regions import MotionRegions
from runtime.patches.objectness import ObjectnessModel
from runtime.patches.refiner import PatchKind

__all__ = ["FramePatches", "MotionRegions", "ObjectnessModel", "PatchConfig", "PatchGenerator", "PatchKind",
           "generator_names", "make_generator"]
