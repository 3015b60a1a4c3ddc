"""The cluster client's keypoint task (``client.task: keypoints``, ``paraloupe-run --task keypoints``): what a
client needs to run person crops instead of detection patches (paper §IV-H: the patch generator disabled, one
person per input), and the servers' ``keypoints`` answers as results.

- :func:`keypoint_client`: the model kind the crops ask for (``mini``; ``baseline`` with ``--mode baseline`` —
  HRNet distributed the same way — or the kind of ``client.keypoints.model`` when one is named), the
  :class:`runtime.keypoint_task.KeypointLoop` over the person boxes, and the model the client runs itself when
  no server can;
- :func:`pose_result`: a ``keypoints`` message as the crop's :class:`runtime.keypoint_task.PatchPose`.

The master places every crop by capacity exactly as it places detection patches (``schedule`` with
``task: keypoints``); everything else (deadlines, re-sends, local fallback, frame order) is the detection
client's.
"""

from __future__ import annotations

import numpy as np

from runtime.cluster.config import ClientSection
from runtime.cluster.protocol import Message
from runtime.errors import UserError
from runtime.keypoint_task import KeypointLoop, PatchPose, load_person_boxes
from runtime.manifest import Manifest
from runtime.modes import Mode

#: The modes the keypoint task accepts: the mini keypoint models (paraloupe, mini) or the baseline.
KEYPOINT_MODES = (Mode.PARALOUPE, Mode.MINI, Mode.BASELINE)


def keypoint_client(cfg: ClientSection, manifest: Manifest) -> tuple[str, KeypointLoop, dict[str, str]]:
    """``(model kind, loop, local models {kind: name})`` of a keypoint client; one-line errors name the key."""
    kp = cfg.keypoints
    if Mode(cfg.mode) not in KEYPOINT_MODES:
        raise UserError(f"--mode {cfg.mode}: the keypoint task runs modes "
                        f"{', '.join(m.value for m in KEYPOINT_MODES)} (one crop per person, no patch generator)")
    if not kp.boxes:
        raise UserError("client.keypoints.boxes: required with task keypoints (--boxes)")
    if kp.model:
        spec = manifest.model(kp.model)
        if spec.task != "keypoints":
            raise UserError(f"client.keypoints.model: {kp.model!r} is a {spec.task} model, not a keypoint model")
        kind = spec.kind
    else:
        kind = Mode(cfg.mode).model_kind
    models = manifest.models_of_kind(kind, task="keypoints")
    if not models:
        raise UserError(f"bundle has no {kind} keypoint model (task keypoints, mode {cfg.mode})")
    local = kp.model or models[0]
    boxes = load_person_boxes(kp.boxes, kp.boxes_from, kp.min_height)
    return kind, KeypointLoop(boxes, kp.r, kind, cfg.patches.jpeg_quality, cfg.patches.jpeg_chroma), {kind: local}


def pose_result(rect: tuple[int, int, int, int], msg: Message) -> PatchPose:
    """A server's ``keypoints`` answer to the crop at ``rect`` (frame px)."""
    return PatchPose(rect, (int(msg["w"]), int(msg["h"])), np.asarray(msg["points"], dtype=np.float64),
                     float(msg["score"]))
