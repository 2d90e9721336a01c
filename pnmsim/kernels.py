"""numba kernels: the only @njit code in pnmsim.

Pure functions over arrays and scalars (no config objects). Each kernel has a plain-numpy
reference twin (``*_reference``) that tests compare it against. Stochastic kernels take their
uniform random draws as arguments, so they never touch hidden random state.

Cell state convention: ``s = 1`` means the MTJ is in the parallel (P, low-resistance) state,
``s = 0`` antiparallel (AP). The synapse weight is ``w = s1 - s2``.

Write-pulse physics (science.md §3-4): with the fixed layers tied, the write current crosses M1
and M2 in opposite magnetic directions. Polarity +1 (weight up) drives M1 towards P and M2
towards AP; polarity -1 the reverse. Both MTJs see the same series current
``I = V_write / (R1 + R2 + R_access)``, computed from the state *before* the pulse (the current
change when the first MTJ flips mid-pulse is neglected). An MTJ already in its target state stays.
Each MTJ switches with probability P_sw(t, I/I_c0) of its own device parameters: precessional
for I > I_c0, thermally activated for I <= I_c0.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_PI2_4 = math.pi**2 / 4.0


@njit(cache=True)
def _p_switch(t_ns: float, i_ratio: float, delta: float, tau_d_ns: float,
              tau0_ns: float) -> float:
    if t_ns <= 0.0:
        return 0.0
    if i_ratio > 1.0:
        return math.exp(-_PI2_4 * delta * math.exp(-2.0 * (i_ratio - 1.0) * t_ns / tau_d_ns))
    tau = tau0_ns * math.exp(delta * (1.0 - i_ratio))
    return 1.0 - math.exp(-t_ns / tau)


@njit(cache=True)
def _series_current_ua(a: int, b: int, rp1: float, rap1: float, rp2: float, rap2: float,
                       v_write: float, r_access: float) -> float:
    """Write current (uA) through both MTJs of a cell in state (a, b) and the access devices."""
    r1 = rp1 if a == 1 else rap1
    r2 = rp2 if b == 1 else rap2
    return v_write / (r1 + r2 + r_access) * 1e6


@njit(cache=True)
def _flip_probs(a: int, b: int, pol: int, t: float, i_ua: float, ic01: float, d1: float,
                ic02: float, d2: float, tau_d_ns: float, tau0_ns: float) -> tuple[float, float]:
    """Flip probabilities of M1 and M2 under one pulse; -1 where the MTJ is already in the
    state the polarity drives it to (+1: M1 -> P, M2 -> AP; -1: the reverse)."""
    need1 = a == 0 if pol > 0 else a == 1
    need2 = b == 1 if pol > 0 else b == 0
    p1 = _p_switch(t, i_ua / ic01, d1, tau_d_ns, tau0_ns) if need1 else -1.0
    p2 = _p_switch(t, i_ua / ic02, d2, tau_d_ns, tau0_ns) if need2 else -1.0
    return p1, p2


@njit(cache=True)
def update_cells(s1: np.ndarray, s2: np.ndarray, pulse_ns: np.ndarray, polarity: np.ndarray,
                 current_scale: np.ndarray, u1: np.ndarray, u2: np.ndarray,
                 rp1: np.ndarray, rap1: np.ndarray, ic01: np.ndarray, d1: np.ndarray,
                 rp2: np.ndarray, rap2: np.ndarray, ic02: np.ndarray, d2: np.ndarray,
                 v_write: float, r_access: float, tau_d_ns: float, tau0_ns: float,
                 out: np.ndarray) -> None:
    """Apply one write pulse per cell, in place on ``s1``/``s2`` (2-D int8 arrays).

    ``out`` (float64, length 4) receives: pulses applied, MTJs switched, write energy (fJ),
    sum of pulse widths (ns).
    """
    n_pulse = 0.0
    n_sw = 0.0
    e_fj = 0.0
    t_sum = 0.0
    rows, cols = s1.shape
    for r in range(rows):
        for c in range(cols):
            pol = polarity[r, c]
            t = pulse_ns[r, c]
            if pol == 0 or t <= 0.0:
                continue
            a = s1[r, c]
            b = s2[r, c]
            i_ua = _series_current_ua(a, b, rp1[r, c], rap1[r, c], rp2[r, c], rap2[r, c],
                                      v_write, r_access) * current_scale[r, c]
            n_pulse += 1.0
            t_sum += t
            e_fj += v_write * i_ua * t
            p1, p2 = _flip_probs(a, b, pol, t, i_ua, ic01[r, c], d1[r, c], ic02[r, c], d2[r, c],
                                 tau_d_ns, tau0_ns)
            if u1[r, c] < p1:
                s1[r, c] = 1 - a
                n_sw += 1.0
            if u2[r, c] < p2:
                s2[r, c] = 1 - b
                n_sw += 1.0
    out[0] = n_pulse
    out[1] = n_sw
    out[2] = e_fj
    out[3] = t_sum


@njit(cache=True)
def outer_product_updates(s1: np.ndarray, s2: np.ndarray, xs: np.ndarray, widths: np.ndarray,
                          signs: np.ndarray, rp1: np.ndarray, rap1: np.ndarray,
                          ic01: np.ndarray, d1: np.ndarray, rp2: np.ndarray, rap2: np.ndarray,
                          ic02: np.ndarray, d2: np.ndarray, v_write: float, r_access: float,
                          tau_d_ns: float, tau0_ns: float, max_pulse_ns: float,
                          pulse_sigma: float, current_sigma: float, binary: bool, seed: int,
                          out: np.ndarray) -> None:
    """A sequence of parallel rank-1 write steps (the outer-product scheme), in place.

    Step ``v`` pulses cell (r, c) with width ``widths[v, c]`` and polarity
    ``xs[v, r] * signs[v, c]`` (rows gated by x in {-1, 0, 1}). Cells are visited in order
    (v, r, c); each gets the same physics as :func:`update_cells`. Random numbers come from
    numba's generator seeded with ``seed`` at entry (the caller draws the seed from its
    ``numpy.random.Generator``), and are drawn only where they can matter, so a step over a
    mostly gated array costs little. ``binary``: both MTJs flip together (one draw).
    ``out`` receives pulses, MTJs switched, write energy (fJ), sum of pulse widths (ns).
    """
    np.random.seed(seed)
    n_pulse = 0.0
    n_sw = 0.0
    e_fj = 0.0
    t_sum = 0.0
    m, rows = xs.shape
    cols = widths.shape[1]
    for v in range(m):
        for r in range(rows):
            xr = xs[v, r]
            if xr == 0:
                continue
            for c in range(cols):
                t = widths[v, c]
                pol = xr * signs[v, c]
                if t <= 0.0 or pol == 0:
                    continue
                if pulse_sigma > 0.0:
                    t = max(t * (1.0 + pulse_sigma * np.random.standard_normal()), 0.0)
                t = min(t, max_pulse_ns)
                scale = 1.0
                if current_sigma > 0.0:
                    scale = max(1.0 + current_sigma * np.random.standard_normal(), 0.0)
                a = s1[r, c]
                b = s2[r, c]
                i_ua = _series_current_ua(a, b, rp1[r, c], rap1[r, c], rp2[r, c], rap2[r, c],
                                          v_write, r_access) * scale
                n_pulse += 1.0
                t_sum += t
                e_fj += v_write * i_ua * t
                p1, p2 = _flip_probs(a, b, pol, t, i_ua, ic01[r, c], d1[r, c], ic02[r, c],
                                     d2[r, c], tau_d_ns, tau0_ns)
                if binary:
                    if p1 >= 0.0 and p2 >= 0.0 and np.random.random() < min(p1, p2):
                        s1[r, c] = 1 - a
                        s2[r, c] = 1 - b
                        n_sw += 2.0
                    continue
                if p1 >= 0.0 and np.random.random() < p1:
                    s1[r, c] = 1 - a
                    n_sw += 1.0
                if p2 >= 0.0 and np.random.random() < p2:
                    s2[r, c] = 1 - b
                    n_sw += 1.0
    out[0] = n_pulse
    out[1] = n_sw
    out[2] = e_fj
    out[3] = t_sum


def outer_product_updates_reference(s1: np.ndarray, s2: np.ndarray, xs: np.ndarray,
                                    widths: np.ndarray, signs: np.ndarray,
                                    rng: np.random.Generator, **dev: object,
                                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain-numpy twin of :func:`outer_product_updates` (no jitter): the same sequence of
    rank-1 steps, each through :func:`update_cells_reference` with draws from ``rng``.
    Statistically equal to the kernel (its draws come from another stream)."""
    counts = np.zeros(4)
    for v in range(xs.shape[0]):
        pol = (xs[v][:, None] * signs[v][None, :]).astype(np.int8)
        pulse = np.broadcast_to(widths[v][None, :], pol.shape).astype(np.float64)
        pulse = np.minimum(pulse, dev["max_pulse_ns"])  # type: ignore[call-overload]
        u1 = rng.random(pol.shape)
        u2 = rng.random(pol.shape)
        s1, s2, c = update_cells_reference(
            s1, s2, pulse, pol, np.ones(pol.shape), u1, u2, dev["rp1"], dev["rap1"],
            dev["ic01"], dev["d1"], dev["rp2"], dev["rap2"], dev["ic02"], dev["d2"],
            dev["v_write"], dev["r_access"], dev["tau_d_ns"], dev["tau0_ns"])  # type: ignore
        counts += c
    return s1, s2, counts


