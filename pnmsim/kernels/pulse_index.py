"""numba kernels of the state-aware pulse widths of the per-cell update (part of
:mod:`pnmsim.kernels`).

The periphery turns a cell's DST step into a write pulse whose width depends on the cell's state
(:func:`state_aware_pulses`, the numba form of :meth:`pnmsim.pulses.PulseMapper.pulse_ns_cells`)
and rounds it to the pulse generator's grid. :func:`_width_index` is that composition for one
cell as a grid index; at nominal devices it is a step function of the step's fractional part,
so :func:`width_index_tables` tabulates its thresholds once per parameter set and
the per-cell write (:mod:`pnmsim.kernels.percell`) reads a cell's index from them: the
bucket of v's bit pattern gives the first candidate index, a short scan of the thresholds the
rest, and a v within a relative 1e-12 of a threshold is evaluated directly.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from pnmsim.kernels.bias import aware_pulses
from pnmsim.kernels.cell import _PI2_4, _series_current_ua
from pnmsim.kernels.dst import dst_target, off_target


@njit(cache=True)
def state_aware_pulses(nu: np.ndarray, kappa: np.ndarray, s1: np.ndarray, s2: np.ndarray,
                       pol: np.ndarray, r_p: float, r_ap: float, r_access: float,
                       v_write: float, ic0_ua: float, delta: float, tau_d_ns: float, m: float,
                       p_max: float, max_pulse_ns: float, binary: bool, ic0_asym: float = 1.0,
                       v_half: float = 0.0) -> np.ndarray:
    """Per-cell exact, state-aware pulse widths (ns); the numba form of
    :meth:`pnmsim.pulses.PulseMapper.pulse_ns_cells` (its numpy twin, see its docstring):
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
            need1, need2 = off_target(b1, b2, pc)
            n_need = int(need1) + int(need2)
            v = nu[r, c]
            whole = kappa[r, c] >= 1.0
            if n_need == 0 or not (v > 0.0 or whole):
                continue
            i_ratio = _series_current_ua(b1, b2, r_p, r_ap, r_p, r_ap, v_write,
                                         r_access) / ic0_ua
            q = dst_target(v, m, whole, n_need, binary, p_max)
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
    """:func:`pnmsim.pulses.quantize_widths` of one width (the same operations)."""
    n_max = math.floor(max_ns / res + 1e-9)
    n = min(np.rint(min(t, max_ns) / res), n_max)
    return min(n * res, max_ns)


@njit(cache=True)
def _width_index(v: float, whole: bool, n_need: int, kk: float, m: float, p_max: float,
                 a_const: float, log_a: float, max_pulse_n: float, res_n: float) -> int:
    """Grid index n of a cell's state-aware pulse (its width is ``min(n res_n, max_pulse_n)``):
    :func:`state_aware_pulses` of one cell (target q from the DST remainder ``v`` or p_max for
    a ``whole`` step, ``n_need`` MTJs off target, ``kk = tau_D / (2 (i - 1))`` of the cell's
    nominal current) then the index :func:`_grid` rounds to — the same operations in the same
    order as both, so ``min(n * res_n, max_pulse_n)`` is bit-identical to their composition."""
    w0 = 0.0
    if n_need > 0 and (v > 0.0 or whole):
        q = dst_target(v, m, whole, n_need, False, p_max)
        if q > 0.0:
            neg_ln_q = -math.log(q)
            if neg_ln_q < a_const:
                tt = kk * (log_a - math.log(neg_ln_q))
                w0 = min(tt, max_pulse_n)
    n_max = math.floor(max_pulse_n / res_n + 1e-9)
    return int(min(np.rint(min(w0, max_pulse_n) / res_n), n_max))


@njit(cache=True)
def _nominal_tables(nom: np.ndarray) -> tuple[np.ndarray, float, float]:
    """k_tab[b1, b2] = tau_D / (2 (i - 1)) of the nominal current i / I_c0 of state (b1, b2),
    A = pi^2 Delta / 4 and ln A, from the nominal parameters ``nom``."""
    r_p, r_ap, r_acc_n, v_wr_n, ic0_n = nom[0], nom[1], nom[2], nom[3], nom[4]
    delta_n, tau_d_n = nom[5], nom[6]
    a_const = _PI2_4 * delta_n
    k_tab = np.empty((2, 2))
    for x1 in range(2):
        for x2 in range(2):
            i_r = _series_current_ua(x1, x2, r_p, r_ap, r_p, r_ap, v_wr_n, r_acc_n) / ic0_n
            k_tab[x1, x2] = tau_d_n / (2.0 * (i_r - 1.0))
    return k_tab, a_const, math.log(a_const)


