"""GXNOR building blocks as functional numpy forward/backward pairs (float32, NCHW).

Every function is pure except where a docstring says otherwise; caches returned by a forward
function are opaque and only meant for its backward twin. Everything is vectorised: the only
Python loops run over kernel offsets (k * k) or over a handful of parameters.

Conventions follow the public GXNOR reference code (Theano/Lasagne, Deng et al. 2018):

* batch-norm normalises with the *biased* batch variance (Lasagne's ``input.var(axes)``) and
  eps = 1e-4; running statistics are exponential averages with momentum 0.1 of the batch mean
  and of the same biased batch variance. (Lasagne averages the inverse standard deviation
  instead of the variance; pnmsim keeps the conventional running variance.)
* the loss is the squared hinge averaged over batch *and* classes,
  ``mean(max(0, 1 - t * out) ** 2)`` with one-hot targets t in {-1, +1}.
* Adam is Lasagne's form: ``a_t = lr * sqrt(1 - b2^t) / (1 - b1^t)``,
  ``step = -a_t * m / (sqrt(v) + eps)`` (eps is not bias-corrected).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from pnmsim import kernels
from pnmsim.kernels.engine import conv_out_size

F32 = np.float32

# ----------------------------------------------------------------------------- convolution


# From this many channels on, im2col_nhwc copies with kernels.im2col_into_nhwc instead of
# numpy's strided copy (measured, benchmarks/im2col_speed.py, 12 x 12 maps, k = 5: the kernel
# takes 0.66-0.79 of numpy's time at 8-32 channels, 0.94-0.97 at 4, 1.6-1.7x at 2 and 2.3-2.5x
# at 1, as the MNIST CNN's conv1 would; its conv2 in training: 0.72-0.74)
_IM2COL_KERNEL_MIN_C = 8


def _plain_size(v: object) -> int:
    """``v`` as a Python int where it is an integer (Python's or NumPy's, not a bool), else 0."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        return 0
    return int(v)


