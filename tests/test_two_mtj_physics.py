"""Two-MTJ cell physics (issue 10 item 5) against an independent time-stepped reference.

The reference below does not sample switching times or match hazards the way the kernels do:
it steps every trial cell through the pulse in small time steps dt, recomputing the series
current from the cell's *instantaneous* state at every step, and flips each MTJ in a step with
the model's hazard over that step:

* precessional (i > 1): the macrospin "progress" ``x`` of an MTJ grows by ``2 (i - 1) dt /
  tau_D`` per step and, given it has not switched, it switches in the step with probability
  ``1 - S(x + dx) / S(x)``, ``S(x) = 1 - exp(-A e^-x)``, A = pi^2 Delta / 4 (science.md §3);
* thermal (i <= 1): rate 1 / tau, ``tau = tau_0 exp(Delta (1 - i))``, probability
  ``1 - exp(-dt / tau)`` per step.

Its energy is ``sum V I(t) dt``. The kernels' Monte Carlo (>= 1e5 cells) must agree with it
within 5 binomial standard errors of the difference of two independent estimates, plus the
reference's time-discretisation bias: a switch takes effect at the end of its step, which moves
the current change by < dt; with dt = T / 400 the measured bias (dt vs dt / 2) is below 1e-3 in
probability, the allowance used.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pnmsim import kernels
from pnmsim.config import load_arch, with_overrides
from pnmsim.crossbar import Crossbar
from pnmsim.device import mtj
from pnmsim.pulses import PulseMapper, quantize_widths

N = 100_000
DT_BIAS = 1e-3

# reference design point (arch_configs/parts/mtj_reference.yaml, periphery_reference.yaml)
RP, TMR, IC0, DELTA, TAU_D, TAU0 = 3000.0, 1.5, 60.0, 60.0, 1.0, 1.0
V_W, R_ACC = 1.2, 1000.0
STATES = {"-1": (0, 1), "0pp": (1, 1), "0apap": (0, 0), "+1": (1, 0)}


def _dev(n: int, delta: float = DELTA, v_w: float = V_W) -> dict:
    f = np.full
    return dict(rp1=f((n, 1), RP), rap1=f((n, 1), RP * (1 + TMR)), ic01=f((n, 1), IC0),
                d1=f((n, 1), delta), rp2=f((n, 1), RP), rap2=f((n, 1), RP * (1 + TMR)),
                ic02=f((n, 1), IC0), d2=f((n, 1), delta), v_write=v_w, r_access=R_ACC,
                tau_d_ns=TAU_D, tau0_ns=TAU0)


def stepped_reference(a0: int, b0: int, pol: int, t_ns: float, rng: np.random.Generator,
                      n: int = N, delta: float = DELTA, v_w: float = V_W,
                      steps: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time-stepped Monte Carlo of ``n`` cells (module docstring): final (s1, s2), energy."""
    a = np.full(n, a0, dtype=np.int64)
    b = np.full(n, b0, dtype=np.int64)
    x = [np.zeros(n), np.zeros(n)]          # precessional progress of M1, M2
    e = np.zeros(n)
    dt = t_ns / steps
    amp = math.pi ** 2 * delta / 4.0

    def surv(xx: np.ndarray) -> np.ndarray:
        return -np.expm1(-amp * np.exp(-xx))

    for _ in range(steps):
        r1 = np.where(a == 1, RP, RP * (1 + TMR))
        r2 = np.where(b == 1, RP, RP * (1 + TMR))
        cur = v_w / (r1 + r2 + R_ACC) * 1e6          # uA, instantaneous
        e += v_w * cur * dt
        i = cur / IC0
        flips = []
        for k, s in enumerate((a, b)):
            # polarity +1 drives M1 -> P (1) and M2 -> AP (0); -1 the reverse
            target = (1 if k == 0 else 0) if pol > 0 else (0 if k == 0 else 1)
            need = s != target
            xn = x[k] + 2.0 * (i - 1.0) * dt / TAU_D
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                p_prec = 1.0 - surv(xn) / surv(x[k])
                p_therm = -np.expm1(-dt / (TAU0 * np.exp(delta * (1.0 - i))))
            p = np.where(i > 1.0, p_prec, p_therm)
            x[k] = np.where(i > 1.0, xn, x[k])
            flips.append(need & (rng.random(n) < p))
        a = np.where(flips[0], 1 - a, a)
        b = np.where(flips[1], 1 - b, b)
    return a, b, e


