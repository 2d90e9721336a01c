"""Write-direction and write-bias refinements of the MTJ model (optional, off by default).

Two effects of real STT-MTJs that the textbook model of :mod:`pnmsim.device.mtj` leaves out;
each is switched on by one preset key (``mtj.ic0_asymmetry``, ``mtj.tmr_v_half_v``) and,
unset, changes nothing (every caller keeps its original arithmetic then):

* **Critical-current asymmetry.** Switching P -> AP takes a larger current than AP -> P (the
  spin-torque efficiency of a tunnel junction depends on the angle between the layers). With
  ``r = I_c0(P->AP) / I_c0(AP->P)`` (``mtj.ic0_asymmetry``) and ``mtj.ic0_ua`` their geometric
  mean: ``I_c0(P->AP) = I_c0 sqrt(r)``, ``I_c0(AP->P) = I_c0 / sqrt(r)``. Which one applies is
  set by the state the MTJ leaves, so an MTJ in P (state 1) uses ``I_c0 sqrt(r)``.
* **Bias-dependent TMR.** ``TMR(V) = TMR0 / (1 + (V / V_h)^2)`` (empirical, ``V_h`` =
  ``mtj.tmr_v_half_v`` the bias at which the TMR is halved), with R_P bias-independent, so
  ``R_AP(V) = R_P + (R_AP0 - R_P) / (1 + (V / V_h)^2)``. Applied to writes only: reads run at
  ``synapse.v_read_v`` (0.05 V), where the formula lowers the TMR by (0.05 / V_h)^2 (1 % at
  V_h = 0.5 V); ``mtj.tmr`` is taken as the TMR at the read bias.
* **The series divider, solved self-consistently.** During a write the cell's two MTJs and the
  access devices carry one current, ``I = V_w / (R_access + R1 + R2)``, and each AP MTJ's
  resistance depends on its own voltage ``V_k = I R_AP,k(V_k)``. Every element's voltage grows
  with the current (``V / R_AP(V)`` increases with V), so the total voltage at a given current
  increases with the current and the solution is unique; it lies between the currents with
  every AP MTJ at ``R_AP0`` and at ``R_P``. Solved by a safeguarded Newton iteration (Newton
  steps kept inside a shrinking bracket, bisection where a step leaves it) for the current,
  with the same iteration for each AP MTJ's voltage at a given current. Current jitter
  (``variation.current_jitter_sigma``) scales the solved current; the bias is not re-solved
  for it (a first-order approximation).

These are the plain-Python forms (used by the preset checks and the pulse mapper); the numba
kernels use :mod:`pnmsim.kernels.bias`, the same safeguarded Newton iteration but written
differently where two like AP MTJs share the current (there it solves for one MTJ's voltage,
``(V_w / 2 - V) / (R_acc / 2)``, which loses up to ~1e-9 relative where R_access << R_AP), and
the tests check both against an independent fixed-point solution and the divider equations.
"""

from __future__ import annotations

import math

_MAX_ITER = 200


def ic0_for_state(state: int, ic0_ua: float, asymmetry: float) -> float:
    """I_c0 (uA) of an MTJ leaving ``state`` (1 = P: P -> AP; 0 = AP: AP -> P)."""
    return ic0_ua * math.sqrt(asymmetry) if state == 1 else ic0_ua / math.sqrt(asymmetry)


def r_ap_at_bias(r_p_ohm: float, r_ap0_ohm: float, v: float, v_half: float | None) -> float:
    """``R_AP`` (ohm) at bias ``v`` (V): ``R_P + (R_AP0 - R_P) / (1 + (v / V_h)^2)``, i.e.
    ``R_P (1 + TMR0 / (1 + (v / V_h)^2))``; ``R_AP0`` where ``v_half`` is None."""
    if v_half is None:
        return r_ap0_ohm
    x = v / v_half
    return r_p_ohm + (r_ap0_ohm - r_p_ohm) / (1.0 + x * x)


def _newton_root(f, lo: float, hi: float) -> float:  # type: ignore[no-untyped-def]
    """Root of an increasing ``f`` (returning value and slope) bracketed by [lo, hi]:
    Newton steps, bisection where a step leaves the shrinking bracket."""
    x = hi
    for _ in range(_MAX_ITER):
        fx, dfx = f(x)
        if fx == 0.0:
            return x
        if fx > 0.0:
            hi = x
        else:
            lo = x
        step = fx / dfx
        if abs(step) <= 1e-14 * abs(x):    # converged (quadratically)
            return x - step
        xn = x - step
        if not lo < xn < hi:
            xn = 0.5 * (lo + hi)
        x = xn
    return x


def v_across_ap(i_a: float, r_p_ohm: float, r_ap0_ohm: float, v_half: float) -> float:
    """Voltage (V) across an AP MTJ carrying ``i_a`` (A): the root of ``V - i_a R_AP(V)``."""
    d = r_ap0_ohm - r_p_ohm
    lo, hi = i_a * r_p_ohm, i_a * r_ap0_ohm
    if not d > 0.0 or not hi > lo:
        return lo
    vh2 = v_half * v_half

    def f(v: float) -> tuple[float, float]:
        den = 1.0 + v * v / vh2
        return v - i_a * (r_p_ohm + d / den), 1.0 + i_a * d * 2.0 * v / vh2 / (den * den)

    return _newton_root(f, lo, hi)


def series_current_ua(s1: int, s2: int, rp1: float, rap1: float, rp2: float, rap2: float,
                      v_write: float, r_access: float, v_half: float | None) -> float:
    """Write current (uA) of a cell in state (s1, s2) (1 = P), the divider solved with
    bias-dependent R_AP (module docstring); ``V_w / (R1 + R2 + R_access)`` with the zero-bias
    resistances where ``v_half`` is None."""
    r1 = rp1 if s1 == 1 else rap1
    r2 = rp2 if s2 == 1 else rap2
    if v_half is None or (s1 == 1 and s2 == 1):
        return v_write / (r1 + r2 + r_access) * 1e6
    r_fixed = r_access + (rp1 if s1 == 1 else 0.0) + (rp2 if s2 == 1 else 0.0)
    aps = [(rp, rap) for s, rp, rap in ((s1, rp1, rap1), (s2, rp2, rap2)) if s == 0]
    lo = v_write / (r1 + r2 + r_access)
    hi = v_write / (r_fixed + sum(rp for rp, _ in aps))
    vh = v_half

    def f(i: float) -> tuple[float, float]:
        tot, slope = i * r_fixed - v_write, r_fixed
        for rp, rap in aps:
            v = v_across_ap(i, rp, rap, vh)
            den = 1.0 + (v / vh) ** 2
            r = rp + (rap - rp) / den
            dr = -(rap - rp) * 2.0 * v / (vh * vh) / (den * den)
            tot += v
            slope += r / (1.0 - i * dr)
        return tot, slope

    return _newton_root(f, lo, hi) * 1e6


__all__ = ["ic0_for_state", "r_ap_at_bias", "series_current_ua", "v_across_ap"]