def im2col_nhwc(x: np.ndarray, k: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """:func:`im2col` of an NHWC array (N, H, W, C); same output and column order (c, ky, kx).

    From NHWC the windows come out of ``sliding_window_view`` already in (n, oy, ox, c, ky, kx)
    order, so the lowering is a single copy: numpy's, or from ``_IM2COL_KERNEL_MIN_C``
    channels on (float maps) :func:`kernels.im2col_into_nhwc`'s, the same values faster.
    """
    n, h, w, c = x.shape
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    oh = conv_out_size(h, k, stride, pad)
    ow = conv_out_size(w, k, stride, pad)
    kp, sp = _plain_size(k), _plain_size(stride)
    if kp >= 1 and sp >= 1 and c >= _IM2COL_KERNEL_MIN_C and x.dtype in (F32, np.float64):
        # sizes as Python ints (a NumPy uint8 k would wrap c * k * k); anything else (bools,
        # floats, k < 1, stride < 1) takes numpy's path below, which refuses what it refused
        ohp, owp = conv_out_size(x.shape[1], kp, sp, 0), conv_out_size(x.shape[2], kp, sp, 0)
        if min(n, ohp, owp) > 0:
            out = np.empty((n * ohp * owp, c * kp * kp), dtype=x.dtype)
            kernels.im2col_into_nhwc(np.ascontiguousarray(x), kp, sp, out)
            return out
    win = sliding_window_view(x, (k, k), axis=(1, 2))  # (N, H', W', C, k, k), a view
    if stride != 1:
        win = win[:, ::stride, ::stride]
    return np.ascontiguousarray(win[:, :oh, :ow]).reshape(n * oh * ow, c * k * k)


def im2col(x: np.ndarray, k: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Lower a convolution's input to a matrix.

    x: (N, C, H, W) -> (N * OH * OW, C * k * k), rows ordered (n, oy, ox), columns (c, ky, kx).
    A convolution with weights W of shape (C * k * k, out_channels) is then ``im2col(x) @ W``
    (reshaped to (N, OH, OW, out_channels)).
    """
    return im2col_nhwc(x.transpose(0, 2, 3, 1), k, stride, pad)


_COL2IM_CHUNK_BYTES = 768 * 1024


def col2im_nhwc(cols: np.ndarray, x_shape: tuple[int, int, int, int], k: int, stride: int = 1,
                pad: int = 0) -> np.ndarray:
    """:func:`col2im` into an NHWC array of shape ``x_shape`` = (N, H, W, C).

    Accumulates one kernel offset at a time, a few samples at a time so that the strided reads
    of ``cols`` stay in cache (about 3x faster than whole-batch passes).
    """
    n, h, w, c = x_shape
    oh = conv_out_size(h, k, stride, pad)
    ow = conv_out_size(w, k, stride, pad)
    c6 = cols.reshape(n, oh, ow, c, k, k)
    out = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=cols.dtype)
    per_sample = oh * ow * c * k * k * cols.itemsize
    chunk = max(1, _COL2IM_CHUNK_BYTES // max(1, per_sample))
    if c6.flags.c_contiguous:   # numba: the same additions in the same order, one pass
        kernels.col2im_add_nhwc(c6, out, stride)
    else:
        for s in range(0, n, chunk):
            src = c6[s:s + chunk]
            dst = out[s:s + chunk]
            for ky in range(k):
                ye = ky + stride * (oh - 1) + 1
                for kx in range(k):
                    xe = kx + stride * (ow - 1) + 1
                    dst[:, ky:ye:stride, kx:xe:stride] += src[..., ky, kx]
    if pad:
        out = out[:, pad:pad + h, pad:pad + w]
    return out


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int, int], k: int, stride: int = 1,
           pad: int = 0) -> np.ndarray:
    """Adjoint of :func:`im2col`: scatter-add (N * OH * OW, C * k * k) back to ``x_shape`` =
    (N, C, H, W)."""
    n, c, h, w = x_shape
    return np.ascontiguousarray(col2im_nhwc(cols, (n, h, w, c), k, stride, pad)
                                .transpose(0, 3, 1, 2))


# ----------------------------------------------------------------------------- max-pooling


def maxpool2d_forward_nhwc(x: np.ndarray, size: int) -> tuple[np.ndarray, tuple[object, ...]]:
    """:func:`maxpool2d_forward` of an NHWC array (N, H, W, C); returns NHWC."""
    h, w = x.shape[1], x.shape[2]
    oh, ow = h // size, w // size
    if oh == 0 or ow == 0:
        raise ValueError(f"maxpool size {size} larger than the input {h}x{w}")
    if x.dtype in (np.float32, np.float64):   # numba: one pass, the same maxima and indices
        y = np.empty((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
        idx = np.empty(y.shape, dtype=np.uint8)
        kernels.maxpool_nhwc(np.ascontiguousarray(x), size, y, idx)
        return y, (idx, x.shape, size)
    y = x[:, 0:oh * size:size, 0:ow * size:size].copy()
    idx = np.zeros(y.shape, dtype=np.uint8)
    for o in range(1, size * size):
        dy, dx = divmod(o, size)
        v = x[:, dy:oh * size:size, dx:ow * size:size]
        better = v > y  # strict: ties keep the first maximum
        np.maximum(y, v, out=y)
        idx = np.where(better, np.uint8(o), idx)  # (faster than a masked copyto)
    return y, (idx, x.shape, size)


def maxpool2d_backward_nhwc(grad: np.ndarray, cache: tuple[object, ...]) -> np.ndarray:
    """:func:`maxpool2d_backward` for NHWC arrays."""
    idx, x_shape, size = cache
    assert isinstance(idx, np.ndarray) and isinstance(size, int)
    n, h, w, c = x_shape  # type: ignore[misc]
    oh, ow = grad.shape[1], grad.shape[2]
    if grad.dtype in (np.float32, np.float64):   # numba, the same products
        full = np.empty((n, oh * size, ow * size, c), dtype=grad.dtype)
        kernels.maxpool_backward_nhwc(np.ascontiguousarray(grad), np.ascontiguousarray(idx),
                                      size, full)
    else:
        out = np.zeros((n, oh, size, ow, size, c), dtype=grad.dtype)
        for o in range(size * size):
            dy, dx = divmod(o, size)
            np.multiply(grad, idx == o, out=out[:, :, dy, :, dx])
        full = out.reshape(n, oh * size, ow * size, c)
    if oh * size == h and ow * size == w:
        return full
    padded = np.zeros((n, h, w, c), dtype=grad.dtype)
    padded[:, :oh * size, :ow * size] = full
    return padded


def maxpool2d_forward(x: np.ndarray, size: int) -> tuple[np.ndarray, tuple[object, ...]]:
    """Non-overlapping max-pooling of (N, C, H, W) (window = stride = size); trailing rows/cols
    that do not fill a window are dropped (floor). Returns (y, cache); ties go to the first
    maximum in row-major window order (pre-activations of ternary layers are integers, so ties
    are common, and exactly one input of a window receives its gradient)."""
    y, cache = maxpool2d_forward_nhwc(x.transpose(0, 2, 3, 1), size)
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2)), cache


def maxpool2d_backward(grad: np.ndarray, cache: tuple[object, ...]) -> np.ndarray:
    """Route each output gradient to the input that was the maximum of its window (NCHW)."""
    g = maxpool2d_backward_nhwc(grad.transpose(0, 2, 3, 1), cache)
    return np.ascontiguousarray(g.transpose(0, 3, 1, 2))


# ----------------------------------------------------------------------------- batch-norm


def _bn_axes(x: np.ndarray) -> tuple[int, ...]:
    if x.ndim == 2:
        return (0,)
    if x.ndim == 4:
        return (0, 2, 3)
    raise ValueError(f"batchnorm expects a 2-D (N, F) or 4-D (N, C, H, W) array, got {x.shape}")


def _bn_bcast(v: np.ndarray, ndim: int) -> np.ndarray:
    return v if ndim == 2 else v[None, :, None, None]


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                      running_mean: np.ndarray, running_var: np.ndarray, train: bool,
                      eps: float = 1e-4, momentum: float = 0.1, *, frozen: bool = False,
                      ) -> tuple[np.ndarray, tuple[object, ...] | None, np.ndarray, np.ndarray]:
    """Batch-norm per channel (over N, H, W) of a 4-D array or per feature of a 2-D array.

    Returns ``(y, cache, new_running_mean, new_running_var)``:

    * ``train`` (default): the batch statistics normalise (biased variance) and the running
      statistics are updated to ``(1 - momentum) * r + momentum * batch`` (new arrays; the
      inputs are not modified); the cache is for :func:`batchnorm_backward`.
    * ``train`` and ``frozen``: the running statistics normalise and stay unchanged; batch-norm
      is then a fixed per-channel affine map whose gradient the cache allows (training with
      frozen statistics, as on an array whose comparators fold batch-norm into thresholds).
    * not ``train`` (inference): the running statistics normalise, the cache is None and the
      running arrays are returned unchanged.
    """
    axes = _bn_axes(x)
    nd = x.ndim
    dt = x.dtype.type
    if not train or frozen:
        inv_std = (1.0 / np.sqrt(running_var + F32(eps))).astype(x.dtype)
        if not train:
            scale = gamma.astype(x.dtype) * inv_std
            shift = beta.astype(x.dtype) - running_mean.astype(x.dtype) * scale
            y = x * _bn_bcast(scale, nd) + _bn_bcast(shift, nd)
            return y, None, running_mean, running_var
        xhat = (x - _bn_bcast(running_mean.astype(x.dtype), nd)) * _bn_bcast(inv_std, nd)
        y = xhat * _bn_bcast(gamma.astype(x.dtype), nd) + _bn_bcast(beta.astype(x.dtype), nd)
        return y, ("frozen", xhat, inv_std, gamma), running_mean, running_var
    mean = x.mean(axis=axes)
    xc = x - _bn_bcast(mean, nd)
    var = np.square(xc).mean(axis=axes)
    inv_std = (dt(1) / np.sqrt(var + dt(eps))).astype(x.dtype)
    xhat = xc * _bn_bcast(inv_std, nd)
    y = xhat * _bn_bcast(gamma.astype(x.dtype), nd) + _bn_bcast(beta.astype(x.dtype), nd)
    m = F32(momentum)
    new_mean = ((1 - m) * running_mean + m * mean).astype(running_mean.dtype)
    new_var = ((1 - m) * running_var + m * var).astype(running_var.dtype)
    return y, ("batch", xhat, inv_std, gamma), new_mean, new_var


def batchnorm_backward(grad: np.ndarray, cache: tuple[object, ...] | None,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients (dx, dgamma, dbeta) of a training-mode :func:`batchnorm_forward` (batch or
    frozen statistics)."""
    if cache is None:
        raise ValueError("batchnorm_backward needs the cache of a training-mode forward pass")
    mode, xhat, inv_std, gamma = cache
    assert isinstance(xhat, np.ndarray)
    assert isinstance(inv_std, np.ndarray)
    assert isinstance(gamma, np.ndarray)
    axes = _bn_axes(grad)
    nd = grad.ndim
    dbeta = grad.sum(axis=axes)
    dgamma = (grad * xhat).sum(axis=axes)
    if mode == "frozen":  # fixed affine map: dx = dy * gamma / sqrt(running_var + eps)
        return grad * _bn_bcast(gamma.astype(grad.dtype) * inv_std, nd), dgamma, dbeta
    count = grad.size // grad.shape[1]
    k = (gamma.astype(grad.dtype) * inv_std) / grad.dtype.type(count)
    dx = _bn_bcast(k, nd) * (grad * grad.dtype.type(count) - _bn_bcast(dbeta, nd)
                             - xhat * _bn_bcast(dgamma, nd))
    return dx, dgamma, dbeta


# ----------------------------------------------------------------------------- activations


def ternary_activation(x: np.ndarray, r: float = 1.0) -> np.ndarray:
    """+1 where x >= r, -1 where x <= -r, else 0 (same dtype as x)."""
    t = x.dtype.type(r)
    return (x >= t).astype(x.dtype) - (x <= -t).astype(x.dtype)


def binary_activation(x: np.ndarray) -> np.ndarray:
    """sign(x) with sign(0) = +1 (same dtype as x)."""
    return np.where(x >= 0, x.dtype.type(1), x.dtype.type(-1))


def ste_grad(x: np.ndarray, r: float = 1.0, a: float = 0.5) -> np.ndarray:
    """Straight-through derivative of :func:`ternary_activation`: a rectangular window of
    height 1 / (2a) on r - a <= |x| <= r + a (both edges included); 1 on [0.5, 1.5] by
    default."""
    ax = np.abs(x)
    dt = x.dtype.type
    mask = (ax >= dt(r - a)) & (ax <= dt(r + a))
    return mask.astype(x.dtype) * dt(1.0 / (2.0 * a))


def binary_ste_grad(x: np.ndarray) -> np.ndarray:
    """Straight-through derivative of :func:`binary_activation` (BinaryNet hard-tanh):
    1 where |x| <= 1, else 0."""
    return (np.abs(x) <= x.dtype.type(1)).astype(x.dtype)


# ----------------------------------------------------------------------------- loss


def squared_hinge_loss(out: np.ndarray, labels: np.ndarray, classes: int,
                       ) -> tuple[float, np.ndarray]:
    """Squared hinge (L2-SVM) loss on one-hot +-1 targets.

    ``loss = mean over batch and classes of max(0, 1 - t * out) ** 2`` (the GXNOR code's
    ``T.mean(T.sqr(T.maximum(0., 1. - target * output)))``); returns (loss, d loss / d out).
    """
    b = out.shape[0]
    if out.shape != (b, classes):
        raise ValueError(f"expected outputs of shape ({b}, {classes}), got {out.shape}")
    t = np.full(out.shape, -1, dtype=out.dtype)
    t[np.arange(b), np.asarray(labels, dtype=np.intp)] = 1
    margin = np.maximum(out.dtype.type(0), 1 - t * out)
    loss = float(np.mean(np.square(margin, dtype=np.float64)))
    grad = (-2.0 / (b * classes)) * t * margin
    return loss, grad.astype(out.dtype, copy=False)


# ----------------------------------------------------------------------------- optimiser


class Adam:
    """Adam over a dict of named arrays (Lasagne's formulation, see the module docstring).

    :meth:`step` returns the proposed deltas (already including ``-lr``) and does not apply
    them: the caller adds them to full-precision parameters, or hands them to a DST update.
    Moments are kept in float32; a step with ``lr == 0`` returns exact zeros but still advances
    the moments and the step count (as the reference code's epoch 0 does).
    """

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.t = 0
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def step(self, grads: Mapping[str, np.ndarray], lr: float) -> dict[str, np.ndarray]:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        a_t = lr * math.sqrt(1.0 - b2 ** self.t) / (1.0 - b1 ** self.t)
        out: dict[str, np.ndarray] = {}
        for name, g in grads.items():
            g = np.asarray(g, dtype=F32)
            m = self.m.get(name)
            v = self.v.get(name)
            if m is None or v is None:
                m = np.zeros_like(g)
                v = np.zeros_like(g)
            m *= F32(b1)
            m += F32(1 - b1) * g
            v *= F32(b2)
            v += F32(1 - b2) * np.square(g)
            self.m[name] = m
            self.v[name] = v
            out[name] = (F32(-a_t) * m) / (np.sqrt(v) + F32(self.eps))
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        d: dict[str, np.ndarray] = {"t": np.array(self.t, dtype=np.int64)}
        for name in self.m:
            d[f"m.{name}"] = self.m[name].copy()
            d[f"v.{name}"] = self.v[name].copy()
        return d

    def load_state_dict(self, d: Mapping[str, np.ndarray]) -> None:
        self.t = int(d["t"])
        self.m = {}
        self.v = {}
        for key, val in d.items():
            if key.startswith("m."):
                self.m[key[2:]] = np.array(val, dtype=F32)
            elif key.startswith("v."):
                self.v[key[2:]] = np.array(val, dtype=F32)
        if self.m.keys() != self.v.keys():
            raise ValueError("Adam state: first and second moments name different parameters")
