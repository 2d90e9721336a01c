"""numba kernels of the per-batch counts of :mod:`pnmsim.counting` (part of
:mod:`pnmsim.kernels`): the per-cell update's pulsed cells and pulse sub-steps of every tile,
in one pass over the update facts instead of a handful of NumPy calls (compares, casts, two
``reduceat`` and a concatenation), and a counting plan's integer counts added into its
running sums in one call instead of eight NumPy calls on arrays of a few dozen entries."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def per_tile_update_counts(pulsed: np.ndarray, col_pulse_ns: np.ndarray,
                           tile_cols: int) -> np.ndarray:
    """For a layer's row tiles ``r`` and column tiles ``c`` of ``tile_cols`` columns (the
    last possibly shorter): ``[pulsed cells of tile (r, c) ..., sub-steps of tile (r, c)
    ...]``, int64 of length 2 x tiles in (r, c) order. ``pulsed`` (row tiles, columns): the
    pulsed cells of each column in each row tile (integers or bool); ``col_pulse_ns`` (row
    tiles, columns, 2): each column's widest pulse per polarity, a sub-step being a width > 0
    (NaN is not). Integer sums, so the same counts in any order. Shapes that do not match
    are refused (ValueError)."""
    rt, cols = pulsed.shape
    if col_pulse_ns.shape[0] != rt or col_pulse_ns.shape[1] != cols \
            or col_pulse_ns.shape[2] != 2 or tile_cols < 1:
        raise ValueError("per_tile_update_counts: the pulsed counts and the pulse widths "
                         "differ in shape, or no column per tile")
    ct = -(-cols // tile_cols)
    out = np.zeros(2 * rt * ct, dtype=np.int64)
    for r in range(rt):
        for c in range(cols):
            i = r * ct + c // tile_cols
            out[i] += np.int64(pulsed[r, c])
            out[rt * ct + i] += np.int64(col_pulse_ns[r, c, 0] > 0.0) + np.int64(
                col_pulse_ns[r, c, 1] > 0.0)
    return out


@njit(cache=True)
def add_plan(acc: np.ndarray, const: np.ndarray, per_m: np.ndarray, per_dyn: np.ndarray,
             dyn_at: np.ndarray, m: int, dyn: np.ndarray) -> None:
    """``acc[i] += const[i] + per_m[i] * m + per_dyn[i] * dyn[dyn_at[i]]`` (the last term only
    where ``dyn_at[i] >= 0``), int64 as NumPy computes it: a counting plan's entries
    (:class:`pnmsim.counting._TilePlan`). An index past ``dyn`` is refused (ValueError)."""
    n = acc.shape[0]
    if const.shape[0] != n or per_m.shape[0] != n or per_dyn.shape[0] != n \
            or dyn_at.shape[0] != n:
        raise ValueError("add_plan: the plan's arrays differ in length")
    for i in range(n):
        v = const[i] + per_m[i] * m
        k = dyn_at[i]
        if k >= 0:
            if k >= dyn.shape[0]:
                raise ValueError("add_plan: a data-dependent count past the counts given")
            v += per_dyn[i] * dyn[k]
        acc[i] += v