@njit(cache=True)
def state_aware_pulses(nu: np.ndarray, kappa: np.ndarray, s1: np.ndarray, s2: np.ndarray,
                       pol: np.ndarray, r_p: float, r_ap: float, r_access: float,
                       v_write: float, ic0_ua: float, delta: float, tau_d_ns: float, m: float,
                       p_max: float, max_pulse_ns: float, binary: bool) -> np.ndarray:
    """Per-cell exact, state-aware pulse widths (ns); the numba form of
    :meth:`pnmsim.crossbar.PulseMapper.pulse_ns_cells` (its numpy twin, see its docstring):
    the cell's nominal series current, target q = p = tanh(m nu) where one MTJ can flip,
    q = 1 - sqrt(1 - p) where two can (p for binary pairs), q = p_max for kappa >= 1, and the
    exact inverse t = tau_D / (2 (i - 1)) ln((pi^2 Delta / 4) / (-ln q)), capped."""
    out = np.zeros(nu.shape)
    a = _PI2_4 * delta
    rows, cols = nu.shape
    for r in range(rows):
        for c in range(cols):
            pc = pol[r, c]
            if pc == 0:
                continue
            b1 = s1[r, c]
            b2 = s2[r, c]
            need1 = (b1 == 0) if pc > 0 else (b1 == 1)
            need2 = (b2 == 1) if pc > 0 else (b2 == 0)
            n_need = int(need1) + int(need2)
            v = nu[r, c]
            whole = kappa[r, c] >= 1.0
            if n_need == 0 or not (v > 0.0 or whole):
                continue
            i_ratio = _series_current_ua(b1, b2, r_p, r_ap, r_p, r_ap, v_write,
                                         r_access) / ic0_ua
            p = math.tanh(m * v)
            if whole:
                q = p_max
            elif n_need == 2 and not binary:
                q = -math.expm1(0.5 * math.log1p(-min(p, 1.0 - 1e-15)))
            else:
                q = p
            q = min(max(q, 0.0), 1.0 - 1e-12)
            if q <= 0.0:
                continue
            neg_ln_q = -math.log(q)
            if not neg_ln_q < a:
                continue
            t = tau_d_ns / (2.0 * (i_ratio - 1.0)) * (math.log(a) - math.log(neg_ln_q))
            out[r, c] = min(t, max_pulse_ns)
    return out


