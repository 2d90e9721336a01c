"""numba helpers of the optional write-direction and write-bias physics (part of
:mod:`pnmsim.kernels`), the kernel forms of :mod:`pnmsim.device.bias` (which documents the
model): the I_c0 of an MTJ by the direction it switches, the self-consistent series current
with bias-dependent R_AP, and the state-aware pulse width of a cell whose two MTJs switch at
different rates.

``ic0_asym = 1.0`` and ``v_half = 0.0`` mean "off"; the write kernels of
:mod:`pnmsim.kernels.cell` then keep their original arithmetic (bit-identical results).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from pnmsim.kernels.dst import dst_target, off_target

_PI2_4 = math.pi**2 / 4.0
_MAX_ITER = 200
_TOL = 1e-14   # Newton stops when its step is below this fraction of the value
_BISECT = 64   # bisection steps of the two-MTJ width: 20 ns / 2^64, far below any grid


@njit(cache=True)
def ic0_for(state: int, ic0: float, ic0_asym: float) -> float:
    """I_c0 of an MTJ leaving ``state`` (1 = P: P -> AP, ``I_c0 sqrt(r)``; 0 = AP: AP -> P,
    ``I_c0 / sqrt(r)``); exactly ``ic0`` for ``ic0_asym = 1``."""
    if state == 1:
        return ic0 * math.sqrt(ic0_asym)
    return ic0 / math.sqrt(ic0_asym)


@njit(cache=True)
def r_ap_at_bias(rp: float, rap: float, v: float, v_half: float) -> float:
    """``R_AP(V) = R_P + (R_AP0 - R_P) / (1 + (V / V_h)^2)`` (ohm)."""
    x = v / v_half
    return rp + (rap - rp) / (1.0 + x * x)


@njit(cache=True)
def _v_across_ap(i_a: float, rp: float, rap: float, v_half: float) -> float:
    """Voltage across an AP MTJ carrying ``i_a`` (A): root of ``V - i_a R_AP(V)``."""
    d = rap - rp
    lo = i_a * rp
    hi = i_a * rap
    if not d > 0.0 or not hi > lo:
        return lo
    vh2 = v_half * v_half
    v = hi
    for _ in range(_MAX_ITER):
        den = 1.0 + v * v / vh2
        fv = v - i_a * (rp + d / den)
        if fv == 0.0:
            return v
        if fv > 0.0:
            hi = v
        else:
            lo = v
        dfv = 1.0 + i_a * d * 2.0 * v / vh2 / (den * den)
        step = fv / dfv
        if abs(step) <= _TOL * v:
            return v - step
        vn = v - step
        if not (lo < vn < hi):
            vn = 0.5 * (lo + hi)
        v = vn
    return v


@njit(cache=True)
def _one_ap_current_ua(rp: float, rap: float, r_rest: float, v_write: float,
                       v_half: float) -> float:
    """Series current (uA) with one AP MTJ and fixed resistance ``r_rest``: the root V of
    ``V r_rest - (V_w - V) R_AP(V)`` (increasing in V) by safeguarded Newton, bracketed by
    the voltages at R_P and at R_AP0; then ``I = (V_w - V) / r_rest``."""
    d = rap - rp
    lo = v_write * rp / (rp + r_rest)
    hi = v_write * rap / (rap + r_rest)
    if not d > 0.0 or not hi > lo:
        return v_write / (rap + r_rest) * 1e6
    vh2 = v_half * v_half
    v = hi
    for _ in range(_MAX_ITER):
        den = 1.0 + v * v / vh2
        r = rp + d / den
        g = v * r_rest - (v_write - v) * r
        if g == 0.0:
            break
        if g > 0.0:
            hi = v
        else:
            lo = v
        dr = -d * 2.0 * v / vh2 / (den * den)
        dg = r_rest + r - (v_write - v) * dr
        step = g / dg
        if abs(step) <= _TOL * v:   # converged (quadratically): the last step is below 1 ulp
            v = v - step
            break
        vn = v - step
        if not (lo < vn < hi):
            vn = 0.5 * (lo + hi)
        v = vn
    return (v_write - v) / r_rest * 1e6


@njit(cache=True)
def bias_current_ua(a: int, b: int, rp1: float, rap1: float, rp2: float, rap2: float,
                    v_write: float, r_access: float, v_half: float) -> float:
    """Series write current (uA) of a cell in state (a, b) with bias-dependent R_AP, the
    divider solved self-consistently (:func:`pnmsim.device.bias.series_current_ua`)."""
    r1 = rp1 if a == 1 else rap1
    r2 = rp2 if b == 1 else rap2
    if a == 1 and b == 1:
        return v_write / (r1 + r2 + r_access) * 1e6
    r_fixed = r_access + (rp1 if a == 1 else 0.0) + (rp2 if b == 1 else 0.0)
    if a == 1 or b == 1:   # one AP MTJ: one unknown, its voltage (no nested solve)
        return _one_ap_current_ua(rp2 if a == 1 else rp1, rap2 if a == 1 else rap1, r_fixed,
                                  v_write, v_half)
    if rp1 == rp2 and rap1 == rap2:   # two like AP MTJs share V: one unknown again
        if r_access > 0.0:            # V (R_acc / 2) = (V_w / 2 - V) R_AP(V)
            return _one_ap_current_ua(rp1, rap1, 0.5 * r_access, 0.5 * v_write, v_half)
        return 0.5 * v_write / r_ap_at_bias(rp1, rap1, 0.5 * v_write, v_half) * 1e6
    lo = v_write / (r1 + r2 + r_access)
    hi = v_write / (r_fixed + (rp1 if a == 0 else 0.0) + (rp2 if b == 0 else 0.0))
    vh2 = v_half * v_half
    x = hi
    for _ in range(_MAX_ITER):
        tot = x * r_fixed - v_write
        slope = r_fixed
        for k in range(2):
            if (a if k == 0 else b) == 1:
                continue
            rp = rp1 if k == 0 else rp2
            rap = rap1 if k == 0 else rap2
            v = _v_across_ap(x, rp, rap, v_half)
            den = 1.0 + v * v / vh2
            r = rp + (rap - rp) / den
            dr = -(rap - rp) * 2.0 * v / vh2 / (den * den)
            tot += v
            slope += r / (1.0 - x * dr)
        if tot == 0.0:
            break
        if tot > 0.0:
            hi = x
        else:
            lo = x
        step = tot / slope
        if abs(step) <= _TOL * x:
            x = x - step
            break
        xn = x - step
        if not (lo < xn < hi):
            xn = 0.5 * (lo + hi)
        x = xn
    return x * 1e6


@njit(cache=True)
def _width_for(q: float, i_ratio: float, a_const: float, tau_d: float) -> float:
    """Exact inverse of the precessional P_sw at ``i_ratio``: the width with P_sw = q (0
    where q is at or below P_sw(0) or the current is not above I_c0)."""
    if not q > 0.0 or not i_ratio > 1.0:
        return 0.0
    neg_ln_q = -math.log(q)
    if not neg_ln_q < a_const:
        return 0.0
    return tau_d / (2.0 * (i_ratio - 1.0)) * (math.log(a_const) - math.log(neg_ln_q))


@njit(cache=True)
def aware_width(b1: int, b2: int, pc: int, v: float, whole: bool, binary: bool, i_ua: float,
                ic0: float, ic0_asym: float, delta: float, tau_d: float, m: float,
                p_max: float, max_pulse: float) -> float:
    """State-aware pulse width (ns, capped, not yet on the grid) of one cell in state (b1, b2)
    under polarity ``pc`` for the DST remainder ``v`` (``whole``: a step of a whole level), at
    the cell's nominal series current ``i_ua`` with each needed MTJ's I_c0 by its direction.

    As :func:`pnmsim.kernels.pulse_index.state_aware_pulses` where the needed MTJs switch
    alike (one MTJ, or two with equal I_c0): the target q of :func:`pnmsim.kernels.dst.
    dst_target` and the closed-form inverse. Two MTJs with different I_c0
    (a +-1 cell going to the other sign: one switches P -> AP, the other AP -> P): the width t
    with ``(1 - P1(t)) (1 - P2(t)) = 1 - p`` (the cell leaves its state with p; binary:
    ``P1(t) P2(t) = p``), found by bisection on [0, max_pulse]; a whole step takes the longer
    of the two MTJs' t(p_max), so each switches with at least p_max.
    """
    need1, need2 = off_target(b1, b2, pc)
    n_need = int(need1) + int(need2)
    if n_need == 0 or not (v > 0.0 or whole):
        return 0.0
    a_const = _PI2_4 * delta
    i1 = i_ua / ic0_for(b1, ic0, ic0_asym)
    i2 = i_ua / ic0_for(b2, ic0, ic0_asym)
    if n_need == 1 or i1 == i2:
        i_r = i1 if need1 else i2
        q = dst_target(v, m, whole, n_need, binary, p_max)
        return min(_width_for(q, i_r, a_const, tau_d), max_pulse)
    p = math.tanh(m * v)
    if whole:
        t = max(_width_for(p_max, i1, a_const, tau_d), _width_for(p_max, i2, a_const, tau_d))
        return min(t, max_pulse)
    p = min(p, 1.0 - 1e-15)
    if not p > 0.0:
        return 0.0
    lo = 0.0
    hi = max_pulse
    target = math.log(p) if binary else math.log1p(-p)
    for _ in range(_BISECT):
        t = 0.5 * (lo + hi)
        g1 = a_const * math.exp(-2.0 * (i1 - 1.0) * t / tau_d) if i1 > 1.0 else math.inf
        g2 = a_const * math.exp(-2.0 * (i2 - 1.0) * t / tau_d) if i2 > 1.0 else math.inf
        if binary:     # ln(P1 P2) = -g1 - g2, rising with t
            reached = -g1 - g2 >= target
        else:          # ln((1 - P1)(1 - P2)), falling with t
            reached = (math.log(-math.expm1(-g1)) + math.log(-math.expm1(-g2))) <= target
        if reached:
            hi = t
        else:
            lo = t
    if hi >= max_pulse:
        return max_pulse
    return hi


@njit(cache=True)
def state_currents(r_p: float, r_ap: float, r_access: float, v_write: float,
                    v_half: float) -> np.ndarray:
    """Nominal series current (uA) of each state (b1, b2) (bias-solved where ``v_half`` > 0)."""
    i_st = np.empty((2, 2))
    for x1 in range(2):
        for x2 in range(2):
            if v_half > 0.0:
                i_st[x1, x2] = bias_current_ua(x1, x2, r_p, r_ap, r_p, r_ap, v_write,
                                               r_access, v_half)
            else:   # the operations of kernels.cell._series_current_ua
                r1 = r_p if x1 == 1 else r_ap
                r2 = r_p if x2 == 1 else r_ap
                i_st[x1, x2] = v_write / (r1 + r2 + r_access) * 1e6
    return i_st


@njit(cache=True)
def aware_pulses(nu: np.ndarray, kappa: np.ndarray, s1: np.ndarray, s2: np.ndarray,
                 pol: np.ndarray, r_p: float, r_ap: float, r_access: float, v_write: float,
                 ic0_ua: float, delta: float, tau_d_ns: float, m: float, p_max: float,
                 max_pulse_ns: float, binary: bool, ic0_asym: float,
                 v_half: float) -> np.ndarray:
    """:func:`pnmsim.kernels.pulse_index.state_aware_pulses` with the optional physics on: each
    cell's :func:`aware_width` at its state's nominal current."""
    i_st = state_currents(r_p, r_ap, r_access, v_write, v_half)
    out = np.zeros(nu.shape)
    rows, cols = nu.shape
    for r in range(rows):
        for c in range(cols):
            if pol[r, c] == 0:
                continue
            b1 = s1[r, c]
            b2 = s2[r, c]
            out[r, c] = aware_width(b1, b2, pol[r, c], nu[r, c], kappa[r, c] >= 1.0, binary,
                                    i_st[b1, b2], ic0_ua, ic0_asym, delta, tau_d_ns, m, p_max,
                                    max_pulse_ns)
    return out