def kernel_mc(a0: int, b0: int, pol: int, t_ns: float, seed: int, n: int = N,
              delta: float = DELTA, v_w: float = V_W) -> tuple[np.ndarray, np.ndarray, float]:
    """kernels.update_cells on n independent cells: final (s1, s2) and total energy (fJ)."""
    rng = np.random.default_rng(seed)
    s1 = np.full((n, 1), a0, np.int8)
    s2 = np.full((n, 1), b0, np.int8)
    out = np.zeros(4)
    kernels.update_cells(s1, s2, np.full((n, 1), t_ns), np.full((n, 1), pol, np.int8),
                         np.ones((n, 1)), rng.random((n, 1)), rng.random((n, 1)),
                         out=out, **_dev(n, delta, v_w))
    return s1[:, 0], s2[:, 0], float(out[2])


def _assert_same_distribution(k1, k2, r1, r2, what: str) -> None:
    for a in (0, 1):
        for b in (0, 1):
            pk = float(np.mean((k1 == a) & (k2 == b)))
            pr = float(np.mean((r1 == a) & (r2 == b)))
            p = 0.5 * (pk + pr)
            tol = 5.0 * math.sqrt(2.0 * p * (1.0 - p) / N) + DT_BIAS
            assert abs(pk - pr) <= tol, f"{what} -> ({a},{b}): kernel {pk:.5f} ref {pr:.5f}"


def _t_sat() -> float:
    i = V_W / (RP + RP * (1 + TMR) + R_ACC) * 1e6 / IC0
    return float(mtj.pulse_for_probability(0.999, i, DELTA, TAU_D))


# ----------------------------------------------------------------------------- kernel vs reference


CASES = [pytest.param(st, pol, t, marks=() if (st, t) == ("+1", 3.0) else pytest.mark.slow)
         for st, pol in [("-1", 1), ("+1", -1), ("0pp", 1), ("0apap", -1)]
         for t in (3.0, "sat")]


@pytest.mark.parametrize(("start", "pol", "t_ns"), CASES)
def test_update_cells_matches_time_stepped_reference(start: str, pol: int, t_ns) -> None:
    t = _t_sat() if t_ns == "sat" else float(t_ns)
    a0, b0 = STATES[start]
    seed = 11 + 7 * list(STATES).index(start) + (pol > 0) + (t_ns == "sat") * 100
    k1, k2, ek = kernel_mc(a0, b0, pol, t, seed)
    r1, r2, er = stepped_reference(a0, b0, pol, t, np.random.default_rng(seed + 5000))
    _assert_same_distribution(k1, k2, r1, r2, f"{start} pol {pol:+d} t {t:.3f}")
    # energy: the kernel integrates V I(t) over the piecewise-constant current
    se = float(er.std()) / math.sqrt(N)
    assert abs(ek / N - er.mean()) <= 5 * math.sqrt(2) * se + 1e-3 * er.mean()


def test_issue_figures_jump_and_saturating_pulse() -> None:
    """The issue's numbers: the -1 -> +1 jump at 3 ns and the success of the saturating pulse
    (t(p_max = 0.999) at the +-1 cell's current) with the current recomputed mid-pulse, against
    the frozen-current values p^2 (0.030 and 0.998)."""
    i = V_W / (RP + RP * (1 + TMR) + R_ACC) * 1e6 / IC0
    for t, frozen, want in ((3.0, 0.030, 0.054), (_t_sat(), 0.998, 0.918)):
        p = float(mtj.p_switch_precessional(t, i, DELTA, TAU_D))
        assert p * p == pytest.approx(frozen, abs=1e-3)
        k1, k2, _ = kernel_mc(0, 1, +1, t, seed=77)
        r1, r2, _ = stepped_reference(0, 1, +1, t, np.random.default_rng(78))
        jump_k = float(np.mean((k1 == 1) & (k2 == 0)))
        jump_r = float(np.mean((r1 == 1) & (r2 == 0)))
        tol = 5.0 * math.sqrt(2 * jump_r * (1 - jump_r) / N) + DT_BIAS
        assert abs(jump_k - jump_r) <= tol
        assert jump_k == pytest.approx(want, abs=0.003)
        assert abs(jump_k - p * p) > 10 * math.sqrt(p * p * (1 - p * p) / N)   # not frozen


