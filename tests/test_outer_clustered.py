"""The clustered in-array rule (pnmsim.outer_clustered, OuterRule("clustered")) against
arithmetic written out here: exact row/column sums of G^2, planted row groups, the sum of the
steps against a plain-numpy reconstruction, a closed-form rank-1 case, no per-cell state."""

from __future__ import annotations

import numpy as np
import pytest

from pnmsim.outer_clustered import clustered_steps, row_groups, square_sums
from pnmsim.outer_rules import OuterRule


def _xd(rng: np.random.Generator, m: int = 30, rows: int = 12, cols: int = 7):
    x = rng.choice([-1.0, 0.0, 1.0], size=(m, rows))
    return x, rng.standard_normal((m, cols))


def test_square_sums_exact_and_sketched_against_the_explicit_gradient() -> None:
    rng = np.random.default_rng(0)
    x, d = _xd(rng)
    g = x.T @ d                                        # the per-cell gradient, test only
    r_ref, c_ref = (g ** 2).sum(axis=1), (g ** 2).sum(axis=0)
    r0, c0 = square_sums(x, d, 0, np.random.default_rng(1))
    np.testing.assert_allclose(r0, r_ref, rtol=1e-10)
    np.testing.assert_allclose(c0, c_ref, rtol=1e-10)
    # Hutchinson estimate: unbiased, relative spread ~ sqrt(2 / probes) per entry
    rs, cs = square_sums(x, d, 20000, np.random.default_rng(2))
    np.testing.assert_allclose(rs, r_ref, rtol=0.06)
    np.testing.assert_allclose(cs, c_ref, rtol=0.06)


def test_row_groups_recover_planted_directions_signs_and_magnitudes() -> None:
    rng = np.random.default_rng(3)
    basis = np.linalg.qr(rng.standard_normal((6, 3)))[0].T      # 3 orthonormal directions
    labels = np.repeat(np.arange(3), 10)
    sign = rng.choice([-1.0, 1.0], size=30)
    mag = rng.uniform(0.5, 2.0, size=30)
    z = (sign * mag)[:, None] * basis[labels] + 1e-6 * rng.standard_normal((30, 6))
    g, s, alpha, mu = row_groups(z, 3)
    for c in range(3):                                 # one group per planted direction
        assert len(set(g[labels == c])) == 1
    assert len(set(g)) == 3
    for j in range(30):                                # s_j alpha_j mu_g = z_j
        np.testing.assert_allclose(s[j] * alpha[j] * mu[g[j]], z[j], atol=1e-5)


def _reconstruct(u: np.ndarray, w: np.ndarray, k: int, levels: int, gate: float) -> np.ndarray:
    """Plain numpy: row j -> s_j * (largest threshold <= alpha_j, 0 below the first) *
    Q_w mu_{g_j}, thresholds at the quantiles gate + (1 - gate) l / levels of alpha > 0."""
    qw, rw = np.linalg.qr(w)
    g, s, alpha, mu = row_groups(u @ rw.T, k)
    theta = np.quantile(alpha[alpha > 0],
                        [gate + (1 - gate) * li / levels for li in range(levels)])
    out = np.zeros((u.shape[0], w.shape[0]))
    for j in range(u.shape[0]):
        below = theta[theta <= alpha[j] * (1 + 1e-12)]
        if alpha[j] > 0 and below.size:
            out[j] = s[j] * below.max() * (qw @ mu[g[j]])
    return out


@pytest.mark.parametrize(("k", "levels", "gate"), [(5, 4, 0.5), (3, 1, 0.0), (8, 3, 0.2)])
def test_clustered_steps_sum_to_the_grouped_update_on_disjoint_rows(
        k: int, levels: int, gate: float) -> None:
    rng = np.random.default_rng(4)
    u, w = rng.standard_normal((40, 4)), rng.standard_normal((9, 4))
    a, c, _ = clustered_steps(u, w, k, levels, gate)
    np.testing.assert_allclose(a.T @ c, _reconstruct(u, w, k, levels, gate), atol=1e-12)
    assert set(np.unique(a)) <= {-1.0, 0.0, 1.0}
    # every row is driven by the steps of one group only: its column vectors are parallel
    for j in range(40):
        cols = c[a[:, j] != 0]
        if len(cols) > 1:
            n0 = cols[0] / np.linalg.norm(cols[0])
            for cv in cols[1:]:
                np.testing.assert_allclose(cv / np.linalg.norm(cv), n0, atol=1e-12)


