"""Optional write physics (issue 10 item 5): I_c0 asymmetry by switching direction and
bias-dependent TMR, against references written here.

* The TMR law and the series divider: hand-computed R_AP, the divider's own equations, and a
  scipy root of the scalar equation where the divider has one unknown.
* The kernels' Monte Carlo (1e5 cells) against a time-stepped reference written below: every
  trial cell is stepped through the pulse with dt = T / 400, its current recomputed from its
  instantaneous state (the bias-dependent divider solved per state with scipy's brentq, R_AP
  from the formula written out), each MTJ flipping in a step with the model's hazard at
  ``i = I / I_c0`` of the direction it switches (P -> AP: ``I_c0 sqrt(r)``, AP -> P:
  ``I_c0 / sqrt(r)``); agreement within 5 binomial standard errors plus the reference's
  time-step bias (1e-3, as in tests/test_two_mtj_physics.py).
* Defaults (asymmetry 1, no V_h) reproduce today's values exactly; bad values are refused.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq

from pnmsim import kernels
from pnmsim.config import ARCH_DIR, load_arch
from pnmsim.crossbar import Crossbar
from pnmsim.device import bias as dbias
from pnmsim.device import mtj
from pnmsim.errors import ConfigError
from pnmsim.kernels import bias as kbias
from pnmsim.kernels.reference import bias_current_reference, update_cells_reference
from pnmsim.pulses import PulseMapper, quantize_widths
from tests._cli import assert_user_error, invoke

N = 100_000
DT_BIAS = 1e-3
RP, TMR, IC0, DELTA, TAU_D, TAU0 = 3000.0, 1.5, 60.0, 60.0, 1.0, 1.0
RAP = RP * (1 + TMR)
V_W, R_ACC = 1.2, 1000.0
ASYM, VH = 1.74, 0.5           # arch_configs/parts/mtj_asymmetric.yaml
BOTH = ("mtj.ic0_asymmetry=1.74", "mtj.tmr_v_half_v=0.5")


# ----------------------------------------------------------------------------- TMR law, divider


def test_tmr_bias_law_closed_form() -> None:
    """R_AP(V) = R_P (1 + TMR0 / (1 + (V / V_h)^2)), by hand: at 0.3 V with V_h 0.5 V the TMR
    is 1.5 / 1.36 = 1.10294..., R_AP = 3000 * 2.10294... = 6308.82 ohm; at V = V_h it halves."""
    want = 3000.0 * (1.0 + 1.5 / 1.36)
    assert want == pytest.approx(6308.8235294, abs=1e-6)
    for f in (dbias.r_ap_at_bias, kbias.r_ap_at_bias):
        assert f(3000.0, 7500.0, 0.3, 0.5) == pytest.approx(want, rel=1e-15)
        assert f(3000.0, 7500.0, 0.5, 0.5) == pytest.approx(3000.0 * (1 + 0.75), rel=1e-15)
        assert f(3000.0, 7500.0, 0.0, 0.5) == 7500.0
    assert dbias.r_ap_at_bias(3000.0, 7500.0, 0.3, None) == 7500.0


def _r_ap(v: float, rp: float = RP, rap: float = RAP, vh: float = VH) -> float:
    return rp * (1.0 + (rap / rp - 1.0) / (1.0 + (v / vh) ** 2))


def _divider_brentq(s1: int, s2: int, vh: float = VH, v_w: float = V_W) -> float:
    """Series current (uA) of a nominal cell, solved independently: one unknown voltage per
    AP MTJ (the two of an AP+AP cell are alike), scipy's brentq."""
    n_ap = (s1 == 0) + (s2 == 0)
    if n_ap == 0:
        return v_w / (2 * RP + R_ACC) * 1e6
    r_rest = R_ACC + RP * (2 - n_ap)
    # each AP MTJ carries V, so I = V / R_AP(V) and V_w = n_ap V + I r_rest
    v = brentq(lambda x: n_ap * x + x / _r_ap(x, vh=vh) * r_rest - v_w, 0.0, v_w, xtol=1e-16,
               rtol=1e-15)
    return v / _r_ap(v, vh=vh) * 1e6


