"""The in-array update rules (pnmsim.outer_rules) against arithmetic written out here."""

from __future__ import annotations

import numpy as np
import pytest

from pnmsim.outer_rules import OuterRule


def _batch(rng: np.random.Generator, m: int = 6, rows: int = 5, cols: int = 4):
    x = rng.choice([-1.0, 0.0, 1.0], size=(m, rows)).astype(np.float32)
    d = rng.standard_normal((m, cols))
    return x, d


def test_sgd_is_one_plain_step_per_vector() -> None:
    x, d = _batch(np.random.default_rng(0))
    out = OuterRule("sgd").steps(0, x, d, 0.5)
    np.testing.assert_array_equal(out.xs, np.sign(x).astype(np.int8))
    np.testing.assert_allclose(out.col_steps, -0.5 * d)
    assert out.periphery_macs == 0 and out.moment_words == 0


def test_column_norm_divides_by_the_running_rms_of_each_column() -> None:
    rng = np.random.default_rng(1)
    rule = OuterRule("column_norm", beta2=0.9)
    x1, d1 = _batch(rng)
    out1 = rule.steps(2, x1, d1, 0.1)
    e1 = (d1 ** 2).sum(axis=0)                       # first batch: e = sum_v delta^2
    np.testing.assert_allclose(out1.col_steps, -0.1 * d1 / np.sqrt(e1))
    # each column's steps of the first batch have a root-sum-square of exactly lr / L
    np.testing.assert_allclose(np.sqrt((out1.col_steps ** 2).sum(axis=0)), 0.1)
    x2, d2 = _batch(rng)
    out2 = rule.steps(2, x2, d2, 0.1)
    e2 = 0.9 * e1 + 0.1 * (d2 ** 2).sum(axis=0)
    np.testing.assert_allclose(out2.col_steps, -0.1 * d2 / np.sqrt(e2))
    assert out2.periphery_macs == 2 * 6 * 4 and out2.moment_words == 2 * 4


def test_low_rank_recovers_an_exactly_rank_one_sign_gradient() -> None:
    rng = np.random.default_rng(2)
    m, rows, cols = 8, 10, 6
    s = rng.choice([-1.0, 1.0], size=m)
    a = rng.choice([-1.0, 1.0], size=rows)
    c = rng.standard_normal(cols)
    x = np.outer(s, a)                 # every vector is +-a
    d = np.outer(s, c)                 # its error +-c: G = sum_v x_v d_v^T = m a c^T
    out = OuterRule("low_rank", rank=1).steps(0, x, d, 0.2)
    assert out.xs.shape == (1, rows) and out.col_steps.shape == (1, cols)
    sign = 1 if out.xs[0, 0] == a[0] else -1          # the pair (a, c) is defined up to sign
    np.testing.assert_array_equal(out.xs[0], (sign * a).astype(np.int8))
    # column step: -lr/L * (G^T a / nnz(a)) / sqrt(e), e = its square on the first batch
    g_ta = sign * m * c * rows / rows
    np.testing.assert_allclose(out.col_steps[0], -0.2 * g_ta / np.abs(g_ta))
    # applied as pulses, the step pushes every cell in the direction of -G
    pol = out.xs[0][:, None] * np.sign(out.col_steps[0])[None, :]
    np.testing.assert_array_equal(pol, -np.sign(m * np.outer(a, c)))


def test_low_rank_gates_rows_without_gradient_and_is_deterministic() -> None:
    rng = np.random.default_rng(3)
    x, d = _batch(rng, m=20, rows=12, cols=5)
    x[:, 3] = 0.0                                      # an input line that never fires
    r1 = OuterRule("low_rank", rank=3).steps(0, x, d, 0.1)
    r2 = OuterRule("low_rank", rank=3).steps(0, x, d, 0.1)
    np.testing.assert_array_equal(r1.xs, r2.xs)
    np.testing.assert_array_equal(r1.col_steps, r2.col_steps)
    assert r1.xs.shape == (3, 12) and not r1.xs[:, 3].any()
    # the periphery's work scales with M (rows + cols), not with rows * cols
    assert r1.periphery_macs == 3 * (1 + 2 * 3 + 1) * 2 * 20 * (12 + 5)


def test_state_round_trip_and_bad_rule() -> None:
    rng = np.random.default_rng(4)
    rule = OuterRule("column_norm")
    x, d = _batch(rng)
    rule.steps(1, x, d, 0.1)
    other = OuterRule("column_norm")
    other.load_state_dict(rule.state_dict())
    x2, d2 = _batch(rng)
    np.testing.assert_array_equal(rule.steps(1, x2, d2, 0.1).col_steps,
                                  other.steps(1, x2, d2, 0.1).col_steps)
    with pytest.raises(ValueError, match="allowed"):
        OuterRule("adam")


def test_factored_momentum_follows_a_rank_one_gradient_and_round_trips() -> None:
    rng = np.random.default_rng(5)
    m, rows, cols = 8, 10, 6
    s = rng.choice([-1.0, 1.0], size=m)
    a = rng.choice([-1.0, 1.0], size=rows)
    c = rng.standard_normal(cols)
    x, d = np.outer(s, a), np.outer(s, c)              # G = m a c^T
    rule = OuterRule("low_rank", rank=1, beta1=0.5)
    for _ in range(2):                                 # M = G, then 0.5 G + G: same direction
        out = rule.steps(0, x, d, 0.2)
        pol = out.xs[0][:, None] * np.sign(out.col_steps[0])[None, :]
        np.testing.assert_array_equal(pol, -np.sign(np.outer(a, c)))
    p, q = rule.factors[0]
    np.testing.assert_allclose(p @ q.T, 1.5 * m * np.outer(a, c), atol=1e-9)
    other = OuterRule("low_rank", rank=1, beta1=0.5)
    other.load_state_dict(rule.state_dict())
    np.testing.assert_array_equal(other.steps(0, x, d, 0.2).col_steps,
                                  rule.steps(0, x, d, 0.2).col_steps)


def test_factored_momentum_rank_is_capped_by_the_layer_shape() -> None:
    x, d = _batch(np.random.default_rng(6), m=12, rows=9, cols=3)
    out = OuterRule("low_rank", rank=8, beta1=0.9).steps(0, x, d, 0.1)
    assert out.xs.shape == (3, 9) and out.col_steps.shape == (3, 3)