def p_switch_reference(t_ns: np.ndarray, i_ratio: np.ndarray, delta: np.ndarray,
                       tau_d_ns: float, tau0_ns: float) -> np.ndarray:
    """Plain-numpy twin of the kernel's switching probability."""
    t = np.asarray(t_ns, dtype=np.float64)
    i = np.asarray(i_ratio, dtype=np.float64)
    d = np.asarray(delta, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        prec = np.exp(-_PI2_4 * d * np.exp(-2.0 * (i - 1.0) * t / tau_d_ns))
        therm = 1.0 - np.exp(-t / (tau0_ns * np.exp(d * (1.0 - i))))
    p = np.where(i > 1.0, prec, therm)
    return np.where(t > 0, p, 0.0)


def update_cells_reference(s1: np.ndarray, s2: np.ndarray, pulse_ns: np.ndarray,
                           polarity: np.ndarray, current_scale: np.ndarray, u1: np.ndarray,
                           u2: np.ndarray, rp1: np.ndarray, rap1: np.ndarray, ic01: np.ndarray,
                           d1: np.ndarray, rp2: np.ndarray, rap2: np.ndarray, ic02: np.ndarray,
                           d2: np.ndarray, v_write: float, r_access: float, tau_d_ns: float,
                           tau0_ns: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain-numpy twin of :func:`update_cells`; returns new (s1, s2) and the 4 counters."""
    s1 = s1.copy()
    s2 = s2.copy()
    act = (polarity != 0) & (pulse_ns > 0)
    r1 = np.where(s1 == 1, rp1, rap1)
    r2 = np.where(s2 == 1, rp2, rap2)
    i_ua = v_write / (r1 + r2 + r_access) * 1e6 * current_scale
    p1 = p_switch_reference(pulse_ns, i_ua / ic01, d1, tau_d_ns, tau0_ns)
    p2 = p_switch_reference(pulse_ns, i_ua / ic02, d2, tau_d_ns, tau0_ns)
    up = act & (polarity > 0)
    dn = act & (polarity < 0)
    flip1 = (up & (s1 == 0) & (u1 < p1)) | (dn & (s1 == 1) & (u1 < p1))
    flip2 = (up & (s2 == 1) & (u2 < p2)) | (dn & (s2 == 0) & (u2 < p2))
    s1[flip1] = 1 - s1[flip1]
    s2[flip2] = 1 - s2[flip2]
    counts = np.array([act.sum(), flip1.sum() + flip2.sum(),
                       (v_write * i_ua * pulse_ns)[act].sum(), pulse_ns[act].sum()],
                      dtype=np.float64)
    return s1, s2, counts


def _line_sq_sums_body(x: np.ndarray, out: np.ndarray) -> None:
    """out[t, j] += sum over the rows of thread-block t of x[i, j]**2 (float64)."""
    m, k = x.shape
    nb = out.shape[0]
    for t in prange(nb):
        lo = t * m // nb
        hi = (t + 1) * m // nb
        acc = np.zeros(k)            # a block's column sums, kept in cache
        for i in range(lo, hi):
            row = x[i]
            for j in range(k):
                v = np.float64(row[j])
                acc[j] += v * v
        out[t, :] = acc


_line_sq_sums = njit(cache=True, parallel=True)(_line_sq_sums_body)


def _line_stats_body(x: np.ndarray, out: np.ndarray, nnz: np.ndarray) -> None:
    """:func:`_line_sq_sums_body` (same blocks, same order of additions) that also counts
    the non-zero entries of each column per block (``nnz[t, j]``), in the same pass."""
    m, k = x.shape
    nb = out.shape[0]
    for t in prange(nb):
        lo = t * m // nb
        hi = (t + 1) * m // nb
        acc = np.zeros(k)
        cnt = np.zeros(k, dtype=np.int64)
        for i in range(lo, hi):
            row = x[i]
            for j in range(k):
                v = np.float64(row[j])
                acc[j] += v * v
                cnt[j] += v != 0.0
        out[t, :] = acc
        nnz[t, :] = cnt


_line_stats = njit(cache=True, parallel=True)(_line_stats_body)


def line_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`line_square_sums` of x (bit-identical) and the non-zero entries per column
    (int64), from one pass over x."""
    x = np.ascontiguousarray(x)
    if x.ndim != 2 or x.size == 0:
        k = x.shape[1] if x.ndim == 2 else 0
        return np.zeros(k), np.zeros(k, dtype=np.int64)
    blocks = 8 if x.shape[0] >= 4096 else 1
    part = np.zeros((blocks, x.shape[1]))
    nnz = np.zeros((blocks, x.shape[1]), dtype=np.int64)
    _line_stats(x, part, nnz)
    return part.sum(axis=0), nnz.sum(axis=0)


def line_square_sums(x: np.ndarray) -> np.ndarray:
    """Per column of x (M, lines): the sum over rows of x**2, in float64, in one pass.

    Rows are split into a fixed number of blocks (independent of the thread count) whose
    partial sums are added in order, so the result does not depend on the machine."""
    x = np.ascontiguousarray(x)
    if x.ndim != 2 or x.size == 0:
        return np.zeros(x.shape[1] if x.ndim == 2 else 0)
    blocks = 8 if x.shape[0] >= 4096 else 1
    part = np.zeros((blocks, x.shape[1]))
    _line_sq_sums(x, part)
    return part.sum(axis=0)


def line_square_sums_reference(x: np.ndarray) -> np.ndarray:
    """Plain-numpy twin of :func:`line_square_sums`."""
    return np.square(np.asarray(x, dtype=np.float64)).sum(axis=0)


def _quantize_body(flat_in: np.ndarray, flat_out: np.ndarray, inv_step: float, step: float,
                   lim: float, out_scale: float) -> None:
    for k in prange(flat_in.size):   # elementwise: parallel and still deterministic
        q = flat_in[k] * inv_step
        # clip in floating point before rounding: huge values and inf saturate correctly
        if q > lim:
            q = lim
        elif q < -lim:
            q = -lim
        flat_out[k] = np.rint(q) * step * out_scale


_quantize_serial = njit(cache=True)(_quantize_body)
_quantize_parallel = njit(cache=True, parallel=True)(_quantize_body)
_PARALLEL_MIN = 1 << 21     # below ~2M values thread start-up costs more than it saves


def quantize_symmetric(x: np.ndarray, full_scale: float, bits: int,
                       out_scale: float = 1.0, inplace: bool = False) -> np.ndarray:
    """Uniform mid-tread quantiser over [-full_scale, full_scale] with 2**bits - 1 levels,
    saturating outside the range (an ADC or DAC); the result is multiplied by ``out_scale``
    (a free rescale folded into the same pass). ``full_scale <= 0`` returns zeros.

    Arithmetic is in the dtype of ``x`` (float32 in training: SIMD-friendly); a numba loop,
    multi-threaded for large arrays (same operations, so the same result either way).
    ``inplace``: overwrite a contiguous ``x`` (saves allocating a large temporary)."""
    x = np.ascontiguousarray(x)
    out = x if (inplace and x.flags.writeable) else np.empty_like(x)
    if full_scale <= 0 or x.size == 0:
        out[...] = 0
        return out
    half = max((2 ** bits - 1) // 2, 1)
    t = x.dtype.type
    step = t(full_scale / half)
    kern = _quantize_parallel if x.size >= _PARALLEL_MIN else _quantize_serial
    kern(x.reshape(-1), out.reshape(-1), t(half / full_scale), step, t(half), t(out_scale))
    return out


def quantize_symmetric_reference(x: np.ndarray, full_scale: float, bits: int,
                                 out_scale: float = 1.0) -> np.ndarray:
    """Plain-numpy twin of :func:`quantize_symmetric` (same operations in the dtype of x)."""
    x = np.asarray(x)
    if full_scale <= 0:
        return np.zeros_like(x)
    half = max((2**bits - 1) // 2, 1)
    t = x.dtype.type
    step = t(full_scale / half)
    q = np.clip(x * t(half / full_scale), -t(half), t(half))
    return (np.rint(q) * step * t(out_scale)).astype(x.dtype)


@njit(cache=True)
def per_cell_write(step: np.ndarray, level_step: float, s1: np.ndarray, s2: np.ndarray,
                   u1: np.ndarray, u2: np.ndarray, zp: np.ndarray, zc: np.ndarray,
                   pulse_sigma: float, current_sigma: float,
                   rp1: np.ndarray, rap1: np.ndarray, ic01: np.ndarray, d1: np.ndarray,
                   rp2: np.ndarray, rap2: np.ndarray, ic02: np.ndarray, d2: np.ndarray,
                   nom: np.ndarray, v_write: float, r_access: float, tau_d_ns: float,
                   tau0_ns: float, max_pulse_ns: float,
                   gdiff: np.ndarray, gsum: np.ndarray, weff: np.ndarray, dg_nominal: float,
                   tile_rows: int, col_pulse: np.ndarray, read_cols: np.ndarray,
                   pulsed: np.ndarray, out: np.ndarray, nominal: bool = False) -> None:
    """The whole state-aware per-cell update of one layer in one pass, in place.

    Fuses, cell by cell and with the same floating-point operations in the same order (so the
    result is bit-identical, tested): the step decomposition of
    :meth:`pnmsim.crossbar.Crossbar.update_per_cell` (``step / level_step``, kappa, nu, sign),
    :func:`state_aware_pulses` (nominal parameters in ``nom``: r_p, r_ap, r_access, v_write,
    ic0, delta, tau_d, m, p_max, max_pulse), the jitter and cap of
    :meth:`~pnmsim.crossbar.Crossbar.apply_pulses` (normal draws ``zp``/``zc``, read only
    where the sigma is > 0), :func:`update_cells`, the update facts (widest pulse per row tile,
    column and polarity; columns read; pulsed cells per row tile and column) and — only for
    the cells that switched — the conductances ``gdiff``, ``gsum`` and the effective weights
    ``weff``. ``out`` (length 5): pulses, MTJs switched, write fJ, sum of pulse ns, weights
    that changed.

    ``nominal`` (the caller checked: every device exactly at the parameters in ``nom``, no
    jitter): then an uncapped precessional pulse was computed so that P_sw(t) = q, the target,
    up to rounding (|P_sw(t) - q| < 1e-11, tested), and ``u < P_sw(t)`` is decided by
    ``u < q`` wherever |u - q| > 1e-9 — the same decision without evaluating P_sw; the rare
    draws within 1e-9 of q take the exact path. Bit-identical either way.
    """
    r_p, r_ap, r_acc_n, v_wr_n, ic0_n = nom[0], nom[1], nom[2], nom[3], nom[4]
    delta_n, tau_d_n, m, p_max, max_pulse_n = nom[5], nom[6], nom[7], nom[8], nom[9]
    a_const = _PI2_4 * delta_n
    log_a = math.log(a_const)
    # the nominal current and the pulse's time constant depend on the cell's state only:
    # the same operations as per cell, done once per state (b1, b2)
    i_tab = np.empty((2, 2))
    k_tab = np.empty((2, 2))
    for x1 in range(2):
        for x2 in range(2):
            i_tab[x1, x2] = _series_current_ua(x1, x2, r_p, r_ap, r_p, r_ap, v_wr_n,
                                               r_acc_n) / ic0_n
            k_tab[x1, x2] = tau_d_n / (2.0 * (i_tab[x1, x2] - 1.0))
    n_pulse = 0.0
    n_sw = 0.0
    e_fj = 0.0
    t_sum = 0.0
    changed = 0.0
    rows, cols = s1.shape
    for r in range(rows):
        rt = r // tile_rows
        for c in range(cols):
            st = np.float64(step[r, c]) / level_step
            mag = abs(st)
            kappa = math.floor(mag)
            v = mag - kappa
            pc = 1 if st > 0.0 else (-1 if st < 0.0 else 0)
            if pc == 0:
                continue
            b1 = s1[r, c]
            b2 = s2[r, c]
            # -- state-aware pulse width (state_aware_pulses)
            w0 = 0.0
            q = 0.0
            shortcut = False
            need1 = (b1 == 0) if pc > 0 else (b1 == 1)
            need2 = (b2 == 1) if pc > 0 else (b2 == 0)
            n_need = int(need1) + int(need2)
            whole = kappa >= 1.0
            if n_need > 0 and (v > 0.0 or whole):
                i_ratio = i_tab[b1, b2]
                p = math.tanh(m * v)
                if whole:
                    q = p_max
                elif n_need == 2:
                    q = -math.expm1(0.5 * math.log1p(-min(p, 1.0 - 1e-15)))
                else:
                    q = p
                q = min(max(q, 0.0), 1.0 - 1e-12)
                if q > 0.0:
                    neg_ln_q = -math.log(q)
                    if neg_ln_q < a_const:
                        tt = k_tab[b1, b2] * (log_a - math.log(neg_ln_q))
                        w0 = min(tt, max_pulse_n)
                        shortcut = nominal and i_ratio > 1.0 and tt < max_pulse_n
            if w0 <= 0.0:
                continue
            # -- facts
            k = 0 if pc > 0 else 1
            if w0 > col_pulse[rt, c, k]:
                col_pulse[rt, c, k] = w0
            read_cols[rt, c] = True
            pulsed[rt, c] += 1
            # -- jitter and cap (apply_pulses)
            t = w0
            if pulse_sigma > 0.0:
                t = max(t * (1.0 + pulse_sigma * zp[r, c]), 0.0)
            if t > max_pulse_ns:
                t = max_pulse_ns
                shortcut = False
            scale = 1.0
            if current_sigma > 0.0:
                scale = max(1.0 * (1.0 + current_sigma * zc[r, c]), 0.0)
            if t <= 0.0:
                continue
            # -- the write (update_cells)
            i_ua = _series_current_ua(b1, b2, rp1[r, c], rap1[r, c], rp2[r, c], rap2[r, c],
                                      v_write, r_access) * scale
            n_pulse += 1.0
            t_sum += t
            e_fj += v_write * i_ua * t
            x1 = u1[r, c]
            x2 = u2[r, c]
            if shortcut and (not need1 or abs(x1 - q) > 1e-9) and (not need2
                                                                  or abs(x2 - q) > 1e-9):
                p1 = q if need1 else -1.0
                p2 = q if need2 else -1.0
            else:
                p1, p2 = _flip_probs(b1, b2, pc, t, i_ua, ic01[r, c], d1[r, c], ic02[r, c],
                                     d2[r, c], tau_d_ns, tau0_ns)
            n1 = b1
            n2 = b2
            if x1 < p1:
                n1 = 1 - b1
                n_sw += 1.0
            if x2 < p2:
                n2 = 1 - b2
                n_sw += 1.0
            if n1 == b1 and n2 == b2:
                continue
            s1[r, c] = n1
            s2[r, c] = n2
            if n1 - n2 != b1 - b2:
                changed += 1.0
            # -- only a switched cell changes conductance (Crossbar._conductances)
            g1 = 1.0 / rp1[r, c] if n1 == 1 else 1.0 / rap1[r, c]
            g2 = 1.0 / rp2[r, c] if n2 == 1 else 1.0 / rap2[r, c]
            gd = g1 - g2
            gdiff[r, c] = gd
            gsum[r, c] = g1 + g2
            weff[r, c] = gd / dg_nominal
    out[0] = n_pulse
    out[1] = n_sw
    out[2] = e_fj
    out[3] = t_sum
    out[4] = changed


@njit(cache=True)
def maxpool_nhwc(x: np.ndarray, size: int, y: np.ndarray, idx: np.ndarray) -> None:
    """Max-pool of an NHWC array into ``y`` (N, OH, OW, C) with the window offset of each
    maximum in ``idx`` (uint8, o = dy * size + dx): the first offset wins ties and a NaN
    propagates to ``y`` without moving ``idx`` (as ``np.maximum`` with a strict ``>`` for the
    index, :func:`pnmsim.nn.layers.maxpool2d_forward_nhwc`)."""
    n, oh, ow, c = y.shape
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                first = x[b, oy * size, ox * size]
                yy = y[b, oy, ox]
                ii = idx[b, oy, ox]
                for ch in range(c):
                    yy[ch] = first[ch]
                    ii[ch] = 0
                for o in range(1, size * size):
                    row = x[b, oy * size + o // size, ox * size + o % size]
                    for ch in range(c):
                        v = row[ch]
                        if v > yy[ch]:
                            yy[ch] = v
                            ii[ch] = o
                        elif v != v:
                            yy[ch] = v


@njit(cache=True)
def maxpool_backward_nhwc(grad: np.ndarray, idx: np.ndarray, size: int,
                          out: np.ndarray) -> None:
    """Route each gradient to its window's maximum: ``out`` (N, OH*size, OW*size, C) gets
    ``grad * (idx == o)`` at offset o of each window (the same float products as the numpy
    form: a non-maximum receives ``grad * 0``)."""
    n, oh, ow, c = grad.shape
    one = grad.dtype.type(1)
    zero = grad.dtype.type(0)
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                g = grad[b, oy, ox]
                ii = idx[b, oy, ox]
                for o in range(size * size):
                    dst = out[b, oy * size + o // size, ox * size + o % size]
                    for ch in range(c):
                        dst[ch] = g[ch] * (one if ii[ch] == o else zero)


@njit(cache=True)
def col2im_add_nhwc(c6: np.ndarray, out: np.ndarray, stride: int) -> None:
    """``out[n, oy*stride+ky, ox*stride+kx, c] += c6[n, oy, ox, c, ky, kx]`` with the
    contributions to each element added in (ky, kx) order, as the numpy form does."""
    n, oh, ow, c, k, _ = c6.shape
    for b in range(n):
        for ky in range(k):
            for kx in range(k):
                for oy in range(oh):
                    for ox in range(ow):
                        dst = out[b, oy * stride + ky, ox * stride + kx]
                        src = c6[b, oy, ox]
                        for ch in range(c):
                            dst[ch] += src[ch, ky, kx]
