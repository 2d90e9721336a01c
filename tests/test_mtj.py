"""Tests of the MTJ device physics module (science.md §3-4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pnmsim.device import mtj

SETTINGS = settings(deadline=None, max_examples=150)

i_prec = st.floats(1.01, 6.0)
i_therm = st.floats(0.0, 1.0)
deltas = st.floats(10.0, 100.0)
taus = st.floats(0.1, 10.0)
times = st.floats(0.0, 100.0)


def closed_form(t: float, i: float, delta: float, tau_d: float) -> float:
    """science.md §3 precessional formula, written out with math."""
    if i <= 1.0 or t <= 0.0:
        return 0.0
    return math.exp(-(math.pi**2 * delta / 4.0) * math.exp(-2.0 * (i - 1.0) * t / tau_d))


def le(a: np.ndarray | float, b: np.ndarray | float) -> bool:
    """a <= b up to rounding of the last few ulps."""
    return bool(np.all(np.asarray(a) <= np.asarray(b) * (1.0 + 1e-12) + 1e-300))


# --- precessional regime -------------------------------------------------------------------


@pytest.mark.parametrize("t", [1.0, 2.0, 3.0, 4.0, 5.0])
def test_precessional_hand_points(t: float) -> None:
    got = mtj.p_switch_precessional(t, 2.0, 60.0, 1.0)
    assert got.dtype == np.float64
    assert got == pytest.approx(closed_form(t, 2.0, 60.0, 1.0), rel=1e-12, abs=1e-300)


def test_precessional_hand_values_and_vector() -> None:
    t = np.arange(1.0, 6.0)
    want = [closed_form(x, 2.0, 60.0, 1.0) for x in t]
    np.testing.assert_allclose(mtj.p_switch_precessional(t, 2.0, 60.0, 1.0), want, rtol=1e-12)
    # t = 3 ns: 148.04 * e^-6 = 0.36697 -> P = 0.69283
    assert mtj.p_switch_precessional(3.0, 2.0, 60.0, 1.0) == pytest.approx(0.69283, abs=1e-5)


@SETTINGS
@given(times, st.floats(0.0, 6.0), deltas, taus)
def test_precessional_matches_closed_form(t: float, i: float, delta: float, tau: float) -> None:
    got = float(mtj.p_switch_precessional(t, i, delta, tau))
    assert got == pytest.approx(closed_form(t, i, delta, tau), rel=1e-12, abs=1e-300)


def test_precessional_edges() -> None:
    assert mtj.p_switch_precessional(0.0, 2.0, 60.0, 1.0) == 0.0
    assert mtj.p_switch_precessional(-1.0, 2.0, 60.0, 1.0) == 0.0
    assert mtj.p_switch_precessional(5.0, 1.0, 60.0, 1.0) == 0.0
    assert mtj.p_switch_precessional(5.0, 0.5, 60.0, 1.0) == 0.0
    assert mtj.p_switch_precessional(1e300, 0.5, 60.0, 1.0) == 0.0
    assert mtj.p_switch_precessional(np.inf, 2.0, 60.0, 1.0) == 1.0
    assert mtj.p_switch_precessional(1e300, 2.0, 60.0, 1.0) == 1.0


def test_broadcasting() -> None:
    t = np.linspace(0.0, 10.0, 7)[:, None]
    i = np.array([0.5, 1.5, 2.0, 3.0])
    got = mtj.p_switch_precessional(t, i, 60.0, 1.0)
    assert got.shape == (7, 4)
    assert got.dtype == np.float64
    curve = mtj.switching_curve(np.linspace(0, 10, 11), np.array([50.0, 150.0]), 100.0, 60, 1, 1)
    assert curve.shape == (2, 11)
    np.testing.assert_array_equal(
        curve[1], mtj.p_switch(np.linspace(0, 10, 11), 150.0, 100.0, 60, 1, 1)
    )


@SETTINGS
@given(times, times, i_prec, deltas, taus)
def test_precessional_bounded_monotone_in_t(
    t1: float, t2: float, i: float, delta: float, tau: float
) -> None:
    lo, hi = sorted((t1, t2))
    p_lo = mtj.p_switch_precessional(lo, i, delta, tau)
    p_hi = mtj.p_switch_precessional(hi, i, delta, tau)
    assert 0.0 <= p_lo <= 1.0 and 0.0 <= p_hi <= 1.0
    assert le(p_lo, p_hi)


@SETTINGS
@given(times, i_prec, i_prec, deltas, taus)
def test_precessional_monotone_in_current(
    t: float, i1: float, i2: float, delta: float, tau: float
) -> None:
    lo, hi = sorted((i1, i2))
    assert le(
        mtj.p_switch_precessional(t, lo, delta, tau), mtj.p_switch_precessional(t, hi, delta, tau)
    )


@SETTINGS
@given(times, times, st.floats(1.0, 500.0), st.floats(1.0, 500.0), deltas, taus)
def test_p_switch_monotone_within_regimes(
    t1: float, t2: float, c1: float, c2: float, delta: float, tau: float
) -> None:
    ic0 = 100.0
    assume((c1 > ic0) == (c2 > ic0))
    lo_t, hi_t = sorted((t1, t2))
    lo_c, hi_c = sorted((c1, c2))
    p = mtj.p_switch(np.array([lo_t, hi_t, hi_t]), np.array([lo_c, lo_c, hi_c]), ic0, delta,
                     tau, 1.0)
    assert np.all((p >= 0.0) & (p <= 1.0))
    assert le(p[0], p[1]) and le(p[1], p[2])
    # sign of the current does not matter
    np.testing.assert_array_equal(
        p, mtj.p_switch([lo_t, hi_t, hi_t], [-lo_c, -lo_c, -hi_c], ic0, delta, tau, 1.0)
    )


def test_p_switch_dispatch() -> None:
    t = np.array([0.5, 2.0, 10.0])
    np.testing.assert_array_equal(
        mtj.p_switch(t, 200.0, 100.0, 60.0, 1.0, 1.0), mtj.p_switch_precessional(t, 2.0, 60, 1)
    )
    np.testing.assert_array_equal(
        mtj.p_switch(t, 50.0, 100.0, 60.0, 1.0, 1.0), mtj.p_switch_thermal(t, 0.5, 60, 1)
    )
    # i == 1 exactly is thermal: documented discontinuity with the precessional side
    assert mtj.p_switch(1.0, 100.0, 100.0, 60.0, 1.0, 1.0) == pytest.approx(1 - math.exp(-1))


# --- inverse and mean -----------------------------------------------------------------------


@SETTINGS
@given(i_prec, deltas, taus, st.floats(0.0, 1.0))
def test_pulse_round_trips_t(i: float, delta: float, tau: float, frac: float) -> None:
    a = mtj.PI2_OVER_4 * delta
    b = 2.0 * (i - 1.0) / tau
    # keep A*exp(-b t) in [1e-6, 700] (P neither 0 nor 1 in float64) and b*t >= 0.01
    bt_lo = max(0.01, math.log(a / 700.0))
    bt_hi = math.log(a / 1e-6)
    t = (bt_lo + frac * (bt_hi - bt_lo)) / b
    p = mtj.p_switch_precessional(t, i, delta, tau)
    assert float(mtj.pulse_for_probability(p, i, delta, tau)) == pytest.approx(t, rel=1e-9)


@SETTINGS
@given(st.floats(1e-300, 1.0 - 1e-12), i_prec, deltas, taus)
def test_probability_round_trips_p(p: float, i: float, delta: float, tau: float) -> None:
    assume(-math.log(p) < 0.999 * mtj.PI2_OVER_4 * delta)
    t = mtj.pulse_for_probability(p, i, delta, tau)
    assert t > 0.0
    assert float(mtj.p_switch_precessional(t, i, delta, tau)) == pytest.approx(p, rel=1e-9)


def test_pulse_for_probability_edges() -> None:
    p0 = math.exp(-mtj.PI2_OVER_4 * 60.0)
    got = mtj.pulse_for_probability([-0.1, 0.0, p0, p0 / 2, 1.0, 1.5], 2.0, 60.0, 1.0)
    np.testing.assert_array_equal(got, [0.0, 0.0, 0.0, 0.0, np.inf, np.inf])
    assert not np.any(np.isnan(got))
    want = 0.5 * math.log(mtj.PI2_OVER_4 * 60.0 / math.log(2.0))
    assert mtj.pulse_for_probability(0.5, 2.0, 60.0, 1.0) == pytest.approx(want, rel=1e-14)
    with pytest.raises(ValueError):
        mtj.pulse_for_probability(0.5, 1.0, 60.0, 1.0)
    with pytest.raises(ValueError):
        mtj.pulse_for_probability(0.5, [2.0, 0.9], 60.0, 1.0)


@pytest.mark.parametrize(("i", "delta", "tau"), [(2.0, 60.0, 1.0), (1.3, 40.0, 2.0)])
def test_mean_switching_time_matches_distribution(i: float, delta: float, tau: float) -> None:
    want = float(mtj.mean_switching_time_ns(i, delta, tau))
    assert want == pytest.approx(
        tau / (2 * (i - 1)) * (0.5772156649015329 + math.log(math.pi**2 * delta / 4)), rel=1e-14
    )
    t = np.linspace(0.0, 20.0 * want, 400_001)
    p = mtj.p_switch_precessional(t, i, delta, tau)
    pdf = np.gradient(p, t)
    assert np.trapezoid(pdf, t) == pytest.approx(1.0, abs=1e-6)
    assert np.trapezoid(t * pdf, t) == pytest.approx(want, rel=1e-3)
    assert mtj.mean_switching_time_ns(1.0, delta, tau) == np.inf


# --- thermal regime -------------------------------------------------------------------------


def test_thermal_tau_and_probability() -> None:
    assert mtj.thermal_tau_ns(0.0, 60.0, 1.0) == pytest.approx(math.exp(60.0), rel=1e-14)
    assert mtj.thermal_tau_ns(0.0, 40.0, 2.0) == pytest.approx(2.0 * math.exp(40.0), rel=1e-14)
    assert mtj.thermal_tau_ns(0.5, 40.0, 1.0) == pytest.approx(math.exp(20.0), rel=1e-14)
    tau = float(mtj.thermal_tau_ns(0.3, 20.0, 1.0))
    assert mtj.p_switch_thermal(tau, 0.3, 20.0, 1.0) == pytest.approx(1.0 - 1.0 / math.e)
    assert mtj.p_switch_thermal(0.0, 0.3, 20.0, 1.0) == 0.0
    assert mtj.p_switch_thermal(-1.0, 0.3, 20.0, 1.0) == 0.0
    assert mtj.p_switch_thermal(np.inf, 0.3, 20.0, 1.0) == 1.0
    assert mtj.p_switch_thermal(1e300, 0.0, 60.0, 1.0) == 1.0
    # tau overflows to inf: never switches, never NaN
    assert mtj.p_switch_thermal(np.inf, 0.0, 1e4, 1.0) == 0.0


@SETTINGS
@given(times, times, i_therm, i_therm, deltas)
def test_thermal_bounded_monotone(t1: float, t2: float, i1: float, i2: float, d: float) -> None:
    lo_t, hi_t = sorted((t1, t2))
    lo_i, hi_i = sorted((i1, i2))
    p = mtj.p_switch_thermal([lo_t, hi_t, hi_t], [lo_i, lo_i, hi_i], d, 1.0)
    assert np.all((p >= 0.0) & (p <= 1.0))
    assert le(p[0], p[1]) and le(p[1], p[2])


def test_read_disturb() -> None:
    p = mtj.read_disturb_probability(1.0, 10.0, 100.0, 60.0, 1.0)
    assert 0.0 < p < 1e-20
    assert p == pytest.approx(math.exp(-54.0), rel=1e-12)
    currents = np.array([5.0, 10.0, 20.0, 40.0, 60.0, 80.0])
    pr = mtj.read_disturb_probability(1.0, currents, 100.0, 60.0, 1.0)
    assert np.all(np.diff(pr) > 0.0)
    np.testing.assert_array_equal(pr, mtj.read_disturb_probability(1.0, -currents, 100, 60, 1))


# --- resistance and energy ------------------------------------------------------------------


def test_resistance_conductance_energy() -> None:
    assert mtj.r_antiparallel_ohm(2000.0, 1.5) == pytest.approx(5000.0)
    assert mtj.delta_conductance_s(2000.0, 1.5) == pytest.approx(1 / 2000 - 1 / 5000)
    assert mtj.delta_conductance_s(np.array([1e3, 2e3]), 1.0).shape == (2,)
    assert mtj.write_energy_fj(1.0, 100, 2) == 200.0
    assert mtj.write_energy_fj(0.5, [100.0, 50.0], 2.0).tolist() == [100.0, 50.0]


# --- variation ------------------------------------------------------------------------------

NOMINAL = {"r_p_ohm": 2000.0, "tmr": 1.5, "ic0_ua": 50.0, "delta": 60.0}


def test_sample_devices_sigma_zero_is_exact_and_draws_nothing() -> None:
    rng = np.random.default_rng(1)
    before = rng.bit_generator.state
    s = mtj.sample_devices((3, 4), rng=rng, **NOMINAL)
    assert rng.bit_generator.state == before
    for name, value in NOMINAL.items():
        arr = getattr(s, name)
        assert arr.shape == (3, 4) and arr.dtype == np.float64
        assert np.all(arr == value)
    s = mtj.sample_devices(5, rng=rng, sigma_tmr=0.1, **NOMINAL)
    assert s.r_p_ohm.shape == (5,) and np.all(s.r_p_ohm == 2000.0) and np.all(s.delta == 60.0)
    assert rng.bit_generator.state != before


@pytest.mark.parametrize("distribution", ["lognormal", "normal"])
def test_sample_devices_moments(distribution: str) -> None:
    rng = np.random.default_rng(12345)
    s = mtj.sample_devices(
        200_000, rng=rng, sigma_r_p=0.1, sigma_tmr=0.1, sigma_ic0=0.1, sigma_delta=0.1,
        distribution=distribution, **NOMINAL,
    )
    for name, value in NOMINAL.items():
        arr = getattr(s, name)
        assert arr.mean() == pytest.approx(value, rel=0.01)
        assert arr.std() / arr.mean() == pytest.approx(0.1, rel=0.02)
    a, b = s.r_p_ohm, s.delta
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01  # independent draws


def test_sample_devices_reproducible_and_ordered() -> None:
    kw = dict(sigma_r_p=0.1, sigma_tmr=0.2, sigma_ic0=0.05, sigma_delta=0.1, **NOMINAL)
    s1 = mtj.sample_devices((10, 10), rng=np.random.default_rng(7), **kw)
    s2 = mtj.sample_devices((10, 10), rng=np.random.default_rng(7), **kw)
    for name in NOMINAL:
        np.testing.assert_array_equal(getattr(s1, name), getattr(s2, name))
    # documented draw order: r_p, tmr, ic0, delta
    z = np.random.default_rng(7).standard_normal((4, 10, 10))
    sl = math.sqrt(math.log1p(0.2**2))
    np.testing.assert_allclose(s1.tmr, 1.5 * np.exp(sl * z[1] - sl**2 / 2), rtol=1e-14)


def test_sample_devices_normal_clip_and_errors() -> None:
    s = mtj.sample_devices(
        50_000, rng=np.random.default_rng(3), sigma_ic0=2.0, distribution="normal", **NOMINAL
    )
    assert s.ic0_ua.min() == pytest.approx(0.05 * 50.0)
    assert np.all(s.ic0_ua >= 0.05 * 50.0)
    assert np.sum(s.ic0_ua == 0.05 * 50.0) > 1000
    with pytest.raises(ValueError):
        mtj.sample_devices(3, rng=np.random.default_rng(0), distribution="uniform", **NOMINAL)
    with pytest.raises(ValueError):
        mtj.sample_devices(3, rng=np.random.default_rng(0), sigma_delta=-0.1, **NOMINAL)


def test_jitter() -> None:
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    v = np.array([1.0, 2.0, 3.0])
    out = mtj.jitter(v, 0.0, rng)
    assert rng.bit_generator.state == before
    np.testing.assert_array_equal(out, v)
    assert out is not v
    big = mtj.jitter(np.full(100_000, 2.0), 0.05, rng)
    assert big.mean() == pytest.approx(2.0, rel=0.01)
    assert big.std() / big.mean() == pytest.approx(0.05, rel=0.02)
    assert np.all(mtj.jitter(np.ones(10_000), 1.0, rng) >= 0.0)
    a = mtj.jitter(v, 0.1, np.random.default_rng(5))
    b = mtj.jitter(v, 0.1, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


# --- affine pulse fit -----------------------------------------------------------------------


def proportional_fit_rms(delta: float, i: float, tau: float, n: int = 200) -> float:
    """Best rms of P(k*|nu|) against tanh(3|nu|) with t0 forced to 0 (1-D grid search)."""
    nu = np.arange(1, n + 1) / n
    y = np.tanh(3.0 * nu)

    def rms(ks: np.ndarray) -> np.ndarray:
        p = mtj.p_switch_precessional(ks[:, None] * nu, i, delta, tau)
        return np.sqrt(np.mean((p - y) ** 2, axis=1))

    ks = np.linspace(0.01, 50.0, 5001)
    k = ks[np.argmin(rms(ks))]
    fine = np.linspace(k - 0.01, k + 0.01, 2001)
    return float(rms(fine).min())


def test_affine_pulse_fit() -> None:
    t0, k, err = mtj.affine_pulse_fit(60.0, 2.0, 1.0)
    assert t0 > 0.0 and k > 0.0
    assert err < 0.03
    nu = np.arange(1, 201) / 200
    p = mtj.p_switch_precessional(t0 + k * nu, 2.0, 60.0, 1.0)
    assert np.sqrt(np.mean((p - np.tanh(3 * nu)) ** 2)) == pytest.approx(err, rel=1e-12)
    prop = proportional_fit_rms(60.0, 2.0, 1.0)
    assert prop > 0.08
    assert prop > 5 * err
    # deterministic, and a local minimum: nudging t0 or k makes it worse
    assert mtj.affine_pulse_fit(60.0, 2.0, 1.0) == (t0, k, err)
    for dt0, dk in [(0.01, 0), (-0.01, 0), (0, 0.01), (0, -0.01)]:
        p = mtj.p_switch_precessional(t0 + dt0 + (k + dk) * nu, 2.0, 60.0, 1.0)
        assert np.sqrt(np.mean((p - np.tanh(3 * nu)) ** 2)) > err


def test_affine_pulse_fit_scaling() -> None:
    t0, k, err = mtj.affine_pulse_fit(60.0, 2.0, 1.0)
    # time scales with tau_d / (i - 1); k scales with 1 / L
    t0b, kb, errb = mtj.affine_pulse_fit(60.0, 3.0, 2.0, level_step=2.0)
    assert t0b == pytest.approx(t0, rel=1e-6)
    assert kb == pytest.approx(k / 2.0, rel=1e-6)
    assert errb == pytest.approx(err, rel=1e-6)
    with pytest.raises(ValueError):
        mtj.affine_pulse_fit(60.0, 1.0, 1.0)