@njit(cache=True)
def _class_need(cls: int) -> tuple[int, int, int]:
    """Cell class ``cls = 4 b1 + 2 b2 + (polarity > 0)`` -> (b1, b2, MTJs off target)."""
    b1 = cls // 4
    b2 = (cls // 2) % 2
    up = cls % 2 == 1
    need1, need2 = off_target(b1, b2, 1 if up else -1)
    return b1, b2, int(need1) + int(need2)


@njit(cache=True)
def _width_index_many(vs: np.ndarray, cls: int, nom: np.ndarray) -> np.ndarray:
    """:func:`_width_index` of the fractional steps ``vs`` for one cell class."""
    k_tab, a_const, log_a = _nominal_tables(nom)
    b1, b2, n_need = _class_need(cls)
    out = np.empty(vs.shape[0], dtype=np.int64)
    for j in range(vs.shape[0]):
        out[j] = _width_index(vs[j], False, n_need, k_tab[b1, b2], nom[7], nom[8], a_const,
                              log_a, nom[9], nom[10])
    return out


@njit(cache=True)
def _whole_index(cls: int, nom: np.ndarray) -> int:
    k_tab, a_const, log_a = _nominal_tables(nom)
    b1, b2, n_need = _class_need(cls)
    return _width_index(0.0, True, n_need, k_tab[b1, b2], nom[7], nom[8], a_const, log_a,
                        nom[9], nom[10])


#: the look-up's bucket of a double v >= 0 is its bit pattern shifted right by this much: the
#: exponent and the top 6 mantissa bits, 64 buckets per octave
_BUCKET_SHIFT = 46


#: the most grid indices a step < 1 may reach for the look-up to be built (bisection cost and
#: table size grow with it); beyond it the kernel evaluates every cell's index directly
MAX_TABLE_INDEX = 8192


def width_index_tables(nom: np.ndarray,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
    """Look-up tables that give :func:`_width_index` of a fractional step v without evaluating
    it, for the 8 cell classes ``4 b1 + 2 b2 + (polarity > 0)`` at the nominal parameters
    ``nom`` (the vector :func:`pnmsim.kernels.percell.per_cell_write` takes); None where a
    step < 1 reaches more than :data:`MAX_TABLE_INDEX` grid indices (a very fine pulse grid).

    ``thr[cls, k]`` is the smallest double v in (0, 1) whose index is >= k + 1 (+inf where no
    v < 1 reaches it), found by bisection over the bit patterns of doubles (ordered like their
    values for v >= 0) with the index function itself, so no formula is re-derived. The index
    of v is then the number of thresholds <= v. The table has one column more than the largest
    index any class reaches below v = 1, plus a margin of two (the kernel's per-index tables
    are that wide; it computes an entry past them on the fly). ``start[cls, b]`` is that count
    at the lower edge of bucket ``b = (bits(v) >> _BUCKET_SHIFT) - key_lo`` (64 buckets per
    octave), so a look-up scans at most a few thresholds. ``whole[cls]`` is the index of a
    whole-level step (q = p_max).

    The index function is monotone in v in exact arithmetic (tanh, log, expm1/log1p and IEEE
    arithmetic composed with positive factors). The tables and the kernel's fallback evaluate
    it with the same scalar libm calls; the kernel evaluates it directly wherever v lies
    within a relative 1e-12 of a threshold, and the tests check the look-up against the direct
    evaluation at +-1 ulp of every threshold and over 300 decades of v. (With Intel SVML
    installed numba may vectorise the bisection's loop with different transcendental
    functions; the caller then does not use the tables: :func:`tables_usable`.)
    Returns thr, start, whole, key_lo."""
    nom = np.ascontiguousarray(nom, dtype=np.float64)
    n_max = int(math.floor(nom[9] / nom[10] + 1e-9))
    whole = np.zeros(8, dtype=np.int64)
    tops = np.zeros(8, dtype=np.int64)
    below_one = np.array([np.nextafter(1.0, 0.0)])
    for cls in range(8):
        whole[cls] = _whole_index(cls, nom)
        tops[cls] = int(_width_index_many(below_one, cls, nom)[0])
    n_top = min(int(max(tops.max(), whole.max())) + 2, n_max)
    if n_top > MAX_TABLE_INDEX:
        return None
    thr = np.full((8, n_top + 1), np.inf)
    one_bits = int(np.float64(1.0).view(np.int64))
    for cls in range(8):
        top = int(tops[cls])
        if top < 1:
            continue
        kk = np.arange(1, top + 1)
        lo = np.zeros(top, dtype=np.int64)               # bits of 0.0: index 0 < k
        hi = np.full(top, one_bits - 1, dtype=np.int64)  # largest double < 1: index >= k
        while True:
            live = hi - lo > 1
            if not live.any():
                break
            mid = lo + (hi - lo) // 2
            idx = _width_index_many(mid.view(np.float64), cls, nom)
            up = idx >= kk
            hi = np.where(live & up, mid, hi)
            lo = np.where(live & ~up, mid, lo)
        thr[cls, :top] = hi.view(np.float64)
    thr.sort(axis=1)   # monotone index: already sorted; sorting keeps the count rule exact
    finite = thr[np.isfinite(thr)]
    lo_v = float(finite.min()) if finite.size else 0.5
    key_lo = int(np.float64(lo_v).view(np.int64)) >> _BUCKET_SHIFT
    key_hi = one_bits >> _BUCKET_SHIFT                    # v < 1: keys below this
    edges = (np.arange(key_lo, key_hi + 1, dtype=np.int64) << _BUCKET_SHIFT).view(np.float64)
    start = np.empty((8, edges.size), dtype=np.int32)
    for cls in range(8):
        start[cls] = np.searchsorted(thr[cls], edges, side="left")
    return thr, start, whole, key_lo


def tables_usable() -> bool:
    """Whether the look-up tables may stand in for the direct evaluation: not where numba
    uses Intel SVML (vectorised transcendental functions whose last bit can differ from the
    scalar libm calls the kernel makes)."""
    from numba.core import config
    return not bool(getattr(config, "USING_SVML", False))
