"""Canonical units and the one place where time in nanoseconds becomes integer cycles.

Internal units: time in integer clock cycles (simulation) or ns (device physics), energy in pJ
(cost table) or fJ (device physics), resistance in ohm, current in uA, voltage in V.
V * uA * ns = 1 fJ, which is why the device layer works in fJ.
Seconds appear only in :mod:`pnmsim.results`.
"""

from __future__ import annotations

import math

import numpy as np

FJ_PER_PJ = 1000.0
PJ_PER_J = 1e12
FJ_PER_V2_S_NS = 1e6      # V^2 x S x ns = 1e-9 J = 1e6 fJ (a cell's read energy V^2 G t)


def cycle_ns(clock_mhz: float) -> float:
    """Length of one clock cycle in ns."""
    return 1000.0 / clock_mhz


def ns_to_cycles(t_ns: float, clock_mhz: float) -> int:
    """Whole cycles needed to cover ``t_ns`` (ceiling: an operation is never done early).

    A tiny tolerance absorbs float round-off, so 2.0 ns at 1 GHz is 2 cycles, not 3.
    """
    if t_ns <= 0:
        return 0
    c = t_ns / cycle_ns(clock_mhz)
    return int(math.ceil(c - 1e-9))


def ns_array_to_cycles(t_ns: np.ndarray, clock_mhz: float) -> np.ndarray:
    """Vectorised :func:`ns_to_cycles` (int64)."""
    c = np.asarray(t_ns, dtype=np.float64) / cycle_ns(clock_mhz)
    return np.where(c > 0, np.ceil(c - 1e-9), 0).astype(np.int64)


def cycles_to_seconds(cycles: float, clock_mhz: float) -> float:
    return float(cycles) / (clock_mhz * 1e6)
