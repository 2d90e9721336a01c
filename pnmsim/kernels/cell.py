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
        return tau_d_ns / (2.0 * (i_ratio - 1.0)) * (math.log(a) - math.log(g))
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
    t1 = math.inf   # switching times at the initial current
    t2 = math.inf
    if need1 and u1 < _p_switch(t, i0 / ic01, d1, tau_d_ns, tau0_ns):
        t1 = min(_age(-math.log1p(-u1), i0 / ic01, d1, tau_d_ns, tau0_ns), t)
    if need2 and u2 < _p_switch(t, i0 / ic02, d2, tau_d_ns, tau0_ns):
        t2 = min(_age(-math.log1p(-u2), i0 / ic02, d2, tau_d_ns, tau0_ns), t)
    if math.isinf(t1) and math.isinf(t2):   # nothing switched: the current never changed
        return a, b, v_write * i0 * t
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
        u, ic, d = u2, ic02, d2
    else:
        u, ic, d = u1, ic01, d1
    h_then = _hazard(tk, i0 / ic, d, tau_d_ns, tau0_ns)
    rest = (_age(-math.log1p(-u), i1 / ic, d, tau_d_ns, tau0_ns)
            - _age(h_then, i1 / ic, d, tau_d_ns, tau0_ns))
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
def per_cell_write(step: np.ndarray, level_step: float, s1: np.ndarray, s2: np.ndarray,
                   u1: np.ndarray, u2: np.ndarray, zp: np.ndarray, zc: np.ndarray,
                   pulse_sigma: float, current_sigma: float,
                   rp1: np.ndarray, rap1: np.ndarray, ic01: np.ndarray, d1: np.ndarray,
                   rp2: np.ndarray, rap2: np.ndarray, ic02: np.ndarray, d2: np.ndarray,
                   nom: np.ndarray, v_write: float, r_access: float, tau_d_ns: float,
                   tau0_ns: float, max_pulse_ns: float, res_ns: float,
                   gdiff: np.ndarray, gsum: np.ndarray, weff: np.ndarray, dg_nominal: float,
                   tile_rows: int, col_pulse: np.ndarray, read_cols: np.ndarray,
                   pulsed: np.ndarray, out: np.ndarray, nominal: bool = False,
                   ic0_asym: float = 1.0, v_half: float = 0.0) -> None:
    """The whole state-aware per-cell update of one (ternary) layer in one pass, in place.

    Fuses, cell by cell and with the same floating-point operations in the same order (so the
    result is bit-identical, tested): the step decomposition of
    :meth:`pnmsim.crossbar.Crossbar.update_per_cell` (``step / level_step``, kappa, nu, sign),
    :func:`state_aware_pulses` (nominal parameters in ``nom``: r_p, r_ap, r_access, v_write,
    ic0, delta, tau_d, m, p_max, max_pulse, the mapper's pulse resolution) and the mapper's
    quantisation to the pulse grid, then :meth:`~pnmsim.crossbar.Crossbar.apply_pulses`
    (quantisation with ``res_ns``/``max_pulse_ns``, jitter from the normal draws ``zp``/``zc``
    where the sigma is > 0, cap) and the write of :func:`update_cells` (:func:`_pulse_cell`),
    the update facts (widest pulse per row tile, column and polarity; columns read; pulsed
    cells per row tile and column) and — only for the cells that switched — the conductances
    ``gdiff``, ``gsum`` and the effective weights ``weff``. ``out`` (length 5): pulses, MTJs
    switched, write fJ, sum of pulse ns, weights that changed.

    ``nominal`` (the caller checked: every device exactly at the parameters in ``nom``, no
    jitter): a needed MTJ's switching probability at the applied width t is then
    P(t) = exp(-A exp(-B t)) with B = 2 (i - 1) / tau_D of the cell's nominal current, and the
    unquantised width t* of the target q has P(t*) = q. Since dP/dt = B P (-ln P) <= B / e,
    |P(t) - q| <= (B / e) |t - t*| + 1e-9 (rounding, generously). Where every needed MTJ's draw
    is at least that far above q, no MTJ switches — the same decision :func:`_pulse_cell` makes,
    reached without evaluating P — and the pulse's energy is ``V I0 t`` as there; every other
    cell (a switch, or a draw within the bound) goes through :func:`_pulse_cell`. Bit-identical
    either way (tested against the three-step path).

    ``ic0_asym`` != 1 or ``v_half`` > 0 (the optional physics, :mod:`pnmsim.device.bias`): the
    width is :func:`pnmsim.kernels.bias.aware_width` at the state's bias-solved nominal
    current, the write :func:`_pulse_cell` with them, and the ``nominal`` shortcut is off.
    """
    bias_on = ic0_asym != 1.0 or v_half > 0.0
    i_aw = state_currents(nom[0], nom[1], nom[2], nom[3], v_half)
    if bias_on:
        nominal = False
    r_p, r_ap, r_acc_n, v_wr_n, ic0_n = nom[0], nom[1], nom[2], nom[3], nom[4]
    delta_n, tau_d_n, m, p_max, max_pulse_n = nom[5], nom[6], nom[7], nom[8], nom[9]
    res_n = nom[10]
    a_const = _PI2_4 * delta_n
    log_a = math.log(a_const)
    # the nominal current and the pulse's time constant depend on the cell's state only:
    # the same operations as per cell, done once per state (b1, b2)
    i_tab = np.empty((2, 2))
    k_tab = np.empty((2, 2))
    for x1 in range(2):
        for x2 in range(2):
            i_tab[x1, x2] = _series_current_ua(x1, x2, r_p, r_ap, r_p, r_ap, v_wr_n,
                                               r_acc_n) / ic0_n
            k_tab[x1, x2] = tau_d_n / (2.0 * (i_tab[x1, x2] - 1.0))
    n_pulse = 0.0
    n_sw = 0.0
    e_fj = 0.0
    t_sum = 0.0
    changed = 0.0
    rows, cols = s1.shape
    for r in range(rows):
        rt = r // tile_rows
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
            # -- state-aware pulse width (state_aware_pulses), then the mapper's grid
            w0 = 0.0
            tt = 0.0
            q = 0.0
            need1 = (b1 == 0) if pc > 0 else (b1 == 1)
            need2 = (b2 == 1) if pc > 0 else (b2 == 0)
            n_need = int(need1) + int(need2)
            whole = kappa >= 1.0
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
                        tt = k_tab[b1, b2] * (log_a - math.log(neg_ln_q))
                        w0 = min(tt, max_pulse_n)
            w0 = _grid(w0, res_n, max_pulse_n)
            if bias_on:   # asymmetric I_c0 / bias-dependent TMR: the width of aware_width
                w0 = _grid(aware_width(b1, b2, pc, v, whole, False, i_aw[b1, b2], ic0_n,
                                       ic0_asym, delta_n, tau_d_n, m, p_max, max_pulse_n),
                           res_n, max_pulse_n)
            if w0 <= 0.0:
                continue
            # -- facts
            k = 0 if pc > 0 else 1
            if w0 > col_pulse[rt, c, k]:
                col_pulse[rt, c, k] = w0
            read_cols[rt, c] = True
            pulsed[rt, c] += 1
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
            # -- the write (update_cells); the no-switch shortcut where it is certain
            if nominal and i_tab[b1, b2] > 1.0 and tt > 0.0:
                bound = (2.0 * (i_tab[b1, b2] - 1.0) / tau_d_n / math.e * abs(t - tt)
                         + 1e-9)
                if (not need1 or u1[r, c] >= q + bound) and (not need2
                                                           or u2[r, c] >= q + bound):
                    i0 = _series_current_ua(b1, b2, rp1[r, c], rap1[r, c], rp2[r, c],
                                            rap2[r, c], v_write, r_access) * scale
                    n_pulse += 1.0
                    t_sum += t
                    e_fj += v_write * i0 * t
                    continue
            n1, n2, e = _pulse_cell(b1, b2, pc, t, u1[r, c], u2[r, c], rp1[r, c], rap1[r, c],
                                    ic01[r, c], d1[r, c], rp2[r, c], rap2[r, c], ic02[r, c],
                                    d2[r, c], v_write, r_access, scale, tau_d_ns, tau0_ns,
                                    ic0_asym, v_half)
            n_pulse += 1.0
            t_sum += t
            e_fj += e
            n_sw += float((n1 != b1) + (n2 != b2))
            if n1 == b1 and n2 == b2:
                continue
            s1[r, c] = n1
            s2[r, c] = n2
            if n1 - n2 != b1 - b2:
                changed += 1.0
            # -- only a switched cell changes conductance (Crossbar._conductances)
            g1 = 1.0 / rp1[r, c] if n1 == 1 else 1.0 / rap1[r, c]
            g2 = 1.0 / rp2[r, c] if n2 == 1 else 1.0 / rap2[r, c]
            gd = g1 - g2
            gdiff[r, c] = gd
            gsum[r, c] = g1 + g2
            weff[r, c] = gd / dg_nominal
    out[0] = n_pulse
    out[1] = n_sw
    out[2] = e_fj
    out[3] = t_sum
    out[4] = changed
