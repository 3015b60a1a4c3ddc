"""Model M: manifest (de)serialisation and the bounded online SGD step."""

import numpy as np
import pytest

from runtime.errors import UserError
from runtime.patches.objectness import ObjectnessModel


def _maps(seed: int = 0):
    rng = np.random.default_rng(seed)
    occ = np.zeros((10, 12), np.float32)
    occ[2:5, 3:6] = 1.0
    edge = (rng.uniform(0, 20, occ.shape) + 60 * occ).astype(np.float32)
    diff = (rng.uniform(0, 4, occ.shape) + 30 * occ).astype(np.float32)
    hist = np.zeros_like(occ)
    return edge, diff, hist, occ


def test_dict_round_trip():
    m = ObjectnessModel(np.array([0.5, 1.5, 4.0, -2.0]))
    d = m.to_dict()
    assert d["weights"] == [0.5, 1.5, 4.0] and d["bias"] == -2.0 and d["features"] == ["edge", "diff", "hist"]
    back = ObjectnessModel.from_dict(d)
    np.testing.assert_array_equal(back.w, m.w)


@pytest.mark.parametrize("bad", [[], {"weights": [1, 2], "bias": 0}, {"weights": [1, 2, 3]},
                                 {"weights": [1, 2, float("nan")], "bias": 0},
                                 {"weights": [1, 2, 3], "bias": 0, "version": 9},
                                 {"weights": [1, 2, 3], "bias": 0, "edge_scale": 1.0}])
def test_bad_dict_is_user_error(bad):
    with pytest.raises(UserError):
        ObjectnessModel.from_dict(bad)


def test_sgd_step_is_bounded_and_learns():
    edge, diff, hist, occ = _maps()
    m = ObjectnessModel(np.zeros(4))
    before = m.predict(edge, diff, hist)
    for _ in range(200):
        norm = m.sgd_step(edge, diff, hist, occ, lr=5.0, max_step=0.05, max_drift=0.8)
        assert norm <= 0.05 + 1e-12
    assert np.abs(m.w - m.w0).max() <= 0.8 + 1e-12
    after = m.predict(edge, diff, hist)
    pos = occ >= 0.5
    assert after[pos].mean() - after[~pos].mean() > before[pos].mean() - before[~pos].mean() + 0.1
    m.reset()
    np.testing.assert_array_equal(m.w, m.w0)


def test_no_step_without_positives():
    edge, diff, hist, occ = _maps()
    m = ObjectnessModel(np.array([1.0, 1.0, 1.0, -1.0]))
    assert m.sgd_step(edge, diff, hist, np.zeros_like(occ), 1.0, 1.0, 1.0) == 0.0
    np.testing.assert_array_equal(m.w, m.w0)
