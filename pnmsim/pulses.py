"""How the periphery turns a GXNOR step into a write pulse: :class:`PulseMapper` (the exact
inverse of the switching curve or the affine pulse, state-aware or at a fixed reference current)
and :func:`quantize_widths`, the pulse generator's grid. Used by :mod:`pnmsim.crossbar`, whose
cells the pulses then write."""

from __future__ import annotations

import numpy as np

from pnmsim import pulse_aware
from pnmsim.config import ArchConfig
from pnmsim.device import bias, mtj


def quantize_widths(pulse_ns: np.ndarray | float, resolution_ns: float,
                    max_pulse_ns: float) -> np.ndarray:
    """Pulse widths as the pulse generator makes them: the nearest whole multiple of
    ``resolution_ns`` (``periphery.pulse_resolution_ns``), capped at the longest multiple that
    does not exceed ``max_pulse_ns``. Idempotent; 0 stays 0 (no pulse)."""
    t = np.asarray(pulse_ns, dtype=np.float64)
    n_max = np.floor(max_pulse_ns / resolution_ns + 1e-9)
    n = np.minimum(np.rint(np.minimum(t, max_pulse_ns) / resolution_ns), n_max)
    return np.minimum(n * resolution_ns, max_pulse_ns)


class PulseMapper:
    """Turns the fractional GXNOR step |nu| (in units of the level step L) into a pulse width.

    ``exact``: invert the MTJ switching curve, t = P_sw^-1(tanh(m |nu|/L)), at the nominal
    current of a +-1 cell (P + AP + access in series) — the periphery does not know each
    device's parameters, so variation and the state dependence of the current make the realised
    probability differ from tanh (the effect the paper studies).
    ``affine``: t = t0 + k |nu|/L, letting the MTJ's own curve stand in for tanh; (t0, k) from the
    preset or, when null, a least-squares fit (science.md §4).
    A step of one whole level or more (kappa >= 1) gets the saturating pulse t(p_max): [open] in
    the paper; this realisation is documented in README and arch_configs.
    Every width it returns is quantised by :func:`quantize_widths` to the pulse generator's
    resolution ``periphery.pulse_resolution_ns``: the same widths drive the physics and the
    timing records.
    Optional physics (:mod:`pnmsim.device.bias`): with ``mtj.tmr_v_half_v`` the reference
    current is the +-1 cell's bias-solved one; the fixed mapper uses ``mtj.ic0_ua`` (the
    geometric mean of the two directions' I_c0), the state-aware one each needed MTJ's own.
    """

    def __init__(self, arch: ArchConfig) -> None:
        d, s, u = arch.mtj, arch.synapse, arch.update
        self.v_half = d.tmr_v_half_v
        self.ic0_asym = d.ic0_asymmetry
        if self.v_half is None:
            r_ref = d.r_parallel_ohm * (2 + d.tmr) + s.r_access_ohm
            self.i_ref_ua = s.v_write_v / r_ref * 1e6
        else:
            r_ap0 = d.r_parallel_ohm * (1 + d.tmr)
            self.i_ref_ua = bias.series_current_ua(1, 0, d.r_parallel_ohm, r_ap0,
                                                   d.r_parallel_ohm, r_ap0, s.v_write_v,
                                                   s.r_access_ohm, self.v_half)
        self.i_ratio = self.i_ref_ua / d.ic0_ua
        self.delta = d.delta
        self.tau_d_ns = d.tau_d_ns
        self.m = u.m
        self.mapping = u.pulse_mapping
        self.max_pulse_ns = u.max_pulse_ns
        self.state_aware = u.pulse_reference == "state"
        self.p_max = u.p_max
        self.r_p, self.r_ap = d.r_parallel_ohm, d.r_parallel_ohm * (1 + d.tmr)
        self.r_access, self.v_write, self.ic0 = s.r_access_ohm, s.v_write_v, d.ic0_ua
        self.resolution_ns = arch.periphery.pulse_resolution_ns
        # nominal series current (uA) of each state (b1, b2), bias-solved where that is on
        self.i_state = np.array([[bias.series_current_ua(b1, b2, self.r_p, self.r_ap, self.r_p,
                                                         self.r_ap, self.v_write, self.r_access,
                                                         self.v_half) for b2 in (0, 1)]
                                 for b1 in (0, 1)])
        self.t_sat = float(self.quantize(mtj.pulse_for_probability(
            u.p_max, self.i_ratio, d.delta, d.tau_d_ns)))
        if u.pulse_mapping == "affine":
            if u.affine_t0_ns is None:
                t0, k, _ = mtj.affine_pulse_fit(d.delta, self.i_ratio, d.tau_d_ns, m=u.m)
                self.t0, self.k = float(t0), float(k)
            else:
                self.t0, self.k = float(u.affine_t0_ns), float(u.affine_k_ns)  # type: ignore
            p0 = float(mtj.p_switch_precessional(self.t0, self.i_ratio, d.delta, d.tau_d_ns))
            self.nu_dead = float(np.arctanh(min(p0, 1 - 1e-12)) / self.m)
        else:
            self.nu_dead = 0.0

    def quantize(self, pulse_ns: np.ndarray | float) -> np.ndarray:
        """Widths on the pulse generator's grid (:func:`quantize_widths`)."""
        return quantize_widths(pulse_ns, self.resolution_ns, self.max_pulse_ns)

    def pulse_ns_cells(self, nu_abs: np.ndarray, kappa_abs: np.ndarray, s1: np.ndarray,
                       s2: np.ndarray, polarity: np.ndarray,
                       binary: bool = False) -> np.ndarray:
        """State-aware pulses (``update.pulse_reference: state``, exact mapping only).

        The periphery reads both MTJs of each cell, so it knows the series current of the
        cell's state (nominal devices) and how many MTJs the pulse can switch: none (the weight
        is already at the bound: no pulse), one (from 0, or a +-1 cell moving down... any cell
        with exactly one MTJ off target) or two (from +-1 towards the other sign). For two, the
        per-MTJ probability q solves 1 - (1 - q)^2 = p, so that the cell leaves its state with
        GXNOR's probability p = tanh(m|nu|/L) (and jumps two levels with q^2 only). A binary
        cell's weight changes only when both MTJs switch, so there q = sqrt(p) (independent
        switching at the initial current; the current change after the first switch makes the
        realised pair probability differ, as the physics decides).
        """
        if self.physics_on:
            return pulse_aware.pulse_ns_cells(self, nu_abs, kappa_abs, s1, s2, polarity,
                                              binary)
        nu = np.asarray(nu_abs, dtype=np.float64)
        pol = np.asarray(polarity)
        up = pol > 0
        need1 = np.where(up, s1 == 0, s1 == 1) & (pol != 0)
        need2 = np.where(up, s2 == 1, s2 == 0) & (pol != 0)
        n_need = need1.astype(np.int8) + need2.astype(np.int8)
        r1 = np.where(s1 == 1, self.r_p, self.r_ap)
        r2 = np.where(s2 == 1, self.r_p, self.r_ap)
        i_ratio = self.v_write / (r1 + r2 + self.r_access) * 1e6 / self.ic0
        p = np.tanh(self.m * nu)
        if binary:
            q = np.where(n_need == 2, np.sqrt(p), p)
        else:
            q = np.where(n_need == 2, -np.expm1(0.5 * np.log1p(-np.minimum(p, 1 - 1e-15))), p)
        q = np.where(kappa_abs >= 1, self.p_max, q)
        t = mtj.pulse_for_probability(np.clip(q, 0.0, 1 - 1e-12), i_ratio, self.delta,
                                      self.tau_d_ns)
        t = self.quantize(t)
        active = (n_need > 0) & ((nu > 0) | (kappa_abs >= 1))
        return np.where(active, t, 0.0)

    @property
    def physics_on(self) -> bool:
        """Whether I_c0 asymmetry or bias-dependent TMR is on (:mod:`pnmsim.device.bias`)."""
        return self.ic0_asym != 1.0 or self.v_half is not None

    def kernel_physics(self) -> tuple[float, float]:
        """(ic0_asym, v_half) as the kernels take them (1.0 and 0.0 mean off)."""
        return float(self.ic0_asym), float(self.v_half or 0.0)

    def pulse_ns(self, nu_abs: np.ndarray, kappa_abs: np.ndarray | None = None) -> np.ndarray:
        """Pulse widths (ns) for fractional steps ``nu_abs`` in [0, 1) (units of L)."""
        nu = np.asarray(nu_abs, dtype=np.float64)
        if self.mapping == "exact":
            p = np.tanh(self.m * nu)
            t = mtj.pulse_for_probability(np.minimum(p, 1 - 1e-12), self.i_ratio, self.delta,
                                          self.tau_d_ns)
        else:
            # dead zone: the affine pulse's own switching probability at nu -> 0 is P(t0) > 0,
            # so steps whose target tanh(m|nu|) is below P(t0) get no pulse (else every tiny
            # step would flip cells with probability P(t0))
            t = np.where(nu > self.nu_dead, self.t0 + self.k * nu, 0.0)
        t = self.quantize(t)
        t = np.where(nu > 0, t, 0.0)
        if kappa_abs is not None:
            t = np.where(kappa_abs >= 1, self.t_sat, t)
        return t