@pytest.mark.slow
def test_thermal_regime_composition() -> None:
    """Sub-critical writes (all states below I_c0, Delta 10): the rate 1/tau(i(t)) integrates
    over the current change; the first switch of M1 into P raises the current ~1.6x."""
    a0, b0, pol, t, d, v = 0, 1, 1, 20.0, 10.0, 0.4
    k1, k2, ek = kernel_mc(a0, b0, pol, t, seed=5, delta=d, v_w=v)
    r1, r2, er = stepped_reference(a0, b0, pol, t, np.random.default_rng(6), delta=d, v_w=v)
    assert 0.05 < float(np.mean(k1 == 1)) < 0.95
    _assert_same_distribution(k1, k2, r1, r2, "thermal")


@pytest.mark.slow
def test_outer_product_kernel_matches_reference() -> None:
    """The outer-product kernel (own random stream) follows the same physics."""
    rows, cols = 400, 250
    t = 3.0
    s1 = np.zeros((rows, cols), np.int8)
    s2 = np.ones((rows, cols), np.int8)
    d = _dev(1)
    full = {k: np.full((rows, cols), float(v[0, 0])) for k, v in d.items()
            if isinstance(v, np.ndarray)}
    out = np.zeros(4)
    kernels.outer_product_updates(
        s1, s2, np.ones((1, rows), np.int8), np.full((1, cols), t), np.ones((1, cols), np.int8),
        full["rp1"], full["rap1"], full["ic01"], full["d1"], full["rp2"], full["rap2"],
        full["ic02"], full["d2"], V_W, R_ACC, TAU_D, TAU0, 1e9, 0.0, 0.0, False, 3, out)
    r1, r2, er = stepped_reference(0, 1, 1, t, np.random.default_rng(4))
    _assert_same_distribution(s1.ravel(), s2.ravel(), r1, r2, "outer product")
    assert out[2] / N == pytest.approx(er.mean(), rel=2e-3)


# ----------------------------------------------------------------------------- binary pairs


@pytest.mark.parametrize("reference", ["fixed", pytest.param("state", marks=pytest.mark.slow)])
def test_binary_pair_is_never_reverted(reference: str) -> None:
    """A binary crossbar follows the same physics: cells left half-switched stay so (read as 0)
    and their frequency is the time-stepped reference's; nothing that switched is undone."""
    cfg = load_arch("reference", overrides=[f"update.pulse_reference={reference}",
                                            "update.pulse_mapping=exact"])
    rows, cols = 400, 250
    cb = Crossbar(rows, cols, cfg, np.random.default_rng(1), binary=True)
    cb.set_weights(-np.ones((rows, cols)))
    mapper = PulseMapper(cfg)
    widths: list[np.ndarray] = []
    counts = cb.update_per_cell(np.full((rows, cols), 0.4), mapper, np.random.default_rng(2),
                                widths_out=widths)
    t = float(widths[0][0, 0])
    assert np.all(widths[0] == t)
    r1, r2, _ = stepped_reference(0, 1, 1, t, np.random.default_rng(3))
    _assert_same_distribution(cb.s1.ravel(), cb.s2.ravel(), r1, r2, f"binary {reference}")
    w = cb.weights()
    assert np.count_nonzero(w == 0) > 1000                # half-switched pairs are kept
    assert counts.switched == np.count_nonzero(cb.s1 == 1) + np.count_nonzero(cb.s2 == 0)


def test_binary_apply_pulses_equals_twin_with_same_draws() -> None:
    """Crossbar.apply_pulses on a binary array == the numpy twin with the draws it makes
    (pulse jitter, current jitter, u1, u2): no pair correlation, no undo."""
    cfg = load_arch("reference", overrides=["variation.pulse_jitter_sigma=0.05",
                                            "variation.current_jitter_sigma=0.05"])
    rows, cols = 60, 50
    rng = np.random.default_rng(9)
    cb = Crossbar(rows, cols, cfg, np.random.default_rng(8), binary=True)
    w0 = np.where(rng.random((rows, cols)) < 0.5, -1, 1)
    cb.set_weights(w0)
    s1, s2 = cb.s1.copy(), cb.s2.copy()
    pulse = quantize_widths(rng.uniform(0, 8, (rows, cols)), 0.05, 30.0)
    pol = -w0.astype(np.int8)
    cb.apply_pulses(pulse, pol, np.random.default_rng(10))
    draw = np.random.default_rng(10)
    pj = np.maximum(pulse * (1 + 0.05 * draw.standard_normal((rows, cols))), 0.0)
    pj = np.minimum(pj, 30.0)
    scale = np.maximum(1 + 0.05 * draw.standard_normal((rows, cols)), 0.0)
    u1, u2 = draw.random((rows, cols)), draw.random((rows, cols))
    rp_ap1 = cb.m1.r_p_ohm * (1 + cb.m1.tmr)
    rp_ap2 = cb.m2.r_p_ohm * (1 + cb.m2.tmr)
    t1, t2, _ = kernels.update_cells_reference(
        s1, s2, pj, pol, scale, u1, u2, cb.m1.r_p_ohm, rp_ap1, cb.m1.ic0_ua, cb.m1.delta,
        cb.m2.r_p_ohm, rp_ap2, cb.m2.ic0_ua, cb.m2.delta, 1.2, 1000.0, 1.0, 1.0)
    np.testing.assert_array_equal(cb.s1, t1)
    np.testing.assert_array_equal(cb.s2, t2)
    assert np.count_nonzero(cb.weights() == 0) > 0


