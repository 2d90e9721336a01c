"""numba kernel of the per-cell write's closed-form cycle count (part of :mod:`pnmsim.kernels`):
the tile cycles :func:`pnmsim.hw.timing.per_cell_tiles_cycles` schedules every mini-batch, in
one pass over the update facts instead of a dozen numpy passes."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def per_cell_tiles_cycles(col_pulse_ns: np.ndarray, read_cols: np.ndarray, tiles: np.ndarray,
                          cycle_ns: float, driver: int, state_read: int) -> np.ndarray:
    """Cycles of each tile ``(r, c0, c1)`` of ``tiles``: over its columns c0:c1 of row tile r,
    each polarity's pulse ``col_pulse_ns[r, c, k]`` in whole cycles (ceil(t / cycle_ns - 1e-9)
    for t > 0, as :func:`pnmsim.units.ns_array_to_cycles`) plus ``driver`` where that is at
    least one cycle, and ``state_read`` times ``read_cols[r, c]`` (1 for a column read first).
    Integers, so the order of the additions does not matter. ``read_cols``: bool or integer.
    A tile outside the facts' row tiles or columns is refused (ValueError)."""
    out = np.zeros(tiles.shape[0], dtype=np.int64)
    n_rt, cols = read_cols.shape
    if col_pulse_ns.shape[0] != n_rt or col_pulse_ns.shape[1] != cols:
        raise ValueError("per_cell_tiles_cycles: col_pulse_ns and read_cols differ in shape")
    for i in range(tiles.shape[0]):
        r, c0, c1 = tiles[i, 0], tiles[i, 1], tiles[i, 2]
        if r < 0 or r >= n_rt or c0 < 0 or c0 > c1 or c1 > cols:
            raise ValueError("per_cell_tiles_cycles: a tile outside the facts' row tiles "
                             "and columns")
        s = 0
        for c in range(c0, c1):
            for k in range(2):
                x = np.float64(col_pulse_ns[r, c, k]) / cycle_ns
                if x > 0:
                    n = np.int64(math.ceil(x - 1e-9))
                    if n > 0:     # a pulse under 1e-9 cycles rounds to none: no driver edge
                        s += n + driver
            s += state_read * read_cols[r, c]
        out[i] = s
    return out