def test_clustered_steps_write_rows_of_equal_magnitude_exactly() -> None:
    rng = np.random.default_rng(5)
    basis = rng.standard_normal((2, 3))
    u = rng.choice([-1.0, 1.0], size=(20, 1)) * basis[rng.integers(0, 2, size=20)]
    u /= np.linalg.norm(u @ np.linalg.qr(np.eye(3))[0], axis=1, keepdims=True)
    w = np.linalg.qr(rng.standard_normal((7, 3)))[0]   # orthonormal: |z_j| = |u_j| = 1
    a, c, _ = clustered_steps(u, w, 2, 1, 0.0)
    np.testing.assert_allclose(a.T @ c, u @ w.T, atol=1e-12)


@pytest.mark.parametrize("beta1", [0.0, 0.5])
def test_clustered_rule_writes_sign_a_sign_b_for_a_rank_one_gradient(beta1: float) -> None:
    # G = sum_v x_v d_v^T = n a b^T: the row x column second moments normalise it to
    # sign(a) sign(b)^T exactly (R_j = n^2 a_j^2 |b|^2, C_i = n^2 b_i^2 |a|^2), the momentum of
    # the first batch is G, and every row has the same magnitude: the steps sum to
    # -lr (1 - beta1) sign(a) sign(b)^T, with rows where a = 0 left unwritten
    rng = np.random.default_rng(6)
    n, rows, cols = 9, 11, 5
    s = rng.choice([-1.0, 1.0], size=n)
    a = rng.choice([-1.0, 0.0, 1.0], size=rows)
    a[:2] = [1.0, -1.0]
    b = rng.standard_normal(cols)
    rule = OuterRule("clustered", rank=2, beta1=beta1, clusters=1, levels=1, gate=0.0,
                     probes=0)
    out = rule.steps(0, np.outer(s, a), np.outer(s, b), 0.3)
    np.testing.assert_allclose(out.xs.T.astype(float) @ out.col_steps,
                               -0.3 * (1 - beta1) * np.outer(np.sign(a), np.sign(b)),
                               atol=1e-9)


def test_clustered_rule_keeps_no_per_cell_state_and_round_trips() -> None:
    rng = np.random.default_rng(7)
    rows, cols, r = 30, 20, 3
    rule = OuterRule("clustered", rank=r, beta1=0.9, clusters=4)
    for _ in range(3):
        x, d = _xd(rng, m=25, rows=rows, cols=cols)
        rule.steps(2, x, d, 0.1)
    st = rule.state_dict()
    for k, v in st.items():
        assert v.size <= max(rows, cols) * r, (k, v.shape)   # never rows x cols
    assert {k.split(".")[0] for k in st} == {"moment", "rowmoment", "p", "q", "count"}
    # the periphery's work grows with rows + cols, not with rows * cols: a layer 4x wider
    # both ways costs about 4x (a per-cell gradient would cost 16x)
    big = OuterRule("clustered", rank=r, beta1=0.9, clusters=4)
    xb, db = _xd(np.random.default_rng(8), m=25, rows=4 * rows, cols=4 * cols)
    xs_, ds_ = _xd(np.random.default_rng(8), m=25, rows=rows, cols=cols)
    ratio = (big.steps(0, xb, db, 0.1).periphery_macs
             / OuterRule("clustered", rank=r, beta1=0.9, clusters=4).steps(
                 0, xs_, ds_, 0.1).periphery_macs)
    assert 3.5 < ratio < 5.0
    other = OuterRule("clustered", rank=r, beta1=0.9, clusters=4)
    other.load_state_dict(st)
    x, d = _xd(rng, m=25, rows=rows, cols=cols)
    o1, o2 = rule.steps(2, x, d, 0.1), other.steps(2, x, d, 0.1)
    np.testing.assert_array_equal(o1.xs, o2.xs)
    np.testing.assert_array_equal(o1.col_steps, o2.col_steps)


