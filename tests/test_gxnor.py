"""GXNOR discrete weight space and DST update."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pnmsim.nn.gxnor import (
    dst_decompose,
    dst_probability,
    dst_update,
    level_step,
    snap,
    weight_levels,
)


def test_levels_and_steps() -> None:
    np.testing.assert_array_equal(weight_levels(1), [-1, 0, 1])  # ternary
    np.testing.assert_array_equal(weight_levels(0), [-1, 1])  # binary
    np.testing.assert_array_equal(weight_levels(0, 2.0), [-2, 2])
    np.testing.assert_allclose(weight_levels(2), [-1, -0.5, 0, 0.5, 1])
    assert len(weight_levels(3)) == 2 ** 3 + 1
    assert level_step(1) == 1.0
    assert level_step(0) == 2.0
    assert level_step(2, 1.0) == 0.5
    assert level_step(3, 2.0) == 2 * 2.0 / 8
    with pytest.raises(ValueError):
        weight_levels(-1)
    with pytest.raises(ValueError):
        level_step(1, 0.0)


def test_snap_clips_and_rounds() -> None:
    w = np.array([-3.0, -1.2, -0.6, -0.4, 0.0, 0.3, 0.51, 0.99, 7.0], np.float32)
    out = snap(w, 1, 1.0)
    np.testing.assert_array_equal(out, [-1, -1, -1, 0, 0, 0, 1, 1, 1])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(snap(np.array([-0.1, 0.1, 5.0, -5.0]), 0, 1.0),
                                  [-1, 1, 1, -1])
    np.testing.assert_allclose(snap(np.array([0.2, 0.3, -0.74, 2.0]), 2, 1.0),
                               [0.0, 0.5, -0.5, 1.0])
    lv = weight_levels(2)
    np.testing.assert_array_equal(snap(lv, 2), lv)  # states are fixed points


def test_dst_decompose_arithmetic() -> None:
    dw = np.array([2.7, -2.7, 0.3, -0.3, 0.0, 1.0, -1.0, 0.999], np.float64)
    kappa, nu = dst_decompose(dw, 1.0)
    np.testing.assert_array_equal(kappa, [2, -2, 0, 0, 0, 1, -1, 0])
    np.testing.assert_allclose(nu, [0.7, -0.7, 0.3, -0.3, 0, 0, 0, 0.999], atol=1e-12)
    np.testing.assert_allclose(kappa * 1.0 + nu, dw)
    # binary: L = 2
    kappa, nu = dst_decompose(np.array([4.5, -3.0, 1.9]), 2.0)
    np.testing.assert_array_equal(kappa, [2, -1, 0])
    np.testing.assert_allclose(nu, [0.5, -1.0, 1.9])
    np.testing.assert_allclose(dst_probability(np.array([0.0, 0.1, -0.1, 0.5]), 1.0, 3.0),
                               np.tanh([0.0, 0.3, 0.3, 1.5]))
    np.testing.assert_allclose(dst_probability(np.array([1.0]), 2.0, 3.0), np.tanh([1.5]))


@pytest.mark.parametrize(("n_bits", "nu_values"), [(1, [0.02, 0.1, 0.25, 0.6, -0.15]),
                                                    (0, [0.1, 0.5, 1.2, -0.3])])
def test_dst_monte_carlo_matches_tanh(n_bits: int, nu_values: list[float]) -> None:
    """Per remainder nu, the fraction of weights taking the extra step is tanh(3|nu|/L),
    within 4 sigma over 40 000 draws each (>= 1.6e5 draws in all)."""
    rng = np.random.default_rng(1234)
    per = 40_000
    L = level_step(n_bits)
    for nu in nu_values:
        s = np.sign(nu)
        # start where a step of L in the direction of nu stays inside [-1, 1]
        w0 = np.full(per, 0.0 if n_bits == 1 else -s, np.float32)
        dw = np.full(per, nu, np.float32)
        w1 = dst_update(w0, dw, n_bits, 1.0, 3.0, rng)
        moved = (w1 - w0) / (s * L)
        assert set(np.unique(moved)) <= {0.0, 1.0}
        p = math.tanh(3.0 * abs(nu) / L)
        sigma = math.sqrt(p * (1 - p) / per)
        assert abs(moved.mean() - p) < 4 * sigma + 1e-12, (nu, moved.mean(), p)


def test_dst_whole_steps_clip_and_zero() -> None:
    rng = np.random.default_rng(0)
    w = np.array([-1, -1, 0, 1, 1, 0, -1], np.float32)
    dw = np.array([2.0, 1.0, 0.0, 5.0, -1.0, -3.0, 0.0], np.float32)  # nu = 0: deterministic
    np.testing.assert_array_equal(dst_update(w, dw, 1, 1.0, 3.0, rng), [1, 0, 0, 1, 0, -1, -1])
    # kappa = 1 plus a sure extra step (nu large, p ~ 1), clipped at H
    w = np.full(1000, -1, np.float32)
    out = dst_update(w, np.full(1000, 1.99, np.float32), 1, 1.0, 3.0, rng)
    assert set(np.unique(out)) <= {0.0, 1.0} and out.mean() > 0.95
    # int8 input works, result float32 on the levels
    out = dst_update(np.array([0, 1, -1], np.int8), np.zeros(3, np.float32), 1, 1.0, 3.0, rng)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0, 1, -1])


def test_dst_binary_levels() -> None:
    rng = np.random.default_rng(5)
    w = np.array([-1, 1, -1, 1], np.float32)
    # L = 2: dw = +-2 is one whole step, clipped at the ends
    out = dst_update(w, np.array([2, 2, -2, -4], np.float32), 0, 1.0, 3.0, rng)
    np.testing.assert_array_equal(out, [1, 1, -1, -1])
    w = np.full(2000, -1, np.float32)
    out = dst_update(w, np.full(2000, 0.3, np.float32), 0, 1.0, 3.0, rng)
    assert set(np.unique(out)) <= {-1.0, 1.0}


def test_dst_same_seed_same_result() -> None:
    w = np.zeros((50, 20), np.float32)
    dw = np.random.default_rng(1).standard_normal((50, 20)).astype(np.float32) * 0.3
    a = dst_update(w, dw, 1, 1.0, 3.0, np.random.default_rng(9))
    b = dst_update(w, dw, 1, 1.0, 3.0, np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        dst_update(w, dw[:5], 1, 1.0, 3.0, np.random.default_rng(9))
