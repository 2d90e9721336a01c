"""numba kernel of the per-cell update's per-tile counts (part of :mod:`pnmsim.kernels`): the
pulsed cells and the pulse sub-steps of every tile, which :func:`pnmsim.counting.
count_per_cell_update` counts every mini-batch, in one pass over the update facts instead of
a handful of NumPy calls (compares, casts, two ``reduceat`` and a concatenation)."""

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