def test_clustered_rule_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="allowed"):
        OuterRule("clustered", gate=1.0)
    with pytest.raises(ValueError, match="allowed"):
        OuterRule("clustered", levels=0)


@pytest.mark.parametrize("rule", ["column_norm", "low_rank", "clustered"])
def test_debiased_second_moments_are_adams_bias_corrected_average(rule: str) -> None:
    """``debias``: after t batches the stored column moment is Adam's biased
    sum_k (1 - b2) b2^(t-k) s_k (divided by 1 - b2^t when used), written out here from the
    batches' own column square sums; without it the first batch's value keeps the weight
    b2^(t-1). Every rule counts its batches when debiasing."""
    b2 = 0.9
    rng = np.random.default_rng(11)
    batches = [_xd(rng) for _ in range(4)]
    deb = OuterRule(rule, b2, 2, 0.0, debias=True, clusters=3, probes=0)
    raw = OuterRule(rule, b2, 2, 0.0, debias=False, clusters=3, probes=0)
    col_sq: list[np.ndarray] = []
    first = np.zeros(0)
    for t, (x, d) in enumerate(batches, start=1):
        deb.steps(0, x, d, 0.1)
        raw.steps(0, x, d, 0.1)
        if t == 1:
            first = raw.moments[0].copy()           # s_1: the first-batch start stores it
        # every rule: the two forms feed the same s_k (the steps do not depend on the moments'
        # start), so zero start minus first-batch start = (1 - b2) b2^(t-1) s_1 - b2^(t-1) s_1
        np.testing.assert_allclose(deb.moments[0], raw.moments[0] - b2 ** t * first,
                                   rtol=1e-9, atol=1e-12 * float(np.abs(first).max()))
        if rule == "clustered":                     # exact column sums of G^2 (probes 0)
            g = np.sign(x).T @ d
            col_sq.append((g ** 2).sum(axis=0))
            # zero start: the stored sum is Adam's biased v; _ema returns it / (1 - b2^t)
            want = sum((1 - b2) * b2 ** (t - k) * sq for k, sq in enumerate(col_sq, start=1))
            np.testing.assert_allclose(deb.moments[0], want, rtol=1e-12)
            # the first-batch start: col_sq[0] keeps the weight b2^(t-1)
            raw_want = b2 ** (t - 1) * col_sq[0] + sum(
                (1 - b2) * b2 ** (t - k) * sq for k, sq in enumerate(col_sq[1:], start=2))
            np.testing.assert_allclose(raw.moments[0], raw_want, rtol=1e-12)
    assert deb.counts[0] == 4


def test_debiased_moment_of_a_constant_signal_is_that_signal_from_the_first_batch() -> None:
    rule = OuterRule("column_norm", 0.999, debias=True)
    s = np.array([4.0, 1.0, 0.25])
    for t in range(1, 6):
        rule.counts[7] = t
        np.testing.assert_allclose(rule._ema(rule.moments, 7, s), s, rtol=1e-12)


def test_real_inputs_momentum_is_the_gradient_of_the_input_values() -> None:
    """At full rank one subspace iteration is exact, so after the first batch the factored
    momentum P Q^T is the batch gradient: X^T D with ``real_inputs``, sign(X)^T D without."""
    rng = np.random.default_rng(5)
    x = rng.uniform(-1.0, 1.0, size=(20, 5))
    d = rng.standard_normal((20, 4))
    for real, xg in ((True, x), (False, np.sign(x))):
        rule = OuterRule("clustered", 0.999, 4, 0.9, clusters=2, probes=0, real_inputs=real)
        rule.steps(0, x, d, 0.1)
        p, q = rule.factors[0]
        np.testing.assert_allclose(p @ q.T, xg.T @ d, atol=1e-10)
    ternary = rng.choice([-1.0, 0.0, 1.0], size=(20, 5))     # ternary inputs: no difference
    outs = [OuterRule("clustered", 0.999, 2, 0.9, clusters=2, probes=0,
                      real_inputs=real).steps(0, ternary, d, 0.1) for real in (True, False)]
    np.testing.assert_array_equal(outs[0].xs, outs[1].xs)
    np.testing.assert_array_equal(outs[0].col_steps, outs[1].col_steps)
