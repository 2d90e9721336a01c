"""The network engine's layer kernels (part of :mod:`pnmsim.kernels`): max-pooling forward and
backward, im2col's copy and col2im's scatter-add, in NHWC, with the order of operations of
their numpy forms in :mod:`pnmsim.nn.layers` (the same bits, tested), and a convolution's
output size, which they and the lowering's other users share.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def conv_out_size(size: int, k: int, stride: int, pad: int) -> int:
    """Output size of a convolution along one axis."""
    return (size + 2 * pad - k) // stride + 1


_conv_out_size = njit(cache=True)(conv_out_size)   # the same formula, for the kernels below


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
def im2col_into_nhwc(x: np.ndarray, k: int, stride: int, out: np.ndarray) -> None:
    """``out[(n, oy, ox), c*k*k + ky*k + kx] = x[n, oy*stride+ky, ox*stride+kx, c]``: the
    lowered matrix of an (already padded) NHWC map, rows in (n, oy, ox) order and columns in
    (c, ky, kx) order, as :func:`pnmsim.nn.layers.im2col_nhwc`'s numpy copy writes it; ``out``
    has shape (N * OH * OW, C * k * k). Each pixel's channels are read contiguously and
    written k*k apart within the row (in L1), which beats numpy's strided copy, whose
    innermost run is only k elements, once there are several channels."""
    n, h, w, c = x.shape
    if k < 1 or stride < 1:
        raise ValueError("im2col_into_nhwc: k and stride must be >= 1")
    kk = k * k
    oh = _conv_out_size(h, k, stride, 0)
    ow = _conv_out_size(w, k, stride, 0)
    if oh < 0 or ow < 0 or out.shape[0] != n * oh * ow or out.shape[1] != c * kk:
        raise ValueError("im2col_into_nhwc: out must have shape (N * OH * OW, C * k * k)")
    r = 0
    for b in range(n):
        xb = x[b]
        for oy in range(oh):
            for ox in range(ow):
                row = out[r]
                for ky in range(k):
                    xr = xb[oy * stride + ky]
                    for kx in range(k):
                        px = xr[ox * stride + kx]
                        j = ky * k + kx
                        for ch in range(c):
                            row[ch * kk + j] = px[ch]
                r += 1


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
