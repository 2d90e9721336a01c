"""numba kernels vs their plain-numpy twins and the device physics module (property tests)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pnmsim import kernels
from pnmsim.device import mtj

SETTINGS = settings(deadline=None, max_examples=150,
                    suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- update_cells


@st.composite
def update_problems(draw: st.DrawFn) -> dict:
    """A random update_cells problem: shapes incl. empty and 1x1, both regimes of current."""
    rows = draw(st.sampled_from([0, 1, 1, 2, 3, 5, 8, 17]))
    cols = draw(st.sampled_from([0, 1, 1, 2, 4, 7, 13]))
    seed = draw(st.integers(0, 2**32 - 1))
    variation = draw(st.booleans())
    rng = np.random.default_rng(seed)
    shape = (rows, cols)
    r_p = draw(st.floats(300.0, 20000.0))
    tmr = draw(st.floats(0.1, 3.0))
    ic0 = draw(st.floats(5.0, 300.0))
    delta = draw(st.floats(2.0, 100.0))
    # write voltages from far below to far above the critical current of the series pair
    v_write = draw(st.floats(0.01, 4.0))
    r_access = draw(st.floats(0.0, 5000.0))
    tau_d = draw(st.floats(0.1, 5.0))
    tau0 = draw(st.floats(0.2, 5.0))
    max_t = draw(st.sampled_from([0.5, 5.0, 50.0, 1e4]))

    def dev(nom: float) -> np.ndarray:
        if not variation:
            return np.full(shape, nom)
        return nom * rng.lognormal(0.0, 0.3, shape)

    rp1, rp2 = dev(r_p), dev(r_p)
    pulse = rng.uniform(-0.2 * max_t, max_t, shape)
    pulse[rng.random(shape) < 0.15] = 0.0
    return dict(
        s1=rng.integers(0, 2, shape).astype(np.int8),
        s2=rng.integers(0, 2, shape).astype(np.int8),
        pulse_ns=pulse,
        polarity=rng.integers(-1, 2, shape).astype(np.int8),
        current_scale=(rng.uniform(0.5, 1.5, shape) if variation else np.ones(shape)),
        u1=rng.random(shape), u2=rng.random(shape),
        rp1=rp1, rap1=rp1 * (1.0 + dev(tmr)), ic01=dev(ic0), d1=dev(delta),
        rp2=rp2, rap2=rp2 * (1.0 + dev(tmr)), ic02=dev(ic0), d2=dev(delta),
        v_write=v_write, r_access=r_access, tau_d_ns=tau_d, tau0_ns=tau0,
    )


def _run_both(prob: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                    np.ndarray]:
    s1_ref, s2_ref, c_ref = kernels.update_cells_reference(**prob)
    s1 = prob["s1"].copy()
    s2 = prob["s2"].copy()
    out = np.full(4, np.nan)
    args = dict(prob, s1=s1, s2=s2)
    kernels.update_cells(**args, out=out)
    return s1, s2, out, s1_ref, s2_ref, c_ref


@SETTINGS
@given(update_problems())
def test_update_cells_matches_reference(prob: dict) -> None:
    before = (prob["s1"].copy(), prob["s2"].copy())
    s1, s2, out, s1_ref, s2_ref, c_ref = _run_both(prob)
    np.testing.assert_array_equal(s1, s1_ref)
    np.testing.assert_array_equal(s2, s2_ref)
    np.testing.assert_allclose(out, c_ref, rtol=1e-9, atol=0)
    # the reference does not touch its inputs
    np.testing.assert_array_equal(prob["s1"], before[0])
    np.testing.assert_array_equal(prob["s2"], before[1])
    # counters against plain arithmetic
    act = (prob["polarity"] != 0) & (prob["pulse_ns"] > 0)
    assert out[0] == act.sum()
    assert out[1] == np.count_nonzero(s1 != before[0]) + np.count_nonzero(s2 != before[1])
    assert out[3] == pytest.approx(prob["pulse_ns"][act].sum(), rel=1e-12, abs=0)
    # only active cells change, and only towards the polarity's targets
    assert not np.any((s1 != before[0]) & ~act)
    up = act & (prob["polarity"] > 0)
    assert np.all(s1[up] >= before[0][up]) and np.all(s2[up] <= before[1][up])
    dn = act & (prob["polarity"] < 0)
    assert np.all(s1[dn] <= before[0][dn]) and np.all(s2[dn] >= before[1][dn])


@pytest.mark.parametrize("variation", [False, True])
def test_update_cells_matches_reference_large(variation: bool) -> None:
    """One larger problem per regime mix (many cells near p in (0, 1))."""
    rng = np.random.default_rng(12345 + variation)
    shape = (150, 211)

    def dev(nom: float) -> np.ndarray:
        return nom * rng.lognormal(0.0, 0.2, shape) if variation else np.full(shape, nom)

    rp1, rp2 = dev(2000.0), dev(2000.0)
    prob = dict(
        s1=rng.integers(0, 2, shape).astype(np.int8), s2=rng.integers(0, 2, shape).astype(np.int8),
        pulse_ns=rng.uniform(0.0, 5.0, shape), polarity=rng.integers(-1, 2, shape).astype(np.int8),
        current_scale=rng.uniform(0.3, 1.3, shape), u1=rng.random(shape), u2=rng.random(shape),
        rp1=rp1, rap1=rp1 * 2.5, ic01=dev(50.0), d1=dev(20.0),
        rp2=rp2, rap2=rp2 * 2.5, ic02=dev(50.0), d2=dev(20.0),
        v_write=1.0, r_access=1000.0, tau_d_ns=1.0, tau0_ns=1.0,
    )
    s1, s2, out, s1_ref, s2_ref, c_ref = _run_both(prob)
    np.testing.assert_array_equal(s1, s1_ref)
    np.testing.assert_array_equal(s2, s2_ref)
    np.testing.assert_allclose(out, c_ref, rtol=1e-9)
    # the problem really exercises switching in both regimes
    assert 0 < out[1] < 2 * s1.size


def test_update_cells_hand_example() -> None:
    """One (AP, P) cell pushed up with a pulse: closed-form p, energy V*I*t, both MTJs flip."""
    v, r_p, r_ap, r_acc, ic0, delta, tau_d, t = 1.0, 2000.0, 5000.0, 1000.0, 50.0, 60.0, 1.0, 4.0
    i_ua = v / (r_ap + r_p + r_acc) * 1e6                   # 125 uA, i = 2.5
    p = math.exp(-(math.pi**2 * delta / 4) * math.exp(-2 * (i_ua / ic0 - 1) * t / tau_d))
    one = np.ones((1, 1))
    s1 = np.zeros((1, 1), np.int8)
    s2 = np.ones((1, 1), np.int8)
    out = np.zeros(4)
    u = np.full((1, 1), p * 0.999)                          # just below p: switches
    kernels.update_cells(s1, s2, one * t, np.ones((1, 1), np.int8), one, u, u,
                         one * r_p, one * r_ap, one * ic0, one * delta,
                         one * r_p, one * r_ap, one * ic0, one * delta,
                         v, r_acc, tau_d, 1.0, out)
    assert (s1[0, 0], s2[0, 0]) == (1, 0)
    np.testing.assert_allclose(out, [1.0, 2.0, v * i_ua * t, t], rtol=1e-12)
    # u just above p: nothing switches, the pulse is still paid for
    s1[:] = 0
    s2[:] = 1
    kernels.update_cells(s1, s2, one * t, np.ones((1, 1), np.int8), one, u / 0.999 * 1.001,
                         u / 0.999 * 1.001, one * r_p, one * r_ap, one * ic0, one * delta,
                         one * r_p, one * r_ap, one * ic0, one * delta,
                         v, r_acc, tau_d, 1.0, out)
    assert (s1[0, 0], s2[0, 0]) == (0, 1)
    np.testing.assert_allclose(out, [1.0, 0.0, v * i_ua * t, t], rtol=1e-12)


# ----------------------------------------------------------------------------- quantiser

float_arrays = hnp.arrays(
    dtype=st.sampled_from([np.float64, np.float32]),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=9),
    elements=st.one_of(
        st.floats(-10.0, 10.0, width=32),
        st.floats(allow_nan=True, allow_infinity=True, width=32),
    ),
)


@SETTINGS
@given(float_arrays, st.one_of(st.just(0.0), st.floats(1e-3, 20.0), st.floats(-5.0, 0.0)),
       st.integers(1, 12))
def test_quantize_matches_reference(x: np.ndarray, full_scale: float, bits: int) -> None:
    got = kernels.quantize_symmetric(x, full_scale, bits)
    want = kernels.quantize_symmetric_reference(x, full_scale, bits)
    assert got.shape == x.shape and got.dtype == x.dtype
    np.testing.assert_array_equal(got, want)


@SETTINGS
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=20),
                  elements=st.floats(-1e300, 1e300)),
       st.floats(1e-3, 20.0), st.integers(1, 12))
def test_quantize_levels_and_saturation(x: np.ndarray, full_scale: float, bits: int) -> None:
    """Written-out contract: 2**bits - 1 levels (at least 3) on a uniform grid, nearest level,
    saturating at +-full_scale with the sign of the input."""
    q = kernels.quantize_symmetric(x, full_scale, bits)
    half = max((2**bits - 1) // 2, 1)
    step = full_scale / half
    k = q / step
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    assert np.all(np.abs(q) <= full_scale * (1 + 1e-12))
    inside = np.abs(x) <= full_scale
    assert np.all(np.abs(q - x)[inside] <= step / 2 * (1 + 1e-9))
    assert np.all(q[x > full_scale + step] == pytest.approx(full_scale))
    assert np.all(q[x < -full_scale - step] == pytest.approx(-full_scale))


def test_quantize_hand_values() -> None:
    x = np.array([0.0, 0.24, 0.26, 1.0, 2.9, 3.1, 100.0, -100.0, 1e300, -1e300, np.inf, -np.inf])
    # 3 bits: 7 levels, half = 3, step = 1 over [-3, 3]
    q = kernels.quantize_symmetric(x, 3.0, 3)
    np.testing.assert_array_equal(q, [0.0, 0.0, 0.0, 1.0, 3.0, 3.0, 3.0, -3.0, 3.0, -3.0, 3.0,
                                      -3.0])
    # 1 bit: still three levels {-fs, 0, fs}
    np.testing.assert_array_equal(kernels.quantize_symmetric(np.array([-0.6, 0.4, 0.6]), 1.0, 1),
                                  [-1.0, 0.0, 1.0])
    # full scale 0: zeros
    np.testing.assert_array_equal(kernels.quantize_symmetric(x[:6], 0.0, 8), np.zeros(6))
    assert kernels.quantize_symmetric(np.zeros((0, 4)), 1.0, 8).shape == (0, 4)


def test_quantize_non_contiguous_input() -> None:
    x = np.linspace(-2.0, 2.0, 60).reshape(6, 10)[:, ::3]
    np.testing.assert_array_equal(kernels.quantize_symmetric(x, 1.5, 4),
                                  kernels.quantize_symmetric_reference(x, 1.5, 4))


# ----------------------------------------------------------------------------- _p_switch


def _closed_form(t: float, i: float, delta: float, tau_d: float, tau0: float) -> float:
    """science.md §3 written out: precessional above I_c0, thermal activation at or below."""
    if t <= 0:
        return 0.0
    if i > 1.0:
        return math.exp(-(math.pi**2 * delta / 4.0) * math.exp(-2.0 * (i - 1.0) * t / tau_d))
    tau = tau0 * math.exp(delta * (1.0 - i))
    return -math.expm1(-t / tau)


@SETTINGS
@given(st.one_of(st.floats(-5.0, 0.0), st.floats(0.0, 60.0), st.just(0.0)),
       st.one_of(st.floats(0.0, 1.0), st.floats(1.0, 8.0), st.just(1.0)),
       st.floats(1.0, 120.0), st.floats(0.05, 10.0), st.floats(0.1, 10.0))
def test_p_switch_kernel_matches_device_module(t: float, i: float, delta: float, tau_d: float,
                                               tau0: float) -> None:
    got = kernels._p_switch(t, i, delta, tau_d, tau0)
    # dispatching function: current = i uA through I_c0 = 1 uA keeps i exact
    want = float(mtj.p_switch(t, i, 1.0, delta, tau_d, tau0))
    assert got == pytest.approx(want, rel=1e-9, abs=1e-15)
    assert got == pytest.approx(_closed_form(t, i, delta, tau_d, tau0), rel=1e-9, abs=1e-15)
    if i > 1.0:
        assert got == pytest.approx(float(mtj.p_switch_precessional(t, i, delta, tau_d)),
                                    rel=1e-9, abs=1e-15)
    else:
        assert got == pytest.approx(float(mtj.p_switch_thermal(t, i, delta, tau0)),
                                    rel=1e-9, abs=1e-15)
    assert 0.0 <= got <= 1.0
    # the numpy twin agrees too (numpy's and libm's exp may differ in the last ulp)
    ref = float(kernels.p_switch_reference(np.array(t), np.array(i), np.array(delta), tau_d,
                                           tau0))
    assert got == pytest.approx(ref, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("t", "want"), [(1.0, 0.0), (3.0, 0.69283), (5.0, 0.99330)])
def test_p_switch_kernel_hand_points(t: float, want: float) -> None:
    # i = 2, Delta = 60, tau_D = 1 ns: P = exp(-148.04 * exp(-2 t)); t = 5: exp(-0.006726)
    assert kernels._p_switch(t, 2.0, 60.0, 1.0, 1.0) == pytest.approx(want, abs=1e-5)


def test_p_switch_kernel_no_pulse() -> None:
    assert kernels._p_switch(0.0, 3.0, 60.0, 1.0, 1.0) == 0.0
    assert kernels._p_switch(-1.0, 0.5, 5.0, 1.0, 1.0) == 0.0


@settings(max_examples=40, deadline=None)
@given(m=st.integers(0, 5000), k=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_line_square_sums_matches_twin(m: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for x in (rng.integers(-1, 2, (m, k)).astype(np.float32),
              rng.standard_normal((m, k)).astype(np.float32)):
        np.testing.assert_allclose(kernels.line_square_sums(x),
                                   kernels.line_square_sums_reference(x), rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [2100, 1 << 21])     # the serial and the multi-threaded kernel
def test_quantize_inplace_equals_copy_and_reference_bit_for_bit(dtype, n: int) -> None:
    """The in-place kernel (its own loop, see ``_quantize_inplace_body``) gives the bits of the
    copying kernel and of the numpy twin: ties to even, signed zeros, saturation, inf, NaN."""
    from pnmsim.kernels.converters import PARALLEL_MIN

    assert (n >= PARALLEL_MIN) == (n == 1 << 21)
    x = (np.random.default_rng(1).standard_normal(n) * 4.0).astype(dtype)
    step = dtype(2.5 / 31)
    x[:7] = [np.inf, -np.inf, np.nan, -0.0, 0.0, dtype(-1e-30), dtype(1e30)]
    x[7:200] = (np.arange(193) - 96.5).astype(dtype) * step     # exact halves: ties to even
    ref = kernels.quantize_symmetric_reference(x, 2.5, 6, 0.5)
    copy = kernels.quantize_symmetric(x, 2.5, 6, 0.5)
    y = x.copy()
    out = kernels.quantize_symmetric(y, 2.5, 6, 0.5, inplace=True)
    assert out is y and copy is not x
    ints = np.int32 if dtype == np.float32 else np.int64
    for got in (out, copy):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.view(ints), ref.view(ints))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 7), (3, 5, 7), (7, 100, 512), (40, 9, 11), (12,),
                                   (40, 1, 1), (200,), (100000, 3),
                                   (2, 1 << 20)])   # the last: the multi-threaded form
def test_quantize_sum_equals_quantise_then_numpy_sum_bit_for_bit(dtype, shape) -> None:
    """The one-pass digitise-and-add of grouped partial sums gives the bits of the numpy
    twin quantised group by group, then ``sum(axis=0)``: saturation, ties, inf, NaN (one per
    position; two NaNs may keep another's payload), -0.0; one value a group (NumPy's
    pairwise order)."""
    from pnmsim.kernels.converters import PARALLEL_MIN

    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 30.0).astype(dtype)
    flat = x.reshape(-1)
    step = dtype(37.5 / 127)
    flat[:7] = [np.inf, -np.inf, np.nan, -0.0, 0.0, dtype(-1e-30), dtype(1e30)][:flat.size]
    flat[7:60] = (np.arange(53) - 26.5).astype(dtype)[:max(0, flat.size - 7)] * step  # ties
    want = kernels.quantize_symmetric_reference(x, 37.5, 8, 0.25).sum(axis=0)
    got = kernels.quantize_sum(x, 37.5, 8, 0.25)
    assert got.dtype == dtype and got.shape == shape[1:]
    assert (x.size >= PARALLEL_MIN) == (shape == (2, 1 << 20))
    ints = np.int32 if dtype == np.float32 else np.int64
    np.testing.assert_array_equal(got.view(ints), want.view(ints))
    # a hand case: two groups of three values, 2 bits (levels -1, 0, 1 of full scale 1)
    two = np.array([[0.2, 0.6, -2.0], [0.7, -0.7, 0.4]], dtype=dtype)
    np.testing.assert_array_equal(kernels.quantize_sum(two, 1.0, 2), [1.0, 0.0, -1.0])
    np.testing.assert_array_equal(kernels.quantize_sum(two, 0.0, 2), [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="at least one group"):
        kernels.quantize_sum(np.zeros((0, 3), dtype=dtype), 1.0, 2)


def test_kernel_cache_is_dropped_when_any_kernel_source_changes(tmp_path) -> None:
    """numba checks only a function's own file; the package drops its cached machine code when
    any kernel source changes (a caller in cell.py must not keep an old bias.py callee)."""
    from pathlib import Path

    import pnmsim.kernels
    from pnmsim.kernels._cache import drop_stale_machine_code

    src = Path(pnmsim.kernels.__file__).parent
    for f in src.glob("*.py"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    drop_stale_machine_code(tmp_path)              # first run: stamp written
    stamp = (cache / "kernel-sources.sha256").read_text()
    (cache / "cell.update_cells-1.py311.nbi").write_text("x")
    (cache / "cell.update_cells-1.py311.1.nbc").write_text("x")
    (cache / "cell.cpython-311.pyc").write_text("x")
    drop_stale_machine_code(tmp_path)              # sources unchanged: cache kept
    assert (cache / "cell.update_cells-1.py311.nbi").exists()
    with open(tmp_path / "bias.py", "a") as fh:    # a callee's file is edited
        fh.write("\n# edited\n")
    drop_stale_machine_code(tmp_path)
    assert not (cache / "cell.update_cells-1.py311.nbi").exists()
    assert not (cache / "cell.update_cells-1.py311.1.nbc").exists()
    assert (cache / "cell.cpython-311.pyc").exists()          # Python's own cache untouched
    assert (cache / "kernel-sources.sha256").read_text() != stamp


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (784, 512), (17, 300)])
@pytest.mark.parametrize("variation", [False, True])
def test_conductances_equal_the_numpy_expression_bit_for_bit(shape, variation: bool) -> None:
    """One-pass conductances (G1 - G2, G1 + G2, float32 (G1 - G2) / dG) against the NumPy
    expression written out: reciprocals of the device arrays, selects on the states."""
    rng = np.random.default_rng(7)
    r_p, tmr = 5e3, 1.4
    if variation:   # per-device resistances
        rp1, rp2 = (r_p * (1 + 0.05 * rng.standard_normal(shape)) for _ in range(2))
    else:
        rp1, rp2 = np.full(shape, r_p), np.full(shape, r_p)
    rap1, rap2 = rp1 * (1 + tmr), rp2 * (1 + tmr)
    s1 = (rng.random(shape) < 0.5).astype(np.int8)
    s2 = (rng.random(shape) < 0.5).astype(np.int8)
    dg = 1 / r_p - 1 / (r_p * (1 + tmr))
    gdiff, gsum = np.empty(shape), np.empty(shape)
    w32 = np.empty(shape, dtype=np.float32)
    kernels.conductances(s1, s2, rp1, rap1, rp2, rap2, dg, gdiff, gsum, w32)
    g1 = np.where(s1 == 1, 1.0 / rp1, 1.0 / rap1)
    g2 = np.where(s2 == 1, 1.0 / rp2, 1.0 / rap2)
    assert np.array_equal(gdiff, g1 - g2)
    assert np.array_equal(gsum, g1 + g2)
    assert np.array_equal(w32, ((g1 - g2) / dg).astype(np.float32))
    if not variation:   # nominal devices: the logical weights exactly
        assert np.array_equal(w32, (s1 - s2).astype(np.float32))


def test_conductances_zero_divisors_give_numpy_inf_and_nan() -> None:
    """NumPy's error model: a zero resistance or dG gives inf/NaN as the NumPy expression
    does (warnings aside), not an exception."""
    s1 = np.array([[1, 0, 1]], dtype=np.int8)
    s2 = np.array([[0, 0, 1]], dtype=np.int8)
    rp = np.array([[0.0, 5e3, 5e3]])
    rap = np.array([[1.2e4, 0.0, 1.2e4]])
    gdiff, gsum = np.empty((1, 3)), np.empty((1, 3))
    w32 = np.empty((1, 3), dtype=np.float32)
    kernels.conductances(s1, s2, rp, rap, rp, rap, 0.0, gdiff, gsum, w32)
    with np.errstate(divide="ignore", invalid="ignore"):
        g1 = np.where(s1 == 1, 1.0 / rp, 1.0 / rap)
        g2 = np.where(s2 == 1, 1.0 / rp, 1.0 / rap)
        want_w = ((g1 - g2) / 0.0).astype(np.float32)
        want_d, want_s = g1 - g2, g1 + g2
    assert np.array_equal(gdiff, want_d, equal_nan=True)
    assert np.array_equal(gsum, want_s, equal_nan=True)
    assert np.array_equal(w32, want_w, equal_nan=True)


def test_crossbar_states_of_another_shape_are_refused_as_before() -> None:
    """States set directly with a shape that does not broadcast to the array's: the NumPy
    form's ValueError, never the kernel writing past its outputs."""
    from pnmsim.config import load_arch
    from pnmsim.crossbar import Crossbar
    cb = Crossbar(64, 64, load_arch("reference"), np.random.default_rng(0))
    cb.s1 = np.zeros((64, 128), dtype=np.int8)
    cb.s2 = np.zeros((64, 128), dtype=np.int8)
    cb._invalidate()
    with pytest.raises(ValueError):
        cb._conductances()


