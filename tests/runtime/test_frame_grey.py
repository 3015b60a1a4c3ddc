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


def test_halving_pyramid_is_a_rounded_2x2_mean_per_level() -> None:
    from runtime.video import FrameGrey

    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (541, 963), dtype=np.uint8)
    shared = FrameGrey(grey)
    assert shared.halved(0) is grey
    level2 = shared.halved(2)
    assert level2.shape == (541 // 4, 963 // 4) and shared.halved(2) is level2
    half = grey[:540, :962].reshape(270, 2, 481, 2).astype(np.float64).mean(axis=(1, 3))
    assert np.abs(shared.halved(1) - half).max() <= 0.5 + 1e-9


def test_a_power_of_two_fraction_comes_from_the_halving_pyramid() -> None:
    import cv2

    from runtime.video import FrameGrey

    rng = np.random.default_rng(2)
    frame = rng.integers(0, 256, (540, 960, 3), dtype=np.uint8)
    shared = FrameGrey(frame)
    quarter, sx, sy = shared.reduced(240)
    assert quarter is shared.halved(2) and quarter.shape == (135, 240) and sx == sy == 0.25
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    one_resize = cv2.resize(grey, (240, 135), interpolation=cv2.INTER_AREA)
    assert np.abs(one_resize.astype(int) - quarter).max() <= 1  # the two ways differ by rounding only
    wide = rng.integers(0, 256, (540, 962), dtype=np.uint8)  # 962 / 4 is not whole: one resize
    assert np.array_equal(FrameGrey(wide).reduced(240)[0], cv2.resize(wide, (240, 135), interpolation=cv2.INTER_AREA))