# ----------------------------------------------------------------------------- quantisation


def test_quantize_widths_grid_and_cap() -> None:
    t = np.array([0.0, 0.01, 0.024, 0.026, 1.2345, 29.99, 31.0, np.inf])
    got = quantize_widths(t, 0.05, 30.0)
    want = np.array([0.0, 0.0, 0.0, 0.05, 1.25, 30.0, 30.0, 30.0])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(quantize_widths(got, 0.05, 30.0), got, rtol=0, atol=1e-12)
    # a cap that is not on the grid: the longest multiple below it
    assert float(quantize_widths(np.array(0.5), 0.3, 0.5)) == pytest.approx(0.3)


@pytest.mark.parametrize("mapping", [("exact", "state"), ("exact", "fixed"),
                                     ("affine", "fixed")])
def test_mapper_widths_on_grid_and_drive_physics_and_timing(mapping) -> None:
    """Every width the mapper hands out is a whole multiple of pulse_resolution_ns; the widths
    recorded for the timing are those the physics used; the realised switching probability is
    that of the quantised width, not of the exact one."""
    res = 0.25   # coarse grid so that quantisation is visible in the statistics
    cfg = load_arch("reference", overrides=[f"update.pulse_mapping={mapping[0]}",
                                            f"update.pulse_reference={mapping[1]}",
                                            f"periphery.pulse_resolution_ns={res}"])
    mapper = PulseMapper(cfg)
    nu = np.linspace(0.0, 0.999, 400)
    for w in (mapper.pulse_ns(nu, np.floor(nu)), np.array([mapper.t_sat])):
        k = w / res
        np.testing.assert_allclose(k, np.rint(k), atol=1e-9)
    # one fractional step on (P, P) cells, pushed up: only M2 can switch
    rows, cols = 400, 250
    cb = Crossbar(rows, cols, cfg, np.random.default_rng(1))
    nu0 = 0.1
    widths: list[np.ndarray] = []
    counts = cb.update_per_cell(np.full((rows, cols), nu0), mapper, np.random.default_rng(2),
                                widths_out=widths)
    t = float(widths[0][0, 0])
    assert np.all(widths[0] == t)
    assert t / res == pytest.approx(round(t / res), abs=1e-9)
    assert counts.pulse_ns_total == pytest.approx(t * rows * cols, rel=1e-12)
    i = V_W / (2 * RP + R_ACC) * 1e6 / IC0
    p_q = float(mtj.p_switch_precessional(t, i, DELTA, TAU_D))
    got = float(np.mean(cb.s2 == 0))
    assert abs(got - p_q) <= 5 * math.sqrt(p_q * (1 - p_q) / N)
    # the exact (unquantised) width's probability is distinguishable from it
    t_exact = {"state": float(mtj.pulse_for_probability(math.tanh(3 * nu0), i, DELTA, TAU_D))}
    if mapping[1] == "state":
        p_exact = float(mtj.p_switch_precessional(t_exact["state"], i, DELTA, TAU_D))
        if abs(p_exact - p_q) > 10 * math.sqrt(p_q * (1 - p_q) / N):
            assert abs(got - p_exact) > 5 * math.sqrt(p_q * (1 - p_q) / N)


def test_outer_product_records_use_quantised_widths() -> None:
    """The outer-product scheme's widths (physics and the records' latency) are on the grid."""
    cfg = with_overrides(load_arch("outer_product"), ["periphery.pulse_resolution_ns=0.1"])
    mapper = PulseMapper(cfg)
    w = mapper.pulse_ns(np.array([0.013, 0.2, 0.57]), np.zeros(3))
    np.testing.assert_allclose(w / 0.1, np.rint(w / 0.1), atol=1e-9)
