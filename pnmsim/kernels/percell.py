"""numba kernel of the whole state-aware per-cell update of a layer (part of
:mod:`pnmsim.kernels`): step decomposition, the state-aware pulse on the generator's grid
(:mod:`pnmsim.kernels.pulse_index`), the write through the two-MTJ physics
(:mod:`pnmsim.kernels.cell`), the update facts and the incremental conductances, in one call.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from pnmsim.kernels.bias import aware_width, state_currents
from pnmsim.kernels.cell import _p_switch, _pulse_cell, _pulse_switching, _series_current_ua
from pnmsim.kernels.dst import off_target
from pnmsim.kernels.lines import pairwise_scratch, pairwise_sum_into
from pnmsim.kernels.pcg64 import jump, jump_double, jump_table
from pnmsim.kernels.pulse_index import (
    _BUCKET_SHIFT,
    _grid,
    _nominal_tables,
    _width_index,
)


@njit(cache=True)
def per_cell_write(step: np.ndarray, level_step: float, s1: np.ndarray, s2: np.ndarray,
                   u1: np.ndarray, u2: np.ndarray, zp: np.ndarray, zc: np.ndarray,
                   pulse_sigma: float, current_sigma: float,
                   rp1: np.ndarray, rap1: np.ndarray, ic01: np.ndarray, d1: np.ndarray,
                   rp2: np.ndarray, rap2: np.ndarray, ic02: np.ndarray, d2: np.ndarray,
                   nom: np.ndarray, v_write: float, r_access: float, tau_d_ns: float,
                   tau0_ns: float, max_pulse_ns: float, res_ns: float,
                   gdiff: np.ndarray, gsum: np.ndarray, weff: np.ndarray, dg_nominal: float,
                   tile_rows: int, col_pulse: np.ndarray, read_cols: np.ndarray,
                   pulsed: np.ndarray, out: np.ndarray, nominal: bool,
                   thr: np.ndarray, start: np.ndarray, whole_idx: np.ndarray,
                   key_lo: int, chains: np.ndarray, wtab: np.ndarray, stab: np.ndarray,
                   g_rows: np.ndarray, g_cols: np.ndarray,
                   ic0_asym: float = 1.0, v_half: float = 0.0) -> None:
    """The whole state-aware per-cell update of one (ternary) layer in one pass, in place.

    Fuses, cell by cell and with the same floating-point operations in the same order (so the
    result is bit-identical, tested): the step decomposition of
    :meth:`pnmsim.crossbar.Crossbar.update_per_cell` (``step / level_step``, kappa, nu, sign),
    :func:`state_aware_pulses` (nominal parameters in ``nom``: r_p, r_ap, r_access, v_write,
    ic0, delta, tau_d, m, p_max, max_pulse, the mapper's pulse resolution) and the mapper's
    quantisation to the pulse grid (:func:`_width_index`), then
    :meth:`~pnmsim.crossbar.Crossbar.apply_pulses` (quantisation with
    ``res_ns``/``max_pulse_ns``, jitter from the normal draws ``zp``/``zc`` where the sigma is
    > 0, cap) and the write of :func:`update_cells` (:func:`_pulse_cell`), the update facts
    (widest pulse per row tile, column and polarity; columns read; pulsed cells per row tile
    and column) and — only for the cells that switched — the conductances ``gdiff``, ``gsum``
    and the effective weights ``weff``. ``out`` (length 5): pulses, MTJs switched, write fJ,
    sum of pulse ns, weights that changed.

    ``nominal`` (the caller checked: every device exactly at the parameters in ``nom``, no
    jitter, and passed :func:`width_index_tables` of ``nom`` as ``thr``/``start``/
    ``whole_idx``/``key_lo``): a cell's pulse then depends only on its class (state, polarity)
    and grid index n, so the index comes from the threshold table instead of tanh and two
    logarithms, and the applied width, each needed MTJ's switching probability
    ``_p_switch(t, i0 / I_c0, ...)`` and the no-switch energy ``V i0 t`` come from tables per
    (state, n) computed here with the operations :func:`_pulse_cell` uses. A cell whose draws
    are all >= that probability does not switch — the decision :func:`_pulse_cell` makes with
    the same numbers — and gets the tabulated energy; every other cell goes through
    :func:`_pulse_cell`. Bit-identical either way (tested against the three-step path).
    On this path a non-empty ``chains`` (:func:`pnmsim.kernels.pcg64.pcg64_chains`: the
    generator whose fills ``u1``/``u2`` would hold) makes the kernel draw the u1 and u2 it reads
    itself, the same doubles, and leaves the chains at the fills' end state; ``u1``/``u2`` are
    then not read. ``wtab``/``stab``: the nominal path's :func:`write_tables` (callers keep
    them between calls); arrays of another shape (the stand-ins) make the kernel build them.
    On the nominal path ``g_rows`` of length rows / ``g_cols`` of length cols (others: not
    wanted) receive the written array's G1 + G2 summed along each row / column line, in
    NumPy's order of ``gsum.sum(axis=1)`` / ``gsum.sum(axis=0)`` (so the same bits; the
    column sums only for cols > 1: NumPy sums a single column pairwise), from each row's
    states while they are in cache — the read energy's line sums, without a pass over
    ``gsum``.

    ``ic0_asym`` != 1 or ``v_half`` > 0 (the optional physics, :mod:`pnmsim.device.bias`): the
    width is :func:`pnmsim.kernels.bias.aware_width` at the state's bias-solved nominal
    current, the write :func:`_pulse_cell` with them, and the ``nominal`` path is off.
    """
    bias_on = ic0_asym != 1.0 or v_half > 0.0
    if bias_on:
        nominal = False
    if chains.size > 0 and not nominal:
        raise ValueError("per_cell_write: own draws (chains) need the nominal path")
    if not nominal and (g_rows.size > 0 or g_cols.size > 0):
        raise ValueError("per_cell_write: line sums are made on the nominal path only")
    if nominal:
        _per_cell_write_nominal(step, level_step, s1, s2, u1, u2, rp1, rap1, ic01, d1, rp2,
                                rap2, ic02, d2, nom, v_write, r_access, tau_d_ns, tau0_ns,
                                max_pulse_ns, res_ns, gdiff, gsum, weff, dg_nominal, tile_rows,
                                col_pulse, read_cols, pulsed, out, thr, start, whole_idx, key_lo,
                                chains, wtab, stab, g_rows, g_cols)
        return
    max_pulse_n, res_n = nom[9], nom[10]
    m, p_max = nom[7], nom[8]
    k_tab, a_const, log_a = _nominal_tables(nom)
    i_aw = state_currents(nom[0], nom[1], nom[2], nom[3], v_half)
    n_max = math.floor(max_pulse_n / res_n + 1e-9)
    n_pulse = 0.0
    n_sw = 0.0
    e_fj = 0.0
    t_sum = 0.0
    changed = 0.0
    rows, cols = s1.shape
    for r in range(rows):
        for c in range(cols):
            st = np.float64(step[r, c]) / level_step
            mag = abs(st)
            kappa = np.floor(mag)     # a float: no int64 overflow for huge steps
            v = mag - kappa
            pc = 1 if st > 0.0 else (-1 if st < 0.0 else 0)
            if pc == 0:
                continue
            b1 = s1[r, c]
            b2 = s2[r, c]
            need1, need2 = off_target(b1, b2, pc)
            n_need = int(need1) + int(need2)
            # -- state-aware pulse width on the mapper's grid (index n)
            n = _width_index(v, kappa >= 1.0, n_need, k_tab[b1, b2], m, p_max, a_const, log_a,
                             max_pulse_n, res_n)
            if bias_on:   # asymmetric I_c0 / bias-dependent TMR: aware_width on the grid
                w_b = aware_width(b1, b2, pc, v, kappa >= 1.0, False, i_aw[b1, b2], nom[4],
                                  ic0_asym, nom[5], nom[6], m, p_max, max_pulse_n)
                n = int(min(np.rint(min(w_b, max_pulse_n) / res_n), n_max))
            if n == 0:
                continue
            w0 = min(n * res_n, max_pulse_n)
            _record_facts(col_pulse, read_cols, pulsed, r // tile_rows, c, pc, w0)
            # -- grid, jitter and cap (apply_pulses)
            t = _grid(w0, res_ns, max_pulse_ns)
            if pulse_sigma > 0.0:
                t = max(t * (1.0 + pulse_sigma * zp[r, c]), 0.0)
            t = min(t, max_pulse_ns)
            scale = 1.0
            if current_sigma > 0.0:
                scale = max(1.0 * (1.0 + current_sigma * zc[r, c]), 0.0)
            if t <= 0.0:
                continue
            # -- the write (update_cells)
            n1, n2, e = _pulse_cell(b1, b2, pc, t, u1[r, c], u2[r, c], rp1[r, c], rap1[r, c],
                                    ic01[r, c], d1[r, c], rp2[r, c], rap2[r, c], ic02[r, c],
                                    d2[r, c], v_write, r_access, scale, tau_d_ns, tau0_ns,
                                    ic0_asym, v_half)
            n_pulse += 1.0
            t_sum += t
            e_fj += e
            sw, ch = _store_cell(s1, s2, rp1, rap1, rp2, rap2, gdiff, gsum, weff, dg_nominal,
                                 r, c, b1, b2, n1, n2)
            n_sw += sw
            changed += ch
    out[0] = n_pulse
    out[1] = n_sw
    out[2] = e_fj
    out[3] = t_sum
    out[4] = changed


@njit(cache=True, inline="always")
def _record_facts(col_pulse: np.ndarray, read_cols: np.ndarray, pulsed: np.ndarray, rt: int,
                  c: int, pc: int, w0: float) -> None:
    """A pulsed cell's update facts: widest pulse per row tile, column and polarity; the
    column is read; one more pulsed cell in (row tile, column)."""
    k = 0 if pc > 0 else 1
    if w0 > col_pulse[rt, c, k]:
        col_pulse[rt, c, k] = w0
    read_cols[rt, c] = True
    pulsed[rt, c] += 1


@njit(cache=True, inline="always")
def _store_cell(s1: np.ndarray, s2: np.ndarray, rp1: np.ndarray, rap1: np.ndarray,
                rp2: np.ndarray, rap2: np.ndarray, gdiff: np.ndarray, gsum: np.ndarray,
                weff: np.ndarray, dg_nominal: float, r: int, c: int, b1: int, b2: int,
                n1: int, n2: int) -> tuple[float, float]:
    """Store a written cell's new state; only a switched cell changes conductance
    (:meth:`pnmsim.crossbar.Crossbar._conductances`). Returns (MTJs switched, weight
    changed) as floats."""
    sw = float((n1 != b1) + (n2 != b2))
    if n1 == b1 and n2 == b2:
        return sw, 0.0
    s1[r, c] = n1
    s2[r, c] = n2
    g1 = 1.0 / rp1[r, c] if n1 == 1 else 1.0 / rap1[r, c]
    g2 = 1.0 / rp2[r, c] if n2 == 1 else 1.0 / rap2[r, c]
    gd = g1 - g2
    gdiff[r, c] = gd
    gsum[r, c] = g1 + g2
    weff[r, c] = gd / dg_nominal
    return sw, 1.0 if n1 - n2 != b1 - b2 else 0.0


@njit(cache=True, inline="always")
def _entry(n: int, i0: float, nom: np.ndarray, v_write: float, tau_d_ns: float,
           tau0_ns: float, max_pulse_ns: float, res_ns: float) -> tuple[float, float, float]:
    """Grid index ``n`` of a cell of nominal current ``i0`` -> the applied width (the mapper's
    grid, then apply_pulses' grid and cap), a needed MTJ's switching probability at it and the
    no-switch energy V i0 t: the operations of the one-pass kernel and :func:`_pulse_cell`."""
    t = min(_grid(min(n * nom[10], nom[9]), res_ns, max_pulse_ns), max_pulse_ns)
    return t, _p_switch(t, i0 / nom[4], nom[5], tau_d_ns, tau0_ns), v_write * i0 * t


@njit(cache=True)
def write_tables(nom: np.ndarray, n_tab: int, v_write: float, r_access: float,
                 tau_d_ns: float, tau0_ns: float, max_pulse_ns: float, res_ns: float,
                 dg_nominal: float) -> tuple[np.ndarray, np.ndarray]:
    """The nominal path's tables of :func:`per_cell_write` (a pure function of the nominal
    parameters: callers keep them between calls). ``wtab`` (9, n_tab): row 0 the applied width
    of grid index n; rows 1 + s and 5 + s the switching probability of a needed MTJ and the
    no-switch energy V i0 t of a cell in state s = 2 x1 + x2 (nominal devices, current scale
    1). ``stab`` (4, 4), column s: the series current i0 (uA), G1 - G2, G1 + G2 and
    (G1 - G2) / dG_nominal of state s (the operations of :func:`_pulse_cell` and
    :func:`_store_cell`)."""
    wtab = np.empty((9, n_tab))
    stab = np.empty((4, 4))
    r_p, r_ap = nom[0], nom[1]
    for x1 in range(2):
        for x2 in range(2):
            st = 2 * x1 + x2
            g1 = 1.0 / r_p if x1 == 1 else 1.0 / r_ap
            g2 = 1.0 / r_p if x2 == 1 else 1.0 / r_ap
            gd = g1 - g2
            i0 = _series_current_ua(x1, x2, nom[0], nom[1], nom[0], nom[1], v_write,
                                    r_access) * 1.0
            stab[0, st] = i0
            stab[1, st] = gd
            stab[2, st] = g1 + g2
            stab[3, st] = gd / dg_nominal
            for n in range(n_tab):
                wtab[0, n], wtab[1 + st, n], wtab[5 + st, n] = _entry(
                    n, i0, nom, v_write, tau_d_ns, tau0_ns, max_pulse_ns, res_ns)
    return wtab, stab


def _float32_array(a: np.ndarray) -> bool:
    """Whether ``a`` is a float32 array (answered when a kernel is compiled: its overload)."""
    return bool(a.dtype == np.float32)


@overload(_float32_array, jit_options={"cache": True})
def _float32_array_ol(a):  # type: ignore[no-untyped-def]
    answer = isinstance(a, types.Array) and a.dtype == types.float32
    return lambda a: answer


@njit(cache=True, inline="always")
def _flags_f32(step_r: np.ndarray, s1_r: np.ndarray, s2_r: np.ndarray, v_row: np.ndarray,
               h_row: np.ndarray, f_row: np.ndarray, k_row: np.ndarray) -> None:
    """Pass (A) of :func:`_per_cell_write_nominal` for a row of float32 steps in units of the
    level (level_step 1), in two loops that LLVM vectorises at full width: float32 arithmetic
    (each cell's fractional step ``v_row``, float32, and a byte ``h_row`` = up | 8 whole step |
    32 a step that is a number, not zero, with a whole level or a fraction), then the states'
    compares in int8 (scratch for the second loop: ``h_row``). The same
    flags ``f_row`` and classes ``k_row`` as the float64 loop, and the same v: a float32 step
    is exact in float64, and its absolute value, floor and fractional part are exact in
    float32 (the fractional part of a float has no more significant bits than the float).
    Measured on captured MLP writes: 0.8 against 1.7 ns a cell."""
    cols = s1_r.shape[0]
    z32 = np.float32(0.0)
    for c in range(cols):
        st = step_r[c]
        mag = abs(st)
        kappa = np.floor(mag)
        v = mag - kappa
        v_row[c] = v
        whole = kappa >= np.float32(1.0)
        ok = (st == st) & (st != z32) & (whole | (v > z32))
        h_row[c] = (np.int8(st > z32) | (np.int8(whole) << np.int8(3))
                    | (np.int8(ok) << np.int8(5)))
    one8 = np.int8(1)
    for c in range(cols):
        h = h_row[c]
        up8 = h & one8
        x1 = s1_r[c]
        x2 = s2_r[c]
        n1 = np.int8(x1 == one8 - up8)     # need1 = b1 == 1 - up, need2 = b2 == up
        n2 = np.int8(x2 == up8)
        k_row[c] = np.int8(4) * x1 + np.int8(2) * x2 + up8
        live = ((h >> np.int8(5)) & one8) & (n1 | n2)
        f_row[c] = (up8 | (n1 << np.int8(1)) | (n2 << np.int8(2)) | (h & np.int8(8))
                    | (live << np.int8(4)))


@njit(cache=True)
def _per_cell_write_nominal(step: np.ndarray, level_step: float, s1: np.ndarray,
                            s2: np.ndarray, u1: np.ndarray, u2: np.ndarray, rp1: np.ndarray,
                            rap1: np.ndarray, ic01: np.ndarray, d1: np.ndarray,
                            rp2: np.ndarray, rap2: np.ndarray, ic02: np.ndarray,
                            d2: np.ndarray, nom: np.ndarray, v_write: float, r_access: float,
                            tau_d_ns: float, tau0_ns: float, max_pulse_ns: float,
                            res_ns: float, gdiff: np.ndarray, gsum: np.ndarray,
                            weff: np.ndarray, dg_nominal: float, tile_rows: int,
                            col_pulse: np.ndarray, read_cols: np.ndarray, pulsed: np.ndarray,
                            out: np.ndarray, thr: np.ndarray, start: np.ndarray,
                            whole_idx: np.ndarray, key_lo: int, chains: np.ndarray,
                            wtab: np.ndarray, stab: np.ndarray, g_rows: np.ndarray,
                            g_cols: np.ndarray) -> None:
    """:func:`per_cell_write` at nominal devices (its docstring), row by row in three loops:
    (A) every cell, branch-free so that LLVM vectorises it: the step decomposition, which MTJs
    are off target and whether the cell can get a pulse (a flags byte per cell; for float32
    steps with level_step 1, a float32 and an int8 loop, :func:`_flags_f32`); (B) the columns
    of those cells, in order; (C) those cells only (about half): the grid index from
    the look-up, the facts, the tabulated width, probability and no-switch energy, and for the
    few whose draws switch an MTJ the two-MTJ physics (:func:`_pulse_switching` with the
    nominal scalars) at once, so the energies add in cell order as in the one-pass loop (the
    same float sum). Data-dependent branches on the step's sign and on the need test were
    most of the old single loop's time (mispredictions at ~50 % odds). With a non-empty
    ``chains`` the draws a pulsed cell reads come from :func:`pnmsim.kernels.pcg64.jump_double`
    (jumps from each row's anchors) instead of ``u1``/``u2``."""
    max_pulse_n, res_n = nom[9], nom[10]
    m, p_max = nom[7], nom[8]
    k_tab, a_const, log_a = _nominal_tables(nom)
    n_tab = thr.shape[1]    # indices a step < 1 reaches (width_index_tables), + margin
    if wtab.shape != (9, n_tab) or stab.shape != (4, 4):   # not given: built here
        wtab, stab = write_tables(nom, n_tab, v_write, r_access, tau_d_ns, tau0_ns,
                                  max_pulse_ns, res_ns, dg_nominal)
    t_tab = wtab[0]
    p4 = wtab[1:5]          # [2 x1 + x2, n]
    e4 = wtab[5:9]
    i_tab = stab[0].reshape((2, 2))
    gd_tab = stab[1].reshape((2, 2))
    gs_tab = stab[2].reshape((2, 2))
    we_tab = stab[3].reshape((2, 2))
    r_p, r_ap, ic0, delta = nom[0], nom[1], nom[4], nom[5]
    rows, cols = s1.shape
    own_draws = chains.size > 0
    # own draws: the chains' states at the row's start (anchors) and the jumps of 0..cols steps
    jt = jump_table(chains, cols) if own_draws else np.zeros((1, 4), dtype=np.uint64)
    a1h, a1l, a2h, a2l = (chains[0], chains[1], chains[2], chains[3]) if own_draws else (
        np.uint64(0), np.uint64(0), np.uint64(0), np.uint64(0))
    # per-row scratch (L1-resident): each cell's fractional step and flags, the columns of the
    # cells that need a pulse
    # float32 steps in units of the level (level_step 1): the flags pass in float32 (_flags_f32,
    # the same values); otherwise in float64
    fast32 = level_step == 1.0 and _float32_array(step)
    v_row = np.empty(0 if fast32 else cols)
    v32_row = np.empty(cols if fast32 else 0, dtype=np.float32)
    h_row = np.empty(cols if fast32 else 0, dtype=np.int8)
    f_row = np.empty(cols, dtype=np.int8)   # 1 up, 2 need1, 4 need2, 8 whole step, 16 live
    c_row = np.empty(cols, dtype=np.int64)
    k_row = np.empty(cols, dtype=np.int8)   # class 4 b1 + 2 b2 + up
    # the line sums of G1 + G2 of the written array, row by row while its states are in cache
    want_rows = g_rows.size == rows
    want_cols = g_cols.size == cols
    g_row = np.empty(cols if (want_rows or want_cols) else 0)
    g_p, g_ap = 1.0 / nom[0], 1.0 / nom[1]    # an MTJ's G in P and AP (as write_tables)
    p_lo, p_n, p_left, p_state = pairwise_scratch()
    n_pulse = 0
    t_sum = 0.0
    e_fj = 0.0
    n_sw = 0.0
    changed = 0.0
    one8 = np.int8(1)
    zero8 = np.int8(0)
    for r in range(rows):
        rt = r // tile_rows
        # row views: the compiler then keeps each row's base pointer in a register
        step_r, s1_r, s2_r = step[r], s1[r], s2[r]
        u1_r, u2_r = u1[r if not own_draws else 0], u2[r if not own_draws else 0]
        cp_r, rc_r, pu_r = col_pulse[rt], read_cols[rt], pulsed[rt]
        if fast32:
            _flags_f32(step_r, s1_r, s2_r, v32_row, h_row, f_row, k_row)
        else:
            # (A) every cell, branch-free (LLVM vectorises it): step decomposition, which MTJs
            # are off target (off_target written as compares: need1 = b1 == 1 - up,
            # need2 = b2 == up), and whether the cell can get a pulse
            for c in range(cols):
                st = np.float64(step_r[c]) / level_step
                mag = abs(st)
                kappa = np.floor(mag)     # a float: no int64 overflow for huge steps
                v = mag - kappa
                up8 = one8 if st > 0.0 else zero8
                x1 = s1_r[c]
                x2 = s2_r[c]
                nd1 = x1 == one8 - up8
                nd2 = x2 == up8
                k_row[c] = np.int8(4) * x1 + np.int8(2) * x2 + up8
                whole = kappa >= 1.0
                live = (st == st) & (st != 0.0) & (nd1 | nd2) & (whole | (v > 0.0))
                v_row[c] = v
                f_row[c] = (up8 | (np.int8(2) if nd1 else zero8) | (np.int8(4) if nd2 else zero8)
                            | (np.int8(8) if whole else zero8) | (np.int8(16) if live else zero8))
        # (B) compaction: the columns of the live cells, in order
        n_live = 0
        for c in range(cols):
            c_row[n_live] = c
            n_live += (f_row[c] >> 4) & 1
        # (C) the live cells (about half), in column order. Indices are cast to uint64: numba
        # then emits no negative-index wraparound (every index here is >= 0)
        for j in range(n_live):
            c = np.uint64(c_row[j])
            f = f_row[c]
            v = np.float64(v32_row[c]) if fast32 else v_row[c]
            up = (f & 1) != 0
            need1 = (f & 2) != 0
            need2 = (f & 4) != 0
            kc = k_row[c]
            cls = np.uint64(kc)
            if (f & 8) != 0:
                n = whole_idx[cls]
            else:
                # the look-up of width_index_tables (module docstring of pulse_index): -1
                # within 1e-12 of a threshold. Written out here: a helper function called
                # with array arguments, even inlined, left NRT incref/decref calls in the loop
                n = -1
                if v < 1.0:
                    if v < thr[cls, 0]:
                        n = 0
                    else:
                        key = (np.float64(v).view(np.int64) >> _BUCKET_SHIFT) - key_lo
                        n = start[cls, np.uint64(key)]
                        while thr[cls, np.uint64(n)] <= v:
                            n += 1
                        if v - thr[cls, np.uint64(n - 1)] <= 1e-12 * v:
                            n = -1
                    if n >= 0 and thr[cls, np.uint64(n)] - v <= 1e-12 * v:
                        n = -1
                if n < 0:
                    n = _width_index(v, False, int(need1) + int(need2),
                                     k_tab[kc // 4, (kc // 2) % 2], m,
                                     p_max, a_const, log_a, max_pulse_n, res_n)
            if n <= 0:    # no pulse (an index below 0 is not reachable: configs keep the
                continue  # write current above I_c0; skipping it keeps the reads in range)
            # facts (as _record_facts)
            w0 = min(n * res_n, max_pulse_n)
            k = np.uint64(0) if up else np.uint64(1)
            old = cp_r[c, k]
            cp_r[c, k] = w0 if w0 > old else old
            rc_r[c] = True
            pu_r[c] += 1
            if n < n_tab:
                un = np.uint64(n)
                us = cls >> np.uint64(1)
                t, p, e0 = t_tab[un], p4[us, un], e4[us, un]
            else:   # only where the direct evaluation gave an index past the look-up's
                t, p, e0 = _entry(n, i_tab[kc // 4, (kc // 2) % 2], nom, v_write, tau_d_ns, tau0_ns,
                                  max_pulse_ns, res_ns)
            if t <= 0.0:
                continue
            t_sum += t
            n_pulse += 1
            if own_draws:     # cell c's draws: c + 1 steps on from the row's anchors
                x1 = jump_double(a1h, a1l, jt, c + np.uint64(1))
                x2 = jump_double(a2h, a2l, jt, c + np.uint64(1))
            else:
                x1 = u1_r[c]
                x2 = u2_r[c]
            sw1 = need1 & (x1 < p)
            sw2 = need2 & (x2 < p)
            if sw1 | sw2:
                b1 = s1_r[c]
                b2 = s2_r[c]
                # an MTJ switches (rare): the write here, so the energies add in cell order
                n1, n2, e = _pulse_switching(b1, b2, 1 if up else -1, t, x1, x2, sw1, sw2,
                                             i_tab[b1, b2], r_p, r_ap, ic0, delta, log_a, r_p,
                                             r_ap, ic0, delta, log_a, v_write, r_access, 1.0,
                                             tau_d_ns, tau0_ns)
                e_fj += e
                n_sw += float((n1 != b1) + (n2 != b2))
                if n1 != b1 or n2 != b2:
                    s1_r[c] = n1
                    s2_r[c] = n2
                    ur = np.uint64(r)
                    gdiff[ur, c] = gd_tab[n1, n2]
                    gsum[ur, c] = gs_tab[n1, n2]
                    weff[ur, c] = we_tab[n1, n2]
                    if n1 - n2 != b1 - b2:
                        changed += 1.0
            else:
                e_fj += e0    # nothing switches: _pulse_cell's first return, V i0 t
        if want_rows or want_cols:
            for c in range(cols):   # G1 + G2 = g(x1) + g(x2), as selects (SIMD)
                uc = np.uint64(c)
                g_row[uc] = (g_p if s1_r[uc] == one8 else g_ap) + (g_p if s2_r[uc] == one8
                                                                  else g_ap)
            if want_rows:     # NumPy's sum(axis=1) of the row: its pairwise order
                g_rows[r] = pairwise_sum_into(g_row, 0, cols, p_lo, p_n, p_left, p_state)
            if want_cols:     # NumPy's sum(axis=0): row after row, from row 0
                if r == 0:
                    g_cols[:] = g_row
                else:
                    for c in range(cols):
                        uc = np.uint64(c)
                        g_cols[uc] += g_row[uc]
        if own_draws:         # the anchors move one row on
            a1h, a1l = jump(a1h, a1l, jt, cols)
            a2h, a2l = jump(a2h, a2l, jt, cols)
    if own_draws:             # where the two fills would have left the chains
        chains[0], chains[1], chains[2], chains[3] = a1h, a1l, a2h, a2l
    out[0] = float(n_pulse)
    out[1] = n_sw
    out[2] = e_fj
    out[3] = t_sum
    out[4] = changed
