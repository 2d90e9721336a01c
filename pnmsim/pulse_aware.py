"""State-aware pulse widths with the optional write physics on (numpy twin of
:func:`pnmsim.kernels.bias.aware_width`), for :meth:`pnmsim.pulses.PulseMapper.pulse_ns_cells`.

With ``mtj.ic0_asymmetry`` != 1 the two MTJs of a +-1 cell that must both switch do so at
different rates (one P -> AP, one AP -> P), so the closed-form per-MTJ target
``q = 1 - sqrt(1 - p)`` no longer gives the cell's probability p; the width is found by
bisection instead (:mod:`pnmsim.device.bias` documents the physics).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pnmsim.device.mtj import PI2_OVER_4 as PI2_4

if TYPE_CHECKING:
    from pnmsim.pulses import PulseMapper


def pulse_ns_cells(mp: PulseMapper, nu_abs: np.ndarray, kappa_abs: np.ndarray, s1: np.ndarray,
                   s2: np.ndarray, polarity: np.ndarray, binary: bool) -> np.ndarray:
    """:meth:`pnmsim.pulses.PulseMapper.pulse_ns_cells` with the optional physics on (numpy
    twin of :func:`pnmsim.kernels.bias.aware_width`): each needed MTJ's i = I_state / I_c0 of its
    direction; where the two needed MTJs' i differ, the width with
    (1 - P1)(1 - P2) = 1 - p (binary: P1 P2 = p) by bisection, and for a whole step the
    longer of the two t(p_max)."""
    nu = np.asarray(nu_abs, dtype=np.float64)
    kappa = np.asarray(kappa_abs, dtype=np.float64)
    pol = np.asarray(polarity)
    s1 = np.asarray(s1)
    s2 = np.asarray(s2)
    up = pol > 0
    need1 = np.where(up, s1 == 0, s1 == 1) & (pol != 0)
    need2 = np.where(up, s2 == 1, s2 == 0) & (pol != 0)
    n_need = need1.astype(np.int8) + need2.astype(np.int8)
    i_cell = mp.i_state[s1.astype(np.intp), s2.astype(np.intp)]
    sq = np.sqrt(mp.ic0_asym)
    i1 = i_cell / np.where(s1 == 1, mp.ic0 * sq, mp.ic0 / sq)
    i2 = i_cell / np.where(s2 == 1, mp.ic0 * sq, mp.ic0 / sq)
    whole = kappa >= 1
    p = np.tanh(mp.m * nu)
    alike = (n_need == 1) | (i1 == i2)
    if binary:
        q = np.where(n_need == 2, np.sqrt(p), p)
    else:
        q = np.where(n_need == 2, -np.expm1(0.5 * np.log1p(-np.minimum(p, 1 - 1e-15))), p)
    q = np.clip(np.where(whole, mp.p_max, q), 0.0, 1 - 1e-12)
    i_one = np.where(need1, i1, i2)
    a = PI2_4 * mp.delta

    def width(qq: np.ndarray, ii: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            nlq = -np.log(qq)
            t = (mp.tau_d_ns / (2.0 * (ii - 1.0))) * (np.log(a) - np.log(nlq))
        return np.where((qq > 0) & (ii > 1.0) & (nlq < a), t, 0.0)

    t = width(q, i_one)
    t = np.where(whole & ~alike, np.maximum(width(np.full_like(q, mp.p_max), i1),
                                            width(np.full_like(q, mp.p_max), i2)), t)
    pair = ~alike & ~whole & (n_need == 2) & (nu > 0)
    if np.any(pair):
        t[pair] = pair_width(mp, np.minimum(p[pair], 1 - 1e-15), i1[pair], i2[pair],
                                   binary)
    t = mp.quantize(np.minimum(t, mp.max_pulse_ns))
    active = (n_need > 0) & ((nu > 0) | whole)
    return np.where(active, t, 0.0)

def pair_width(mp: PulseMapper, p: np.ndarray, i1: np.ndarray, i2: np.ndarray,
               binary: bool) -> np.ndarray:
    """Width with (1 - P1)(1 - P2) = 1 - p (binary: P1 P2 = p) by 64 bisection steps on
    [0, max_pulse] (the kernel's algorithm, vectorised)."""
    a = PI2_4 * mp.delta
    lo = np.zeros_like(p)
    hi = np.full_like(p, mp.max_pulse_ns)
    with np.errstate(divide="ignore", over="ignore"):
        target = np.log(p) if binary else np.log1p(-p)
        for _ in range(64):
            t = 0.5 * (lo + hi)
            g1 = np.where(i1 > 1.0, a * np.exp(-2.0 * (i1 - 1.0) * t / mp.tau_d_ns),
                          np.inf)
            g2 = np.where(i2 > 1.0, a * np.exp(-2.0 * (i2 - 1.0) * t / mp.tau_d_ns),
                          np.inf)
            if binary:
                reached = -g1 - g2 >= target
            else:
                reached = np.log(-np.expm1(-g1)) + np.log(-np.expm1(-g2)) <= target
            hi = np.where(reached, t, hi)
            lo = np.where(reached, lo, t)
    return np.where(p > 0, np.where(hi >= mp.max_pulse_ns, mp.max_pulse_ns, hi), 0.0)
