"""The cluster's wire protocol, version 1: message types, fields, and validation that drops bad messages.

Every message is two ZeroMQ frames (after the ROUTER's identity frame on the bound side)::

    [header, payload]
    header   UTF-8 JSON object, at most MAX_HEADER_BYTES: {"v": 1, "type": T, "size": len(payload), ...fields}
    payload  raw bytes, at most MAX_PAYLOAD_BYTES; exactly "size" bytes (a truncated payload is refused)

The one exception is the network profiler's bandwidth probe (``runtime.profilers.network``: three frames
``[b"PLBW", seq, bytes]`` → ``[b"PLBW-ACK", seq, n]``), which a server answers before validation.

Types (→ direction; fields beyond v/type/size; units ms, bytes, pixels):

=========  =================  ================================================================================
type       direction          fields
=========  =================  ================================================================================
patch      client → server    req str, model str, frame int, optional min_score float (report detections
                              down to this score, below the model's threshold); payload = JPEG of the patch
                              (or a whole frame)
result     server → client    req str, model str, device str, w int, h int (decoded JPEG size), boxes
                              [[x, y, w, h]] in JPEG pixels, labels [str], scores [float], infer_ms (real
                              ncnn time), server_ms (receipt → reply), paced bool
keypoints  server → client    the answer to a patch for a keypoint model (task keypoints): req str, model str,
                              device str, w int, h int (decoded JPEG size), points [[x, y, peak]] (one per
                              heatmap channel) in JPEG pixels, score float (mean peak), infer_ms, server_ms,
                              paced bool
error      server → client    req str, reason str (unknown model, undecodable JPEG, queue full)
ping       client → server    seq int — heartbeat, every ≤ 300 ms
pong       server → client    seq int, device str, queued int (patches waiting)
state      server → master    device str, endpoint str (what clients connect to), models {name:
                              {latency_ms, accuracy}}, cost float (c_i), pace_factor float, emulated bool,
                              served int, malformed int — the profilers' state, every report period
schedule   client → master    req str, frame int, kind "mini"|"baseline", slo_ms float, patches [{bytes,
                              confidence[, kind, model]}] (a patch's own model kind when it is not
                              ``kind`` — a whole-frame pass of a patch mode — and the model it asks for; a
                              patch of ``kind`` naming a model keeps to it where served — mode sahi),
                              bandwidths {device: B/s} (the client's network profiler), exclude [device]
                              (found dead by the client), optional kinds [kind] (every kind the client uses:
                              the device table lists their models), optional task "detection"|"keypoints"
                              (absent = detection: the models scheduled); no patches = just the device table
assign     master → client    req str, assignment [[device, model]] (one per patch, same order), devices
                              {name: {endpoint, models {name: latency_ms}}}, feasible bool,
                              max_latency_ms float, ms float (decision time); error str when none could
=========  =================  ================================================================================

The keypoint task (``paraloupe-run --task keypoints``) adds the ``keypoints`` type and the optional ``task``
of ``schedule``; every detection message is unchanged. An optional field, when present, is checked like a
required one (:data:`OPTIONAL`).

A receiver calls :func:`decode`; a :class:`ProtocolError` names the reason (``frames``, ``header_size``,
``json``, ``version``, ``type``, ``field:<name>``, ``size_mismatch``, ``payload_size``), the receiver counts it
in a :class:`Malformed` counter and drops the message — it never answers garbage and never stops serving.
"""

from __future__ import annotations

import collections
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from runtime.manifest import TASKS

VERSION = 1
MAX_HEADER_BYTES = 1 << 16
MAX_PAYLOAD_BYTES = 8 << 20


