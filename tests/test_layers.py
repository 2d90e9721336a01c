"""GXNOR building blocks: numerical gradients, adjointness, thresholds, STE windows, Adam."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnmsim.nn.layers import (
    Adam,
    batchnorm_backward,
    batchnorm_forward,
    binary_activation,
    binary_ste_grad,
    col2im,
    col2im_nhwc,
    conv_out_size,
    im2col,
    im2col_nhwc,
    maxpool2d_backward,
    maxpool2d_forward,
    squared_hinge_loss,
    ste_grad,
    ternary_activation,
)

CONV_CASES = [  # (N, C, H, W, k, stride, pad)
    (2, 3, 6, 5, 3, 1, 0),
    (2, 3, 6, 5, 3, 2, 1),
    (1, 2, 7, 7, 5, 1, 2),
    (3, 1, 5, 8, 2, 3, 0),
    (1, 4, 4, 4, 1, 1, 0),
]


def numgrad(f: Callable[[], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of scalar f() w.r.t. every entry of x (modified in place)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


def conv_direct(x: np.ndarray, w: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    """Reference convolution with loops over output positions; w (C*k*k, O) in (c, ky, kx)."""
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = conv_out_size(h, k, stride, pad), conv_out_size(wd, k, stride, pad)
    wr = w.reshape(c, k, k, -1)
    out = np.zeros((n, w.shape[1], oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            out[:, :, i, j] = np.einsum("ncyx,cyxo->no", patch, wr)
    return out


@pytest.mark.parametrize("case", CONV_CASES)
def test_im2col_matches_direct_convolution(case: tuple[int, ...]) -> None:
    n, c, h, w, k, s, p = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((c * k * k, 3))
    oh, ow = conv_out_size(h, k, s, p), conv_out_size(w, k, s, p)
    cols = im2col(x, k, s, p)
    assert cols.shape == (n * oh * ow, c * k * k)
    y = (cols @ wt).reshape(n, oh, ow, 3).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(y, conv_direct(x, wt, k, s, p), rtol=1e-12, atol=1e-12)
    # NHWC variant: same matrix
    np.testing.assert_array_equal(im2col_nhwc(x.transpose(0, 2, 3, 1).copy(), k, s, p), cols)


@pytest.mark.parametrize("case", CONV_CASES)
def test_col2im_is_adjoint_of_im2col(case: tuple[int, ...]) -> None:
    n, c, h, w, k, s, p = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c, h, w))
    cols = im2col(x, k, s, p)
    y = rng.standard_normal(cols.shape)
    lhs = float(np.sum(cols * y))
    rhs = float(np.sum(x * col2im(y, x.shape, k, s, p)))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)
    nhwc = col2im_nhwc(y, (n, h, w, c), k, s, p)
    np.testing.assert_allclose(nhwc.transpose(0, 3, 1, 2), col2im(y, x.shape, k, s, p))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 7), w=st.integers(1, 7),
       k=st.integers(1, 4), stride=st.integers(1, 3), pad=st.integers(0, 2),
       seed=st.integers(0, 2**16))
def test_im2col_property(n: int, c: int, h: int, w: int, k: int, stride: int, pad: int,
                         seed: int) -> None:
    """Over random shapes: im2col @ W is the direct convolution, col2im is its adjoint."""
    if k > min(h, w) + 2 * pad or pad >= k:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((c * k * k, 2))
    oh, ow = conv_out_size(h, k, stride, pad), conv_out_size(w, k, stride, pad)
    cols = im2col(x, k, stride, pad)
    y = (cols @ wt).reshape(n, oh, ow, 2).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(y, conv_direct(x, wt, k, stride, pad), rtol=1e-10, atol=1e-10)
    r = rng.standard_normal(cols.shape)
    assert float(np.sum(cols * r)) == pytest.approx(
        float(np.sum(x * col2im(r, x.shape, k, stride, pad))), rel=1e-10, abs=1e-10)


def test_col2im_chunking_matches_whole_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    import pnmsim.nn.layers as layers

    rng = np.random.default_rng(2)
    shape = (7, 3, 6, 6)
    y = rng.standard_normal((7 * 4 * 4, 27)).astype(np.float32)
    ref = col2im(y, shape, 3, 1, 0)
    monkeypatch.setattr(layers, "_COL2IM_CHUNK_BYTES", 1)  # one sample per chunk
    np.testing.assert_array_equal(layers.col2im(y, shape, 3, 1, 0), ref)


@pytest.mark.parametrize("case", CONV_CASES[:3])
def test_conv_via_im2col_gradients(case: tuple[int, ...]) -> None:
    n, c, h, w, k, s, p = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((c * k * k, 2))
    oh, ow = conv_out_size(h, k, s, p), conv_out_size(w, k, s, p)
    r = rng.standard_normal((n * oh * ow, 2))  # upstream gradient (rows ordered n, oy, ox)

    def f() -> float:
        return float(np.sum(r * (im2col(x, k, s, p) @ wt)))

    dw = im2col(x, k, s, p).T @ r
    dx = col2im(r @ wt.T, x.shape, k, s, p)
    np.testing.assert_allclose(dw, numgrad(f, wt), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dx, numgrad(f, x), rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- max-pooling


@pytest.mark.parametrize(("shape", "size"), [((2, 3, 6, 6), 2), ((2, 2, 7, 5), 2),
                                             ((1, 2, 7, 8), 3)])
def test_maxpool_forward_and_gradient(shape: tuple[int, int, int, int], size: int) -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape)  # distinct values: no ties
    y, cache = maxpool2d_forward(x, size)
    n, c, h, w = shape
    oh, ow = h // size, w // size  # floor
    ref = x[:, :, :oh * size, :ow * size].reshape(n, c, oh, size, ow, size).max(axis=(3, 5))
    np.testing.assert_array_equal(y, ref)
    r = rng.standard_normal(y.shape)

    def f() -> float:
        return float(np.sum(r * maxpool2d_forward(x, size)[0]))

    np.testing.assert_allclose(maxpool2d_backward(r, cache), numgrad(f, x), atol=1e-7)


def test_maxpool_ties_route_to_first_maximum() -> None:
    x = np.array([[[[1, 1], [1, 0]]]], dtype=np.float32)  # three-way tie
    y, cache = maxpool2d_forward(x, 2)
    assert y.item() == 1
    g = maxpool2d_backward(np.ones_like(y), cache)
    np.testing.assert_array_equal(g, [[[[1, 0], [0, 0]]]])
    x = np.array([[[[0, 2], [2, 1]]]], dtype=np.float32)
    g = maxpool2d_backward(np.full((1, 1, 1, 1), 5, np.float32), maxpool2d_forward(x, 2)[1])
    np.testing.assert_array_equal(g, [[[[0, 5], [0, 0]]]])


# ----------------------------------------------------------------------------- batch-norm


@pytest.mark.parametrize("shape", [(6, 4), (3, 2, 3, 2)])
def test_batchnorm_gradients(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape) * 2 + 0.5
    c = shape[1]
    gamma = rng.standard_normal(c)
    beta = rng.standard_normal(c)
    rm, rv = np.zeros(c), np.ones(c)
    r = rng.standard_normal(shape)

    def f() -> float:
        return float(np.sum(r * batchnorm_forward(x, gamma, beta, rm, rv, True)[0]))

    _, cache, _, _ = batchnorm_forward(x, gamma, beta, rm, rv, True)
    dx, dgamma, dbeta = batchnorm_backward(r, cache)
    np.testing.assert_allclose(dx, numgrad(f, x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dgamma, numgrad(f, gamma), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dbeta, numgrad(f, beta), rtol=1e-5, atol=1e-7)


def test_frozen_batchnorm_gradients_and_statistics() -> None:
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 2, 3, 2)) * 2 + 0.5
    gamma, beta = rng.standard_normal(2), rng.standard_normal(2)
    rm, rv = np.array([0.3, -0.2]), np.array([2.0, 0.5])
    r = rng.standard_normal(x.shape)

    def f() -> float:
        return float(np.sum(r * batchnorm_forward(x, gamma, beta, rm, rv, True, frozen=True)[0]))

    y, cache, m2, v2 = batchnorm_forward(x, gamma, beta, rm, rv, True, frozen=True)
    assert m2 is rm
    assert v2 is rv
    np.testing.assert_allclose(y, batchnorm_forward(x, gamma, beta, rm, rv, False)[0])
    dx, dgamma, dbeta = batchnorm_backward(r, cache)
    np.testing.assert_allclose(dx, numgrad(f, x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dgamma, numgrad(f, gamma), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dbeta, numgrad(f, beta), rtol=1e-5, atol=1e-7)


def test_batchnorm_statistics_and_running_update() -> None:
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((5, 3, 4, 4)) * 3 + 1).astype(np.float32)
    gamma = np.array([1.0, 2.0, 0.5], np.float32)
    beta = np.array([0.0, -1.0, 1.0], np.float32)
    rm = np.array([0.1, 0.2, 0.3], np.float32)
    rv = np.array([1.0, 2.0, 3.0], np.float32)
    y, _, nm, nv = batchnorm_forward(x, gamma, beta, rm, rv, True)
    assert y.dtype == np.float32
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(0, 2, 3))
    var = x64.var(axis=(0, 2, 3))  # biased
    ref = ((x64 - mean[None, :, None, None]) / np.sqrt(var + 1e-4)[None, :, None, None]
           * gamma[None, :, None, None] + beta[None, :, None, None])
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(nm, 0.9 * rm + 0.1 * mean, rtol=1e-6)
    np.testing.assert_allclose(nv, 0.9 * rv + 0.1 * var, rtol=1e-6)
    assert rm[0] == np.float32(0.1)  # inputs not modified
    # inference mode: running statistics, no cache, running arrays unchanged
    ye, cache, m2, v2 = batchnorm_forward(x, gamma, beta, nm, nv, False)
    assert cache is None and m2 is nm and v2 is nv
    ref_e = ((x64 - nm[None, :, None, None]) / np.sqrt(nv + 1e-4)[None, :, None, None]
             * gamma[None, :, None, None] + beta[None, :, None, None])
    np.testing.assert_allclose(ye, ref_e, rtol=1e-5, atol=1e-5)
    # 4-D NCHW equals 2-D of the (N*H*W, C) view
    y2, _, _, _ = batchnorm_forward(x.transpose(0, 2, 3, 1).reshape(-1, 3), gamma, beta, rm, rv,
                                    True)
    np.testing.assert_allclose(y2.reshape(5, 4, 4, 3).transpose(0, 3, 1, 2), y, atol=1e-5)


# ----------------------------------------------------------------------------- activations


def test_ternary_activation_thresholds() -> None:
    x = np.array([-2, -1, -0.9999, 0, 0.9999, 1, 2], np.float32)
    np.testing.assert_array_equal(ternary_activation(x), [-1, -1, 0, 0, 0, 1, 1])
    assert ternary_activation(x).dtype == np.float32
    np.testing.assert_array_equal(ternary_activation(x, r=0.5), [-1, -1, -1, 0, 1, 1, 1])
    np.testing.assert_array_equal(binary_activation(np.array([-0.1, 0, 0.1], np.float32)),
                                  [-1, 1, 1])


def test_ste_window_edges() -> None:
    inside = np.array([0.5, 1.5, -0.5, -1.5, 1.0, -1.0, 0.75], np.float32)
    outside = np.array([0.49, 1.51, -0.49, -1.51, 0.0, 3.0], np.float32)
    np.testing.assert_array_equal(ste_grad(inside), np.ones(7))
    np.testing.assert_array_equal(ste_grad(outside), np.zeros(6))
    # height 1/(2a), window r +- a
    np.testing.assert_array_equal(ste_grad(np.array([0.8, 1.2, 0.79], np.float32), a=0.2),
                                  [2.5, 2.5, 0])
    np.testing.assert_array_equal(
        binary_ste_grad(np.array([-1, 1, 0, 1.01, -1.01], np.float32)), [1, 1, 1, 0, 0])


# ----------------------------------------------------------------------------- loss


def test_squared_hinge_value_and_gradient() -> None:
    out = np.array([[0.5, -2.0, 1.5], [-0.5, 0.0, 3.0]])
    labels = np.array([0, 2])
    # targets [[1,-1,-1],[-1,-1,1]]; margins max(0, 1 - t*out):
    # row 0: 0.5, 0, 2.5 ; row 1: 0.5, 1, 0   -> mean of squares over 6 entries
    loss, grad = squared_hinge_loss(out, labels, 3)
    assert loss == pytest.approx((0.25 + 0 + 6.25 + 0.25 + 1 + 0) / 6)
    x = out.copy()

    def f() -> float:
        return squared_hinge_loss(x, labels, 3)[0]

    np.testing.assert_allclose(grad, numgrad(f, x), rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError):
        squared_hinge_loss(out, labels, 4)


# ----------------------------------------------------------------------------- Adam


def test_adam_matches_formula_and_round_trips() -> None:
    rng = np.random.default_rng(7)
    opt = Adam()
    m = np.zeros(4)
    v = np.zeros(4)
    for t in range(1, 4):
        g = rng.standard_normal(4).astype(np.float32)
        d = opt.step({"p": g}, lr=0.01)["p"]
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g.astype(np.float64) ** 2
        a_t = 0.01 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        np.testing.assert_allclose(d, -a_t * m / (np.sqrt(v) + 1e-8), rtol=1e-5)
        assert d.dtype == np.float32
    zero = opt.step({"p": np.ones(4, np.float32)}, lr=0.0)["p"]
    assert not np.any(zero) and opt.t == 4
    other = Adam()
    other.load_state_dict(opt.state_dict())
    g = rng.standard_normal(4).astype(np.float32)
    np.testing.assert_array_equal(other.step({"p": g}, 0.01)["p"], opt.step({"p": g}, 0.01)["p"])
