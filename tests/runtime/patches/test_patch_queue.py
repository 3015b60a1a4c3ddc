"""Patch queue entries: native crop, metadata, JPEG bytes capped at max_side; the config section."""

import cv2
import numpy as np
import pytest

from runtime.config import from_mapping
from runtime.errors import UserError
from runtime.modes import JpegChroma
from runtime.patches import PatchConfig, make_generator
from runtime.patches.queue import build_entries, encode_patch


def test_entries_hold_native_crop_and_metadata():
    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    out = make_generator("ep-2")(frame, 7)
    entries = build_entries(frame, out, quality=80, max_side=64, chroma=JpegChroma.FULL)
    assert len(entries) == 2
    e = entries[1]
    assert e.crop.shape == (240, 160, 3) and e.location == (160, 0, 320, 240)
    np.testing.assert_array_equal(e.crop, frame[:, 160:])
    md = e.metadata()
    assert md["frame"] == 7 and md["patches_in_frame"] == 2 and md["frame_size"] == [320, 240]
    assert md["confidence"] == 1.0 and md["bytes"] == e.nbytes > 0
    assert max(cv2.imdecode(np.frombuffer(e.jpeg, np.uint8), cv2.IMREAD_COLOR).shape[:2]) == 64


def test_config_is_strict_and_bounded():
    cfg = from_mapping(PatchConfig, {"cell": 8, "max_patches": 5}, "t: patches")
    assert cfg.cell == 8 and cfg.max_patches == 5 and cfg.lambda1 == 0.5 and cfg.lambda2 == 0.7
    with pytest.raises(UserError, match="celll"):
        from_mapping(PatchConfig, {"celll": 8}, "t: patches")
    with pytest.raises(UserError, match="r_high"):
        from_mapping(PatchConfig, {"r_high": 0.9}, "t: patches")
    with pytest.raises(UserError, match="predefined_rois"):
        from_mapping(PatchConfig, {"predefined_rois": [[0, 0, -1, 5]]}, "t: patches")


def _colour_error(chroma: JpegChroma) -> float:
    """Mean absolute error (grey levels) of a 2 px wide red stripe on grey after a JPEG round trip."""
    image = np.full((32, 32, 3), 128, dtype=np.uint8)
    image[:, 15:17] = (0, 0, 255)
    back = cv2.imdecode(np.frombuffer(encode_patch(image, 95, 64, chroma), np.uint8), cv2.IMREAD_COLOR)
    return float(np.abs(back[:, 15:17].astype(np.int16) - image[:, 15:17]).mean())


def test_full_chroma_keeps_a_thin_stripe_colour():
    """4:4:4 keeps a 2 px stripe's colour; 4:2:0 smears it over its neighbours (several times the error)."""
    full, half = _colour_error(JpegChroma.FULL), _colour_error(JpegChroma.HALF)
    assert full < 10.0 < half and 3 * full < half


def test_chroma_key_is_a_named_choice():
    assert from_mapping(PatchConfig, {}, "t: patches").jpeg_chroma is JpegChroma.FULL
    assert from_mapping(PatchConfig, {"jpeg_chroma": "yuv420"}, "t: patches").jpeg_chroma is JpegChroma.HALF
    with pytest.raises(UserError, match="jpeg_chroma"):
        from_mapping(PatchConfig, {"jpeg_chroma": "4:2:2"}, "t: patches")
