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
    aware_pulses,
    aware_width,
    bias_current_ua,
    ic0_for,
    state_currents,
)

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
    need1 = a == 0 if pol > 0 else a == 1
    need2 = b == 1 if pol > 0 else b == 0
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
    need1 = a == 0 if pol > 0 else a == 1
    need2 = b == 1 if pol > 0 else b == 0
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
    need1 = a == 0 if pol > 0 else a == 1
    need2 = b == 1 if pol > 0 else b == 0
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
                need1 = a == 0 if pol > 0 else a == 1
                need2 = b == 1 if pol > 0 else b == 0
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



@njit(cache=True)
def state_aware_pulses(nu: np.ndarray, kappa: np.ndarray, s1: np.ndarray, s2: np.ndarray,
                       pol: np.ndarray, r_p: float, r_ap: float, r_access: float,
                       v_write: float, ic0_ua: float, delta: float, tau_d_ns: float, m: float,
                       p_max: float, max_pulse_ns: float, binary: bool, ic0_asym: float = 1.0,
                       v_half: float = 0.0) -> np.ndarray:
    """Per-cell exact, state-aware pulse widths (ns); the numba form of
    :meth:`pnmsim.crossbar.PulseMapper.pulse_ns_cells` (its numpy twin, see its docstring):
    the cell's nominal series current, target q = p = tanh(m nu) where one MTJ can flip,
    q = 1 - sqrt(1 - p) where two can (sqrt(p) for binary pairs, which change only when both
    switch), q = p_max for kappa >= 1, and the exact inverse
    t = tau_D / (2 (i - 1)) ln((pi^2 Delta / 4) / (-ln q)), capped (the caller quantises it to
    the pulse generator's grid). With ``ic0_asym`` != 1 or ``v_half`` > 0 each cell's width
    is :func:`pnmsim.kernels.bias.aware_width` at its state's (bias-solved) current."""
    out = np.zeros(nu.shape)
    if ic0_asym != 1.0 or v_half > 0.0:
        return aware_pulses(nu, kappa, s1, s2, pol, r_p, r_ap, r_access, v_write, ic0_ua,
                             delta, tau_d_ns, m, p_max, max_pulse_ns, binary, ic0_asym, v_half)
    a = _PI2_4 * delta
    rows, cols = nu.shape
    for r in range(rows):
        for c in range(cols):
            pc = pol[r, c]
            if pc == 0:
                continue
            b1 = s1[r, c]
            b2 = s2[r, c]
            need1 = (b1 == 0) if pc > 0 else (b1 == 1)
            need2 = (b2 == 1) if pc > 0 else (b2 == 0)
            n_need = int(need1) + int(need2)
            v = nu[r, c]
            whole = kappa[r, c] >= 1.0
            if n_need == 0 or not (v > 0.0 or whole):
                continue
            i_ratio = _series_current_ua(b1, b2, r_p, r_ap, r_p, r_ap, v_write,
                                         r_access) / ic0_ua
            p = math.tanh(m * v)
            if whole:
                q = p_max
            elif n_need == 2 and not binary:
                q = -math.expm1(0.5 * math.log1p(-min(p, 1.0 - 1e-15)))
            elif n_need == 2:
                q = math.sqrt(p)
            else:
                q = p
            q = min(max(q, 0.0), 1.0 - 1e-12)
            if q <= 0.0:
                continue
            neg_ln_q = -math.log(q)
            if not neg_ln_q < a:
                continue
            t = tau_d_ns / (2.0 * (i_ratio - 1.0)) * (math.log(a) - math.log(neg_ln_q))
            out[r, c] = min(t, max_pulse_ns)
    return out


@njit(cache=True)
def _grid(t: float, res: float, max_ns: float) -> float:
    """:func:`pnmsim.crossbar.quantize_widths` of one width (the same operations)."""
    n_max = math.floor(max_ns / res + 1e-9)
    n = min(np.rint(min(t, max_ns) / res), n_max)
    return min(n * res, max_ns)


