"""Converter passes that also gather their range statistics' subsample (part of
:mod:`pnmsim.kernels`).

A converter group's running statistics (:mod:`pnmsim.converter_ranges`) are taken on the
strided subsample ``flat[::every]`` of each signal it converts, in float64. Taken as a separate
pass, that subsample is a strided read of the whole signal (every cache line of a 2 MB batch
-1000 signal) before the conversion reads it again. These kernels convert the signal and copy
the subsample's values (before conversion) into a float64 buffer in the same pass, block by
block while the block is in cache; the caller then takes the statistics from the buffer, which
holds exactly the values ``flat[::every].astype(np.float64)`` would (the same statistics, bit
for bit). The conversions are the same operations as :func:`pnmsim.kernels.converters.
quantize_symmetric`, :func:`~pnmsim.kernels.converters.quantize_sum` and the DAC's scale, quantise
and normalise steps (tested against them).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pnmsim.kernels.converters import _add_levels, _level, _quantizer_args
from pnmsim.kernels.engine import conv_out_size
from pnmsim.kernels.lines import _add_line_stats, line_blocks

_BLOCK = 4096   # values converted per block (16 KB of float32: L1-resident)


@njit(cache=True, inline="always")
def _gather(src: np.ndarray, base: int, lo: int, hi: int, every: int, sub: np.ndarray) -> None:
    """sub[j // every] = src[j - base] for the flat indices j in [lo, hi) that are multiples
    of ``every`` (``src`` holds flat indices base, base + 1, ...): a contiguous copy where
    every value is taken (vectorised), else a strided one without divisions in the loop."""
    if every == 1:
        sv = sub[lo:hi]
        s = src[lo - base:hi - base]
        for k in range(hi - lo):
            sv[k] = np.float64(s[k])
        return
    i0 = (lo + every - 1) // every
    j0 = i0 * every - base
    if i0 * every >= hi:
        return
    for q in range((hi - 1 - i0 * every) // every + 1):   # a counted loop: twice as fast
        sub[np.uint64(i0 + q)] = np.float64(src[np.uint64(j0 + q * every)])


@njit(cache=True)
def _quantize_gather(flat: np.ndarray, sub: np.ndarray, every: int, inv_step: float,
                    step: float, lim: float, out_scale: float) -> None:
    """Quantise ``flat`` (1-D, float32 or float64) in place with the quantiser constants of
    :func:`pnmsim.kernels.converters._quantizer_args`, after copying ``flat[::every]`` into ``sub``
    (float64, length ceil(size / every))."""
    n = flat.size
    for lo in range(0, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        _gather(flat, 0, lo, hi, every, sub)
        blk = flat[lo:hi]        # a slice: LLVM vectorises the loop over it
        for k in range(hi - lo):
            blk[k] = _level(blk[k], inv_step, step, lim, out_scale)


@njit(cache=True)
def _quantize_sum_gather(parts: np.ndarray, out: np.ndarray, sub: np.ndarray, every: int,
                        inv_step: float, step: float, lim: float, out_scale: float) -> None:
    """:func:`pnmsim.kernels.converters.quantize_sum`'s one pass (``out[i] = 0 + q(parts[0, i]) +
    q(parts[1, i]) + ...`` in group order, ``parts`` (groups, n)) that also copies
    ``parts.reshape(-1)[::every]`` into ``sub``."""
    g, n = parts.shape
    for lo in range(0, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        for k in range(g):
            row = parts[k, lo:hi]
            _gather(row, k * n + lo, k * n + lo, k * n + hi, every, sub)
            _add_levels(out[lo:hi], row, k == 0, inv_step, step, lim, out_scale)


@njit(cache=True)
def _quantize_add_gather(part: np.ndarray, out: np.ndarray, first: bool, sub: np.ndarray,
                         every: int, inv_step: float, step: float, lim: float,
                         out_scale: float) -> None:
    """``out = 0 + q(part)`` (``first``) or ``out += q(part)``, both 1-D and of one dtype,
    block by block, after copying ``part[::every]`` into ``sub``: a partial sum digitised and
    added into the running sum without writing the converted partial sum."""
    n = part.size
    for lo in range(0, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        _gather(part, 0, lo, hi, every, sub)
        _add_levels(out[lo:hi], part[lo:hi], first, inv_step, step, lim, out_scale)


@njit(cache=True)
def _dac_gather(delta: np.ndarray, scale: np.float32, out: np.ndarray, sub: np.ndarray,
               every: int, inv_step: np.float32, step: np.float32, lim: np.float32,
               full_scale: np.float32, x2: np.ndarray, nnz: np.ndarray) -> None:
    """The backprop DAC of float32 errors (M, lines) in one pass, row by row: ``d = delta *
    scale`` (float32, the batch size), ``d.reshape(-1)[::every]`` into ``sub``, then
    ``q(d) / full_scale`` into ``out`` — the operations of multiplying,
    :func:`~pnmsim.kernels.converters.quantize_symmetric` (output scale 1) and dividing by the full
    scale, one after the other — and the driven levels' line statistics into ``x2``/``nnz``
    (blocks, lines), added as :func:`~pnmsim.kernels.lines.line_stats` adds them (the same
    blocks of rows, rows in order)."""
    m, k = delta.shape
    nb = x2.shape[0]
    one = np.float32(1.0)
    for t in range(nb):
        acc = np.zeros(k)
        cnt = np.zeros(k, dtype=np.int64)
        for i in range(t * m // nb, (t + 1) * m // nb):
            dv = delta[i]
            ov = out[i]
            for j in range(k):
                ov[j] = dv[j] * scale
            _gather(ov, i * k, i * k, (i + 1) * k, every, sub)
            for j in range(k):
                ov[j] = _level(ov[j], inv_step, step, lim, one) / full_scale
            _add_line_stats(ov, acc, cnt)
        x2[t, :] = acc
        nnz[t, :] = cnt


@njit(cache=True)
def _quantize_col2im_gather(c6: np.ndarray, out: np.ndarray, scratch: np.ndarray,
                           sub: np.ndarray, every: int, gather: bool, inv_step: float,
                           step: float, lim: float, out_scale: float, stride: int) -> None:
    """Sample by sample: ``c6[b]`` ((OH, OW, C, k, k) of a C-contiguous lowered matrix)
    quantised into ``scratch`` (its subsample copied into ``sub`` first, where ``gather``),
    then added into ``out[b]`` as :func:`pnmsim.kernels.engine.col2im_add_nhwc` adds (the same
    loops, so the same order of additions)."""
    n, oh, ow, c, k, _ = c6.shape
    per = oh * ow * c * k * k
    flat = c6.reshape(n, per)
    q6 = scratch.reshape(oh, ow, c, k, k)
    for b in range(n):
        src = flat[b]
        if gather:
            _gather(src, b * per, b * per, (b + 1) * per, every, sub)
        for i in range(per):
            scratch[i] = _level(src[i], inv_step, step, lim, out_scale)
        for ky in range(k):
            for kx in range(k):
                for oy in range(oh):
                    for ox in range(ow):
                        dst = out[b, oy * stride + ky, ox * stride + kx]
                        q = q6[oy, ox]
                        for ch in range(c):
                            dst[ch] += q[ch, ky, kx]


def _check(sub: np.ndarray, every: int, size: int) -> None:
    if sub.dtype != np.float64 or sub.ndim != 1 or every < 1 or sub.size != -(-size // every):
        raise ValueError(f"observed conversion: a float64 buffer of {-(-size // max(every, 1))} "
                         f"values is needed for {size} values every {every}, got {sub.dtype} "
                         f"{sub.shape}")


def quantize_observed(x: np.ndarray, full_scale: float, bits: int, out_scale: float,
                      sub: np.ndarray, every: int) -> np.ndarray:
    """``quantize_symmetric(x, full_scale, bits, out_scale, inplace=True)`` of a C-contiguous,
    writeable float32 or float64 ``x`` with ``full_scale > 0``, after copying
    ``x.reshape(-1)[::every]`` into ``sub`` (float64) in the same pass. Returns ``x``."""
    if not (x.flags.c_contiguous and x.flags.writeable) or full_scale <= 0:
        raise ValueError("quantize_observed: needs a contiguous writeable signal and a "
                         "positive full scale")
    _check(sub, every, x.size)
    _quantize_gather(x.reshape(-1), sub, every,
                     *_quantizer_args(x.dtype, full_scale, bits, out_scale))
    return x


def quantize_add_observed(part: np.ndarray, out: np.ndarray, first: bool, full_scale: float,
                          bits: int, out_scale: float, sub: np.ndarray, every: int) -> np.ndarray:
    """``out[...] = 0; out += quantize_symmetric(part, full_scale, bits, out_scale)`` where
    ``first``, else only the addition (one column tile's sensed partial sums digitised and
    added into the running sum), after copying ``part.reshape(-1)[::every]`` into ``sub``; the
    same bits as those steps, in one pass that leaves ``part`` as it was. ``part`` and ``out``:
    C-contiguous, one shape and float dtype, ``out`` writeable and not overlapping ``part``;
    ``full_scale > 0``. Returns ``out``."""
    if part.shape != out.shape or part.dtype != out.dtype \
            or part.dtype not in (np.float32, np.float64) or not part.flags.c_contiguous \
            or not (out.flags.c_contiguous and out.flags.writeable) or full_scale <= 0 \
            or np.may_share_memory(part, out):
        raise ValueError("quantize_add_observed: needs a contiguous float signal, a writeable "
                         "contiguous sum of its shape and dtype in memory of its own and a "
                         "positive full scale")
    _check(sub, every, part.size)
    _quantize_add_gather(part.reshape(-1), out.reshape(-1), first, sub, every,
                         *_quantizer_args(part.dtype, full_scale, bits, out_scale))
    return out


def quantize_sum_observed(parts: np.ndarray, full_scale: float, bits: int, sub: np.ndarray,
                          every: int) -> np.ndarray:
    """``quantize_sum(parts, full_scale, bits)`` (parts (groups, ...), more than one value a
    group, ``full_scale > 0``) after copying ``parts.reshape(-1)[::every]`` into ``sub``."""
    parts = np.ascontiguousarray(parts)
    if parts.ndim < 2 or parts.shape[0] == 0 or parts.size == parts.shape[0] \
            or full_scale <= 0:
        raise ValueError("quantize_sum_observed: needs groups of more than one value and a "
                         "positive full scale")
    _check(sub, every, parts.size)
    out = np.empty(parts.shape[1:], dtype=parts.dtype)
    _quantize_sum_gather(parts.reshape(parts.shape[0], -1), out.reshape(-1), sub, every,
                         *_quantizer_args(parts.dtype, full_scale, bits, 1.0))
    return out


def dac_observed(delta: np.ndarray, scale: float, full_scale: float, bits: int,
                 out: np.ndarray, sub: np.ndarray,
                 every: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The backprop DAC of float32 errors (M, lines) into ``out`` (float32, C-contiguous,
    delta's shape): ``d = delta * float32(scale)``, ``d.reshape(-1)[::every]`` into ``sub``,
    then ``quantize_symmetric(d, full_scale, bits) / float32(full_scale)`` — the same values as
    those three steps (``full_scale > 0``). Returns ``out`` and its
    :func:`~pnmsim.kernels.lines.line_stats` (the same bits), taken in the same pass."""
    delta = np.ascontiguousarray(delta, dtype=np.float32)
    if delta.ndim != 2 or out.shape != delta.shape or out.dtype != np.float32 \
            or not out.flags.c_contiguous or full_scale <= 0:
        raise ValueError("dac_observed: needs 2-D errors, a float32 output of their shape and "
                         "a positive full scale")
    _check(sub, every, delta.size)
    inv, step, lim, _ = _quantizer_args(np.dtype(np.float32), full_scale, bits, 1.0)
    nb = line_blocks(delta.shape[0])
    x2 = np.zeros((nb, delta.shape[1]))
    nnz = np.zeros((nb, delta.shape[1]), dtype=np.int64)
    _dac_gather(delta, np.float32(scale), out, sub, every, inv, step, lim,
                np.float32(full_scale), x2, nnz)
    return out, (x2.sum(axis=0), nnz.sum(axis=0))