def _lowered_by_loops(a: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    """The lowered convolution input written out element by element: row (n, oy, ox),
    column (c, ky, kx), zero where the window reads the padding."""
    n, h, w, c = a.shape
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    out = np.zeros((n * oh * ow, c * k * k), dtype=a.dtype)
    for i in range(n):
        for oy in range(oh):
            for ox in range(ow):
                for ch in range(c):
                    for ky in range(k):
                        for kx in range(k):
                            y, x = oy * stride + ky - pad, ox * stride + kx - pad
                            if 0 <= y < h and 0 <= x < w:
                                out[(i * oh + oy) * ow + ox, (ch * k + ky) * k + kx] = \
                                    a[i, y, x, ch]
    return out


@pytest.mark.parametrize("shape,k,stride,pad", [
    ((3, 12, 12, 4), 5, 1, 0), ((2, 9, 11, 3), 3, 2, 1), ((4, 6, 6, 2), 3, 1, 2),
    ((1, 5, 5, 1), 5, 3, 0), ((2, 7, 5, 3), 2, 2, 0)])
def test_window_line_stats_equal_the_lowered_matrix(shape, k: int, stride: int,
                                                    pad: int) -> None:
    rng = np.random.default_rng(sum(shape) + k)
    tern = rng.choice(np.array([-1, 0, 1], dtype=np.float32), size=shape)
    x = _lowered_by_loops(tern, k, stride, pad)
    x2, nnz = kernels.window_line_stats(tern, k, stride, pad)
    # activations: the same integers, and the squares' sums bit for bit (sums of ones)
    assert np.array_equal(nnz, np.count_nonzero(x, axis=0)) and nnz.dtype == np.int64
    assert np.array_equal(x2, np.square(x.astype(np.float64)).sum(axis=0))
    assert np.array_equal(x2, kernels.line_stats(x)[0])
    # real values: the same statistics to rounding (another order of additions)
    real = (rng.uniform(-1, 1, shape) * (rng.random(shape) < 0.6)).astype(np.float32)
    xr = _lowered_by_loops(real, k, stride, pad)
    r2, rn = kernels.window_line_stats(real, k, stride, pad)
    assert np.array_equal(rn, np.count_nonzero(xr, axis=0))
    np.testing.assert_allclose(r2, np.square(xr.astype(np.float64)).sum(axis=0), rtol=1e-12)


IM2COL_WIDE_CASES = [  # (N, H, W, C, k, stride, pad): C >= 8, the kernel's copy
    (2, 7, 6, 9, 3, 1, 0),
    (1, 9, 9, 8, 5, 2, 1),
    (3, 5, 7, 16, 2, 3, 2),
    (2, 12, 12, 32, 5, 1, 0),   # the MNIST CNN's second convolution
    (1, 4, 4, 8, 4, 1, 0),      # one output position
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", IM2COL_WIDE_CASES)
def test_im2col_kernel_copies_each_entry(case: tuple[int, ...], dtype: type) -> None:
    """From 8 channels on im2col_nhwc copies with kernels.im2col_into_nhwc: every entry is
    the one the lowering's definition names, and the kernel writes every entry (its output
    starts as NaN; the map has none)."""
    import pnmsim.nn.layers as layers

    n, h, w, c, k, s, p = case
    assert c >= layers._IM2COL_KERNEL_MIN_C
    x = np.random.default_rng(c + k).standard_normal((n, h, w, c)).astype(dtype)
    ref = _lowered_by_loops(x, k, s, p)
    got = layers.im2col_nhwc(x, k, s, p)
    assert got.dtype == dtype and got.flags.c_contiguous
    np.testing.assert_array_equal(got, ref)
    out = np.full_like(ref, np.nan)
    kernels.im2col_into_nhwc(np.pad(x, ((0, 0), (p, p), (p, p), (0, 0))), k, s, out)
    np.testing.assert_array_equal(out, ref)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 12), h=st.integers(1, 7), w=st.integers(1, 7),
       k=st.integers(1, 4), stride=st.integers(1, 3), pad=st.integers(0, 2),
       seed=st.integers(0, 2**16))