@njit(cache=True)
def _width_index(v: float, whole: bool, n_need: int, kk: float, m: float, p_max: float,
                 a_const: float, log_a: float, max_pulse_n: float, res_n: float) -> int:
    """Grid index n of a cell's state-aware pulse (its width is ``min(n res_n, max_pulse_n)``):
    :func:`state_aware_pulses` of one cell (target q from the DST remainder ``v`` or p_max for
    a ``whole`` step, ``n_need`` MTJs off target, ``kk = tau_D / (2 (i - 1))`` of the cell's
    nominal current) then the index :func:`_grid` rounds to — the same operations in the same
    order as both, so ``min(n * res_n, max_pulse_n)`` is bit-identical to their composition."""
    w0 = 0.0
    if n_need > 0 and (v > 0.0 or whole):
        p = math.tanh(m * v)
        if whole:
            q = p_max
        elif n_need == 2:
            q = -math.expm1(0.5 * math.log1p(-min(p, 1.0 - 1e-15)))
        else:
            q = p
        q = min(max(q, 0.0), 1.0 - 1e-12)
        if q > 0.0:
            neg_ln_q = -math.log(q)
            if neg_ln_q < a_const:
                tt = kk * (log_a - math.log(neg_ln_q))
                w0 = min(tt, max_pulse_n)
    n_max = math.floor(max_pulse_n / res_n + 1e-9)
    return int(min(np.rint(min(w0, max_pulse_n) / res_n), n_max))


@njit(cache=True)
def _nominal_tables(nom: np.ndarray) -> tuple[np.ndarray, float, float]:
    """k_tab[b1, b2] = tau_D / (2 (i - 1)) of the nominal current i / I_c0 of state (b1, b2),
    A = pi^2 Delta / 4 and ln A, from the nominal parameters ``nom``."""
    r_p, r_ap, r_acc_n, v_wr_n, ic0_n = nom[0], nom[1], nom[2], nom[3], nom[4]
    delta_n, tau_d_n = nom[5], nom[6]
    a_const = _PI2_4 * delta_n
    k_tab = np.empty((2, 2))
    for x1 in range(2):
        for x2 in range(2):
            i_r = _series_current_ua(x1, x2, r_p, r_ap, r_p, r_ap, v_wr_n, r_acc_n) / ic0_n
            k_tab[x1, x2] = tau_d_n / (2.0 * (i_r - 1.0))
    return k_tab, a_const, math.log(a_const)


