"""What a write pulse must do to a cell (part of :mod:`pnmsim.kernels`): which of its MTJs are
off their target state (:func:`off_target`) and the switching probability a state-aware pulse
aims at, GXNOR's DST probability of a one-state move turned into a per-MTJ target (science.md
§2, §4; :func:`dst_target`). Shared by every write kernel and the state-aware pulse widths."""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True, inline="always")
def dst_target(v: float, m: float, whole: bool, n_need: int, binary: bool,
               p_max: float) -> float:
    """Target switching probability q of each needed MTJ for a DST remainder ``v`` (units of
    the level step): p = tanh(m v); q = p where one MTJ must flip; q = 1 - sqrt(1 - p) where
    two can (the cell leaves its state with probability p), sqrt(p) for a binary pair (which
    changes only when both switch); q = p_max for a whole-level step; clipped to
    [0, 1 - 1e-12]."""
    p = math.tanh(m * v)
    if whole:
        q = p_max
    elif n_need == 2 and not binary:
        q = -math.expm1(0.5 * math.log1p(-min(p, 1.0 - 1e-15)))
    elif n_need == 2:
        q = math.sqrt(p)
    else:
        q = p
    return min(max(q, 0.0), 1.0 - 1e-12)


@njit(cache=True, inline="always")
def off_target(a: int, b: int, pol: int) -> tuple[bool, bool]:
    """Which MTJs of a cell in state (a, b) a pulse of polarity ``pol`` must switch: +1 (weight
    up) drives M1 to P (1) and M2 to AP (0), -1 the reverse; an MTJ already in its target
    state stays (module docstring of :mod:`pnmsim.kernels.cell`)."""
    if pol > 0:
        return a == 0, b == 1
    return a == 1, b == 0