def test_im2col_kernel_and_numpy_copies_agree(n: int, c: int, h: int, w: int, k: int,
                                              stride: int, pad: int, seed: int) -> None:
    """The kernel's copy and numpy's give the same matrix over random shapes (each forced
    through the channel threshold), the written-out one."""
    import pnmsim.nn.layers as layers

    if k > min(h, w) + 2 * pad:
        return
    x = np.random.default_rng(seed).standard_normal((n, h, w, c)).astype(np.float32)
    saved = layers._IM2COL_KERNEL_MIN_C
    try:
        layers._IM2COL_KERNEL_MIN_C = 1
        a = layers.im2col_nhwc(x, k, stride, pad)
        layers._IM2COL_KERNEL_MIN_C = 10**9
        b = layers.im2col_nhwc(x, k, stride, pad)
    finally:
        layers._IM2COL_KERNEL_MIN_C = saved
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, _lowered_by_loops(x, k, stride, pad))


def _counting_kernel(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count calls of kernels.im2col_into_nhwc made through im2col_nhwc."""
    calls: list[int] = []
    real = kernels.im2col_into_nhwc

    def counted(*args: object) -> None:
        calls.append(1)
        real(*args)

    monkeypatch.setattr(kernels, "im2col_into_nhwc", counted)
    return calls


@pytest.mark.parametrize("dtype,c,taken", [
    (np.float32, 8, True), (np.float64, 32, True), (np.float32, 7, False),
    (np.dtype(">f4"), 9, False), (np.float16, 9, False), (np.int16, 9, False),
    (np.bool_, 9, False),
])
def test_im2col_takes_the_kernel_for_wide_float_maps_only(monkeypatch: pytest.MonkeyPatch,
                                                           dtype: type, c: int,
                                                           taken: bool) -> None:
    """The kernel's copy for float32/float64 maps of 8+ channels, numpy's for the rest (the
    kernel is not built for other dtypes); the same values either way."""
    from pnmsim.nn.layers import im2col_nhwc

    calls = _counting_kernel(monkeypatch)
    x = (np.random.default_rng(3).standard_normal((2, 6, 5, c)) * 10).astype(dtype)
    got = im2col_nhwc(x, 3, 1, 1)
    assert bool(calls) is taken
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, _lowered_by_loops(x, 3, 1, 1))


def test_im2col_kernel_path_with_numpy_integer_sizes_and_strided_maps(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """NumPy integer k/stride (a uint8 k would wrap c * k * k in NumPy's arithmetic) and maps
    that are not C-contiguous (reversed, strided, Fortran order, read-only) lower right."""
    from pnmsim.nn.layers import im2col_nhwc

    calls = _counting_kernel(monkeypatch)
    x = np.random.default_rng(5).standard_normal((1, 20, 20, 8)).astype(np.float32)
    got = im2col_nhwc(x, np.uint8(17), np.int8(1), np.uint8(0))
    assert got.shape == (16, 8 * 17 * 17)
    np.testing.assert_array_equal(got, _lowered_by_loops(x, 17, 1, 0))
    big = np.random.default_rng(6).standard_normal((3, 14, 12, 18)).astype(np.float64)
    ro = big.copy()
    ro.flags.writeable = False
    for v in (big[:, ::-1], big[::2, 1::2, :, ::2], np.asfortranarray(big), ro):
        np.testing.assert_array_equal(im2col_nhwc(v, 3, 2, 1), _lowered_by_loops(v, 3, 2, 1))
    assert len(calls) == 5


def test_im2col_kernel_refuses_wrong_sizes() -> None:
    x = np.zeros((1, 6, 6, 8), dtype=np.float32)
    with pytest.raises(ValueError):   # out of the wrong shape: nothing written out of bounds
        kernels.im2col_into_nhwc(x, 3, 1, np.empty((16, 8), dtype=np.float32))
    with pytest.raises(ValueError):
        kernels.im2col_into_nhwc(x, 0, 1, np.empty((0, 0), dtype=np.float32))
    with pytest.raises(ValueError):
        kernels.im2col_into_nhwc(x, 3, -1, np.empty((16, 72), dtype=np.float32))


def test_window_line_stats_refuses_a_flat_input() -> None:
    with pytest.raises(ValueError, match="N, H, W, C"):
        kernels.window_line_stats(np.zeros((4, 16), dtype=np.float32), 3)


@pytest.mark.parametrize("shape,dtype", [((1000, 784), np.float32), ((5000, 25), np.float32),
                                         ((3, 7), np.float64), ((1, 1), np.float32)])
def test_quantize_lines_is_quantise_then_line_stats_bit_for_bit(shape, dtype) -> None:
    rng = np.random.default_rng(shape[0])
    x = (rng.uniform(-1.2, 1.2, shape) * (rng.random(shape) < 0.7)).astype(dtype)
    keep = x.copy()
    q, (x2, nnz) = kernels.quantize_lines(x, 1.0, 6)
    want = kernels.quantize_symmetric(x, 1.0, 6)
    want_x2, want_nnz = kernels.line_stats(want)
    assert q.dtype == want.dtype and q.tobytes() == want.tobytes()
    assert x2.tobytes() == want_x2.tobytes() and np.array_equal(nnz, want_nnz)
    assert x.tobytes() == keep.tobytes()         # the input is not converted in place
    q0, (z2, znz) = kernels.quantize_lines(x, 0.0, 6)    # no range: zeros, no lines driven
    assert not q0.any() and not z2.any() and not znz.any()


@pytest.mark.parametrize("shape", [(1000, 512), (6400, 33), (1, 1), (300, 7)])
def test_line_stats_of_activations_equal_the_full_pass(shape) -> None:
    """``ternary``: the counts-only pass gives the full pass's bits for {-1, 0, 1} entries,
    and the full pass's result for anything else (it checks)."""
    rng = np.random.default_rng(shape[1])
    x = rng.choice(np.array([-1, 0, 1], dtype=np.float32), size=shape)
    x[0, 0] = -0.0
    full = kernels.line_stats(x)
    got = kernels.line_stats(x, ternary=True)
    assert got[0].tobytes() == full[0].tobytes() and np.array_equal(got[1], full[1])
    for bad in (0.5, np.nan, -np.inf, 2.0):
        y = x.copy()
        y[-1, -1] = bad
        want = kernels.line_stats(y)
        got = kernels.line_stats(y, ternary=True)
        assert got[0].tobytes() == want[0].tobytes() and np.array_equal(got[1], want[1])
