"""FrameGrey: one grey conversion and downscale per frame, shared by camera motion and motion boxes."""

import numpy as np


def test_frame_grey_reduces_once_and_matches_opencv() -> None:
    import cv2

    from runtime.video import FrameGrey

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (540, 960, 3), dtype=np.uint8)
    shared = FrameGrey(frame)
    small, sx, sy = shared.reduced(320)
    expected = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (320, 180), interpolation=cv2.INTER_AREA)
    assert np.array_equal(small, expected) and sx == sy == 320 / 960
    assert shared.reduced(320)[0] is small  # the second reader gets the same array: no second resize
    assert FrameGrey.of(shared) is shared


def test_frame_grey_never_upscales_and_copies_a_grey_frame() -> None:
    from runtime.video import FrameGrey

    grey = np.full((100, 200), 7, dtype=np.uint8)
    small, sx, sy = FrameGrey(grey).reduced(320)
    assert small.shape == (100, 200) and sx == sy == 1.0
    assert small is not grey and np.array_equal(small, grey)  # a reference frame of its own