@njit(cache=True)
def _class_need(cls: int) -> tuple[int, int, int]:
    """Cell class ``cls = 4 b1 + 2 b2 + (polarity > 0)`` -> (b1, b2, MTJs off target)."""
    b1 = cls // 4
    b2 = (cls // 2) % 2
    up = cls % 2 == 1
    need1 = (b1 == 0) if up else (b1 == 1)
    need2 = (b2 == 1) if up else (b2 == 0)
    return b1, b2, int(need1) + int(need2)


@njit(cache=True)
def _width_index_many(vs: np.ndarray, cls: int, nom: np.ndarray) -> np.ndarray:
    """:func:`_width_index` of the fractional steps ``vs`` for one cell class."""
    k_tab, a_const, log_a = _nominal_tables(nom)
    b1, b2, n_need = _class_need(cls)
    out = np.empty(vs.shape[0], dtype=np.int64)
    for j in range(vs.shape[0]):
        out[j] = _width_index(vs[j], False, n_need, k_tab[b1, b2], nom[7], nom[8], a_const,
                              log_a, nom[9], nom[10])
    return out


@njit(cache=True)
def _whole_index(cls: int, nom: np.ndarray) -> int:
    k_tab, a_const, log_a = _nominal_tables(nom)
    b1, b2, n_need = _class_need(cls)
    return _width_index(0.0, True, n_need, k_tab[b1, b2], nom[7], nom[8], a_const, log_a,
                        nom[9], nom[10])


#: the look-up's bucket of a double v >= 0 is its bit pattern shifted right by this much: the
#: exponent and the top 6 mantissa bits, 64 buckets per octave
_BUCKET_SHIFT = 46


def width_index_tables(nom: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Look-up tables that give :func:`_width_index` of a fractional step v without evaluating
    it, for the 8 cell classes ``4 b1 + 2 b2 + (polarity > 0)`` at the nominal parameters
    ``nom`` (the vector :func:`per_cell_write` takes).

    ``thr[cls, k]`` is the smallest double v in (0, 1) whose index is >= k + 1 (+inf where no
    v < 1 reaches it), found by bisection over the bit patterns of doubles (ordered like their
    values for v >= 0) with the index function itself, so no formula is re-derived. The index
    of v is then the number of thresholds <= v. ``start[cls, b]`` is that count at the lower
    edge of bucket ``b = (bits(v) >> _BUCKET_SHIFT) - key_lo`` (64 buckets per octave), so a
    look-up scans at most a few thresholds. ``whole[cls]`` is the index of a whole-level step
    (q = p_max). The index function is monotone in v (tanh, log, expm1/log1p and IEEE
    arithmetic, composed with positive factors); the kernel still evaluates it directly
    wherever v lies within a relative 1e-12 of a threshold, so a one-ulp non-monotonicity of a
    libm function near a threshold cannot change a result. Returns thr, start, whole, key_lo.
    """
    nom = np.ascontiguousarray(nom, dtype=np.float64)
    n_max = int(math.floor(nom[9] / nom[10] + 1e-9))
    thr = np.full((8, n_max + 1), np.inf)
    whole = np.zeros(8, dtype=np.int64)
    one_bits = int(np.float64(1.0).view(np.int64))
    ks = np.arange(1, n_max + 1)
    for cls in range(8):
        whole[cls] = _whole_index(cls, nom)
        top = int(_width_index_many(np.array([np.nextafter(1.0, 0.0)]), cls, nom)[0])
        if top < 1:
            continue
        kk = ks[:top]
        lo = np.zeros(top, dtype=np.int64)               # bits of 0.0: index 0 < k
        hi = np.full(top, one_bits - 1, dtype=np.int64)  # largest double < 1: index >= k
        while True:
            live = hi - lo > 1
            if not live.any():
                break
            mid = lo + (hi - lo) // 2
            idx = _width_index_many(mid.view(np.float64), cls, nom)
            up = idx >= kk
            hi = np.where(live & up, mid, hi)
            lo = np.where(live & ~up, mid, lo)
        thr[cls, :top] = hi.view(np.float64)
    thr.sort(axis=1)   # monotone index: already sorted; sorting keeps the count rule exact
    finite = thr[np.isfinite(thr)]
    lo_v = float(finite.min()) if finite.size else 0.5
    key_lo = int(np.float64(lo_v).view(np.int64)) >> _BUCKET_SHIFT
    key_hi = one_bits >> _BUCKET_SHIFT                    # v < 1: keys below this
    edges = (np.arange(key_lo, key_hi + 1, dtype=np.int64) << _BUCKET_SHIFT).view(np.float64)
    start = np.empty((8, edges.size), dtype=np.int32)
    for cls in range(8):
        start[cls] = np.searchsorted(thr[cls], edges, side="left")
    return thr, start, whole, key_lo


@njit(cache=True, inline="always")
def _lookup_index(v: float, key: int, thr: np.ndarray, start: np.ndarray, cls: int,
                  key_lo: int) -> int:
    """Index of v > 0 (bit pattern shifted: ``key``) from :func:`width_index_tables`; -1 where
    v is within a relative 1e-12 of a threshold (the caller then evaluates
    :func:`_width_index`)."""
    if v < thr[cls, 0]:
        n = 0
    else:
        n = start[cls, key - key_lo]
        while thr[cls, n] <= v:
            n += 1
        if v - thr[cls, n - 1] <= 1e-12 * v:
            return -1
    if thr[cls, n] - v <= 1e-12 * v:
        return -1
    return n


@njit(cache=True)
def per_cell_write(step: np.ndarray, level_step: float, s1: np.ndarray, s2: np.ndarray,
                   u1: np.ndarray, u2: np.ndarray, zp: np.ndarray, zc: np.ndarray,
                   pulse_sigma: float, current_sigma: float,
                   rp1: np.ndarray, rap1: np.ndarray, ic01: np.ndarray, d1: np.ndarray,
                   rp2: np.ndarray, rap2: np.ndarray, ic02: np.ndarray, d2: np.ndarray,
                   nom: np.ndarray, v_write: float, r_access: float, tau_d_ns: float,
                   tau0_ns: float, max_pulse_ns: float, res_ns: float,
                   gdiff: np.ndarray, gsum: np.ndarray, weff: np.ndarray, dg_nominal: float,
                   tile_rows: int, col_pulse: np.ndarray, read_cols: np.ndarray,
                   pulsed: np.ndarray, out: np.ndarray, nominal: bool,
                   thr: np.ndarray, start: np.ndarray, whole_idx: np.ndarray,
                   key_lo: int, ic0_asym: float = 1.0, v_half: float = 0.0) -> None:
    """The whole state-aware per-cell update of one (ternary) layer in one pass, in place.

    Fuses, cell by cell and with the same floating-point operations in the same order (so the
    result is bit-identical, tested): the step decomposition of
    :meth:`pnmsim.crossbar.Crossbar.update_per_cell` (``step / level_step``, kappa, nu, sign),
    :func:`state_aware_pulses` (nominal parameters in ``nom``: r_p, r_ap, r_access, v_write,
    ic0, delta, tau_d, m, p_max, max_pulse, the mapper's pulse resolution) and the mapper's
    quantisation to the pulse grid (:func:`_width_index`), then
    :meth:`~pnmsim.crossbar.Crossbar.apply_pulses` (quantisation with
    ``res_ns``/``max_pulse_ns``, jitter from the normal draws ``zp``/``zc`` where the sigma is
    > 0, cap) and the write of :func:`update_cells` (:func:`_pulse_cell`), the update facts
    (widest pulse per row tile, column and polarity; columns read; pulsed cells per row tile
    and column) and — only for the cells that switched — the conductances ``gdiff``, ``gsum``
    and the effective weights ``weff``. ``out`` (length 5): pulses, MTJs switched, write fJ,
    sum of pulse ns, weights that changed.

    ``nominal`` (the caller checked: every device exactly at the parameters in ``nom``, no
    jitter, and passed :func:`width_index_tables` of ``nom`` as ``thr``/``start``/
    ``whole_idx``/``key_lo``): a cell's pulse then depends only on its class (state, polarity)
    and grid index n, so the index comes from the threshold table instead of tanh and two
    logarithms, and the applied width, each needed MTJ's switching probability
    ``_p_switch(t, i0 / I_c0, ...)`` and the no-switch energy ``V i0 t`` come from tables per
    (state, n) computed here with the operations :func:`_pulse_cell` uses. A cell whose draws
    are all >= that probability does not switch — the decision :func:`_pulse_cell` makes with
    the same numbers — and gets the tabulated energy; every other cell goes through
    :func:`_pulse_cell`. Bit-identical either way (tested against the three-step path).

    ``ic0_asym`` != 1 or ``v_half`` > 0 (the optional physics, :mod:`pnmsim.device.bias`): the
    width is :func:`pnmsim.kernels.bias.aware_width` at the state's bias-solved nominal
    current, the write :func:`_pulse_cell` with them, and the ``nominal`` path is off.
    """
    bias_on = ic0_asym != 1.0 or v_half > 0.0
    if bias_on:
        nominal = False
    if nominal:
        _per_cell_write_nominal(step, level_step, s1, s2, u1, u2, rp1, rap1, ic01, d1, rp2,
                                rap2, ic02, d2, nom, v_write, r_access, tau_d_ns, tau0_ns,
                                max_pulse_ns, res_ns, gdiff, gsum, weff, dg_nominal, tile_rows,
                                col_pulse, read_cols, pulsed, out, thr, start, whole_idx, key_lo)
        return
    max_pulse_n, res_n = nom[9], nom[10]
    m, p_max = nom[7], nom[8]
    k_tab, a_const, log_a = _nominal_tables(nom)
    i_aw = state_currents(nom[0], nom[1], nom[2], nom[3], v_half)
    n_max = math.floor(max_pulse_n / res_n + 1e-9)
    n_pulse = 0.0
    n_sw = 0.0
    e_fj = 0.0
    t_sum = 0.0
    changed = 0.0
    rows, cols = s1.shape
    for r in range(rows):
        for c in range(cols):
            st = np.float64(step[r, c]) / level_step
            mag = abs(st)
            kappa = math.floor(mag)
            v = mag - kappa
            pc = 1 if st > 0.0 else (-1 if st < 0.0 else 0)
            if pc == 0:
                continue
            b1 = s1[r, c]
            b2 = s2[r, c]
            need1 = (b1 == 0) if pc > 0 else (b1 == 1)
            need2 = (b2 == 1) if pc > 0 else (b2 == 0)
            n_need = int(need1) + int(need2)
            # -- state-aware pulse width on the mapper's grid (index n)
            n = _width_index(v, kappa >= 1.0, n_need, k_tab[b1, b2], m, p_max, a_const, log_a,
                             max_pulse_n, res_n)
            if bias_on:   # asymmetric I_c0 / bias-dependent TMR: aware_width on the grid
                w_b = aware_width(b1, b2, pc, v, kappa >= 1.0, False, i_aw[b1, b2], nom[4],
                                  ic0_asym, nom[5], nom[6], m, p_max, max_pulse_n)
                n = int(min(np.rint(min(w_b, max_pulse_n) / res_n), n_max))
            if n == 0:
                continue
            w0 = min(n * res_n, max_pulse_n)
            _record_facts(col_pulse, read_cols, pulsed, r // tile_rows, c, pc, w0)
            # -- grid, jitter and cap (apply_pulses)
            t = _grid(w0, res_ns, max_pulse_ns)
            if pulse_sigma > 0.0:
                t = max(t * (1.0 + pulse_sigma * zp[r, c]), 0.0)
            t = min(t, max_pulse_ns)
            scale = 1.0
            if current_sigma > 0.0:
                scale = max(1.0 * (1.0 + current_sigma * zc[r, c]), 0.0)
            if t <= 0.0:
                continue
            # -- the write (update_cells)
            n1, n2, e = _pulse_cell(b1, b2, pc, t, u1[r, c], u2[r, c], rp1[r, c], rap1[r, c],
                                    ic01[r, c], d1[r, c], rp2[r, c], rap2[r, c], ic02[r, c],
                                    d2[r, c], v_write, r_access, scale, tau_d_ns, tau0_ns,
                                    ic0_asym, v_half)
            n_pulse += 1.0
            t_sum += t
            e_fj += e
            sw, ch = _store_cell(s1, s2, rp1, rap1, rp2, rap2, gdiff, gsum, weff, dg_nominal,
                                 r, c, b1, b2, n1, n2)
            n_sw += sw
            changed += ch
    out[0] = n_pulse
    out[1] = n_sw
    out[2] = e_fj
    out[3] = t_sum
    out[4] = changed


@njit(cache=True, inline="always")
def _record_facts(col_pulse: np.ndarray, read_cols: np.ndarray, pulsed: np.ndarray, rt: int,
                  c: int, pc: int, w0: float) -> None:
    """A pulsed cell's update facts: widest pulse per row tile, column and polarity; the
    column is read; one more pulsed cell in (row tile, column)."""
    k = 0 if pc > 0 else 1
    if w0 > col_pulse[rt, c, k]:
        col_pulse[rt, c, k] = w0
    read_cols[rt, c] = True
    pulsed[rt, c] += 1


@njit(cache=True, inline="always")
def _store_cell(s1: np.ndarray, s2: np.ndarray, rp1: np.ndarray, rap1: np.ndarray,
                rp2: np.ndarray, rap2: np.ndarray, gdiff: np.ndarray, gsum: np.ndarray,
                weff: np.ndarray, dg_nominal: float, r: int, c: int, b1: int, b2: int,
                n1: int, n2: int) -> tuple[float, float]:
    """Store a written cell's new state; only a switched cell changes conductance
    (:meth:`pnmsim.crossbar.Crossbar._conductances`). Returns (MTJs switched, weight
    changed) as floats."""
    sw = float((n1 != b1) + (n2 != b2))
    if n1 == b1 and n2 == b2:
        return sw, 0.0
    s1[r, c] = n1
    s2[r, c] = n2
    g1 = 1.0 / rp1[r, c] if n1 == 1 else 1.0 / rap1[r, c]
    g2 = 1.0 / rp2[r, c] if n2 == 1 else 1.0 / rap2[r, c]
    gd = g1 - g2
    gdiff[r, c] = gd
    gsum[r, c] = g1 + g2
    weff[r, c] = gd / dg_nominal
    return sw, 1.0 if n1 - n2 != b1 - b2 else 0.0


@njit(cache=True)
def _per_cell_write_nominal(step: np.ndarray, level_step: float, s1: np.ndarray,
                            s2: np.ndarray, u1: np.ndarray, u2: np.ndarray, rp1: np.ndarray,
                            rap1: np.ndarray, ic01: np.ndarray, d1: np.ndarray,
                            rp2: np.ndarray, rap2: np.ndarray, ic02: np.ndarray,
                            d2: np.ndarray, nom: np.ndarray, v_write: float, r_access: float,
                            tau_d_ns: float, tau0_ns: float, max_pulse_ns: float,
                            res_ns: float, gdiff: np.ndarray, gsum: np.ndarray,
                            weff: np.ndarray, dg_nominal: float, tile_rows: int,
                            col_pulse: np.ndarray, read_cols: np.ndarray, pulsed: np.ndarray,
                            out: np.ndarray, thr: np.ndarray, start: np.ndarray,
                            whole_idx: np.ndarray, key_lo: int) -> None:
    """:func:`per_cell_write` at nominal devices (its docstring), in three passes: (1) every
    cell's grid index from the look-up, its facts, pulse count and width sum, the tabulated
    no-switch energy, and a list of the cells whose draws make an MTJ switch; (2) those cells
    through :func:`_pulse_cell`; (3) the pulses' energies summed in cell order, as the one-pass
    loop adds them (so the float sum is the same)."""
    max_pulse_n, res_n = nom[9], nom[10]
    m, p_max = nom[7], nom[8]
    k_tab, a_const, log_a = _nominal_tables(nom)
    n_max = int(math.floor(max_pulse_n / res_n + 1e-9))
    # per grid index: the applied width; per (state, index): each needed MTJ's switching
    # probability and the no-switch energy (nominal devices, current scale 1)
    t_tab = np.empty(n_max + 1)
    p_tab = np.empty((2, 2, n_max + 1))
    e_tab = np.empty((2, 2, n_max + 1))
    for n in range(n_max + 1):
        t_tab[n] = min(_grid(min(n * res_n, max_pulse_n), res_ns, max_pulse_ns), max_pulse_ns)
    r_p, r_ap, ic0, delta = nom[0], nom[1], nom[4], nom[5]
    # conductances of a cell in state (x1, x2): the operations of _store_cell
    gd_tab = np.empty((2, 2))
    gs_tab = np.empty((2, 2))
    we_tab = np.empty((2, 2))
    for x1 in range(2):
        for x2 in range(2):
            g1 = 1.0 / r_p if x1 == 1 else 1.0 / r_ap
            g2 = 1.0 / r_p if x2 == 1 else 1.0 / r_ap
            gd = g1 - g2
            gd_tab[x1, x2] = gd
            gs_tab[x1, x2] = g1 + g2
            we_tab[x1, x2] = gd / dg_nominal
    i_tab = np.empty((2, 2))
    for x1 in range(2):
        for x2 in range(2):
            i0 = _series_current_ua(x1, x2, nom[0], nom[1], nom[0], nom[1], v_write,
                                    r_access) * 1.0
            i_tab[x1, x2] = i0
            for n in range(n_max + 1):
                p_tab[x1, x2, n] = _p_switch(t_tab[n], i0 / nom[4], nom[5], tau_d_ns, tau0_ns)
                e_tab[x1, x2, n] = v_write * i0 * t_tab[n]
    rows, cols = s1.shape
    e_buf = np.empty(rows * cols)       # energy of the k-th pulse, in cell order
    sw_at = np.empty(rows * cols, dtype=np.int64)   # (k, flat cell, index) of switchers
    sw_n = np.empty(rows * cols, dtype=np.int64)
    sw_k = np.empty(rows * cols, dtype=np.int64)
    fbits = np.empty(1)            # a double's bit pattern, for the look-up's bucket
    ibits = fbits.view(np.int64)
    n_pulse = 0
    n_swc = 0
    t_sum = 0.0
    for r in range(rows):
        rt = r // tile_rows
        # row views: the compiler then keeps each row's base pointer in a register
        step_r, s1_r, s2_r, u1_r, u2_r = step[r], s1[r], s2[r], u1[r], u2[r]
        cp_r, rc_r, pu_r = col_pulse[rt], read_cols[rt], pulsed[rt]
        for c in range(cols):
            st = np.float64(step_r[c]) / level_step
            mag = abs(st)
            kappa = math.floor(mag)
            v = mag - kappa
            if st == 0.0 or st != st:
                continue
            up = st > 0.0
            b1 = s1_r[c]
            b2 = s2_r[c]
            need1 = (b1 == 0) if up else (b1 == 1)
            need2 = (b2 == 1) if up else (b2 == 0)
            if not (need1 or need2):
                continue
            cls = 4 * b1 + 2 * b2 + (1 if up else 0)
            if kappa >= 1.0:
                n = whole_idx[cls]
            elif v > 0.0:
                fbits[0] = v
                n = _lookup_index(v, ibits[0] >> _BUCKET_SHIFT, thr, start, cls, key_lo)
                if n < 0:
                    n = _width_index(v, False, int(need1) + int(need2), k_tab[b1, b2], m,
                                     p_max, a_const, log_a, max_pulse_n, res_n)
            else:
                continue
            if n == 0:
                continue
            # facts (as _record_facts)
            w0 = min(n * res_n, max_pulse_n)
            k = 0 if up else 1
            if w0 > cp_r[c, k]:
                cp_r[c, k] = w0
            rc_r[c] = True
            pu_r[c] += 1
            t = t_tab[n]
            if t <= 0.0:
                continue
            t_sum += t
            p = p_tab[b1, b2, n]
            if (need1 and u1_r[c] < p) or (need2 and u2_r[c] < p):
                sw_at[n_swc] = r * cols + c
                sw_n[n_swc] = n
                sw_k[n_swc] = n_pulse
                n_swc += 1
            else:
                e_buf[n_pulse] = e_tab[b1, b2, n]    # nothing switches: _pulse_cell's first
            n_pulse += 1                             # return, V i0 t
    n_sw = 0.0
    changed = 0.0
    for j in range(n_swc):
        r = sw_at[j] // cols
        c = sw_at[j] - r * cols
        b1 = s1[r, c]
        b2 = s2[r, c]
        pc = 1 if step[r, c] > 0.0 else -1
        n = sw_n[j]
        p = p_tab[b1, b2, n]
        need1 = (b1 == 0) if pc > 0 else (b1 == 1)
        need2 = (b2 == 1) if pc > 0 else (b2 == 0)
        # nominal devices: the per-cell resistances, I_c0 and Delta equal nom's (the caller
        # checked), so the scalars give the same numbers without touching eight arrays
        n1, n2, e = _pulse_switching(b1, b2, pc, t_tab[n], u1[r, c], u2[r, c],
                                     need1 and u1[r, c] < p, need2 and u2[r, c] < p,
                                     i_tab[b1, b2], r_p, r_ap, ic0, delta, log_a, r_p, r_ap,
                                     ic0, delta, log_a, v_write, r_access, 1.0, tau_d_ns,
                                     tau0_ns)
        e_buf[sw_k[j]] = e
        sw = float((n1 != b1) + (n2 != b2))
        ch = 0.0
        if n1 != b1 or n2 != b2:
            s1[r, c] = n1
            s2[r, c] = n2
            gdiff[r, c] = gd_tab[n1, n2]
            gsum[r, c] = gs_tab[n1, n2]
            weff[r, c] = we_tab[n1, n2]
            if n1 - n2 != b1 - b2:
                ch = 1.0
        n_sw += sw
        changed += ch
    e_fj = 0.0
    for k in range(n_pulse):
        e_fj += e_buf[k]
    out[0] = float(n_pulse)
    out[1] = n_sw
    out[2] = e_fj
    out[3] = t_sum
    out[4] = changed
