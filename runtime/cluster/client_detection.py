"""The cluster client's detection task: which bundle models its frames use and how many patches a frame gets.

- :func:`detection_client`: the models of the mode's kind (``mini`` or ``baseline``; ``client.baseline_side``
  picks the baseline's side), the closed loop over them (:mod:`runtime.loop`, or SAHI's slices), every kind the
  frames use (a patch mode's whole-frame pass adds ``baseline``) and the models the client runs itself when no
  server can (the largest baseline, the smallest mini, the camera's ``client.mini`` when set, the pass's side);
- :func:`frame_patch_budget`: a frame's patch budget from the planned SLO and the live servers' mini latencies
  (:func:`runtime.frame_plan.patch_budget`), the baseline pass's tiles reserved first.

The keypoint task's counterpart is :mod:`runtime.cluster.client_keypoints`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from runtime.cluster.config import ClientSection
from runtime.errors import UserError
from runtime.frame_plan import patch_budget
from runtime.loop import ClosedLoop
from runtime.loop_config import LoopSettings
from runtime.manifest import Manifest, asked_models
from runtime.modes import Mode
from runtime.sahi_loop import make_loop


@dataclass(frozen=True)
class DetectionSetup:
    """What a detection client runs: its closed ``loop`` and the models its frames ask for."""

    loop: ClosedLoop
    kinds_used: list[str]  # every model kind the frames ask for
    local_models: dict[str, str]  # kind → the model the client runs when no server can


def detection_client(cfg: ClientSection, manifest: Manifest, kind: str, fps: float) -> DetectionSetup:
    """The detection task's models and closed loop for ``cfg.mode`` (model ``kind``) at ``fps`` frames/s; one-line
    errors name the key."""
    kind_models = manifest.models_of_kind(kind)  # by ascending input side
    if kind == "baseline" and cfg.baseline_side:  # whole frames at that side (or the next larger)
        larger = [m for m in kind_models if manifest.models[m].input_size >= cfg.baseline_side]
        kind_models = [m for m in kind_models
                       if manifest.models[m].input_size <= manifest.models[(larger or kind_models)[0]].input_size]
    if not kind_models:
        raise UserError(f"bundle has no {kind} model (mode {cfg.mode})")
    whole_frame_side = manifest.models[kind_models[-1]].input_size
    settings = LoopSettings(Mode(cfg.mode), cfg.patches, whole_frame_side, cfg.merge_iou, cfg.merge_contain,
                            cfg.min_score, cfg.loop, fps)
    try:
        loop = make_loop(settings, manifest.objectness_model())
    except ValueError as exc:
        raise UserError(f"--mode: {exc}") from None
    if loop.whole_pass and not manifest.models_of_kind("baseline"):
        raise UserError("client.loop.whole_every: the bundle has no baseline model for the baseline pass (set 0)")
    kinds_used = sorted({kind} | ({"baseline"} if loop.whole_pass else set()))
    # run when no server can: the largest baseline, the smallest mini
    local_models = {k: manifest.models_of_kind(k)[-1 if k == "baseline" else 0] for k in kinds_used}
    local_models[kind] = kind_models[-1 if kind == "baseline" else 0]
    if cfg.mini and kind == "mini":  # the camera's chosen mini: every patch asks for it
        manifest.check_mini(cfg.mini, "client.mini:")
        local_models["mini"] = cfg.mini
    if loop.whole_pass:  # a patch mode's whole-frame pass: the baseline at its side (or the next larger)
        sides = [m for m in manifest.models_of_kind("baseline") if manifest.models[m].input_size >= cfg.loop.whole_side]
        local_models["baseline"] = sides[0] if sides else local_models["baseline"]
    return DetectionSetup(loop, kinds_used, local_models)


def frame_patch_budget(cfg: ClientSection, loop: ClosedLoop, plan_slo_ms: float,
                       served: Callable[[str], Sequence[dict[str, float]]]) -> int | None:
    """A frame's patch budget within ``plan_slo_ms``: ``served(kind)`` gives each live server's models of that kind,
    name → latency ms (asked only when needed). None when ``loop.budget`` is off, the loop has no generator or no
    live server serves a mini (the generator's cap holds)."""
    if not cfg.loop.budget or loop.generator is None:
        return None
    # the camera's mini where served (in the device's precision), else the device's fastest
    pinned = [cfg.mini] if cfg.mini else []
    latencies = [min(m[k] for k in (asked_models(m, pinned) or m)) for m in served("mini") if m]
    if not latencies:
        return None
    reserved = 0.0
    if loop.whole_pass:
        reserved = min((min(w.values()) for w in served("baseline") if w), default=0.0) * cfg.loop.pass_tiles
    return patch_budget(plan_slo_ms, latencies, reserved)
