"""Converter passes that gather their statistics' subsample as they convert
(:mod:`pnmsim.kernels.observed`) against the separate steps they replace: the same converted
values and the same subsample, bit for bit; and a hardware training run with them against one
without (ranges, statistics, weights, states and counts identical)."""

from __future__ import annotations

import numpy as np
import pytest

from pnmsim import kernels
from pnmsim.array import ArrayBackend
from pnmsim.config import load_arch
from pnmsim.converter_ranges import subsample_step
from pnmsim.kernels.converters import quantize_symmetric_reference
from pnmsim.nn.layers import col2im_nhwc
from pnmsim.simulation import Simulation
from pnmsim.workload import load_workload


def _signal(shape: tuple[int, ...], dtype: type, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = (rng.standard_normal(shape) * 3.0).astype(dtype)
    flat = y.reshape(-1)
    special = np.array([np.inf, -np.inf, -0.0, 0.0, 1e30, -1e-30, np.nan])  # saturation, zeros
    k = min(flat.size, special.size)
    flat[:k] = special[:k]
    return y


def _buf(size: int) -> tuple[np.ndarray, int]:
    every = subsample_step(size)
    return np.full(-(-size // every), -7.0), every


SHAPES = [(7,), (300, 512), (1000, 512), (65536,), (131071,), (131072,), (3, 4099)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quantize_observed_is_subsample_then_quantize(shape, dtype) -> None:
    y = _signal(shape, dtype, len(shape))
    sub, every = _buf(y.size)
    want_sub = y.reshape(-1)[::every].astype(np.float64)
    want = kernels.quantize_symmetric(y, 2.5, 6, 0.125)
    got = kernels.quantize_observed(y.copy(), 2.5, 6, 0.125, sub, every)
    assert got.tobytes() == want.tobytes()
    assert sub.tobytes() == want_sub.tobytes()


@pytest.mark.parametrize("shape", [(2, 100, 512), (7, 1000, 512), (3, 5, 4097), (2, 1, 3)])
def test_quantize_sum_observed_is_subsample_then_quantize_sum(shape) -> None:
    parts = _signal(shape, np.float32, 3)
    sub, every = _buf(parts.size)
    got = kernels.quantize_sum_observed(parts, 4.0, 5, sub, every)
    assert got.tobytes() == kernels.quantize_sum(parts, 4.0, 5).tobytes()
    assert sub.tobytes() == parts.reshape(-1)[::every].astype(np.float64).tobytes()


@pytest.mark.parametrize("shape", [(1000, 512), (3, 4099), (7,)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quantize_add_observed_is_subsample_then_quantize_then_add(shape, dtype) -> None:
    """Three column tiles' partial sums digitised and added into a running sum, as the
    backprop of a layer of several column tiles does: the first starts the sum from +0
    (``out[...] = 0; out += q``: a level -0.0 sums to +0.0), the others add to it."""
    parts = [_signal(shape, dtype, 11 + i) for i in range(3)]
    keep = [p.copy() for p in parts]
    want = np.zeros(shape, dtype=dtype)
    out = np.full(shape, 123.0, dtype=dtype)       # whatever it held is overwritten
    for i, p in enumerate(parts):
        sub, every = _buf(p.size)
        want += quantize_symmetric_reference(p, 2.0, 7, 0.25)     # the plain-NumPy twin
        got = kernels.quantize_add_observed(p, out, i == 0, 2.0, 7, 0.25, sub, every)
        assert got is out and out.tobytes() == want.tobytes()
        assert sub.tobytes() == p.reshape(-1)[::every].astype(np.float64).tobytes()
        assert p.tobytes() == keep[i].tobytes()        # read, not written
    zero = kernels.quantize_add_observed(np.full(3, -0.0, dtype), np.empty(3, dtype), True, 1.0,
                                         4, 1.0, np.empty(3), 1)
    assert not np.signbit(zero).any()
    p0 = parts[0]
    bad_out = [out[:1],                                       # another shape
               out.astype(np.float32 if dtype is np.float64 else np.float64),   # dtype
               np.frombuffer(out.tobytes(), dtype=dtype).reshape(shape),        # read-only
               p0]                                            # the signal's own memory
    if out.ndim == 2:
        bad_out.append(np.empty((shape[1], shape[0]), dtype=dtype).T)      # not C-contiguous
    for o in bad_out:
        with pytest.raises(ValueError, match="sum of its shape"):
            kernels.quantize_add_observed(p0, o, False, 2.0, 7, 0.25, *_buf(p0.size))
    with pytest.raises(ValueError, match="positive full scale"):
        kernels.quantize_add_observed(p0, out, False, 0.0, 7, 0.25, *_buf(p0.size))
    if p0.ndim == 2:
        with pytest.raises(ValueError, match="contiguous float signal"):
            kernels.quantize_add_observed(np.asfortranarray(p0), out, False, 2.0, 7, 0.25,
                                          *_buf(p0.size))


@pytest.mark.parametrize("shape", [(100, 512), (1000, 512), (1000, 10), (3, 7), (6400, 64),
                                   (4099, 3)])
def test_dac_observed_is_scale_subsample_quantize_normalise(shape) -> None:
    delta = _signal(shape, np.float32, 5) / 100
    sub, every = _buf(delta.size)
    d = delta * np.float32(100.0)
    want_sub = d.reshape(-1)[::every].astype(np.float64)
    want = np.divide(kernels.quantize_symmetric(d, 3.0, 8), np.float32(3.0))
    out = np.empty_like(delta)
    got, (x2, nnz) = kernels.dac_observed(delta, 100.0, 3.0, 8, out, sub, every)
    assert got is out and got.tobytes() == want.tobytes()
    assert sub.tobytes() == want_sub.tobytes()
    # the driven levels' line statistics, as a pass over the converted errors takes them
    want_x2, want_nnz = kernels.line_stats(want)
    assert x2.tobytes() == want_x2.tobytes() and np.array_equal(nnz, want_nnz)


@pytest.mark.parametrize("x_shape,k,stride,pad", [((6, 12, 12, 32), 5, 1, 0),
                                                  ((3, 9, 11, 4), 3, 2, 1),
                                                  ((2, 6, 6, 3), 3, 1, 2)])
def test_quantize_col2im_observed_is_quantise_then_col2im(x_shape, k: int, stride: int,
                                                          pad: int) -> None:
    n, h, w, c = x_shape
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    cols = _signal((n * oh * ow, c * k * k), np.float32, 6)
    keep = cols.copy()
    sub, every = _buf(cols.size)
    got = kernels.quantize_col2im_observed(cols, x_shape, k, stride, pad, 3.0, 6, 0.01, sub,
                                           every)
    want = col2im_nhwc(kernels.quantize_symmetric(cols, 3.0, 6, 0.01), x_shape, k, stride, pad)
    assert got.shape == want.shape == x_shape
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes()
    assert sub.tobytes() == cols.reshape(-1)[::every].astype(np.float64).tobytes()
    assert cols.tobytes() == keep.tobytes()       # read, not written
    plain = kernels.quantize_col2im_observed(cols, x_shape, k, stride, pad, 3.0, 6, 0.01)
    assert np.ascontiguousarray(plain).tobytes() == np.ascontiguousarray(want).tobytes()
    with pytest.raises(ValueError, match="lowered matrix"):
        kernels.quantize_col2im_observed(cols[:-1], x_shape, k, stride, pad, 3.0, 6, 0.01)


def test_observed_conversions_refuse_what_they_cannot_do() -> None:
    y = np.ones((4, 5), dtype=np.float32)
    with pytest.raises(ValueError, match="buffer"):
        kernels.quantize_observed(y, 1.0, 4, 1.0, np.empty(3), 1)
    with pytest.raises(ValueError, match="positive full scale"):
        kernels.quantize_observed(y, 0.0, 4, 1.0, np.empty(20), 1)
    with pytest.raises(ValueError, match="float32 output"):
        kernels.dac_observed(y, 1.0, 1.0, 4, np.empty((4, 5)), np.empty(20), 1)


@pytest.mark.parametrize("workload, batch", [("mnist_mlp", 20), ("tiny_cnn", 12)])
def test_training_with_and_without_fused_converters_is_identical(workload: str, batch: int,
                                                                 monkeypatch) -> None:
    """A few hardware training steps, a re-calibration of the ranges between them, with the
    converter passes gathering their statistics and with a separate pass first: every range,
    running statistic, weight, MTJ state and count is the same."""
    wl = load_workload(workload)
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (4 * batch, *wl.input_shape)).astype(np.float32)
    y = rng.integers(0, wl.classes, 4 * batch)
    out = []
    calls: list[str] = []
    for name in ("quantize_observed", "quantize_sum_observed", "dac_observed",
                 "quantize_col2im_observed", "quantize_add_observed"):
        real = getattr(kernels, name)
        monkeypatch.setattr(kernels, name,
                            lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k))
    for fused in (True, False):
        monkeypatch.setattr(ArrayBackend, "fused_converters", fused)
        sim = Simulation(load_arch("reference"), wl, seed=3)
        sim.calibrate(x[:batch])
        for i in range(4):
            sim.train_step(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch], 0.1,
                           bn="batch")
            if i == 1:
                sim.backend.ranges.calibrate()
        r = sim.backend.ranges
        sd = sim.network.state_dict()
        out.append((dict(r.fixed), {k: list(v) for k, v in r._stats.items()},
                    {k: np.asarray(v).tobytes() for k, v in sd.items()}, sim.tally.rows(),
                    len(calls)))
    # every kind of pass gathered in the first run (the MLP's first layer sums its row-tile
    # groups' digitised partial sums, its 512-wide layer adds its column tiles' digitised
    # backprop currents; the CNN's second convolution folds its backprop currents onto its
    # input map), none in the second
    assert set(calls) == ({"quantize_observed", "dac_observed", "quantize_sum_observed",
                           "quantize_add_observed"}
                          if workload == "mnist_mlp" else
                          {"quantize_observed", "dac_observed", "quantize_col2im_observed"})
    assert out[1][4] == out[0][4] > 0       # nothing gathered with the flag off
    assert out[0][0] == out[1][0]
    assert out[0][1] == out[1][1] and out[0][1]
    assert out[0][2] == out[1][2]
    assert out[0][3] == out[1][3]
