"""numba kernel of a crossbar's conductances from its MTJ states (part of
:mod:`pnmsim.kernels`): one pass instead of the NumPy expression's twelve array operations
(two state compares, reciprocals of four device arrays, two selects, difference, sum, scaled
float32 copy), with the same operations per cell, so the same bits (tested against the NumPy
form)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def conductances(s1: np.ndarray, s2: np.ndarray, rp1: np.ndarray, rap1: np.ndarray,
                 rp2: np.ndarray, rap2: np.ndarray, dg_nominal: float, gdiff: np.ndarray,
                 gsum: np.ndarray, weff32: np.ndarray) -> None:
    """``gdiff = G1 - G2``, ``gsum = G1 + G2`` and ``weff32 = float32(gdiff / dg_nominal)``
    of every cell (2-D C-contiguous arrays of one shape), with ``Gk = 1 / R_P`` where
    ``sk == 1`` else ``1 / R_AP`` of that MTJ: the values of
    ``np.where(s1 == 1, 1.0 / rp1, 1.0 / rap1)`` and so on, elementwise (IEEE division and
    subtraction are the same per element; the float64 quotient is rounded to float32 as
    ``astype`` does). NumPy's error model: a zero divisor gives inf or NaN as in NumPy, not
    an exception (and no per-division zero test). The caller checks the shapes (the loops
    take theirs from ``s1``)."""
    rows, cols = s1.shape
    one8 = np.int8(1)
    for r in range(rows):
        s1_r, s2_r = s1[r], s2[r]
        rp1_r, rap1_r, rp2_r, rap2_r = rp1[r], rap1[r], rp2[r], rap2[r]
        gd_r, gs_r, w_r = gdiff[r], gsum[r], weff32[r]
        for c in range(cols):
            uc = np.uint64(c)    # no negative-index wraparound code
            g1 = 1.0 / rp1_r[uc] if s1_r[uc] == one8 else 1.0 / rap1_r[uc]
            g2 = 1.0 / rp2_r[uc] if s2_r[uc] == one8 else 1.0 / rap2_r[uc]
            gd = g1 - g2
            gd_r[uc] = gd
            gs_r[uc] = g1 + g2
            w_r[uc] = np.float32(gd / dg_nominal)
