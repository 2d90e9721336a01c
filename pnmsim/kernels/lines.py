"""Line statistics of driven inputs (part of :mod:`pnmsim.kernels`): per line (column of an
input matrix) the sum of squares and the non-zero count that price a read's energy and count
its active lines, from a matrix or from the feature map a convolution's matrix is lowered from,
and NumPy's pairwise float sum, which the write kernel uses to give the same line sums of
conductances as NumPy.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from pnmsim.kernels.engine import conv_out_size


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


@njit(cache=True, inline="always")
def _add_line_stats(row: np.ndarray, acc: np.ndarray, cnt: np.ndarray) -> None:
    """One row into the line statistics: ``acc += row**2`` (float64) and ``cnt += row != 0``
    (the loop of :func:`_line_stats_body`). The DAC passes call it after converting a row, in
    a loop of its own: with the conversion (float32 levels), the squares (float64) and the
    counts (int64) in one loop LLVM vectorised it narrowly (0.40 -> 0.29 ms for a (1000, 784)
    input DAC; the same operations in the same order, so the same bits)."""
    for j in range(row.size):
        v = np.float64(row[j])
        acc[j] += v * v
        cnt[j] += v != 0.0


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
            _add_line_stats(x[i], acc, cnt)
        out[t, :] = acc
        nnz[t, :] = cnt


_line_stats = njit(cache=True, parallel=True)(_line_stats_body)


def line_blocks(m: int) -> int:
    """Blocks of rows whose column sums :func:`line_stats` and :func:`line_square_sums` take
    separately and then add in order (a fixed number: the result does not depend on the
    machine's threads)."""
    return 8 if m >= 4096 else 1


@njit(cache=True)
def _ternary_counts(x: np.ndarray, nnz: np.ndarray) -> bool:
    """The non-zero entries of each column of a float32 ``x`` into ``nnz``; False (counts
    unusable) as soon as a row holds a value outside {-1, 0, 1}."""
    m, k = x.shape
    acc = np.zeros(k, dtype=np.int32)
    bad = np.zeros(k, dtype=np.int32)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    for i in range(m):
        row = x[i]
        for j in range(k):     # compares only (vectorised)
            v = row[j]
            nz = v != zero
            acc[j] += np.int32(nz)
            bad[j] |= np.int32(nz & (abs(v) != one))
        if i % 256 == 255 or i == m - 1:
            b = 0
            for j in range(k):
                b |= bad[j]
            if b:
                return False
            if i % 256 == 255:     # int32 counts: flushed before they could overflow
                for j in range(k):
                    nnz[j] += acc[j]
                    acc[j] = 0
    for j in range(k):
        nnz[j] += acc[j]
    return True


def line_stats(x: np.ndarray, ternary: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """:func:`line_square_sums` of x (bit-identical) and the non-zero entries per column
    (int64), from one pass over x. ``ternary``: x is expected in {-1, 0, 1} (activations), so
    each square is 1 where the entry is non-zero and the squares' sums are the counts (the
    same float64 integers, in any order of additions): the pass only compares, and checks the
    expectation on the way (otherwise the full pass)."""
    x = np.ascontiguousarray(x)
    if x.ndim != 2 or x.size == 0:
        k = x.shape[1] if x.ndim == 2 else 0
        return np.zeros(k), np.zeros(k, dtype=np.int64)
    if ternary and x.dtype == np.float32:
        nnz = np.zeros(x.shape[1], dtype=np.int64)
        if _ternary_counts(x, nnz):
            return nnz.astype(np.float64), nnz
    blocks = line_blocks(x.shape[0])
    part = np.zeros((blocks, x.shape[1]))
    nnz = np.zeros((blocks, x.shape[1]), dtype=np.int64)
    _line_stats(x, part, nnz)
    return part.sum(axis=0), nnz.sum(axis=0)


@njit(cache=True)
def _window_line_stats(a: np.ndarray, k: int, stride: int, pad: int, oh: int, ow: int,
                       x2: np.ndarray, nnz: np.ndarray) -> None:
    """The per-column statistics of ``im2col_nhwc(a, k, stride, pad)`` from the map ``a``
    (N, H, W, C): each position's squares and non-zeros summed over the samples, then over
    the positions each column (c, ky, kx) reads (padding reads zeros)."""
    n, h, w, c = a.shape
    hwc = h * w * c
    flat = a.reshape(n, hwc)
    s2 = np.zeros(hwc)
    s0 = np.zeros(hwc, dtype=np.int64)
    for i in range(n):          # over the samples, position by position (vectorised)
        row = flat[i]
        for j in range(hwc):
            v = np.float64(row[j])
            s2[j] += v * v
            s0[j] += v != 0.0
    for ch in range(c):
        for ky in range(k):
            for kx in range(k):
                acc2 = 0.0
                acc0 = 0
                for oy in range(oh):
                    y = oy * stride + ky - pad
                    if y < 0 or y >= h:
                        continue
                    for ox in range(ow):
                        xx = ox * stride + kx - pad
                        if 0 <= xx < w:
                            p = (y * w + xx) * c + ch
                            acc2 += s2[p]
                            acc0 += s0[p]
                col = (ch * k + ky) * k + kx
                x2[col] = acc2
                nnz[col] = acc0


def window_line_stats(a: np.ndarray, k: int, stride: int = 1,
                      pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`line_stats` of the lowered convolution input ``im2col_nhwc(a, k, stride, pad)``
    (columns (c, ky, kx)) from the feature map ``a`` (N, H, W, C) itself, without the matrix
    (k * k / stride^2 times larger): the squares and non-zeros of every map position summed
    over the samples, then over the windows that read it. The non-zero counts are the same
    integers; the squares' sums are the same float64 values wherever the squares are
    integers (activations in {-1, 0, 1}: sums of ones are exact in any order) and otherwise
    agree to rounding (another order of additions)."""
    a = np.ascontiguousarray(a)
    if a.ndim != 4 or k < 1 or stride < 1 or pad < 0:
        raise ValueError(f"window_line_stats: a (N, H, W, C) map and k, stride >= 1, pad >= 0; "
                         f"got shape {a.shape}, k={k}, stride={stride}, pad={pad}")
    h, w, c = a.shape[1:]
    oh, ow = conv_out_size(h, k, stride, pad), conv_out_size(w, k, stride, pad)
    x2 = np.zeros(c * k * k)
    nnz = np.zeros(c * k * k, dtype=np.int64)
    if oh > 0 and ow > 0 and a.size:
        _window_line_stats(a, k, stride, pad, oh, ow, x2, nnz)
    return x2, nnz


def line_square_sums(x: np.ndarray) -> np.ndarray:
    """Per column of x (M, lines): the sum over rows of x**2, in float64, in one pass.

    Rows are split into a fixed number of blocks (independent of the thread count) whose
    partial sums are added in order, so the result does not depend on the machine."""
    x = np.ascontiguousarray(x)
    if x.ndim != 2 or x.size == 0:
        return np.zeros(x.shape[1] if x.ndim == 2 else 0)
    blocks = line_blocks(x.shape[0])
    part = np.zeros((blocks, x.shape[1]))
    _line_sq_sums(x, part)
    return part.sum(axis=0)


def line_square_sums_reference(x: np.ndarray) -> np.ndarray:
    """Plain-numpy twin of :func:`line_square_sums`."""
    return np.square(np.asarray(x, dtype=np.float64)).sum(axis=0)


@njit(cache=True, inline="always")
def _pairwise_block(a: np.ndarray, lo: int, n: int) -> float:
    """NumPy's pairwise sum of ``n`` <= 128 values (a leaf of its recursion). Indices are
    cast to uint64: numba then emits no negative-index wraparound (twice as fast)."""
    one = np.uint64(1)
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[np.uint64(i)]
        return res
    u = np.uint64(lo)
    r0, r1, r2, r3 = a[u], a[u + one], a[u + np.uint64(2)], a[u + np.uint64(3)]
    r4, r5, r6, r7 = a[u + np.uint64(4)], a[u + np.uint64(5)], a[u + np.uint64(6)], a[
        u + np.uint64(7)]
    m = n - n % 8
    for k in range(lo + 8, lo + m, 8):
        uk = np.uint64(k)
        r0 += a[uk]
        r1 += a[uk + one]
        r2 += a[uk + np.uint64(2)]
        r3 += a[uk + np.uint64(3)]
        r4 += a[uk + np.uint64(4)]
        r5 += a[uk + np.uint64(5)]
        r6 += a[uk + np.uint64(6)]
        r7 += a[uk + np.uint64(7)]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(lo + m, lo + n):
        res += a[np.uint64(i)]
    return res


@njit(cache=True)
def pairwise_scratch() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The explicit stack :func:`pairwise_sum_into` uses (the recursion is unrolled: numba
    cannot load a recursive function from its cache): 64 frames, more than any length needs
    (each level halves it)."""
    return (np.empty(64, dtype=np.int64), np.empty(64, dtype=np.int64), np.empty(64),
            np.empty(64, dtype=np.int8))


@njit(cache=True)
def pairwise_sum_into(a: np.ndarray, lo: int, n: int, s_lo: np.ndarray, s_n: np.ndarray,
                      s_left: np.ndarray, s_state: np.ndarray) -> float:
    """:func:`pairwise_sum` with the stack of :func:`pairwise_scratch` given (a caller that
    sums many lines allocates it once)."""
    if n <= 128:
        return 0.0 + _pairwise_block(a, lo, n)
    top = 1
    s_lo[0] = lo
    s_n[0] = n
    s_state[0] = 0
    ret = 0.0
    while top > 0:
        f = top - 1
        fn = s_n[f]
        if fn <= 128:          # a leaf
            ret = _pairwise_block(a, s_lo[f], fn)
            top -= 1
            continue
        n2 = fn // 2
        n2 -= n2 % 8           # the split at a multiple of the unroll factor
        st = s_state[f]
        if st == 0:            # first the left half
            s_state[f] = 1
            s_lo[top] = s_lo[f]
            s_n[top] = n2
            s_state[top] = 0
            top += 1
        elif st == 1:          # its sum kept, then the right half
            s_left[f] = ret
            s_state[f] = 2
            s_lo[top] = s_lo[f] + n2
            s_n[top] = fn - n2
            s_state[top] = 0
            top += 1
        else:                  # left + right
            ret = s_left[f] + ret
            top -= 1
    return 0.0 + ret   # the reduction starts from add's identity


@njit(cache=True)
def pairwise_sum(a: np.ndarray, lo: int, n: int) -> float:
    """The float64 sum of ``a[lo:lo + n]`` (1-D) with NumPy's pairwise summation, so the same
    bits as NumPy's ``a[lo:lo + n].sum()`` and as each row of a C-contiguous 2-D array's
    ``sum(axis=1)`` (numpy/_core/src/umath/loops_utils.h.src, ``pairwise_sum``: below 8
    values in order; up to 128 eight interleaved partial sums added as ((0+1)+(2+3))+((4+5)+
    (6+7)), then the rest in order; above, the two halves split at a multiple of 8; all added
    to the reduction's initial 0.0). A test checks it against NumPy over many lengths, so a
    NumPy that changed its order would be caught."""
    s_lo, s_n, s_left, s_state = pairwise_scratch()
    return pairwise_sum_into(a, lo, n, s_lo, s_n, s_left, s_state)
