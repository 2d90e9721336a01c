"""Converter quantisation (part of :mod:`pnmsim.kernels`): the symmetric uniform quantiser of
the DACs and ADCs, in place or into a new array, summed over the groups of a grouped read, and
with the driven levels' line statistics taken in the same pass; each with its plain-numpy twin
where tests compare against one. (:mod:`pnmsim.kernels.observed` has the passes that also
gather a converter's range statistics.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from pnmsim.kernels.lines import _add_line_stats, line_blocks, line_stats


@njit(cache=True, inline="always")
def _level(x: float, inv_step: float, step: float, lim: float, out_scale: float) -> float:
    """One value through the quantiser: clipped in floating point before rounding (huge
    values and inf saturate correctly), then the level times ``out_scale``."""
    q = x * inv_step
    if q > lim:
        q = lim
    elif q < -lim:
        q = -lim
    return np.rint(q) * step * out_scale


@njit(cache=True, inline="always")
def _add_levels(o: np.ndarray, src: np.ndarray, first: bool, inv_step: float, step: float,
                lim: float, out_scale: float) -> None:
    """``o = 0 + q(src)`` where ``first``, else ``o += q(src)`` (1-D slices of one length,
    q the quantiser :func:`_level`): one digitised group added into a running sum, starting
    from NumPy's identity 0 (a lone -0.0 sums to +0.0). Callers pass slices: with 2-D indices
    in the loops LLVM did not vectorise them (12 times slower)."""
    if first:
        for i in range(o.size):
            o[i] = np.float32(0.0) + _level(src[i], inv_step, step, lim, out_scale)
    else:
        for i in range(o.size):
            o[i] += _level(src[i], inv_step, step, lim, out_scale)


def _quantize_body(flat_in: np.ndarray, flat_out: np.ndarray, inv_step: float, step: float,
                   lim: float, out_scale: float) -> None:
    for k in prange(flat_in.size):   # elementwise: parallel and still deterministic
        flat_out[k] = _level(flat_in[k], inv_step, step, lim, out_scale)


def _quantize_inplace_body(flat: np.ndarray, inv_step: float, step: float, lim: float,
                           out_scale: float) -> None:
    """:func:`_quantize_body` with the output written over the input. A separate kernel
    because with two arguments that are the same array LLVM's run-time overlap check sends
    the loop to its scalar form (about 6 times slower); one array has no overlap to check,
    so the loop is vectorised. Same operations, so the same bits (tested)."""
    for k in prange(flat.size):
        flat[k] = _level(flat[k], inv_step, step, lim, out_scale)


_quantize_serial = njit(cache=True)(_quantize_body)
_quantize_parallel = njit(cache=True, parallel=True)(_quantize_body)
_quantize_inplace_serial = njit(cache=True)(_quantize_inplace_body)
_quantize_inplace_parallel = njit(cache=True, parallel=True)(_quantize_inplace_body)
PARALLEL_MIN = 1 << 21     # below ~2M values thread start-up costs more than it saves


def _quantizer_args(dtype: np.dtype, full_scale: float, bits: int,
                    out_scale: float) -> tuple[Any, Any, Any, Any]:
    """The quantiser's constants in the signal's dtype (inverse step, step, largest level,
    output scale), as every kernel that calls :func:`_level` takes them: the same values in
    the one-pass and the two-pass forms, so the same levels."""
    half = max((2 ** bits - 1) // 2, 1)
    t = dtype.type
    return t(half / full_scale), t(full_scale / half), t(half), t(out_scale)


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
    args = _quantizer_args(x.dtype, full_scale, bits, out_scale)
    big = x.size >= PARALLEL_MIN
    if out is x:
        (_quantize_inplace_parallel if big else _quantize_inplace_serial)(x.reshape(-1), *args)
    else:
        (_quantize_parallel if big else _quantize_serial)(x.reshape(-1), out.reshape(-1), *args)
    return out


@njit(cache=True)
def _quantize_lines(x: np.ndarray, out: np.ndarray, inv_step: float, step: float, lim: float,
                    out_scale: float, x2: np.ndarray, nnz: np.ndarray) -> None:
    """Row by row: ``out = q(x)`` (:func:`_level`) and the levels' line statistics into
    ``x2``/``nnz`` (blocks, lines), in :func:`line_stats`' blocks and order."""
    m, k = x.shape
    nb = x2.shape[0]
    for t in range(nb):
        acc = np.zeros(k)
        cnt = np.zeros(k, dtype=np.int64)
        for i in range(t * m // nb, (t + 1) * m // nb):
            xr = x[i]
            orow = out[i]
            for j in range(k):
                orow[j] = _level(xr[j], inv_step, step, lim, out_scale)
            _add_line_stats(orow, acc, cnt)
        x2[t, :] = acc
        nnz[t, :] = cnt


def quantize_lines(x: np.ndarray, full_scale: float,
                   bits: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """``quantize_symmetric(x, full_scale, bits)`` of a 2-D float ``x`` (a new array) and
    :func:`line_stats` of the result, bit for bit, from one pass (the first layer's input DAC
    and its driven lines)."""
    x = np.ascontiguousarray(x)
    if x.ndim != 2 or x.dtype not in (np.float32, np.float64) or full_scale <= 0 \
            or x.size == 0:
        q = quantize_symmetric(x, full_scale, bits)
        return q, line_stats(q)
    out = np.empty_like(x)
    nb = line_blocks(x.shape[0])
    x2 = np.zeros((nb, x.shape[1]))
    nnz = np.zeros((nb, x.shape[1]), dtype=np.int64)
    _quantize_lines(x, out, *_quantizer_args(x.dtype, full_scale, bits, 1.0), x2, nnz)
    return out, (x2.sum(axis=0), nnz.sum(axis=0))


def _quantize_sum_body(parts: np.ndarray, out: np.ndarray, inv_step: float, step: float,
                       lim: float, out_scale: float) -> None:
    """``out[i] = 0 + q(parts[0, i]) + q(parts[1, i]) + ...`` with q the quantiser
    (:func:`_level`), added in group order in the dtype of ``parts``: what quantising every
    group and then ``sum(axis=0)`` gives (NumPy starts from its identity 0, so a lone -0.0
    sums to +0.0, then adds the groups one after the other), in one pass. Blocks of columns
    are independent, so the parallel form is the same sum."""
    g, n = parts.shape
    for b in prange((n + 4095) // 4096):
        lo = b * 4096
        hi = min(lo + 4096, n)
        for k in range(g):
            _add_levels(out[lo:hi], parts[k, lo:hi], k == 0, inv_step, step, lim, out_scale)


_quantize_sum_serial = njit(cache=True)(_quantize_sum_body)
_quantize_sum_parallel = njit(cache=True, parallel=True)(_quantize_sum_body)


def quantize_sum(parts: np.ndarray, full_scale: float, bits: int,
                 out_scale: float = 1.0) -> np.ndarray:
    """``quantize_symmetric(parts, full_scale, bits, out_scale).sum(axis=0)`` bit for bit
    (tested; a NaN stays a NaN, its payload may come from another group), in one pass and
    without writing the quantised groups: a read split into groups of row tiles whose partial
    sums are each digitised, then added digitally. ``parts``: (groups, ...) float32 or
    float64; the result has the shape of one group. Where a group is a single value NumPy
    sums along the groups pairwise, not one after the other: that case takes the two-pass
    form itself."""
    parts = np.ascontiguousarray(parts)
    if parts.ndim < 1 or parts.shape[0] == 0:
        raise ValueError(f"quantize_sum: needs at least one group, got shape {parts.shape}")
    if parts.size == parts.shape[0]:     # one value a group: NumPy's pairwise order
        return quantize_symmetric(parts, full_scale, bits, out_scale).sum(axis=0)
    out = np.empty(parts.shape[1:], dtype=parts.dtype)
    if full_scale <= 0 or out.size == 0:
        out[...] = 0
        return out
    flat = parts.reshape(parts.shape[0], -1)
    fn = _quantize_sum_parallel if parts.size >= PARALLEL_MIN else _quantize_sum_serial
    fn(flat, out.reshape(-1), *_quantizer_args(parts.dtype, full_scale, bits, out_scale))
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
    with np.errstate(over="ignore"):   # a huge x overflows to inf and saturates, as the kernel
        q = np.clip(x * t(half / full_scale), -t(half), t(half))
    return (np.rint(q) * step * t(out_scale)).astype(x.dtype)