def quantize_col2im_observed(cols: np.ndarray, x_shape: tuple[int, int, int, int], k: int,
                             stride: int, pad: int, full_scale: float, bits: int,
                             out_scale: float, sub: np.ndarray | None = None,
                             every: int = 1) -> np.ndarray:
    """``col2im_nhwc(quantize_symmetric(cols, full_scale, bits, out_scale), x_shape, k,
    stride, pad)`` (:mod:`pnmsim.nn.layers`; ``cols`` the C-contiguous lowered matrix of a
    map of shape ``x_shape`` = (N, H, W, C), ``full_scale > 0``) bit for bit, converting each
    sample's rows just before adding them in (``cols`` is read once and not written); with
    ``sub``, ``cols.reshape(-1)[::every]`` copied into it (float64) on the way."""
    n, h, w, c = x_shape
    oh, ow = conv_out_size(h, k, stride, pad), conv_out_size(w, k, stride, pad)
    if not cols.flags.c_contiguous or cols.shape != (n * oh * ow, c * k * k) \
            or cols.dtype not in (np.float32, np.float64) or full_scale <= 0:
        raise ValueError(f"quantize_col2im_observed: needs the C-contiguous float "
                         f"({n * oh * ow}, {c * k * k}) lowered matrix of a {x_shape} map and a "
                         f"positive full scale; got {cols.dtype} {cols.shape}")
    if sub is not None:
        _check(sub, every, cols.size)
    out = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=cols.dtype)
    if cols.size:
        _quantize_col2im_gather(cols.reshape(n, oh, ow, c, k, k), out,
                                np.empty(oh * ow * c * k * k, dtype=cols.dtype),
                                np.empty(1) if sub is None else sub, every, sub is not None,
                                *_quantizer_args(cols.dtype, full_scale, bits, out_scale),
                                stride)
    return out[:, pad:pad + h, pad:pad + w] if pad else out
