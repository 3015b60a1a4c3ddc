"""The wire protocol: round trips, and every kind of malformed message refused with a reason."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.cluster.protocol import Malformed, ProtocolError, decode, encode, try_decode


def test_round_trip_patch_and_result() -> None:
    msg = decode(encode("patch", payload=b"\xff\xd8jpeg", req="1.0.1", model="m", frame=3))
    assert msg.type == "patch" and msg["frame"] == 3 and msg.payload == b"\xff\xd8jpeg"
    res = decode(encode("result", req="1.0.1", model="m", device="d", w=10, h=20, boxes=[[1, 2, 3, 4]],
                        labels=["person"], scores=[0.5], infer_ms=1.0, server_ms=2.0, paced=True))
    assert res["boxes"] == [[1, 2, 3, 4]]


@pytest.mark.parametrize("frames, reason", [
    ([b"garbage"], "frames"),
    ([b"not json", b""], "json"),
    ([b"[1, 2]", b""], "json"),
    ([json.dumps({"v": 2, "type": "ping", "size": 0, "seq": 1}).encode(), b""], "version"),
    ([json.dumps({"v": 1, "type": "nope", "size": 0}).encode(), b""], "type"),
    ([json.dumps({"v": 1, "type": "ping", "size": 0}).encode(), b""], "field:seq"),
    ([json.dumps({"v": 1, "type": "ping", "size": 0, "seq": "x"}).encode(), b""], "field:seq"),
    ([json.dumps({"v": 1, "type": "patch", "size": 10, "req": "a", "model": "m", "frame": 0}).encode(), b"12345"],
     "size_mismatch"),
    ([json.dumps({"v": 1, "type": "patch", "size": 0, "req": "a", "model": "m", "frame": 0}).encode(), b""],
     "size_mismatch"),
    ([json.dumps({"v": 1, "type": "result", "size": 0, "req": "a", "model": "m", "device": "d", "w": 1, "h": 1,
                  "boxes": [[1, 2, 3]], "labels": ["a"], "scores": [1.0], "infer_ms": 1, "server_ms": 1,
                  "paced": False}).encode(), b""], "field:boxes"),
])
def test_malformed_reasons(frames: list[bytes], reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(frames)
    assert info.value.reason == reason
    counter = Malformed()
    assert try_decode(frames, counter) is None and counter[reason] == 1 and counter.total == 1


def test_truncated_payload_of_a_valid_message() -> None:
    header, payload = encode("patch", payload=b"x" * 100, req="r", model="m", frame=1)
    with pytest.raises(ProtocolError, match="size_mismatch"):
        decode([header, payload[:57]])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=0, max_size=4))
def test_fuzz_garbage_frames_only_raise_protocol_error(frames: list[bytes]) -> None:
    with contextlib.suppress(ProtocolError):
        decode(frames)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                           max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["patch", "result", "error", "ping", "pong", "state", "schedule", "assign"]),
       st.dictionaries(st.sampled_from(["req", "model", "frame", "seq", "boxes", "labels", "scores", "w", "h",
                                        "patches", "device", "size", "v"]), json_values, max_size=6),
       st.binary(max_size=64))
def test_fuzz_wrong_headers_only_raise_protocol_error(kind: str, fields: dict, payload: bytes) -> None:
    header = {"v": 1, "type": kind, "size": len(payload), **fields}
    try:
        raw = json.dumps(header).encode()
    except ValueError:
        return
    try:
        msg = decode([raw, payload])
    except ProtocolError:
        return
    assert msg.type == kind
