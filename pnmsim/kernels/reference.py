"""Plain-numpy reference twins of the cell-physics kernels (:mod:`pnmsim.kernels.cell`) and of
the conductances from the states (:mod:`pnmsim.kernels.conductance`).

Written independently of the numba code (vectorised over cells, the first switching time
computed in closed form), so tests can compare kernel and twin statistically and, with the same
draws, exactly.
"""

from __future__ import annotations

import math

import numpy as np

_PI2_4 = math.pi**2 / 4.0


def p_switch_reference(t_ns: np.ndarray, i_ratio: np.ndarray, delta: np.ndarray,
                       tau_d_ns: float, tau0_ns: float) -> np.ndarray:
    """Plain-numpy twin of the kernel's switching probability."""
    t = np.asarray(t_ns, dtype=np.float64)
    i = np.asarray(i_ratio, dtype=np.float64)
    d = np.asarray(delta, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        prec = np.exp(-_PI2_4 * d * np.exp(-2.0 * (i - 1.0) * t / tau_d_ns))
        therm = 1.0 - np.exp(-t / (tau0_ns * np.exp(d * (1.0 - i))))
    p = np.where(i > 1.0, prec, therm)
    return np.where(t > 0, p, 0.0)


def _hazard_reference(t: np.ndarray, i: np.ndarray, d: np.ndarray, tau_d_ns: float,
                      tau0_ns: float) -> np.ndarray:
    """Plain-numpy twin of :func:`_hazard` (elementwise)."""
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        g = _PI2_4 * d * np.exp(-2.0 * (i - 1.0) * t / tau_d_ns)
        hp = np.where(g > 0.5, -np.log1p(-np.exp(-g)), -np.log(-np.expm1(-g)))
        hp = np.where(g <= 0.0, np.inf, hp)
        ht = t / (tau0_ns * np.exp(d * (1.0 - i)))
    return np.where(t > 0.0, np.where(i > 1.0, hp, ht), 0.0)


def _age_reference(h: np.ndarray, i: np.ndarray, d: np.ndarray, tau_d_ns: float,
                   tau0_ns: float) -> np.ndarray:
    """Plain-numpy twin of :func:`_age` (elementwise)."""
    a = _PI2_4 * d
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        g = -np.where(h < 0.5, np.log(-np.expm1(-h)), np.log1p(-np.exp(-h)))
        tp = tau_d_ns / (2.0 * (i - 1.0)) * (np.log(a) - np.log(g))
        tp = np.where(g >= a, 0.0, np.where(g <= 0.0, np.inf, tp))
        tau = tau0_ns * np.exp(d * (1.0 - i))
        tt = np.where(np.isinf(tau), np.inf, h * tau)
    return np.where(h <= 0.0, 0.0, np.where(i > 1.0, tp, tt))


def conductances_reference(s1: np.ndarray, s2: np.ndarray, rp1: np.ndarray,
                           rap1: np.ndarray, rp2: np.ndarray, rap2: np.ndarray,
                           dg_nominal: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy form of :func:`pnmsim.kernels.conductance.conductances`: (G1 - G2, G1 + G2,
    float32 (G1 - G2) / dG_nominal) with Gk = 1 / R_P where sk == 1, else 1 / R_AP. The
    crossbar's form for states of another shape than its array's (NumPy broadcasts or
    refuses them), and the baseline of ``benchmarks/conductance_speed.py``."""
    g1 = np.where(s1 == 1, 1.0 / rp1, 1.0 / rap1)
    g2 = np.where(s2 == 1, 1.0 / rp2, 1.0 / rap2)
    gdiff = g1 - g2
    return gdiff, g1 + g2, np.ascontiguousarray(gdiff / dg_nominal, dtype=np.float32)


def bias_current_reference(a: np.ndarray, b: np.ndarray, rp1: np.ndarray, rap1: np.ndarray,
                           rp2: np.ndarray, rap2: np.ndarray, v_write: float, r_access: float,
                           v_half: float, iters: int = 300) -> np.ndarray:
    """Series current (uA) with bias-dependent R_AP, vectorised, by a method other than the
    kernel's: damped fixed-point iteration of the AP MTJs' voltages
    (R_k from V_k, I = V_w / (R_access + R1 + R2), V_k <- (V_k + I R_k) / 2), which converges
    where the divider's feedback dV/dV' stays above -3 (any real junction); refused if not."""
    a = np.asarray(a)
    b = np.asarray(b)
    d1 = np.asarray(rap1, dtype=np.float64) - rp1
    d2 = np.asarray(rap2, dtype=np.float64) - rp2
    v1 = np.zeros(np.broadcast_shapes(a.shape, b.shape, d1.shape, d2.shape))
    v2 = np.zeros_like(v1)
    for _ in range(iters):
        r1 = np.where(a == 1, rp1, rp1 + d1 / (1.0 + (v1 / v_half) ** 2))
        r2 = np.where(b == 1, rp2, rp2 + d2 / (1.0 + (v2 / v_half) ** 2))
        i = v_write / (r1 + r2 + r_access)
        n1, n2 = i * r1, i * r2
        if np.all(np.abs(n1 - v1) <= 1e-14 * n1) and np.all(np.abs(n2 - v2) <= 1e-14 * n2):
            return i * 1e6
        v1, v2 = 0.5 * (v1 + n1), 0.5 * (v2 + n2)
    raise ValueError("bias_current_reference: the fixed-point iteration did not converge")


def update_cells_reference(s1: np.ndarray, s2: np.ndarray, pulse_ns: np.ndarray,
                           polarity: np.ndarray, current_scale: np.ndarray, u1: np.ndarray,
                           u2: np.ndarray, rp1: np.ndarray, rap1: np.ndarray, ic01: np.ndarray,
                           d1: np.ndarray, rp2: np.ndarray, rap2: np.ndarray, ic02: np.ndarray,
                           d2: np.ndarray, v_write: float, r_access: float, tau_d_ns: float,
                           tau0_ns: float, ic0_asym: float = 1.0, v_half: float | None = None,
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain-numpy twin of :func:`update_cells` (vectorised over cells: first switching time,
    the other MTJ's continuation at the new current, piecewise energy); returns new (s1, s2)
    and the 4 counters. ``ic0_asym``: I_c0(P->AP) / I_c0(AP->P) around the geometric mean
    ``ic0``, set per MTJ by the state it starts in; ``v_half``: bias-dependent R_AP with the
    series current from :func:`bias_current_reference`."""
    t = np.asarray(pulse_ns, dtype=np.float64)
    act = (polarity != 0) & (t > 0)
    up = polarity > 0
    need1 = act & np.where(up, s1 == 0, s1 == 1)
    need2 = act & np.where(up, s2 == 1, s2 == 0)

    if ic0_asym != 1.0:      # P (1) leaves towards AP: the larger I_c0 for asymmetry > 1
        sq = math.sqrt(ic0_asym)
        ic01 = np.where(s1 == 1, ic01 * sq, ic01 / sq)
        ic02 = np.where(s2 == 1, ic02 * sq, ic02 / sq)

    def current(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if v_half is not None:
            return bias_current_reference(a, b, rp1, rap1, rp2, rap2, v_write, r_access,
                                          v_half) * current_scale
        r1 = np.where(a == 1, rp1, rap1)
        r2 = np.where(b == 1, rp2, rap2)
        return v_write / (r1 + r2 + r_access) * 1e6 * current_scale

    def hz(x: np.ndarray, i: np.ndarray, d: np.ndarray) -> np.ndarray:
        return _hazard_reference(x, i, d, tau_d_ns, tau0_ns)

    def age(h: np.ndarray, i: np.ndarray, d: np.ndarray) -> np.ndarray:
        return _age_reference(h, i, d, tau_d_ns, tau0_ns)

    with np.errstate(divide="ignore", invalid="ignore"):
        e1, e2 = -np.log1p(-u1), -np.log1p(-u2)     # hazard thresholds, Exp(1)
    i0 = current(s1, s2)
    sw1 = need1 & (u1 < p_switch_reference(t, i0 / ic01, d1, tau_d_ns, tau0_ns))
    sw2 = need2 & (u2 < p_switch_reference(t, i0 / ic02, d2, tau_d_ns, tau0_ns))
    t1 = np.where(sw1, np.minimum(age(e1, i0 / ic01, d1), t), np.inf)
    t2 = np.where(sw2, np.minimum(age(e2, i0 / ic02, d2), t), np.inf)
    first1 = (sw1 | sw2) & (t1 <= t2)
    first2 = (sw1 | sw2) & ~first1
    tk = np.where(first1, t1, np.where(first2, t2, t))
    a1 = np.where(first1, 1 - s1, s1)
    b1 = np.where(first2, 1 - s2, s2)
    i1 = current(a1, b1)
    other = (first1 & need2) | (first2 & need1)
    uo = np.where(first1, e2, e1)
    ico = np.where(first1, ic02, ic01)
    do = np.where(first1, d2, d1)
    with np.errstate(invalid="ignore"):
        rest = age(uo, i1 / ico, do) - age(hz(tk, i0 / ico, do), i1 / ico, do)
        tj = tk + np.maximum(rest, 0.0)
        sw_o = other & (tj < t)
    a2 = np.where(sw_o & first2, 1 - a1, a1).astype(s1.dtype)
    b2 = np.where(sw_o & first1, 1 - b1, b1).astype(s2.dtype)
    i2 = current(a2, b2)
    tjc = np.where(sw_o, tj, t)
    e = v_write * (i0 * tk + i1 * (tjc - tk) + i2 * (t - tjc))
    n_sw = np.count_nonzero(a2 != s1) + np.count_nonzero(b2 != s2)
    counts = np.array([act.sum(), n_sw, e[act].sum(), t[act].sum()], dtype=np.float64)
    return a2, b2, counts


def outer_product_updates_reference(s1: np.ndarray, s2: np.ndarray, xs: np.ndarray,
                                    widths: np.ndarray, signs: np.ndarray,
                                    rng: np.random.Generator, **dev: object,
                                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain-numpy twin of :func:`outer_product_updates` (no jitter): the same sequence of
    rank-1 steps, each through :func:`update_cells_reference` with draws from ``rng``.
    Statistically equal to the kernel (its draws come from another stream). Optional
    ``ic0_asym``/``v_half`` entries of ``dev`` as in :func:`update_cells_reference`."""
    counts = np.zeros(4)
    for v in range(xs.shape[0]):
        pol = (xs[v][:, None] * signs[v][None, :]).astype(np.int8)
        pulse = np.broadcast_to(widths[v][None, :], pol.shape).astype(np.float64)
        pulse = np.minimum(pulse, dev["max_pulse_ns"])  # type: ignore[call-overload]
        u1 = rng.random(pol.shape)
        u2 = rng.random(pol.shape)
        s1, s2, c = update_cells_reference(
            s1, s2, pulse, pol, np.ones(pol.shape), u1, u2, dev["rp1"], dev["rap1"],
            dev["ic01"], dev["d1"], dev["rp2"], dev["rap2"], dev["ic02"], dev["d2"],
            dev["v_write"], dev["r_access"], dev["tau_d_ns"], dev["tau0_ns"],  # type: ignore
            dev.get("ic0_asym", 1.0), dev.get("v_half"))  # type: ignore[arg-type]
        counts += c
    return s1, s2, counts
