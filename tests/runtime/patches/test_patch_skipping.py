"""Frame skipping against the last processed frame; fraction of frames needing inference."""

import numpy as np

from runtime.patches.skipping import FrameSkipper, InferenceFraction


def test_skip_rule():
    s = FrameSkipper(threshold=3.0, sub=4)
    a = np.full((32, 48), 100, np.uint8)
    assert s.needs_inference(a)  # first frame
    assert not s.needs_inference(a.copy())
    b = a.copy()
    b[0:4, 0:4] = 110  # one cell changes by 10 grey levels
    assert s.needs_inference(b)
    drift = b.copy()
    drift[8:12, 8:12] = 102  # 2 levels: below the threshold
    assert not s.needs_inference(drift)
    drift2 = b.copy()
    drift2[8:12, 8:12] = 104  # 4 levels vs the last *processed* frame (b)
    assert s.needs_inference(drift2)
    assert s.needs_inference(np.full((16, 16), 100, np.uint8))  # size change
    never = FrameSkipper(threshold=0.0, sub=4)
    assert never.needs_inference(a) and never.needs_inference(a)


def test_inference_fraction_window():
    f = InferenceFraction(window_s=10.0)
    assert f.fraction() == 1.0
    for t in range(10):
        f.add(float(t), t % 2 == 0)
    assert f.fraction() == 0.5
    for t in range(10, 20):
        f.add(float(t), False)
    assert f.fraction() == 0.0