class ProtocolError(ValueError):
    """A malformed message; ``reason`` is a short code for the counters."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _str(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= 4096


def _boxes(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(b, list) and len(b) == 4 and all(_num(x) for x in b) for b in v)


def _str_list(v: Any) -> bool:
    return isinstance(v, list) and all(_str(x) for x in v)


def _num_list(v: Any) -> bool:
    return isinstance(v, list) and all(_num(x) for x in v)


def _patches(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(p, dict) and _num(p.get("bytes")) and p["bytes"] > 0
                                       and _num(p.get("confidence")) and p["confidence"] >= 0
                                       and p.get("kind", "mini") in ("mini", "baseline") for p in v)


def _bandwidths(v: Any) -> bool:
    return isinstance(v, dict) and all(_num(b) and b > 0 for b in v.values())


def _state_models(v: Any) -> bool:
    return isinstance(v, dict) and bool(v) and all(
        isinstance(m, dict) and _num(m.get("latency_ms")) and m["latency_ms"] >= 0 and _num(m.get("accuracy"))
        and 0 <= m["accuracy"] <= 1 for m in v.values())


def _assignment(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(a, list) and len(a) == 2 and _str(a[0]) and _str(a[1]) for a in v)


def _devices(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(d, dict) and _str(d.get("endpoint"))
                                       and isinstance(d.get("models"), dict)
                                       and all(_num(t) for t in d["models"].values()) for d in v.values())


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _points(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(p, list) and len(p) == 3 and all(_num(x) for x in p)
                                                   for p in v)


#: type → field → check. Every field listed is required; extra fields are allowed (forward compatible).
SCHEMA: dict[str, dict[str, Callable[[Any], bool]]] = {
    "patch": {"req": _str, "model": _str, "frame": _int},
    "result": {"req": _str, "model": _str, "device": _str, "w": _int, "h": _int, "boxes": _boxes,
               "labels": _str_list, "scores": _num_list, "infer_ms": _num, "server_ms": _num, "paced": _bool},
    "keypoints": {"req": _str, "model": _str, "device": _str, "w": _int, "h": _int, "points": _points,
                  "score": _num, "infer_ms": _num, "server_ms": _num, "paced": _bool},
    "error": {"req": _str, "reason": _str},
    "ping": {"seq": _int},
    "pong": {"seq": _int, "device": _str, "queued": _int},
    "state": {"device": _str, "endpoint": _str, "models": _state_models, "cost": _num, "pace_factor": _num,
              "emulated": _bool, "served": _int, "malformed": _int},
    "schedule": {"req": _str, "frame": _int, "kind": lambda v: v in ("mini", "baseline"),
                 "slo_ms": lambda v: _num(v) and v > 0, "patches": _patches,
                 "bandwidths": _bandwidths, "exclude": _str_list},
    "assign": {"req": _str, "assignment": _assignment, "devices": _devices, "feasible": _bool,
               "max_latency_ms": _num, "ms": _num},
}
#: type → optional field → check (applied when the field is present).
OPTIONAL: dict[str, dict[str, Callable[[Any], bool]]] = {
    "schedule": {"task": lambda v: v in TASKS},
}
#: Types whose payload must not be empty.
NEEDS_PAYLOAD = {"patch"}


@dataclass
class Message:
    """A validated message: its ``type``, the whole ``header`` dict and the ``payload`` bytes."""

    type: str
    header: dict[str, Any]
    payload: bytes = b""

    def __getitem__(self, key: str) -> Any:
        return self.header[key]


def encode(type: str, payload: bytes = b"", **fields: Any) -> list[bytes]:
    """The frames ``[header, payload]`` of a message of ``type`` with ``fields``."""
    header = {"v": VERSION, "type": type, "size": len(payload), **fields}
    return [json.dumps(header, separators=(",", ":")).encode(), bytes(payload)]


def decode(frames: Sequence[bytes]) -> Message:
    """Validate ``[header, payload]`` frames; raises :class:`ProtocolError` naming what is wrong (checked in
    this order: frames, sizes, JSON, version, type, size field, the type's fields)."""
    if len(frames) != 2:
        raise ProtocolError("frames")
    raw, payload = bytes(frames[0]), bytes(frames[1])
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError("header_size")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError("payload_size")
    header = _json_object(raw)
    kind = _envelope(header, len(payload))
    _check_fields(kind, header, payload)
    return Message(kind, header, payload)


def _json_object(raw: bytes) -> dict[str, Any]:
    """The header bytes as a JSON object."""
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ProtocolError("json") from None
    if not isinstance(header, dict):
        raise ProtocolError("json")
    return header


def _envelope(header: dict[str, Any], payload_size: int) -> str:
    """Check ``v``, ``type`` and ``size`` (bytes, against the payload's); returns the type."""
    if header.get("v") != VERSION or isinstance(header.get("v"), bool):
        raise ProtocolError("version")
    kind = header.get("type")
    if not isinstance(kind, str) or kind not in SCHEMA:
        raise ProtocolError("type")
    size = header.get("size")
    if not _int(size) or size < 0:
        raise ProtocolError("field:size")
    if size != payload_size:
        raise ProtocolError("size_mismatch")
    return kind


def _check_fields(kind: str, header: dict[str, Any], payload: bytes) -> None:
    """Check the fields :data:`SCHEMA` requires of ``kind`` (and its :data:`OPTIONAL` ones present), a non-empty
    payload where one is needed, and that a
    result's boxes, labels and scores have one entry each per detection."""
    for name, check in SCHEMA[kind].items():
        if name not in header or not check(header[name]):
            raise ProtocolError(f"field:{name}")
    for name, check in OPTIONAL.get(kind, {}).items():
        if name in header and not check(header[name]):
            raise ProtocolError(f"field:{name}")
    if kind in NEEDS_PAYLOAD and not payload:
        raise ProtocolError("size_mismatch")
    if kind == "result" and not len(header["boxes"]) == len(header["labels"]) == len(header["scores"]):
        raise ProtocolError("field:boxes")


class Malformed(collections.Counter):
    """Counts of dropped messages by reason (``total`` for all)."""

    def add(self, reason: str) -> None:
        self[reason] += 1

    @property
    def total(self) -> int:
        return sum(self.values())

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.items()))


def try_decode(frames: Sequence[bytes], malformed: Malformed) -> Message | None:
    """:func:`decode`, or None after counting the reason in ``malformed``."""
    try:
        return decode(frames)
    except ProtocolError as exc:
        malformed.add(exc.reason)
        return None