@pytest.mark.parametrize("state", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_divider_solutions_agree_with_brentq(state: tuple[int, int]) -> None:
    want = _divider_brentq(*state)
    got_py = dbias.series_current_ua(*state, RP, RAP, RP, RAP, V_W, R_ACC, VH)
    got_nb = kbias.bias_current_ua(*state, RP, RAP, RP, RAP, V_W, R_ACC, VH)
    got_ref = float(bias_current_reference(np.array(state[0]), np.array(state[1]), RP, RAP, RP,
                                           RAP, V_W, R_ACC, VH))
    for g in (got_py, got_nb, got_ref):
        assert g == pytest.approx(want, rel=1e-12)
    if state != (1, 1):   # the write bias lowers R_AP: more current than at zero bias
        assert want > dbias.series_current_ua(*state, RP, RAP, RP, RAP, V_W, R_ACC, None) * 1.2


def test_divider_with_unlike_devices_satisfies_its_equations() -> None:
    """Two different AP MTJs (device variation): the kernel's current I and the voltages
    V_k = I R_AP,k(V_k) satisfy V_w = I (R_access + R1 + R2), written out here."""
    rng = np.random.default_rng(1)
    for _ in range(50):
        rp1, rp2 = rng.uniform(2000, 4000, 2)
        t1, t2 = rng.uniform(0.8, 2.5, 2)
        vh = float(rng.uniform(0.2, 1.0))
        v_w = float(rng.uniform(0.6, 2.0))
        rap1, rap2 = rp1 * (1 + t1), rp2 * (1 + t2)
        i = kbias.bias_current_ua(0, 0, rp1, rap1, rp2, rap2, v_w, R_ACC, vh) * 1e-6
        v1 = i * _r_ap(kbias._v_across_ap(i, rp1, rap1, vh), rp1, rap1, vh)
        v2 = i * _r_ap(kbias._v_across_ap(i, rp2, rap2, vh), rp2, rap2, vh)
        assert v1 == pytest.approx(i * _r_ap(v1, rp1, rap1, vh), rel=1e-12)
        assert v2 == pytest.approx(i * _r_ap(v2, rp2, rap2, vh), rel=1e-12)
        assert v_w == pytest.approx(i * R_ACC + v1 + v2, rel=1e-12)
        ref = float(bias_current_reference(np.array(0), np.array(0), rp1, rap1, rp2, rap2, v_w,
                                           R_ACC, vh))
        assert i * 1e6 == pytest.approx(ref, rel=1e-12)
        assert dbias.series_current_ua(0, 0, rp1, rap1, rp2, rap2, v_w, R_ACC, vh) == \
            pytest.approx(i * 1e6, rel=1e-13)


@pytest.mark.parametrize("r_access", [0.0, 1000.0])
def test_like_ap_pair_shortcut(r_access: float) -> None:
    """Two like AP MTJs (the kernel's one-unknown shortcut) == the general solvers."""
    want = float(bias_current_reference(np.array(0), np.array(0), RP, RAP, RP, RAP, V_W,
                                        r_access, VH))
    assert kbias.bias_current_ua(0, 0, RP, RAP, RP, RAP, V_W, r_access, VH) == \
        pytest.approx(want, rel=1e-12)
    assert dbias.series_current_ua(0, 0, RP, RAP, RP, RAP, V_W, r_access, VH) == \
        pytest.approx(want, rel=1e-12)


def test_directional_ic0() -> None:
    """Geometric mean kept at ic0_ua: P -> AP takes I_c0 sqrt(r), AP -> P I_c0 / sqrt(r)."""
    up, down = dbias.ic0_for_state(1, 60.0, 2.25), dbias.ic0_for_state(0, 60.0, 2.25)
    assert (up, down) == (pytest.approx(90.0), pytest.approx(40.0))
    assert up / down == pytest.approx(2.25) and math.sqrt(up * down) == pytest.approx(60.0)
    assert kbias.ic0_for(1, 60.0, 2.25) == pytest.approx(90.0)
    assert kbias.ic0_for(0, 60.0, 1.0) == 60.0 and kbias.ic0_for(1, 60.0, 1.0) == 60.0


# ----------------------------------------------------------------------------- defaults


def test_defaults_reproduce_todays_values_exactly() -> None:
    cfg = load_arch("reference")
    assert cfg.mtj.ic0_asymmetry == 1.0 and cfg.mtj.tmr_v_half_v is None
    mp = PulseMapper(cfg)
    assert not mp.physics_on and mp.kernel_physics() == (1.0, 0.0)
    assert mp.i_ref_ua == V_W / (RP * (2 + TMR) + R_ACC) * 1e6
    # the write kernel with the parameters passed as "off" == without them, bit for bit
    rng = np.random.default_rng(2)
    shape = (200, 50)
    s1 = rng.integers(0, 2, shape).astype(np.int8)
    s2 = rng.integers(0, 2, shape).astype(np.int8)
    pulse = rng.uniform(0, 8, shape)
    pol = rng.integers(-1, 2, shape).astype(np.int8)
    scale = 1 + 0.05 * rng.standard_normal(shape)
    u1, u2 = rng.random(shape), rng.random(shape)
    dev = [rng.uniform(2500, 3500, shape), rng.uniform(6000, 9000, shape),
           rng.uniform(50, 70, shape), rng.uniform(50, 70, shape)]
    args = (pulse, pol, scale, u1, u2, dev[0], dev[1], dev[2], dev[3], dev[0] * 1.1,
            dev[1] * 0.9, dev[2][::-1], dev[3][::-1], V_W, R_ACC, TAU_D, TAU0)
    a1, a2, out_a = s1.copy(), s2.copy(), np.zeros(4)
    b1, b2, out_b = s1.copy(), s2.copy(), np.zeros(4)
    kernels.update_cells(a1, a2, *args, out_a)
    kernels.update_cells(b1, b2, *args, out_b, 1.0, 0.0)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert out_a.tobytes() == out_b.tobytes()
    t1, t2, c = update_cells_reference(s1, s2, *args, ic0_asym=1.0, v_half=None)
    np.testing.assert_array_equal(a1, t1)
    np.testing.assert_array_equal(a2, t2)


# ----------------------------------------------------------------------------- Monte Carlo


def _state_currents(vh: float | None) -> dict[tuple[int, int], float]:
    if vh is None:
        return {(a, b): V_W / ((RP if a else RAP) + (RP if b else RAP) + R_ACC) * 1e6
                for a in (0, 1) for b in (0, 1)}
    return {(a, b): _divider_brentq(a, b, vh) for a in (0, 1) for b in (0, 1)}


def stepped_reference(a0: int, b0: int, pol: int, t_ns: float, rng: np.random.Generator,
                      asym: float, vh: float | None, n: int = N, steps: int = 400,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Time-stepped Monte Carlo of n cells (module docstring): final (s1, s2)."""
    cur = _state_currents(vh)
    table = np.array([[cur[(0, 0)], cur[(0, 1)]], [cur[(1, 0)], cur[(1, 1)]]])
    a = np.full(n, a0, dtype=np.int64)
    b = np.full(n, b0, dtype=np.int64)
    # an MTJ's I_c0 by the direction of the switch it is waiting for: from P (1) to AP
    # takes IC0 * sqrt(asym), from AP to P IC0 / sqrt(asym)
    ic = [IC0 * math.sqrt(asym) if a0 == 1 else IC0 / math.sqrt(asym),
          IC0 * math.sqrt(asym) if b0 == 1 else IC0 / math.sqrt(asym)]
    x = [np.zeros(n), np.zeros(n)]
    dt = t_ns / steps
    amp = math.pi ** 2 * DELTA / 4.0

    def surv(xx: np.ndarray) -> np.ndarray:
        return -np.expm1(-amp * np.exp(-xx))

    for _ in range(steps):
        i_ua = table[a, b]
        flips = []
        for k, s in enumerate((a, b)):
            target = (1 if k == 0 else 0) if pol > 0 else (0 if k == 0 else 1)
            need = s != target
            i = i_ua / ic[k]
            xn = x[k] + 2.0 * (i - 1.0) * dt / TAU_D
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                p_prec = 1.0 - surv(xn) / surv(x[k])
                p_therm = -np.expm1(-dt / (TAU0 * np.exp(DELTA * (1.0 - i))))
            p = np.where(i > 1.0, p_prec, p_therm)
            x[k] = np.where(i > 1.0, xn, x[k])
            flips.append(need & (rng.random(n) < p))
        a = np.where(flips[0], 1 - a, a)
        b = np.where(flips[1], 1 - b, b)
    return a, b


def kernel_mc(a0: int, b0: int, pol: int, t_ns: float, seed: int, asym: float,
              vh: float | None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = np.full
    s1 = f((N, 1), a0, np.int8)
    s2 = f((N, 1), b0, np.int8)
    out = np.zeros(4)
    kernels.update_cells(s1, s2, f((N, 1), t_ns), f((N, 1), pol, np.int8), np.ones((N, 1)),
                         rng.random((N, 1)), rng.random((N, 1)), f((N, 1), RP), f((N, 1), RAP),
                         f((N, 1), IC0), f((N, 1), DELTA), f((N, 1), RP), f((N, 1), RAP),
                         f((N, 1), IC0), f((N, 1), DELTA), V_W, R_ACC, TAU_D, TAU0, out,
                         asym, vh or 0.0)
    return s1[:, 0], s2[:, 0]


def _same_distribution(k1, k2, r1, r2, what: str) -> None:
    for a in (0, 1):
        for b in (0, 1):
            pk = float(np.mean((k1 == a) & (k2 == b)))
            pr = float(np.mean((r1 == a) & (r2 == b)))
            p = 0.5 * (pk + pr)
            tol = 5.0 * math.sqrt(2.0 * p * (1.0 - p) / N) + DT_BIAS
            assert abs(pk - pr) <= tol, f"{what} -> ({a},{b}): kernel {pk:.5f} ref {pr:.5f}"


def _t_sat(asym: float, vh: float | None) -> float:
    """The state-aware saturating pulse of a -1 cell pushed up (both MTJs must switch): the
    longer of the two MTJs' t(p_max = 0.999) at the cell's current."""
    i_pm = _state_currents(vh)[(0, 1)]
    return max(float(mtj.pulse_for_probability(0.999, i_pm / ic, DELTA, TAU_D))
               for ic in (IC0 * math.sqrt(asym), IC0 / math.sqrt(asym)))


CASES = [
    pytest.param("-1->+1", (0, 1), 3.0, ASYM, VH, id="m1_to_p1_3ns_both"),
    pytest.param("-1->+1", (0, 1), "sat", ASYM, VH, id="m1_to_p1_sat_both",
                 marks=pytest.mark.slow),
    pytest.param("-1->+1", (0, 1), 3.0, ASYM, None, id="m1_to_p1_3ns_asym_only",
                 marks=pytest.mark.slow),
    pytest.param("-1->+1", (0, 1), 3.0, 1.0, VH, id="m1_to_p1_3ns_bias_only",
                 marks=pytest.mark.slow),
    pytest.param("0->+1", (1, 1), 2.0, ASYM, VH, id="pp_to_p1_both"),
    pytest.param("0->+1", (0, 0), 2.0, ASYM, VH, id="apap_to_p1_both",
                 marks=pytest.mark.slow),
    pytest.param("+1->-1", (1, 0), 3.0, ASYM, VH, id="p1_to_m1_3ns_both",
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("what", "start", "t_ns", "asym", "vh"), CASES)
def test_kernel_matches_time_stepped_reference(what: str, start: tuple[int, int], t_ns,
                                               asym: float, vh: float | None) -> None:
    t = _t_sat(asym, vh) if t_ns == "sat" else float(t_ns)
    pol = -1 if what == "+1->-1" else 1
    seed = 100 + 10 * start[0] + start[1] + (t_ns == "sat") * 7 + (vh is None) * 3
    k1, k2 = kernel_mc(*start, pol, t, seed, asym, vh)
    r1, r2 = stepped_reference(*start, pol, t, np.random.default_rng(seed + 5000), asym, vh)
    _same_distribution(k1, k2, r1, r2, f"{what} {start} t {t:.3f} r {asym} vh {vh}")
    # the physics is on: the result differs from the symmetric, bias-free kernel's
    s1, s2 = kernel_mc(*start, pol, t, seed, 1.0, None)
    target = (1, 0) if pol > 0 else (0, 1)
    on = float(np.mean((k1 == target[0]) & (k2 == target[1])))
    off = float(np.mean((s1 == target[0]) & (s2 == target[1])))
    assert abs(on - off) > 10 * math.sqrt(max(off * (1 - off), on * (1 - on), 1e-4) / N)


def test_asymmetry_direction_is_the_state_left() -> None:
    """From (P, P) pushed up only M2 must switch, P -> AP (the larger I_c0); from (AP, AP) only
    M1, AP -> P (the smaller): with asymmetry the single-MTJ probabilities are the closed-form
    P_sw at those currents and I_c0s."""
    t = 1.5
    cur = _state_currents(VH)
    for start, k, ic in (((1, 1), 1, IC0 * math.sqrt(ASYM)), ((0, 0), 0, IC0 / math.sqrt(ASYM))):
        s1, s2 = kernel_mc(*start, 1, t, 7, ASYM, VH)
        p = float(mtj.p_switch_precessional(t, cur[start] / ic, DELTA, TAU_D))
        got = float(np.mean((s1 if k == 0 else s2) != start[k]))
        assert abs(got - p) <= 5 * math.sqrt(p * (1 - p) / N) + 1e-9, (start, got, p)


# ----------------------------------------------------------------------------- wiring


def test_outer_product_kernel_follows_the_physics() -> None:
    """The outer-product kernel (own random stream) with both features on against the
    time-stepped reference: -1 cells pushed up by a 3 ns rank-1 step (2e4 cells)."""
    rows, cols, t = 200, 100, 3.0
    n = rows * cols
    s1 = np.zeros((rows, cols), np.int8)
    s2 = np.ones((rows, cols), np.int8)
    f = np.full
    out = np.zeros(4)
    kernels.outer_product_updates(
        s1, s2, np.ones((1, rows), np.int8), f((1, cols), t), np.ones((1, cols), np.int8),
        f((rows, cols), RP), f((rows, cols), RAP), f((rows, cols), IC0), f((rows, cols), DELTA),
        f((rows, cols), RP), f((rows, cols), RAP), f((rows, cols), IC0), f((rows, cols), DELTA),
        V_W, R_ACC, TAU_D, TAU0, 1e9, 0.0, 0.0, False, 3, out, ASYM, VH)
    r1, r2 = stepped_reference(0, 1, 1, t, np.random.default_rng(4), ASYM, VH, n=n)
    for a in (0, 1):
        for b in (0, 1):
            pk = float(np.mean((s1 == a) & (s2 == b)))
            pr = float(np.mean((r1 == a) & (r2 == b)))
            p = 0.5 * (pk + pr)
            assert abs(pk - pr) <= 5.0 * math.sqrt(2.0 * p * (1.0 - p) / n) + DT_BIAS
    assert float(np.mean((s1 == 1) & (s2 == 0))) > 0.5      # 0.054 without the physics


def _arch(*over: str):  # type: ignore[no-untyped-def]
    return load_arch("reference", ("update.pulse_mapping=exact",) + BOTH + over)


def test_crossbar_apply_pulses_equals_twin_with_same_draws() -> None:
    cfg = _arch("variation.pulse_jitter_sigma=0.05", "variation.current_jitter_sigma=0.05")
    rows, cols = 60, 50
    rng = np.random.default_rng(9)
    cb = Crossbar(rows, cols, cfg, np.random.default_rng(8))
    cb.set_weights(rng.integers(-1, 2, (rows, cols)))
    s1, s2 = cb.s1.copy(), cb.s2.copy()
    pulse = quantize_widths(rng.uniform(0, 8, (rows, cols)), 0.05, 20.0)
    pol = rng.integers(-1, 2, (rows, cols)).astype(np.int8)
    cnt = cb.apply_pulses(pulse, pol, np.random.default_rng(10))
    draw = np.random.default_rng(10)
    pj = np.minimum(np.maximum(pulse * (1 + 0.05 * draw.standard_normal((rows, cols))), 0.0),
                    20.0)
    scale = np.maximum(1 + 0.05 * draw.standard_normal((rows, cols)), 0.0)
    u1, u2 = draw.random((rows, cols)), draw.random((rows, cols))
    t1, t2, e_ref = update_cells_reference(
        s1, s2, pj, pol, scale, u1, u2, cb.rp1, cb.rap1, cb.m1.ic0_ua, cb.m1.delta, cb.rp2,
        cb.rap2, cb.m2.ic0_ua, cb.m2.delta, V_W, R_ACC, TAU_D, TAU0, ic0_asym=ASYM, v_half=VH)
    np.testing.assert_array_equal(cb.s1, t1)
    np.testing.assert_array_equal(cb.s2, t2)
    assert np.count_nonzero(cb.s1 != s1) > 100
    # the write energy, V * integral of the (bias-solved, piecewise) current over each pulse
    assert cnt.write_fj == pytest.approx(float(e_ref[2]), rel=1e-9)
    assert (cnt.pulses, cnt.switched) == (int(e_ref[0]), int(e_ref[1]))


@pytest.mark.parametrize("binary", [False, True])
def test_state_aware_kernel_equals_numpy_twin(binary: bool) -> None:
    cfg = _arch()
    mp = PulseMapper(cfg)
    assert mp.physics_on
    rng = np.random.default_rng(5)
    shape = (37, 23)
    step = rng.normal(0, 0.6, shape)
    step[1, :3] = [1.2, -2.5, 0.999999]
    mag = np.abs(step)
    kappa = np.floor(mag)
    nu = mag - kappa
    s1 = rng.integers(0, 2, shape).astype(np.int8)
    s2 = ((1 - s1) if binary else rng.integers(0, 2, shape)).astype(np.int8)
    pol = np.sign(step).astype(np.int8)
    want = mp.pulse_ns_cells(nu, kappa, s1, s2, pol, binary)
    got = mp.quantize(kernels.state_aware_pulses(
        nu, kappa, s1, s2, pol, mp.r_p, mp.r_ap, mp.r_access, mp.v_write, mp.ic0, mp.delta,
        mp.tau_d_ns, mp.m, mp.p_max, mp.max_pulse_ns, binary, *mp.kernel_physics()))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert (got > 0).sum() > 100


@pytest.mark.parametrize("binary", [False, True])
def test_two_unlike_mtjs_width_meets_the_cell_target(binary: bool) -> None:
    """A +-1 cell sent to the other sign: one MTJ switches P -> AP, the other AP -> P. The
    width gives (1 - P1)(1 - P2) = 1 - p (binary P1 P2 = p), P_k the closed form at
    I_state / I_c0 of each direction."""
    cur = _state_currents(VH)[(0, 1)]
    i_up, i_dn = cur / (IC0 * math.sqrt(ASYM)), cur / (IC0 / math.sqrt(ASYM))
    for nu in (0.05, 0.3, 0.6):
        p = math.tanh(3 * nu)
        t = kbias.aware_width(0, 1, 1, nu, False, binary, cur, IC0, ASYM, DELTA, TAU_D, 3.0,
                              0.999, 20.0)
        p1 = float(mtj.p_switch_precessional(t, i_dn, DELTA, TAU_D))   # M1: AP -> P
        p2 = float(mtj.p_switch_precessional(t, i_up, DELTA, TAU_D))   # M2: P -> AP
        got = p1 * p2 if binary else 1 - (1 - p1) * (1 - p2)
        assert got == pytest.approx(p, rel=1e-9)
    t_whole = kbias.aware_width(0, 1, 1, 0.0, True, False, cur, IC0, ASYM, DELTA, TAU_D, 3.0,
                                0.999, 20.0)
    assert float(mtj.p_switch_precessional(t_whole, i_up, DELTA, TAU_D)) == \
        pytest.approx(0.999, rel=1e-12)


@pytest.mark.parametrize("preset", ["reference", "variation"])
@pytest.mark.parametrize("scale", [0.05, 0.6, 1.7])
def test_fused_update_equals_three_step_path_with_physics_on(preset: str, scale: float) -> None:
    """Crossbar.update_per_cell_fused (per_cell_write) == update_per_cell (state-aware widths,
    jitter, write kernel) with both features on, states and counters bit for bit (reference:
    nominal devices, where the fused kernel's nominal shortcut must stay off)."""
    arch = load_arch(preset, BOTH)
    rows, cols, tile_rows = 150, 70, 64
    rng = np.random.default_rng(3)
    a = Crossbar(rows, cols, arch, np.random.default_rng(9))
    a.set_weights(rng.integers(-1, 2, (rows, cols)))
    b = copy.deepcopy(a)
    mapper = PulseMapper(arch)
    step = (rng.standard_normal((rows, cols)) * scale).astype(np.float32)
    for _ in range(3):
        cnt_a, *_ = a.update_per_cell_fused(step, 1.0, mapper, np.random.default_rng(5),
                                            tile_rows)
        cnt_b = b.update_per_cell(np.asarray(step, np.float64), mapper,
                                  np.random.default_rng(5))
        np.testing.assert_array_equal(a.s1, b.s1)
        np.testing.assert_array_equal(a.s2, b.s2)
        assert (cnt_a.pulses, cnt_a.switched) == (cnt_b.pulses, cnt_b.switched)
        assert cnt_a.write_fj == cnt_b.write_fj
        assert cnt_a.pulse_ns_total == cnt_b.pulse_ns_total


# ----------------------------------------------------------------------------- config


def test_preset_part_loads_and_changes_the_physics(tmp_path: Path) -> None:
    part = ARCH_DIR / "parts" / "mtj_asymmetric.yaml"
    pre = tmp_path / "asym.yaml"
    pre.write_text(f"parts: [{ARCH_DIR / 'reference.yaml'}, {part}]\nname: asym\n")
    cfg = load_arch(pre)
    assert (cfg.mtj.ic0_asymmetry, cfg.mtj.tmr_v_half_v) == (ASYM, VH)
    assert PulseMapper(cfg).i_ref_ua == pytest.approx(_divider_brentq(1, 0), rel=1e-12)
    for line in part.read_text().splitlines():      # every number names its source
        body = line.split("#")[0]
        if ":" in body and any(ch.isdigit() for ch in body.split(":", 1)[1]):
            assert "#" in line and len(line.split("#", 1)[1].strip()) > 20, line


@pytest.mark.parametrize(("key", "value"), [
    ("mtj.ic0_asymmetry", "0"), ("mtj.ic0_asymmetry", "-1.5"), ("mtj.ic0_asymmetry", "50"),
    ("mtj.tmr_v_half_v", "0"), ("mtj.tmr_v_half_v", "-0.3"), ("mtj.tmr_v_half_v", "1000"),
    ("mtj.tmr_v_half_v", "abc"),
])
def test_bad_values_refused_in_one_line(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_arch("reference", (f"{key}={value}",))
    assert key in str(e.value) and "\n" not in str(e.value)
    assert_user_error(invoke(["validate", "reference", "--set", f"{key}={value}"]), key)


def test_write_margin_uses_direction_and_bias() -> None:
    # asymmetry 4: P -> AP needs 120 uA, the +-1 cell carries 104.3 uA (zero bias)
    with pytest.raises(ConfigError, match="mtj.ic0_asymmetry.*P->AP"):
        load_arch("reference", ("mtj.ic0_asymmetry=4",))
    # ... but with the write bias lowering R_AP the +-1 cell carries 138.2 uA: accepted
    load_arch("reference", ("mtj.ic0_asymmetry=4", "mtj.tmr_v_half_v=0.5"))
    # 0.9 V: AP+AP carries 56.3 uA < 60 at zero bias (refused today), 83.8 uA at V_h 0.5 V
    with pytest.raises(ConfigError, match="synapse.v_write_v"):
        load_arch("reference", ("synapse.v_write_v=0.9",))
    cfg = load_arch("reference", ("synapse.v_write_v=0.9", "mtj.tmr_v_half_v=0.5"))
    assert _divider_brentq(0, 0, v_w=0.9) > 60.0
    assert cfg.synapse.v_write_v == 0.9
