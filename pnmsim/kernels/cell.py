"""numba kernels of the two-MTJ write physics (part of :mod:`pnmsim.kernels`).

Pure functions over arrays and scalars (no config objects). Each kernel has a plain-numpy
reference twin in :mod:`pnmsim.kernels.reference` that tests compare it against. Stochastic
kernels take their uniform random draws as arguments, so they never touch hidden random state.

Cell state convention: ``s = 1`` means the MTJ is in the parallel (P, low-resistance) state,
``s = 0`` antiparallel (AP). The synapse weight is ``w = s1 - s2``.

Write-pulse physics (science.md §3-4, §6): with the fixed layers tied, the write current crosses
M1 and M2 in opposite magnetic directions. Polarity +1 (weight up) drives M1 towards P and M2
towards AP; polarity -1 the reverse. An MTJ already in its target state stays. Both MTJs carry
the same series current ``I = V_write / (R1 + R2 + R_access)``, and that current **changes when
the first MTJ switches during the pulse** (R1 + R2 changes), which changes the other MTJ's
switching rate for the rest of the pulse. How this is computed exactly:

* **One MTJ as a random threshold.** At constant current the switching probability of a pulse of
  width t is the CDF ``P_sw(t)`` of the MTJ's switching time (precessional
  ``exp(-A exp(-2 (i - 1) t / tau_D))``, A = pi^2 Delta / 4, for i = I / I_c0 > 1; thermal
  ``1 - exp(-t / tau)`` for i <= 1). Its survival is ``S = 1 - P_sw`` and its cumulative hazard
  ``H(t) = -ln S(t)``. Drawing ``E = -ln(1 - u)`` (u uniform, so E ~ Exp(1)), the MTJ switches at
  the moment its cumulative hazard reaches E: ``t_sw = H^-1(E)``, and ``t_sw < T`` exactly when
  ``u < P_sw(T)`` (the single-MTJ rule of the constant-current model).
* **Changing current: the hazard accumulated so far carries over** (equivalent-age composition).
  When the current changes at t_k from i0 to i1, the other MTJ continues from the age t' under
  i1 that has the same cumulative hazard, ``H_i1(t') = H_i0(t_k)``, and switches at
  ``t_k + H_i1^-1(E) - t'`` if that is before the pulse ends. Its survival over the whole pulse
  is then the product of the two regimes' conditional survivals,
  ``S = S_i0(t_k) * S_i1(t' + T - t_k) / S_i1(t')``.
  For the precessional regime this is not an assumption but the macrospin model behind the
  formula: the initial angle theta_0 of the free layer is thermally distributed,
  ``P(theta_0^2 > x) = exp(-Delta x)``, the spin torque amplifies it as
  ``theta(t) = theta_0 exp(integral of (i(s) - 1) / tau_D ds)`` and the MTJ has switched when
  theta reaches pi/2; so ``P_sw = exp(-A exp(-2 integral (i(s) - 1) ds / tau_D))``: the
  "progress" ``x = 2 integral (i - 1) dt / tau_D`` adds up over the two current segments, which is
  exactly what matching H (a monotone function of x) does. For the memoryless thermal regime the
  same rule integrates the rate 1/tau(i(t)). A transition between the two regimes (a current
  that crosses I_c0 when the first MTJ flips, never the case at the reference design point) is
  handled by the same hazard matching: a modelling choice, since the two textbook formulas do
  not join at i = 1 (see :func:`pnmsim.device.mtj.p_switch`).
* **Energy** is the integral ``V * I(t)`` over the pulse with the piecewise-constant current.

Optional, off by default (:mod:`pnmsim.device.bias`, kernels in :mod:`pnmsim.kernels.bias`):
each MTJ's I_c0 by the direction it switches (``ic0_asym``), and bias-dependent R_AP with every
series current above solved self-consistently (``v_half``); the hazard matching is unchanged.

A binary synapse is the same two MTJs under the same physics: a pulse can leave one of the pair
switched and not the other (a (P, P) or (AP, AP) pair, read as 0 until a later pulse finishes or
undoes it); nothing is reverted that physically happened.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from pnmsim.kernels.bias import (
    bias_current_ua,
    ic0_for,
)
from pnmsim.kernels.dst import off_target

_PI2_4 = math.pi**2 / 4.0


@njit(cache=True)
def _p_switch(t_ns: float, i_ratio: float, delta: float, tau_d_ns: float,
              tau0_ns: float) -> float:
    if t_ns <= 0.0:
        return 0.0
    if i_ratio > 1.0:
        return math.exp(-_PI2_4 * delta * math.exp(-2.0 * (i_ratio - 1.0) * t_ns / tau_d_ns))
    tau = tau0_ns * math.exp(delta * (1.0 - i_ratio))
    return 1.0 - math.exp(-t_ns / tau)


@njit(cache=True)
def _series_current_ua(a: int, b: int, rp1: float, rap1: float, rp2: float, rap2: float,
                       v_write: float, r_access: float, v_half: float = 0.0) -> float:
    """Write current (uA) through both MTJs of a cell in state (a, b) and the access devices;
    with bias-dependent TMR (``v_half`` > 0) the divider solved self-consistently
    (:func:`pnmsim.kernels.bias.bias_current_ua`)."""
    if v_half > 0.0:
        return bias_current_ua(a, b, rp1, rap1, rp2, rap2, v_write, r_access, v_half)
    r1 = rp1 if a == 1 else rap1
    r2 = rp2 if b == 1 else rap2
    return v_write / (r1 + r2 + r_access) * 1e6


@njit(cache=True)
def _flip_probs(a: int, b: int, pol: int, t: float, i_ua: float, ic01: float, d1: float,
                ic02: float, d2: float, tau_d_ns: float, tau0_ns: float) -> tuple[float, float]:
    """Flip probabilities of M1 and M2 under one pulse; -1 where the MTJ is already in the
    state the polarity drives it to (+1: M1 -> P, M2 -> AP; -1: the reverse)."""
    need1, need2 = off_target(a, b, pol)
    p1 = _p_switch(t, i_ua / ic01, d1, tau_d_ns, tau0_ns) if need1 else -1.0
    p2 = _p_switch(t, i_ua / ic02, d2, tau_d_ns, tau0_ns) if need2 else -1.0
    return p1, p2


@njit(cache=True)
def _hazard(t_ns: float, i_ratio: float, delta: float, tau_d_ns: float,
            tau0_ns: float) -> float:
    """Cumulative hazard ``H = -ln(1 - P_sw(t))`` of one MTJ after ``t_ns`` at constant
    ``i_ratio`` (the same regimes as :func:`_p_switch`)."""
    if t_ns <= 0.0:
        return 0.0
    if i_ratio > 1.0:
        g = _PI2_4 * delta * math.exp(-2.0 * (i_ratio - 1.0) * t_ns / tau_d_ns)
        if g <= 0.0:
            return math.inf
        if g > 0.5:
            return -math.log1p(-math.exp(-g))
        return -math.log(-math.expm1(-g))
    tau = tau0_ns * math.exp(delta * (1.0 - i_ratio))
    return t_ns / tau


@njit(cache=True)
def _age(h: float, i_ratio: float, delta: float, tau_d_ns: float, tau0_ns: float) -> float:
    """Inverse of :func:`_hazard` in t: the time (ns) at constant ``i_ratio`` after which the
    cumulative hazard is ``h`` (0 for h <= H(0), +inf for h = +inf or no switching)."""
    return _age_la(h, i_ratio, delta, math.log(_PI2_4 * delta), tau_d_ns, tau0_ns)


@njit(cache=True)
def _age_la(h: float, i_ratio: float, delta: float, log_a: float, tau_d_ns: float,
            tau0_ns: float) -> float:
    """:func:`_age` with ``log_a = ln(pi^2 delta / 4)`` given (the same value, computed once
    by callers that age many MTJs of the same delta)."""
    if h <= 0.0:
        return 0.0
    if i_ratio > 1.0:
        a = _PI2_4 * delta
        if h < 0.5:   # ln P_sw with P_sw = 1 - exp(-h), accurate at both ends
            ln_p = math.log(-math.expm1(-h))
        else:
            ln_p = math.log1p(-math.exp(-h))
        g = -ln_p
        if g >= a:
            return 0.0
        if g <= 0.0:
            return math.inf
        return tau_d_ns / (2.0 * (i_ratio - 1.0)) * (log_a - math.log(g))
    tau = tau0_ns * math.exp(delta * (1.0 - i_ratio))
    if math.isinf(tau):
        return math.inf
    return h * tau


@njit(cache=True, inline="always")
def _stays(u: float, tk: float, t: float, r0: float, r1: float, la: float,
           tau_d_ns: float) -> bool:
    """Whether an MTJ with draw ``u`` that did not switch at the current ratio ``r0`` = I /
    I_c0 provably stays through the rest of a pulse of width ``t`` after the other MTJ's
    switch at ``tk`` moved its current to ``r1``, without carrying its hazard over (ten
    libm calls; this costs two).

    In the precessional regime (both ratios above 1) the carried-over hazard is exactly the
    MTJ's "progress" x = 2 ((r0 - 1) tk + (r1 - 1) (t - tk)) / tau_D summed over the two
    segments (module docstring), and the MTJ switches within the pulse iff u < P(x) =
    exp(-A exp(-x)), increasing in x. The test asks u >= P(x_b) + 1e-12 with x_b = x +
    1e-6 |x| + 1e-4: the carried-over computation's rounding, carried into x, is of order
    1e-13 (its times have relative errors of a few ulps on values of order tau_D / (2 (r -
    1)) times ln A), and P's of a few ulps, so a draw this test lets through is one that
    computation finds staying too (tested against it at the margin). Except where the hazard
    the MTJ had built at tk, ``H = -ln(1 - exp(-A exp(-x0)))`` with x0 its progress then,
    is below ~1e-289: that computation then holds it as a (near-)subnormal double with few
    significant bits, its result can be off by far more than the margin (possible only for
    A = pi^2 Delta / 4 above ~665, Delta > ~270), so the test declines where
    ``A exp(-x0) > 665``. Outside the regime, or for u > 1 - 1e-9: False too (the caller
    carries the hazard over)."""
    if not (r0 > 1.0 and r1 > 1.0 and u <= 1.0 - 1e-9):
        return False
    x0 = 2.0 * (r0 - 1.0) * tk / tau_d_ns       # the progress at tk
    if la - x0 > 6.5:    # ln 665: the hazard at tk < ~1e-289
        return False
    x = x0 + 2.0 * (r1 - 1.0) * (t - tk) / tau_d_ns
    x_b = x + 1e-6 * abs(x) + 1e-4
    return u >= math.exp(-math.exp(la - x_b)) + 1e-12


@njit(cache=True)
def _pulse_cell(a: int, b: int, pol: int, t: float, u1: float, u2: float, rp1: float,
                rap1: float, ic01: float, d1: float, rp2: float, rap2: float, ic02: float,
                d2: float, v_write: float, r_access: float, scale: float, tau_d_ns: float,
                tau0_ns: float, ic0_asym: float = 1.0,
                v_half: float = 0.0) -> tuple[int, int, float]:
    """One write pulse of width ``t`` and polarity ``pol`` on a cell in state (a, b), with the
    series current recomputed when the first MTJ switches (module docstring). ``u1``/``u2`` are
    the MTJs' uniform draws (MTJ k switches at constant current iff u_k < P_sw). Returns the new
    (a, b) and the pulse's energy V * integral I dt (fJ).

    Optional physics (:mod:`pnmsim.device.bias`; the defaults mean off): ``ic0_asym`` =
    I_c0(P->AP) / I_c0(AP->P), each MTJ's I_c0 set by the state it leaves; ``v_half`` > 0:
    bias-dependent R_AP, every series current solved self-consistently."""
    if ic0_asym != 1.0:
        ic01 = ic0_for(a, ic01, ic0_asym)
        ic02 = ic0_for(b, ic02, ic0_asym)
    need1, need2 = off_target(a, b, pol)
    i0 = _series_current_ua(a, b, rp1, rap1, rp2, rap2, v_write, r_access, v_half) * scale
    if not (need1 or need2):
        return a, b, v_write * i0 * t
    sw1 = need1 and u1 < _p_switch(t, i0 / ic01, d1, tau_d_ns, tau0_ns)
    sw2 = need2 and u2 < _p_switch(t, i0 / ic02, d2, tau_d_ns, tau0_ns)
    if not (sw1 or sw2):   # nothing switched: the current never changed
        return a, b, v_write * i0 * t
    return _pulse_switching(a, b, pol, t, u1, u2, sw1, sw2, i0, rp1, rap1, ic01, d1,
                            math.log(_PI2_4 * d1), rp2, rap2, ic02, d2,
                            math.log(_PI2_4 * d2), v_write, r_access, scale, tau_d_ns, tau0_ns,
                            v_half)


@njit(cache=True)
def _pulse_switching(a: int, b: int, pol: int, t: float, u1: float, u2: float, sw1: bool,
                     sw2: bool, i0: float, rp1: float, rap1: float, ic01: float, d1: float,
                     la1: float, rp2: float, rap2: float, ic02: float, d2: float, la2: float,
                     v_write: float, r_access: float, scale: float, tau_d_ns: float,
                     tau0_ns: float, v_half: float = 0.0) -> tuple[int, int, float]:
    """The rest of :func:`_pulse_cell` once it is known which MTJs switch within the pulse at
    the initial current ``i0`` (``sw1``/``sw2``, at least one): their switching times, the
    current change at the first, the other's hazard carried over. ``la1``/``la2`` are
    ln(pi^2 Delta / 4) of the two MTJs; ``ic01``/``ic02`` the I_c0 of the switch each MTJ
    makes, ``v_half`` as in :func:`_pulse_cell`."""
    need1, need2 = off_target(a, b, pol)
    t1 = math.inf   # switching times at the initial current
    t2 = math.inf
    if sw1:
        t1 = min(_age_la(-math.log1p(-u1), i0 / ic01, d1, la1, tau_d_ns, tau0_ns), t)
    if sw2:
        t2 = min(_age_la(-math.log1p(-u2), i0 / ic02, d2, la2, tau_d_ns, tau0_ns), t)
    first_is_1 = t1 <= t2
    tk = t1 if first_is_1 else t2
    if first_is_1:
        a = 1 - a
    else:
        b = 1 - b
    i1 = _series_current_ua(a, b, rp1, rap1, rp2, rap2, v_write, r_access, v_half) * scale
    e = v_write * i0 * tk
    other_needs = need2 if first_is_1 else need1
    if not other_needs:
        return a, b, e + v_write * i1 * (t - tk)
    # the other MTJ: hazard accumulated at i0 until tk carries over to the new current i1
    if first_is_1:
        u, ic, d, la = u2, ic02, d2, la2
    else:
        u, ic, d, la = u1, ic01, d1, la1
    if _stays(u, tk, t, i0 / ic, i1 / ic, la, tau_d_ns):
        return a, b, e + v_write * i1 * (t - tk)
    h_then = _hazard(tk, i0 / ic, d, tau_d_ns, tau0_ns)
    rest = (_age_la(-math.log1p(-u), i1 / ic, d, la, tau_d_ns, tau0_ns)
            - _age_la(h_then, i1 / ic, d, la, tau_d_ns, tau0_ns))
    tj = tk + max(rest, 0.0)
    if not tj < t:
        return a, b, e + v_write * i1 * (t - tk)
    if first_is_1:
        b = 1 - b
    else:
        a = 1 - a
    i2 = _series_current_ua(a, b, rp1, rap1, rp2, rap2, v_write, r_access, v_half) * scale
    return a, b, e + v_write * i1 * (tj - tk) + v_write * i2 * (t - tj)


@njit(cache=True)
def update_cells(s1: np.ndarray, s2: np.ndarray, pulse_ns: np.ndarray, polarity: np.ndarray,
                 current_scale: np.ndarray, u1: np.ndarray, u2: np.ndarray,
                 rp1: np.ndarray, rap1: np.ndarray, ic01: np.ndarray, d1: np.ndarray,
                 rp2: np.ndarray, rap2: np.ndarray, ic02: np.ndarray, d2: np.ndarray,
                 v_write: float, r_access: float, tau_d_ns: float, tau0_ns: float,
                 out: np.ndarray, ic0_asym: float = 1.0, v_half: float = 0.0) -> None:
    """Apply one write pulse per cell, in place on ``s1``/``s2`` (2-D int8 arrays), with the
    series current recomputed when the first MTJ switches (:func:`_pulse_cell`; ``ic0_asym``
    and ``v_half`` as there).

    ``out`` (float64, length 4) receives: pulses applied, MTJs switched, write energy (fJ),
    sum of pulse widths (ns).
    """
    n_pulse = 0.0
    n_sw = 0.0
    e_fj = 0.0
    t_sum = 0.0
    rows, cols = s1.shape
    for r in range(rows):
        for c in range(cols):
            pol = polarity[r, c]
            t = pulse_ns[r, c]
            if pol == 0 or t <= 0.0:
                continue
            a = s1[r, c]
            b = s2[r, c]
            na, nb, e = _pulse_cell(a, b, pol, t, u1[r, c], u2[r, c], rp1[r, c], rap1[r, c],
                                    ic01[r, c], d1[r, c], rp2[r, c], rap2[r, c], ic02[r, c],
                                    d2[r, c], v_write, r_access, current_scale[r, c], tau_d_ns,
                                    tau0_ns, ic0_asym, v_half)
            n_pulse += 1.0
            t_sum += t
            e_fj += e
            n_sw += float((na != a) + (nb != b))
            s1[r, c] = na
            s2[r, c] = nb
    out[0] = n_pulse
    out[1] = n_sw
    out[2] = e_fj
    out[3] = t_sum


@njit(cache=True)
def outer_product_updates(s1: np.ndarray, s2: np.ndarray, xs: np.ndarray, widths: np.ndarray,
                          signs: np.ndarray, rp1: np.ndarray, rap1: np.ndarray,
                          ic01: np.ndarray, d1: np.ndarray, rp2: np.ndarray, rap2: np.ndarray,
                          ic02: np.ndarray, d2: np.ndarray, v_write: float, r_access: float,
                          tau_d_ns: float, tau0_ns: float, max_pulse_ns: float,
                          pulse_sigma: float, current_sigma: float, binary: bool, seed: int,
                          out: np.ndarray, ic0_asym: float = 1.0, v_half: float = 0.0) -> None:
    """A sequence of parallel rank-1 write steps (the outer-product scheme), in place.

    Step ``v`` pulses cell (r, c) with width ``widths[v, c]`` and polarity
    ``xs[v, r] * signs[v, c]`` (rows gated by x in {-1, 0, 1}). Cells are visited in order
    (v, r, c); each gets the same physics as :func:`update_cells`. Random numbers come from
    numba's generator seeded with ``seed`` at entry (the caller draws the seed from its
    ``numpy.random.Generator``), and are drawn only where they can matter (one per MTJ that is
    off its target state), so a step over a mostly gated array costs little. ``binary`` is
    kept for the signature: a binary pair follows the same physics (module docstring).
    ``out`` receives pulses, MTJs switched, write energy (fJ), sum of pulse widths (ns);
    ``ic0_asym``/``v_half`` as in :func:`_pulse_cell`.
    """
    np.random.seed(seed)
    n_pulse = 0.0
    n_sw = 0.0
    e_fj = 0.0
    t_sum = 0.0
    m, rows = xs.shape
    cols = widths.shape[1]
    for v in range(m):
        for r in range(rows):
            xr = xs[v, r]
            if xr == 0:
                continue
            for c in range(cols):
                t = widths[v, c]
                pol = xr * signs[v, c]
                if t <= 0.0 or pol == 0:
                    continue
                if pulse_sigma > 0.0:
                    t = max(t * (1.0 + pulse_sigma * np.random.standard_normal()), 0.0)
                t = min(t, max_pulse_ns)
                scale = 1.0
                if current_sigma > 0.0:
                    scale = max(1.0 + current_sigma * np.random.standard_normal(), 0.0)
                a = s1[r, c]
                b = s2[r, c]
                need1, need2 = off_target(a, b, pol)
                u1 = np.random.random() if need1 else 1.0
                u2 = np.random.random() if need2 else 1.0
                na, nb, e = _pulse_cell(a, b, pol, t, u1, u2, rp1[r, c], rap1[r, c],
                                        ic01[r, c], d1[r, c], rp2[r, c], rap2[r, c],
                                        ic02[r, c], d2[r, c], v_write, r_access, scale,
                                        tau_d_ns, tau0_ns, ic0_asym, v_half)
                n_pulse += 1.0
                t_sum += t
                e_fj += e
                n_sw += float((na != a) + (nb != b))
                s1[r, c] = na
                s2[r, c] = nb
    out[0] = n_pulse
    out[1] = n_sw
    out[2] = e_fj
    out[3] = t_sum
