"""Two-MTJ synapse crossbar: GXNOR reads vs the ideal V_rd*dG*(x @ W), read/write energy written
out, variation, Monte-Carlo update statistics vs the analytic two-MTJ probabilities (both update
schemes), pulse mapping, binary synapses and action counters.

Every reference below is computed in the test from the preset's numbers and science.md §3-4.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pnmsim import kernels
from pnmsim.config import ArchConfig, load_arch, with_overrides
from pnmsim.crossbar import Counts, Crossbar
from pnmsim.pulses import PulseMapper

# V^2 * S * ns = 1e-9 J = 1e6 fJ;  V * uA * ns = 1e-15 J = 1 fJ
FJ_PER_V2_S_NS = 1e6


# The tests of this module check the pulse-mapping arithmetic with a pulse generator of
# negligible width step (1e-12 ns: widths equal the formulas to ~1e-13 relative); the
# quantisation to the preset's 0.05 ns grid is tested in tests/test_two_mtj_physics.py.
FINE_GRID = ["periphery.pulse_resolution_ns=1e-12"]


@pytest.fixture(scope="module")
def ref() -> ArchConfig:
    return load_arch("reference", overrides=FINE_GRID)


# The reference preset's update as it was before state-aware pulses: affine widths set for the
# nominal current of a +-1 cell. Tests of the fixed-reference mapper build on this explicitly.
FIXED_AFFINE = ["update.pulse_mapping=affine", "update.pulse_reference=fixed", *FINE_GRID]


@pytest.fixture(scope="module")
def ref_fixed() -> ArchConfig:
    return load_arch("reference", overrides=FIXED_AFFINE)


@pytest.fixture(scope="module", params=["fixed", "state"])
def ref_any(request: pytest.FixtureRequest, ref: ArchConfig,
            ref_fixed: ArchConfig) -> ArchConfig:
    """Both pulse references: fixed (affine) and the preset's state-aware exact pulses."""
    cfg = ref_fixed if request.param == "fixed" else ref
    assert cfg.update.pulse_reference == request.param
    return cfg


def _nominal(cfg: ArchConfig) -> dict[str, float]:
    m, s = cfg.mtj, cfg.synapse
    return dict(r_p=m.r_parallel_ohm, r_ap=m.r_parallel_ohm * (1.0 + m.tmr), r_acc=s.r_access_ohm,
                ic0=m.ic0_ua, delta=m.delta, tau_d=m.tau_d_ns, v_w=s.v_write_v, v_rd=s.v_read_v,
                t_rd=s.read_ns)


def _dg(cfg: ArchConfig) -> float:
    n = _nominal(cfg)
    return 1.0 / n["r_p"] - 1.0 / n["r_ap"]


def _p_prec(t: float, i_ratio: float, delta: float, tau_d: float) -> float:
    """science.md §3: P = exp(-(pi^2 Delta / 4) exp(-2 (i - 1) t / tau_D)), i > 1."""
    assert i_ratio > 1.0
    return math.exp(-(math.pi**2 * delta / 4.0) * math.exp(-2.0 * (i_ratio - 1.0) * t / tau_d))


def _t_for_p(p: float, i_ratio: float, delta: float, tau_d: float) -> float:
    """science.md §3 inverse: t(p) = tau_D / (2 (i - 1)) ln((pi^2 Delta / 4) / (-ln p))."""
    return tau_d / (2.0 * (i_ratio - 1.0)) * math.log((math.pi**2 * delta / 4.0) / -math.log(p))


def _states_of(w: np.ndarray, encoding: str) -> tuple[np.ndarray, np.ndarray]:
    """w = s1 - s2 with s = 1 for P: +1 = (P, AP), -1 = (AP, P), 0 = (P, P) or (AP, AP)."""
    z = 1 if encoding == "pp" else 0
    s1 = np.where(w > 0, 1, np.where(w < 0, 0, z))
    s2 = np.where(w > 0, 0, np.where(w < 0, 1, z))
    return s1, s2


def _conductances(cfg: ArchConfig, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = _nominal(cfg)
    s1, s2 = _states_of(w, cfg.synapse.zero_encoding)
    g1 = np.where(s1 == 1, 1.0 / n["r_p"], 1.0 / n["r_ap"])
    g2 = np.where(s2 == 1, 1.0 / n["r_p"], 1.0 / n["r_ap"])
    return g1, g2


def _ternary(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-1, 2, shape).astype(np.int8)


SHAPES = [(1, 1), (1, 7), (6, 1), (5, 3), (37, 21), (130, 64)]
ENCODINGS = ["pp", "apap"]


def _cfg(ref: ArchConfig, encoding: str) -> ArchConfig:
    return ref if encoding == ref.synapse.zero_encoding else with_overrides(
        ref, [f"synapse.zero_encoding={encoding}"])


# ----------------------------------------------------------------------------- reads


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("shape", SHAPES)
def test_read_is_ideal_without_variation(ref: ArchConfig, encoding: str,
                                         shape: tuple[int, int]) -> None:
    cfg = _cfg(ref, encoding)
    rng = np.random.default_rng(hash(shape) % 2**32)
    rows, cols = shape
    cb = Crossbar(rows, cols, cfg, np.random.default_rng(1))
    w = _ternary(rng, shape)
    cb.set_weights(w)
    np.testing.assert_array_equal(cb.weights(), w)
    np.testing.assert_array_equal(cb.effective_weights(), w)
    unit = cfg.synapse.v_read_v * _dg(cfg)            # one unit of x @ W, in amperes
    for m in (1, 4):
        x = _ternary(rng, (m, rows))
        cur, counts = cb.read(x)
        assert cur.shape == (m, cols)
        want = unit * (x.astype(np.int64) @ w.astype(np.int64))
        np.testing.assert_allclose(cur, want, rtol=1e-12, atol=1e-12 * unit)
        assert counts.mvms == m
        assert counts.active_inputs == np.count_nonzero(x)
        # real-valued inputs (DAC levels in [-1, 1])
        xr = rng.uniform(-1.0, 1.0, (m, rows))
        np.testing.assert_allclose(cb.read(xr)[0], unit * (xr @ w), rtol=1e-12,
                                   atol=1e-12 * unit * rows)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("shape", SHAPES)
def test_read_t_is_ideal_transpose(ref: ArchConfig, encoding: str,
                                   shape: tuple[int, int]) -> None:
    cfg = _cfg(ref, encoding)
    rng = np.random.default_rng(7 + shape[0] * 1000 + shape[1])
    rows, cols = shape
    cb = Crossbar(rows, cols, cfg, np.random.default_rng(2))
    w = _ternary(rng, shape)
    cb.set_weights(w)
    unit = cfg.synapse.v_read_v * _dg(cfg)
    d = rng.uniform(-1.0, 1.0, (3, cols))
    cur, counts = cb.read_t(d)
    assert cur.shape == (3, rows)
    np.testing.assert_allclose(cur, unit * (d @ w.T), rtol=1e-12, atol=1e-12 * unit * cols)
    assert counts.mvms == 3 and counts.active_inputs == np.count_nonzero(d)
    # ternary column drives give exact integer multiples
    dt = _ternary(rng, (2, cols))
    np.testing.assert_allclose(cb.read_t(dt)[0], unit * (dt.astype(np.int64) @ w.T),
                               rtol=1e-12, atol=1e-12 * unit)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(("shape", "tile_rows"), [((1, 1), 1), ((5, 3), 2), ((37, 21), 8),
                                                  ((37, 21), 37), ((37, 21), 100),
                                                  ((130, 64), 128)])
def test_read_blocks_partial_sums(ref: ArchConfig, encoding: str, shape: tuple[int, int],
                                  tile_rows: int) -> None:
    cfg = _cfg(ref, encoding)
    rng = np.random.default_rng(tile_rows)
    rows, cols = shape
    cb = Crossbar(rows, cols, cfg, np.random.default_rng(3))
    w = _ternary(rng, shape)
    cb.set_weights(w)
    x = _ternary(rng, (4, rows))
    unit = cfg.synapse.v_read_v * _dg(cfg)
    parts, counts = cb.read_blocks(x, tile_rows)
    n_blocks = -(-rows // tile_rows)
    assert parts.shape == (n_blocks, 4, cols)
    for b in range(n_blocks):
        r0, r1 = b * tile_rows, min(rows, (b + 1) * tile_rows)
        want = unit * (x[:, r0:r1].astype(np.int64) @ w[r0:r1].astype(np.int64))
        np.testing.assert_allclose(parts[b], want, rtol=1e-12, atol=1e-12 * unit)
    full, full_counts = cb.read(x)
    np.testing.assert_allclose(parts.sum(axis=0), full, rtol=1e-12, atol=1e-12 * unit * rows)
    assert counts.mvms == full_counts.mvms
    assert counts.active_inputs == full_counts.active_inputs
    assert counts.read_fj == pytest.approx(full_counts.read_fj, rel=1e-12)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_read_energy_written_out(ref: ArchConfig, encoding: str) -> None:
    cfg = _cfg(ref, encoding)
    n = _nominal(cfg)
    rng = np.random.default_rng(11)
    rows, cols, m = 9, 5, 3
    cb = Crossbar(rows, cols, cfg, np.random.default_rng(4))
    w = _ternary(rng, (rows, cols))
    cb.set_weights(w)
    g1, g2 = _conductances(cfg, w)
    x = rng.uniform(-1.0, 1.0, (m, rows))
    x[:, 0] = 0.0                                     # a closed gate costs nothing
    want = 0.0
    for k in range(m):
        for r in range(rows):
            for c in range(cols):
                u = x[k, r] * n["v_rd"]
                want += u * u * (g1[r, c] + g2[r, c]) * n["t_rd"] * FJ_PER_V2_S_NS
    assert cb.read(x)[1].read_fj == pytest.approx(want, rel=1e-12)
    # transposed read: column c drives every cell of column c
    d = rng.uniform(-1.0, 1.0, (m, cols))
    want_t = sum((d[k, c] * n["v_rd"]) ** 2 * (g1[r, c] + g2[r, c]) * n["t_rd"] * FJ_PER_V2_S_NS
                 for k in range(m) for r in range(rows) for c in range(cols))
    assert cb.read_t(d)[1].read_fj == pytest.approx(want_t, rel=1e-12)
    # all-zero input: no energy
    assert cb.read(np.zeros((2, rows)))[1].read_fj == 0.0
    # the state read before a write: every cell once at V_rd, written out; bit for bit the
    # read of a row of ones (the periphery's read, as the update counted it before)
    want_s = sum(n["v_rd"] ** 2 * (g1[r, c] + g2[r, c]) * n["t_rd"] * FJ_PER_V2_S_NS
                 for r in range(rows) for c in range(cols))
    assert cb.state_read_fj() == pytest.approx(want_s, rel=1e-12)
    assert cb.state_read_fj() == cb.read(np.ones((1, rows)))[1].read_fj


def test_weights_setter_validates(ref: ArchConfig) -> None:
    cb = Crossbar(3, 4, ref, np.random.default_rng(0))
    with pytest.raises(ValueError):
        cb.set_weights(np.zeros((4, 3)))
    with pytest.raises(ValueError):
        cb.set_weights(np.full((3, 4), 2))
    # values that once slipped through |w| <= 1: int8 -128 (its abs is -128), fractions, NaN
    cb.set_weights(np.array([[1, -1, 0, 1]] * 3))
    before = (cb.s1.copy(), cb.s2.copy())
    for bad in (np.int8(-128), 0.5, -0.25, np.nan):
        w = np.zeros((3, 4), dtype=np.asarray(bad).dtype)
        w[1, 2] = bad
        with pytest.raises(ValueError, match="at flat index 6"):
            cb.set_weights(w)
    np.testing.assert_array_equal(cb.s1, before[0])   # a refusal leaves the states alone
    np.testing.assert_array_equal(cb.s2, before[1])
    cb.set_weights(np.array([[1.0, -1.0, 0.0, True]] * 3))   # integer-valued floats are fine
    np.testing.assert_array_equal(cb.weights(), [[1, -1, 0, 1]] * 3)
    cb.set_weights(np.ones((3, 4), dtype=bool))
    np.testing.assert_array_equal(cb.weights(), np.ones((3, 4)))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_set_weights_encoding(ref: ArchConfig, encoding: str) -> None:
    cfg = _cfg(ref, encoding)
    cb = Crossbar(2, 3, cfg, np.random.default_rng(0))
    w = np.array([[1, 0, -1], [0, 1, -1]])
    cb.set_weights(w)
    s1, s2 = _states_of(w, encoding)
    np.testing.assert_array_equal(cb.s1, s1)
    np.testing.assert_array_equal(cb.s2, s2)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_fresh_crossbar_holds_zero_in_the_configured_encoding(ref: ArchConfig,
                                                              encoding: str) -> None:
    cfg = _cfg(ref, encoding)
    cb = Crossbar(4, 5, cfg, np.random.default_rng(0))
    s1, s2 = _states_of(np.zeros((4, 5)), encoding)
    np.testing.assert_array_equal(cb.weights(), 0)
    np.testing.assert_array_equal(cb.s1, s1)
    np.testing.assert_array_equal(cb.s2, s2)


# ----------------------------------------------------------------------------- variation

VARIATION = ["variation.r_parallel_sigma=0.1", "variation.tmr_sigma=0.1",
             "variation.delta_sigma=0.1", "variation.ic0_sigma=0.05",
             "synapse.v_write_v=2.0"]   # keeps the +3 sigma weakest write precessional


def test_devices_without_variation_are_the_preset_values(ref: ArchConfig) -> None:
    """No sigma: every MTJ of both branches holds the preset's R_P, R_P (1 + TMR), I_c0 and
    Delta exactly (written out from the preset, not from the sampler)."""
    d = ref.mtj
    cb = Crossbar(5, 7, ref, np.random.default_rng(0))
    want = {"rp": d.r_parallel_ohm, "rap": d.r_parallel_ohm * (1.0 + d.tmr)}
    for arr, key in ((cb.rp1, "rp"), (cb.rp2, "rp"), (cb.rap1, "rap"), (cb.rap2, "rap")):
        assert arr.shape == (5, 7) and arr.dtype == np.float64
        assert np.all(arr == want[key])
    for m in (cb.m1, cb.m2):
        assert np.all(m.ic0_ua == d.ic0_ua) and np.all(m.delta == d.delta)
        assert np.all(m.tmr == d.tmr)
    # each MTJ's parameters are its own: a fault injected by hand changes that MTJ only
    cb.rp1[0, 0] *= 10
    cb.rap1[0, 0] *= 10
    cb.m1.ic0_ua[0, 0] = 0.0
    assert cb.rp2[0, 0] == d.r_parallel_ohm and cb.rap2[0, 0] == want["rap"]
    assert cb.m2.ic0_ua[0, 0] == d.ic0_ua


def test_variation_draws_each_branch_its_own_devices(ref: ArchConfig) -> None:
    cfg = load_arch("reference", ["variation.r_parallel_sigma=0.02"])
    cb = Crossbar(5, 7, cfg, np.random.default_rng(0))
    assert not np.array_equal(cb.rp1, cb.rp2)
    np.testing.assert_array_equal(cb.rap1, cb.rp1 * (1.0 + cfg.mtj.tmr))
    np.testing.assert_array_equal(cb.rap2, cb.rp2 * (1.0 + cfg.mtj.tmr))


def test_variation_effective_weights(ref: ArchConfig) -> None:
    cfg = with_overrides(ref, VARIATION)
    rng = np.random.default_rng(5)
    rows, cols = 60, 40
    w = _ternary(rng, (rows, cols))
    cb = Crossbar(rows, cols, cfg, np.random.default_rng(42))
    cb.set_weights(w)
    eff = cb.effective_weights()
    nz = w != 0
    # no longer integers where a +-1 weight is stored ...
    assert np.mean(np.abs(eff - np.round(eff))[nz] > 1e-6) > 0.95
    # ... but strongly correlated with W, with the right sign
    assert np.corrcoef(eff.ravel(), w.ravel())[0, 1] > 0.9
    assert np.all(np.sign(eff[nz]) == w[nz])
    # the read is the per-device conductance difference, written out
    g1 = np.where(cb.s1 == 1, 1.0 / cb.m1.r_p_ohm, 1.0 / (cb.m1.r_p_ohm * (1 + cb.m1.tmr)))
    g2 = np.where(cb.s2 == 1, 1.0 / cb.m2.r_p_ohm, 1.0 / (cb.m2.r_p_ohm * (1 + cb.m2.tmr)))
    x = _ternary(rng, (3, rows))
    np.testing.assert_allclose(cb.read(x)[0], cfg.synapse.v_read_v * (x @ (g1 - g2)),
                               rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(eff, (g1 - g2) / _dg(cfg), rtol=1e-12, atol=1e-12)
    # devices really vary
    assert np.std(cb.m1.r_p_ohm) / cfg.mtj.r_parallel_ohm == pytest.approx(0.1, rel=0.2)
    assert np.std(cb.m2.ic0_ua) / cfg.mtj.ic0_ua == pytest.approx(0.05, rel=0.2)


def test_variation_same_seed_reproducible(ref_any: ArchConfig) -> None:
    cfg = with_overrides(ref_any, VARIATION)
    rng = np.random.default_rng(6)
    w = _ternary(rng, (20, 30))
    x = _ternary(rng, (5, 20))
    step = rng.uniform(-1.2, 1.2, (20, 30))
    mapper = PulseMapper(cfg)

    def run(seed: int) -> tuple[Crossbar, np.ndarray, np.ndarray, Counts]:
        cb = Crossbar(20, 30, cfg, np.random.default_rng(seed))
        cb.set_weights(w)
        before = cb.read(x)[0]
        counts = cb.update_per_cell(step, mapper, np.random.default_rng(seed + 1))
        return cb, before, cb.read(x)[0], counts

    a, b = run(9), run(9)
    for name in ("r_p_ohm", "tmr", "ic0_ua", "delta"):
        np.testing.assert_array_equal(getattr(a[0].m1, name), getattr(b[0].m1, name))
        np.testing.assert_array_equal(getattr(a[0].m2, name), getattr(b[0].m2, name))
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])
    np.testing.assert_array_equal(a[0].s1, b[0].s1)
    assert a[3] == b[3]
    c = run(10)
    assert not np.array_equal(a[0].m1.r_p_ohm, c[0].m1.r_p_ohm)


# ----------------------------------------------------------------------------- Monte Carlo

ROWS, COLS = 400, 250                                  # 1e5 cells per experiment
N_CELLS = ROWS * COLS

# start states as (s1, s2), s = 1 for P
STARTS = {"-1 (AP,P)": (0, 1), "0 (P,P)": (1, 1), "0 (AP,AP)": (0, 0), "+1 (P,AP)": (1, 0)}


def _series_i_ratio(cfg: ArchConfig, s1: int, s2: int) -> float:
    """I / I_c0 with I = V_w / (R1 + R2 + R_acc), R of the state before the pulse."""
    n = _nominal(cfg)
    r1 = n["r_p"] if s1 else n["r_ap"]
    r2 = n["r_p"] if s2 else n["r_ap"]
    return n["v_w"] / (r1 + r2 + n["r_acc"]) * 1e6 / n["ic0"]


_NOM = load_arch("reference")   # the MC experiments below use the reference's nominal device


def _pair_split(start: str, pol: int, p: float) -> dict[tuple[int, int], float]:
    """End states of a +-1 cell pulsed towards the other sign (both MTJs must switch), with the
    series current recomputed when the first one switches (science.md §6), by quadrature over
    the first switching time s (closed form, independent of the kernels' sampling):
    ``p`` is the per-MTJ probability at the initial current, so the width is t = t(p, i0);
    with the macrospin progress x = 2 (i - 1) t / tau_D and F(x) = exp(-A e^-x),
    P(k first at s, other also by t) = int b0 f(b0 s) [F(b0 s + b1 (t - s)) - F(b0 s)] ds."""
    n = _nominal(_NOM)
    s1, s2 = STARTS[start]
    amp = math.pi**2 * n["delta"] / 4.0
    i0 = _series_i_ratio(_NOM, s1, s2)
    t = _t_for_p(p, i0, n["delta"], n["tau_d"])
    b0 = 2.0 * (i0 - 1.0) / n["tau_d"]
    s = np.linspace(0.0, t, 200001)

    def cdf(x: np.ndarray) -> np.ndarray:
        return np.exp(-amp * np.exp(-x))

    dens = b0 * amp * np.exp(-b0 * s) * cdf(b0 * s)          # density of one MTJ's time
    out: dict[tuple[int, int], float] = {(s1, s2): (1.0 - p) ** 2}
    for first in (1, 2):
        a1 = 1 - s1 if first == 1 else s1
        a2 = 1 - s2 if first == 2 else s2
        b1 = 2.0 * (_series_i_ratio(_NOM, a1, a2) - 1.0) / n["tau_d"]
        both = cdf(b0 * s + b1 * (t - s)) - cdf(b0 * s)
        only = 1.0 - cdf(b0 * s + b1 * (t - s))
        out[(a1, a2)] = float(np.trapezoid(dens * only, s))
        out[(1 - s1, 1 - s2)] = out.get((1 - s1, 1 - s2), 0.0) + float(
            np.trapezoid(dens * both, s))
    return out


def _transitions(start: str, pol: int, p: float) -> dict[tuple[int, int], float]:
    """Analytic end-state distribution (science.md §4): polarity +1 drives M1 -> P and
    M2 -> AP, -1 the reverse; a device already in its target stays; p is the per-MTJ
    probability at the initial series current. Where one MTJ must switch the current change
    after it does not matter; where both must, :func:`_pair_split`."""
    p1 = p2 = p
    table = {
        ("-1 (AP,P)", -1): {(0, 1): 1.0},
        ("0 (P,P)", +1): {(1, 1): 1 - p2, (1, 0): p2},            # M2 P -> AP
        ("0 (P,P)", -1): {(1, 1): 1 - p1, (0, 1): p1},            # M1 P -> AP
        ("0 (AP,AP)", +1): {(0, 0): 1 - p1, (1, 0): p1},          # M1 AP -> P
        ("0 (AP,AP)", -1): {(0, 0): 1 - p2, (0, 1): p2},          # M2 AP -> P
        ("+1 (P,AP)", +1): {(1, 0): 1.0},                         # saturated
    }
    if (start, pol) in table:
        return table[(start, pol)]
    return _pair_split(start, pol, p)


def _weight_transitions(start: str, pol: int, p1: float, p2: float) -> dict[int, float]:
    """The same at the weight level: leave with 1 - (1 - p)^2, jump two levels as
    :func:`_pair_split` says."""
    if (start == "-1 (AP,P)" and pol > 0) or (start == "+1 (P,AP)" and pol < 0):
        split = _pair_split(start, pol, p1)
        w = {}
        for (a, b), q in split.items():
            w[a - b] = w.get(a - b, 0.0) + q
        return w
    return {}


def _energy_bounds(cfg: ArchConfig, s1: int, s2: int, pol: int, t: float) -> tuple[float, float]:
    """Bounds of one pulse's energy V * integral I dt: the current of every state the pulse can
    pass through (the exact value depends on when the MTJs switch; the time-stepped reference
    in tests/test_two_mtj_physics.py checks its mean)."""
    n = _nominal(cfg)
    t1, t2 = (1, 0) if pol > 0 else (0, 1)
    states = {(a, b) for a in {s1, t1} for b in {s2, t2}}
    cur = [_series_i_ratio(cfg, a, b) * n["ic0"] for a, b in states]
    return n["v_w"] * min(cur) * t, n["v_w"] * max(cur) * t


def _assert_energy(cfg: ArchConfig, got: float, cells: list[tuple[int, int, int, float]]) -> None:
    """Write energy of pulses on cells (s1, s2, pol, t): within the bounds of each, and exact
    (V * I0 * t) where no MTJ can switch."""
    lo = hi = 0.0
    for a, b, pol, t in cells:
        el, eh = _energy_bounds(cfg, a, b, pol, t)
        lo += el
        hi += eh
    assert lo * (1 - 1e-9) <= got <= hi * (1 + 1e-9)


def _check_frequencies(s1: np.ndarray, s2: np.ndarray, start: str, pol: int, p: float) -> None:
    n = s1.size
    expected = _transitions(start, pol, p)
    for a in (0, 1):
        for b in (0, 1):
            q = expected.get((a, b), 0.0)
            count = np.count_nonzero((s1 == a) & (s2 == b))
            # 5 binomial sigmas (+1 count for discreteness where sigma is tiny)
            tol = 5.0 * math.sqrt(n * q * (1.0 - q)) + 1.0
            assert abs(count - n * q) <= tol, (
                f"{start} pol {pol:+d} -> ({a},{b}): {count} vs {n * q:.1f} +- {tol:.1f} (p={p})")
    w = s1.astype(int) - s2.astype(int)
    for wv, q in _weight_transitions(start, pol, p, p).items():
        count = np.count_nonzero(w == wv)
        assert abs(count - n * q) <= 5.0 * math.sqrt(n * q * (1.0 - q)) + 1.0


def _t50(cfg: ArchConfig, start: str) -> float:
    """Pulse width giving P_sw = 0.5 for the series current of this start state."""
    n = _nominal(cfg)
    return _t_for_p(0.5, _series_i_ratio(cfg, *STARTS[start]), n["delta"], n["tau_d"])


@pytest.fixture(scope="module")
def mc_cfg(ref: ArchConfig) -> ArchConfig:
    """Affine mapping with t0 = 0 so that a fractional step nu gives exactly t = k nu; k is
    chosen so every pulse width used below is reachable with nu < 1 (and under max_pulse_ns).
    Fixed pulse reference: every cell gets the same width whatever its state."""
    base = with_overrides(ref, FIXED_AFFINE)
    t_max = max(_t50(base, s) for s in STARTS)
    k = 1.25 * t_max
    assert 1.25 * t_max < base.update.max_pulse_ns
    return with_overrides(base, ["update.affine_t0_ns=0.0", f"update.affine_k_ns={k!r}"])


def _start_crossbar(cfg: ArchConfig, start: str, seed: int) -> Crossbar:
    s1, s2 = STARTS[start]
    enc = "apap" if (s1, s2) == (0, 0) else "pp"
    c = cfg if enc == cfg.synapse.zero_encoding else with_overrides(
        cfg, [f"synapse.zero_encoding={enc}"])
    cb = Crossbar(ROWS, COLS, c, np.random.default_rng(seed))
    cb.set_weights(np.full((ROWS, COLS), s1 - s2))
    assert np.all(cb.s1 == s1) and np.all(cb.s2 == s2)
    return cb


def _check_energy_uniform(cfg: ArchConfig, start: str, pol: int, t: float, n_pulses: int,
                          got: float) -> None:
    """n_pulses identical pulses on cells starting in ``start``: see :func:`_assert_energy`."""
    a, b = STARTS[start]
    lo, hi = _energy_bounds(cfg, a, b, pol, t)
    assert n_pulses * lo * (1 - 1e-9) <= got <= n_pulses * hi * (1 + 1e-9)
    if _mtjs_to_switch(a, b, pol) == 0:       # nothing can switch: V * I0 * t exactly
        assert got == pytest.approx(n_pulses * lo, rel=1e-9)


@pytest.mark.parametrize("t_state", list(STARTS))
@pytest.mark.parametrize("pol", [+1, -1])
@pytest.mark.parametrize("start", list(STARTS))
def test_mc_per_cell_update_statistics(mc_cfg: ArchConfig, start: str, pol: int,
                                       t_state: str) -> None:
    """update_per_cell: every cell gets the same fractional step; frequencies of the end states
    match the analytic two-MTJ probabilities with the state-dependent series current."""
    n = _nominal(mc_cfg)
    mapper = PulseMapper(mc_cfg)
    t = _t50(mc_cfg, t_state)
    nu = t / mc_cfg.update.affine_k_ns
    assert 0 < nu < 1
    # the mapper's pulse is the affine t0 + k nu = k nu
    assert float(mapper.pulse_ns(np.array(nu))) == pytest.approx(t, rel=1e-12)
    cb = _start_crossbar(mc_cfg, start, seed=100)
    seed = 1000 + 17 * list(STARTS).index(start) + 5 * list(STARTS).index(t_state) + pol
    counts = cb.update_per_cell(np.full((ROWS, COLS), pol * nu), mapper,
                                np.random.default_rng(seed))
    p = _p_prec(t, _series_i_ratio(mc_cfg, *STARTS[start]), n["delta"], n["tau_d"])
    _check_frequencies(cb.s1, cb.s2, start, pol, p)
    # counters: every cell got a pulse of exactly mapper.pulse_ns(nu)
    assert counts.pulses == N_CELLS
    assert counts.pulse_ns_total == pytest.approx(N_CELLS * float(mapper.pulse_ns(np.array(nu))),
                                                  rel=1e-9)
    _check_energy_uniform(mc_cfg, start, pol, t, N_CELLS, counts.write_fj)
    s1_0, s2_0 = STARTS[start]
    assert counts.switched == np.count_nonzero(cb.s1 != s1_0) + np.count_nonzero(cb.s2 != s2_0)


@pytest.mark.parametrize(("x_sign", "step_sign"), [(1, 1), (1, -1), (-1, 1), (-1, -1)])
@pytest.mark.parametrize("start", list(STARTS))
def test_mc_outer_product_update_statistics(mc_cfg: ArchConfig, start: str, x_sign: int,
                                            step_sign: int) -> None:
    """update_outer_product: column pulse widths from |col_step|, polarity sign(x) sign(step):
    x = -1 flips the polarity."""
    n = _nominal(mc_cfg)
    mapper = PulseMapper(mc_cfg)
    t = _t50(mc_cfg, start)
    nu = t / mc_cfg.update.affine_k_ns
    cb = _start_crossbar(mc_cfg, start, seed=200)
    seed = 2000 + 7 * list(STARTS).index(start) + 3 * x_sign + step_sign
    counts = cb.update_outer_product(np.full(COLS, step_sign * nu), np.full(ROWS, x_sign),
                                     mapper, np.random.default_rng(seed))
    pol = x_sign * step_sign
    p = _p_prec(t, _series_i_ratio(mc_cfg, *STARTS[start]), n["delta"], n["tau_d"])
    _check_frequencies(cb.s1, cb.s2, start, pol, p)
    assert counts.pulses == N_CELLS
    assert counts.pulse_ns_total == pytest.approx(N_CELLS * t, rel=1e-9)
    _check_energy_uniform(mc_cfg, start, pol, t, N_CELLS, counts.write_fj)


def test_outer_product_gating_and_counters(mc_cfg: ArchConfig) -> None:
    """x = 0 rows and step = 0 columns never change and cost nothing; energy V*I*t per pulse."""
    mapper = PulseMapper(mc_cfg)
    rng = np.random.default_rng(77)
    rows, cols = 120, 90
    cb = Crossbar(rows, cols, mc_cfg, np.random.default_rng(8))
    w0 = _ternary(rng, (rows, cols))
    cb.set_weights(w0)
    s1_0, s2_0 = cb.s1.copy(), cb.s2.copy()
    x = _ternary(rng, rows)
    col_step = rng.uniform(-1.5, 1.5, cols)
    col_step[::7] = 0.0
    counts = cb.update_outer_product(col_step, x, mapper, rng)
    w1 = cb.weights()
    np.testing.assert_array_equal(w1[x == 0], w0[x == 0])
    np.testing.assert_array_equal(w1[:, col_step == 0], w0[:, col_step == 0])
    assert np.any(w1 != w0)
    # widths per column: k |nu| for a fraction, the saturating pulse for a whole step
    mag = np.abs(col_step)
    width = np.where(mag >= 1, mapper.t_sat, mc_cfg.update.affine_k_ns * (mag - np.floor(mag)))
    width = np.where(mag > 0, width, 0.0)
    active = (x[:, None] != 0) & (width[None, :] > 0)
    assert counts.pulses == np.count_nonzero(active)
    pol = np.sign(x)[:, None] * np.sign(col_step)[None, :]
    _assert_energy(mc_cfg, counts.write_fj,
                   [(int(s1_0[r, c]), int(s2_0[r, c]), int(pol[r, c]), float(width[c]))
                    for r in range(rows) for c in range(cols) if active[r, c]])
    assert counts.pulse_ns_total == pytest.approx((active * width[None, :]).sum(), rel=1e-9)
    # a move is always in the direction of sign(x) sign(step)
    want_dir = np.sign(x)[:, None] * np.sign(col_step)[None, :]
    moved = w1 != w0
    assert np.all(np.sign(w1.astype(int) - w0)[moved] == want_dir[moved])


# ----------------------------------------------------------------------------- state-aware pulses
# update.pulse_reference: state (the reference preset): the periphery reads each cell, so the
# pulse is set for the series current of the cell's own state and for the number of MTJs that
# must switch: none (at the bound) -> no pulse; one -> per-MTJ probability p = tanh(3 nu); two
# (+-1 towards the other sign) -> q = 1 - sqrt(1 - p) per MTJ, so that the cell leaves its
# state with probability 1 - (1 - q)^2 = p and jumps two levels with q^2.

STATE_NUS = [0.05, 0.2, 0.45]


def _mtjs_to_switch(s1: int, s2: int, pol: int) -> int:
    """Polarity +1 drives M1 -> P (s = 1) and M2 -> AP (s = 0); -1 the reverse."""
    target1, target2 = (1, 0) if pol > 0 else (0, 1)
    return int(s1 != target1) + int(s2 != target2)


def _state_q(n_need: int, nu: float, m: float = 3.0) -> float:
    """Per-MTJ target probability, closed form."""
    p = math.tanh(m * nu)
    return p if n_need == 1 else 1.0 - math.sqrt(1.0 - p)


def _state_pulse(cfg: ArchConfig, s1: int, s2: int, pol: int, nu: float, kappa: float) -> float:
    """science.md §3 inverse t = tau_D / (2 (i - 1)) ln((pi^2 Delta / 4) / (-ln q)), with
    i = V_w / (R1 + R2 + R_acc) / I_c0 of the cell's state; 0 where nothing must switch or
    nothing is asked; q = p_max for a whole step."""
    n_need = _mtjs_to_switch(s1, s2, pol)
    if n_need == 0 or (nu == 0.0 and kappa < 1):
        return 0.0
    n = _nominal(cfg)
    q = cfg.update.p_max if kappa >= 1 else _state_q(n_need, nu)
    i = _series_i_ratio(cfg, s1, s2)
    t = n["tau_d"] / (2.0 * (i - 1.0)) * math.log((math.pi**2 * n["delta"] / 4.0) / -math.log(q))
    return min(t, cfg.update.max_pulse_ns)


def _assert_binomial(count: int, n: int, prob: float, what: str) -> None:
    tol = 5.0 * math.sqrt(n * prob * (1.0 - prob)) + 1.0
    assert abs(count - n * prob) <= tol, f"{what}: {count} vs {n * prob:.1f} +- {tol:.1f}"


def test_reference_preset_is_state_aware(ref: ArchConfig) -> None:
    u = ref.update
    assert (u.scheme, u.pulse_mapping, u.pulse_reference, u.m) == ("per_cell", "exact",
                                                                    "state", 3.0)
    assert PulseMapper(ref).state_aware
    assert not PulseMapper(with_overrides(ref, FIXED_AFFINE)).state_aware


@pytest.mark.parametrize("pol", [+1, -1])
@pytest.mark.parametrize("start", list(STARTS))
def test_pulse_ns_cells_closed_form(ref: ArchConfig, start: str, pol: int) -> None:
    """One cell of each state: the width is the closed-form inverse at the state's current."""
    mapper = PulseMapper(ref)
    s1, s2 = STARTS[start]
    n_need = _mtjs_to_switch(s1, s2, pol)
    a1, a2, ap = np.array([[s1]], np.int8), np.array([[s2]], np.int8), np.array([[pol]], np.int8)
    for nu in (0.0, 0.01, 0.3, 0.7, 0.99):
        got = mapper.pulse_ns_cells(np.array([[nu]]), np.array([[0.0]]), a1, a2, ap)
        want = _state_pulse(ref, s1, s2, pol, nu, 0.0)
        assert got.shape == (1, 1)
        assert float(got[0, 0]) == pytest.approx(want, rel=1e-9, abs=0.0), (start, pol, nu)
        if n_need and nu > 0:
            assert want > 0.0
            if want < ref.update.max_pulse_ns:      # (AP,AP) near nu = 1 hits the driver cap
                # the MTJ physics at that width and current gives the per-MTJ target
                n = _nominal(ref)
                assert _p_prec(want, _series_i_ratio(ref, s1, s2), n["delta"],
                               n["tau_d"]) == pytest.approx(_state_q(n_need, nu), rel=1e-9)
        else:
            assert float(got[0, 0]) == 0.0
    for nu, kappa in ((0.0, 1.0), (0.4, 2.0)):      # a whole step: q = p_max
        got = float(mapper.pulse_ns_cells(np.array([[nu]]), np.array([[kappa]]), a1, a2,
                                          ap)[0, 0])
        assert got == pytest.approx(_state_pulse(ref, s1, s2, pol, nu, kappa), rel=1e-9,
                                    abs=0.0)
        assert (got > 0) == (n_need > 0)
    # no polarity: no pulse
    zero = mapper.pulse_ns_cells(np.array([[0.5]]), np.array([[0.0]]), a1, a2,
                                 np.array([[0]], np.int8))
    assert float(zero[0, 0]) == 0.0


def test_pulse_ns_cells_vectorised_mixed_states(ref: ArchConfig) -> None:
    """All states, polarities and steps in one call agree with the per-cell closed form."""
    mapper = PulseMapper(ref)
    rng = np.random.default_rng(404)
    shape = (23, 17)
    st = rng.integers(0, 4, shape)
    s1 = np.array([STARTS[k][0] for k in STARTS], np.int8)[st]
    s2 = np.array([STARTS[k][1] for k in STARTS], np.int8)[st]
    pol = rng.integers(-1, 2, shape).astype(np.int8)
    nu = rng.uniform(0.0, 1.0, shape)
    nu[rng.random(shape) < 0.1] = 0.0
    kappa = np.where(rng.random(shape) < 0.15, rng.integers(1, 3, shape), 0).astype(float)
    got = mapper.pulse_ns_cells(nu, kappa, s1, s2, pol)
    want = np.array([[_state_pulse(ref, int(s1[r, c]), int(s2[r, c]), int(pol[r, c]),
                                   float(nu[r, c]), float(kappa[r, c]))
                      if pol[r, c] != 0 else 0.0 for c in range(shape[1])]
                     for r in range(shape[0])])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0.0)
    assert np.count_nonzero(want) > 0.4 * want.size      # the test exercises real pulses
    # update_per_cell hands each cell's state to the mapper (pp zero encoding: no (AP,AP))
    cb = Crossbar(*shape, ref, np.random.default_rng(5))
    w = _ternary(rng, shape)
    cb.set_weights(w)
    step = pol * (kappa + nu)
    widths: list[np.ndarray] = []
    counts = cb.update_per_cell(step, mapper, np.random.default_rng(6), widths_out=widths)
    s1w, s2w = _states_of(w, "pp")
    mag = np.abs(step)
    want_w = np.array([[_state_pulse(ref, int(s1w[r, c]), int(s2w[r, c]), int(np.sign(step[r, c])),
                                     float(mag[r, c] - np.floor(mag[r, c])),
                                     float(np.floor(mag[r, c])))
                        if step[r, c] != 0 else 0.0 for c in range(shape[1])]
                       for r in range(shape[0])])
    assert len(widths) == 1
    np.testing.assert_allclose(widths[0], want_w, rtol=1e-9, atol=1e-12)
    assert counts.pulses == np.count_nonzero(want_w)
    assert counts.pulse_ns_total == pytest.approx(want_w.sum(), rel=1e-9)


@pytest.mark.parametrize("nu", STATE_NUS)
@pytest.mark.parametrize("pol", [+1, -1])
@pytest.mark.parametrize("start", list(STARTS))
def test_mc_state_aware_exact_update(ref: ArchConfig, start: str, pol: int, nu: float) -> None:
    """Reference preset (exact, state-aware): a cell leaves its logical state with probability
    tanh(3 nu) (q = 1 - sqrt(1 - tanh(3 nu)) per MTJ where two must switch: leaving means at
    least one switched, at the initial current); the two-level jump of a +-1 cell follows the
    recomputed current (_pair_split, more than q^2); a cell at the bound gets no pulse."""
    assert (ref.update.pulse_mapping, ref.update.pulse_reference) == ("exact", "state")
    n = _nominal(ref)
    s1_0, s2_0 = STARTS[start]
    w0 = s1_0 - s2_0
    n_need = _mtjs_to_switch(s1_0, s2_0, pol)
    p = math.tanh(3.0 * nu)                         # GXNOR: P(leave the state)
    q = 1.0 - math.sqrt(1.0 - p)                    # per MTJ when both must switch
    cb = _start_crossbar(ref, start, seed=300)
    assert cb.arch.update.pulse_reference == "state"
    seed = 3000 + 37 * list(STARTS).index(start) + 11 * STATE_NUS.index(nu) + pol
    widths: list[np.ndarray] = []
    counts = cb.update_per_cell(np.full((ROWS, COLS), pol * nu), PulseMapper(cb.arch),
                                np.random.default_rng(seed), widths_out=widths)
    w = cb.weights()
    if n_need == 0:
        assert w0 == pol                            # +1 pushed up, -1 pushed down
        np.testing.assert_array_equal(widths[0], 0.0)
        assert counts.pulses == 0 and counts.switched == 0
        assert counts.write_fj == 0.0 and counts.pulse_ns_total == 0.0
        assert np.all(cb.s1 == s1_0) and np.all(cb.s2 == s2_0)
        return
    q_mtj = p if n_need == 1 else q
    i = _series_i_ratio(ref, s1_0, s2_0)
    t = n["tau_d"] / (2.0 * (i - 1.0)) * math.log((math.pi**2 * n["delta"] / 4.0)
                                                    / -math.log(q_mtj))
    assert 0.0 < t < ref.update.max_pulse_ns        # not capped
    np.testing.assert_allclose(widths[0], t, rtol=1e-9)
    # leaving the logical state: tanh(3 nu), whatever the state and polarity
    _assert_binomial(np.count_nonzero(w != w0), N_CELLS, p, f"{start} pol {pol:+d} leave")
    # two-level jump: q^2 from +-1, impossible from 0
    jump = np.count_nonzero(w == -w0) if w0 != 0 else 0
    if w0 == 0:
        assert set(np.unique(w)) <= {0, pol}
    else:
        # with the current recomputed when the first MTJ switches: not q^2 (_pair_split)
        p_jump = _pair_split(start, pol, q)[(1 - s1_0, 1 - s2_0)]
        assert p_jump > q * q
        _assert_binomial(jump, N_CELLS, p_jump, f"{start} pol {pol:+d} jump")
    moved = w != w0
    assert np.all(np.sign(w[moved] - w0) == pol)
    # the full end-state distribution with the per-MTJ probability
    _check_frequencies(cb.s1, cb.s2, start, pol, q_mtj)
    assert counts.pulses == N_CELLS
    assert counts.pulse_ns_total == pytest.approx(N_CELLS * t, rel=1e-9)
    _check_energy_uniform(ref, start, pol, t, N_CELLS, counts.write_fj)
    assert counts.switched == np.count_nonzero(cb.s1 != s1_0) + np.count_nonzero(cb.s2 != s2_0)


def test_state_aware_mixed_bound_cells_cost_nothing(ref: ArchConfig) -> None:
    """In one array, cells at the bound get no pulse and no energy; the others get t(state)
    and an energy within the bounds of the currents they can pass through."""
    rng = np.random.default_rng(505)
    rows, cols = 300, 200
    cb = Crossbar(rows, cols, ref, np.random.default_rng(9))
    w0 = _ternary(rng, (rows, cols))
    cb.set_weights(w0)
    s1_0, s2_0 = cb.s1.copy(), cb.s2.copy()
    pol = np.where(rng.random((rows, cols)) < 0.5, 1, -1)
    nu = 0.3
    counts = cb.update_per_cell(pol * nu, PulseMapper(ref), np.random.default_rng(10))
    bound = w0 == pol
    assert 0 < np.count_nonzero(bound) < bound.size
    w = cb.weights()
    np.testing.assert_array_equal(w[bound], w0[bound])
    assert counts.pulses == np.count_nonzero(~bound)
    cells = []
    for r in range(rows):
        for c in range(cols):
            if not bound[r, c]:
                a, b = int(s1_0[r, c]), int(s2_0[r, c])
                cells.append((a, b, int(pol[r, c]),
                              _state_pulse(ref, a, b, int(pol[r, c]), nu, 0.0)))
    _assert_energy(ref, counts.write_fj, cells)
    assert counts.pulse_ns_total == pytest.approx(sum(c[3] for c in cells), rel=1e-9)
    _assert_binomial(np.count_nonzero(w[~bound] != w0[~bound]), int(np.count_nonzero(~bound)),
                     math.tanh(3.0 * nu), "mixed leave")


# ----------------------------------------------------------------------------- counters


def test_apply_pulses_counters_written_out(ref: ArchConfig) -> None:
    n = _nominal(ref)
    rng = np.random.default_rng(99)
    rows, cols = 50, 40
    cb = Crossbar(rows, cols, ref, np.random.default_rng(3))
    w0 = _ternary(rng, (rows, cols))
    cb.set_weights(w0)
    s1_0, s2_0 = cb.s1.copy(), cb.s2.copy()
    pulse = rng.uniform(0.0, 6.0, (rows, cols))
    pulse[rng.random((rows, cols)) < 0.2] = 0.0
    pulse[0, :5] = 3 * ref.update.max_pulse_ns            # capped at the drivers' maximum
    pol = rng.integers(-1, 2, (rows, cols)).astype(np.int8)
    draw = np.random.default_rng()
    draw.bit_generator.state = rng.bit_generator.state   # apply_pulses draws u1 then u2
    counts = cb.apply_pulses(pulse, pol, rng)
    t = np.minimum(pulse, ref.update.max_pulse_ns)
    active = (pol != 0) & (t > 0)
    assert counts.pulses == np.count_nonzero(active)
    assert counts.switched == np.count_nonzero(cb.s1 != s1_0) + np.count_nonzero(cb.s2 != s2_0)
    _assert_energy(ref, counts.write_fj, [(int(s1_0[r, c]), int(s2_0[r, c]), int(pol[r, c]),
                                           float(t[r, c])) for r in range(rows)
                                          for c in range(cols) if active[r, c]])
    # exactly the numpy twin's energy and states with the same draws
    one = np.ones((rows, cols))
    u1, u2 = draw.random((rows, cols)), draw.random((rows, cols))
    t1, t2, c_ref = kernels.update_cells_reference(
        s1_0, s2_0, t, pol, one, u1, u2, one * n["r_p"], one * n["r_ap"], one * n["ic0"],
        one * n["delta"], one * n["r_p"], one * n["r_ap"], one * n["ic0"], one * n["delta"],
        n["v_w"], n["r_acc"], n["tau_d"], ref.mtj.tau0_ns)
    np.testing.assert_array_equal(cb.s1, t1)
    np.testing.assert_array_equal(cb.s2, t2)
    assert counts.write_fj == pytest.approx(c_ref[2], rel=1e-9)
    assert counts.pulse_ns_total == pytest.approx(t[active].sum(), rel=1e-12)
    # no pulse, no change
    assert not np.any((cb.s1 != s1_0) & ~active)
    # reads after the update see the new state (conductance cache invalidated)
    x = _ternary(rng, (2, rows))
    unit = ref.synapse.v_read_v * _dg(ref)
    np.testing.assert_allclose(cb.read(x)[0], unit * (x @ cb.weights().astype(np.int64)),
                               rtol=1e-12, atol=1e-12 * unit)


def test_counts_add() -> None:
    a = Counts(mvms=1, active_inputs=2, read_fj=1.5, pulses=3, switched=4, write_fj=2.0,
               pulse_ns_total=1.0, extra={"k": 1.0})
    b = Counts(mvms=10, active_inputs=20, read_fj=0.5, pulses=30, switched=40, write_fj=1.0,
               pulse_ns_total=2.0, extra={"k": 2.0, "j": 5.0})
    a += b
    assert (a.mvms, a.active_inputs, a.pulses, a.switched) == (11, 22, 33, 44)
    assert (a.read_fj, a.write_fj, a.pulse_ns_total) == (2.0, 3.0, 3.0)
    assert a.extra == {"k": 3.0, "j": 5.0}


def test_zero_step_no_pulse(ref_any: ArchConfig) -> None:
    cb = Crossbar(10, 10, ref_any, np.random.default_rng(0))
    w0 = _ternary(np.random.default_rng(1), (10, 10))
    cb.set_weights(w0)
    counts = cb.update_per_cell(np.zeros((10, 10)), PulseMapper(ref_any),
                                np.random.default_rng(2))
    assert counts.pulses == 0 and counts.write_fj == 0.0 and counts.switched == 0
    np.testing.assert_array_equal(cb.weights(), w0)


# ----------------------------------------------------------------------------- pulse mapping


def _i_ref(cfg: ArchConfig) -> float:
    """I / I_c0 of a +-1 cell: R_P + R_AP + R_acc in series."""
    n = _nominal(cfg)
    return n["v_w"] / (n["r_p"] + n["r_ap"] + n["r_acc"]) * 1e6 / n["ic0"]


@pytest.mark.parametrize("m", [3.0, 2.0])
def test_exact_mapping_inverts_tanh(ref_fixed: ArchConfig, m: float) -> None:
    cfg = with_overrides(ref_fixed, ["update.pulse_mapping=exact", f"update.m={m}"])
    n = _nominal(cfg)
    mapper = PulseMapper(cfg)
    assert mapper.i_ratio == pytest.approx(_i_ref(cfg), rel=1e-12)
    nu = np.linspace(0.01, 0.99, 99)
    t = mapper.pulse_ns(nu)
    assert np.all(t > 0) and np.all(np.diff(t) > 0)
    # the first MTJ of a +-1 cell moving towards 0, at the reference current, switches with
    # probability tanh(m |nu|)
    p = [_p_prec(ti, _i_ref(cfg), n["delta"], n["tau_d"]) for ti in t]
    np.testing.assert_allclose(p, np.tanh(m * nu), rtol=0, atol=1e-9)
    # and the closed-form inverse gives the same widths
    want = [_t_for_p(math.tanh(m * v), _i_ref(cfg), n["delta"], n["tau_d"]) for v in nu]
    np.testing.assert_allclose(t, want, rtol=1e-9)


def test_affine_mapping_explicit(ref_fixed: ArchConfig) -> None:
    cfg = with_overrides(ref_fixed, ["update.pulse_mapping=affine", "update.affine_t0_ns=0.7",
                               "update.affine_k_ns=3.1"])
    mapper = PulseMapper(cfg)
    nu = np.array([0.0, 0.1, 0.5, 0.99])
    np.testing.assert_allclose(mapper.pulse_ns(nu), [0.0, 0.7 + 0.31, 0.7 + 1.55, 0.7 + 3.069],
                               rtol=1e-12)


def test_affine_mapping_fitted_mimics_tanh(ref_fixed: ArchConfig) -> None:
    cfg = with_overrides(ref_fixed, ["update.pulse_mapping=affine", "update.affine_t0_ns=null",
                               "update.affine_k_ns=null"])
    n = _nominal(cfg)
    mapper = PulseMapper(cfg)
    # dead zone: below nu_dead (where tanh(m nu) = P(t0)) there is no pulse
    p_t0 = _p_prec(mapper.t0, _i_ref(cfg), n["delta"], n["tau_d"])
    assert np.tanh(cfg.update.m * mapper.nu_dead) == pytest.approx(p_t0, rel=1e-9)
    assert float(mapper.pulse_ns(np.array(mapper.nu_dead * 0.99))) == 0.0
    nu = np.linspace(mapper.nu_dead + 0.005, 0.995, 199)
    t = mapper.pulse_ns(nu)
    # affine: constant slope, positive offset
    slope = np.diff(t) / np.diff(nu)
    np.testing.assert_allclose(slope, slope[0], rtol=1e-9)
    t0 = t[0] - slope[0] * nu[0]
    assert t0 >= 0 and slope[0] > 0
    # science.md §4: the MTJ curve stands in for tanh(3 nu), rms ~0.015 at Delta = 60
    p = np.array([_p_prec(ti, _i_ref(cfg), n["delta"], n["tau_d"]) for ti in t])
    rms = float(np.sqrt(np.mean((p - np.tanh(cfg.update.m * nu)) ** 2)))
    assert rms < 0.03


@pytest.mark.parametrize("mapping", ["exact", "affine"])
def test_saturating_pulse_and_zero(ref_fixed: ArchConfig, mapping: str) -> None:
    over = [f"update.pulse_mapping={mapping}"]
    if mapping == "affine":
        over += ["update.affine_t0_ns=1.0", "update.affine_k_ns=2.0"]
    cfg = with_overrides(ref_fixed, over)
    assert cfg.update.pulse_reference == "fixed"
    n = _nominal(cfg)
    mapper = PulseMapper(cfg)
    p_max = cfg.update.p_max
    t_sat = _t_for_p(p_max, _i_ref(cfg), n["delta"], n["tau_d"])
    assert t_sat < cfg.update.max_pulse_ns
    assert mapper.t_sat == pytest.approx(t_sat, rel=1e-12)
    assert _p_prec(mapper.t_sat, _i_ref(cfg), n["delta"], n["tau_d"]) == pytest.approx(p_max,
                                                                                       rel=1e-9)
    nu = np.array([0.0, 0.3, 0.0, 0.6, 0.0])
    kappa = np.array([0.0, 0.0, 1.0, 2.0, 5.0])
    got = mapper.pulse_ns(nu, kappa)
    assert got[0] == 0.0                                   # nu = 0: no pulse
    assert got[1] == pytest.approx(float(mapper.pulse_ns(np.array(0.3))))
    np.testing.assert_allclose(got[2:], t_sat, rtol=1e-12)  # kappa >= 1: saturating pulse
    # per-cell scheme: a whole step gets the saturating pulse
    cb = Crossbar(3, 4, cfg, np.random.default_rng(0))
    cb.set_weights(-np.ones((3, 4)))
    counts = cb.update_per_cell(np.full((3, 4), 1.0), mapper, np.random.default_rng(1))
    assert counts.pulses == 12
    assert counts.pulse_ns_total == pytest.approx(12 * t_sat, rel=1e-12)


def test_pulses_capped_at_max(ref_fixed: ArchConfig) -> None:
    # t0 = 1 ns: P(t0) ~ e^-34, so the dead zone is negligible here
    cfg = with_overrides(ref_fixed, ["update.pulse_mapping=affine", "update.affine_t0_ns=1.0",
                               "update.affine_k_ns=30.0", "update.max_pulse_ns=12.0"])
    mapper = PulseMapper(cfg)
    assert mapper.nu_dead < 1e-12
    np.testing.assert_allclose(mapper.pulse_ns(np.array([0.1, 0.2, 0.9])), [4.0, 7.0, 12.0])
    # saturating pulse capped too
    cfg2 = with_overrides(ref_fixed, ["update.pulse_mapping=exact", "update.max_pulse_ns=0.5"])
    m2 = PulseMapper(cfg2)
    assert m2.t_sat == 0.5
    assert np.all(m2.pulse_ns(np.linspace(0, 0.999, 50)) <= 0.5)
    assert float(m2.pulse_ns(np.array(0.2), np.array(3.0))) == 0.5


# ----------------------------------------------------------------------------- binary synapses


def test_binary_moves_follow_the_polarity(ref_any: ArchConfig) -> None:
    """Binary synapses under many updates: cells without a step never change; every MTJ that
    switched moved towards the polarity's target; a pair may be left half-switched (read as 0:
    the physics keeps what happened, tests/test_two_mtj_physics.py)."""
    cfg = with_overrides(ref_any, VARIATION)
    rng = np.random.default_rng(21)
    rows, cols = 40, 30
    cb = Crossbar(rows, cols, cfg, np.random.default_rng(22), binary=True)
    cb.set_weights(np.where(rng.random((rows, cols)) < 0.5, -1, 1))
    mapper = PulseMapper(cfg)
    changed = 0
    for _ in range(60):
        s1_0, s2_0 = cb.s1.copy(), cb.s2.copy()
        step = rng.uniform(-1.5, 1.5, (rows, cols))
        step[rng.random((rows, cols)) < 0.3] = 0.0
        counts = cb.update_per_cell(step, mapper, rng)
        f1, f2 = cb.s1 != s1_0, cb.s2 != s2_0
        assert not np.any((f1 | f2) & (step == 0))
        up = step > 0
        assert np.all(np.where(up, cb.s1 == 1, cb.s1 == 0)[f1])    # +: M1 -> P
        assert np.all(np.where(up, cb.s2 == 0, cb.s2 == 1)[f2])    # +: M2 -> AP
        assert counts.switched == np.count_nonzero(f1) + np.count_nonzero(f2)
        changed += np.count_nonzero(f1 | f2)
    assert changed > 0


@pytest.mark.parametrize("binary", [False, True])
def test_state_aware_kernel_equals_numpy_twin(binary: bool) -> None:
    """kernels.state_aware_pulses (used by update_per_cell, then quantised to the pulse
    generator's grid) == PulseMapper.pulse_ns_cells."""
    cfg = load_arch("reference")
    mp = PulseMapper(cfg)
    rng = np.random.default_rng(5)
    shape = (37, 23)
    step = rng.normal(0, 0.6, shape)
    step[0, :5] = 0.0
    step[1, :3] = [1.2, -2.5, 0.999999]
    mag = np.abs(step)
    kappa = np.floor(mag)
    nu = mag - kappa
    s1 = rng.integers(0, 2, shape).astype(np.int8)
    s2 = (1 - s1) if binary else rng.integers(0, 2, shape).astype(np.int8)
    s2 = s2.astype(np.int8)
    pol = np.sign(step).astype(np.int8)
    want = mp.pulse_ns_cells(nu, kappa, s1, s2, pol, binary)
    got = mp.quantize(kernels.state_aware_pulses(
        nu, kappa, s1, s2, pol, mp.r_p, mp.r_ap, mp.r_access, mp.v_write, mp.ic0, mp.delta,
        mp.tau_d_ns, mp.m, mp.p_max, mp.max_pulse_ns, binary))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert (got > 0).sum() > 100


def test_read_blocks_into_a_given_buffer(ref: ArchConfig) -> None:
    """``out``: the partial sums land in the caller's buffer (the same values as a fresh
    array, written out as x @ W per block); a buffer of another shape, dtype or layout is
    refused."""
    rng = np.random.default_rng(5)
    cb = Crossbar(37, 21, ref, np.random.default_rng(3))
    w = _ternary(rng, (37, 21))
    cb.set_weights(w)
    x = _ternary(rng, (4, 37)).astype(np.float32)
    buf = np.full((3, 4, 21), np.nan, dtype=np.float32)
    parts, _ = cb.read_blocks_units(x, 16, out=buf)
    assert parts is buf
    for b, (r0, r1) in enumerate(((0, 16), (16, 32), (32, 37))):
        want = x[:, r0:r1].astype(np.int64) @ w[r0:r1].astype(np.int64)
        np.testing.assert_array_equal(buf[b], want.astype(np.float32))
    np.testing.assert_array_equal(buf, cb.read_blocks_units(x, 16)[0])
    for bad in (np.empty((2, 4, 21), np.float32), np.empty((3, 4, 21), np.float64),
                np.empty((3, 21, 4), np.float32).transpose(0, 2, 1)):
        with pytest.raises(ValueError, match="read_blocks_units: out"):
            cb.read_blocks_units(x, 16, out=bad)


def test_read_units_into_a_given_buffer(ref: ArchConfig) -> None:
    """``out``: the line currents (forward and transposed) land in the caller's buffer, equal
    to x @ W and d @ W.T written out; a buffer of another shape or dtype is refused."""
    rng = np.random.default_rng(6)
    cb = Crossbar(37, 21, ref, np.random.default_rng(3))
    w = _ternary(rng, (37, 21))
    cb.set_weights(w)
    x = _ternary(rng, (5, 37)).astype(np.float32)
    d = rng.uniform(-1, 1, (5, 21)).astype(np.float32)
    buf = np.full((5, 21), np.nan, dtype=np.float32)
    y, _ = cb.read_units(x, out=buf)
    assert y is buf
    np.testing.assert_array_equal(buf, (x.astype(np.int64) @ w.astype(np.int64)).astype(np.float32))
    buf_t = np.full((5, 37), np.nan, dtype=np.float32)
    yt, cnt_t = cb.read_units(d, transpose=True, out=buf_t)
    assert yt is buf_t
    np.testing.assert_array_equal(buf_t, cb.read_units(d, transpose=True)[0])
    np.testing.assert_allclose(buf_t, d.astype(np.float64) @ w.T, rtol=1e-6, atol=1e-6)
    for bad in (np.empty((5, 20), np.float32), np.empty((5, 21), np.float64)):
        with pytest.raises(ValueError, match="read_units: out"):
            cb.read_units(x, out=bad)


@pytest.mark.parametrize("overrides, nominal", [
    ([], True),                                        # no variation: every device nominal
    (["variation.delta_sigma=0.02"], False),           # one parameter varies
    (["mtj.r_parallel_ohm=3100"], False),              # devices not at the mapper's values
])
def test_devices_at_the_mappers_values(ref: ArchConfig, overrides: list[str],
                                       nominal: bool) -> None:
    """Whether the fused update may take its nominal-device tables: every device of both MTJs
    at the mapper's R_P, R_AP, I_c0 and Delta, compared here array by array."""
    cfg = with_overrides(ref, overrides)
    cb = Crossbar(24, 18, cfg, np.random.default_rng(3))
    mapper = PulseMapper(ref)       # the preset's nominal devices
    want = all(bool(np.all(a == v)) for a, v in (
        (cb.m1.r_p_ohm, mapper.r_p), (cb.m2.r_p_ohm, mapper.r_p),
        (cb.m1.r_p_ohm * (1 + cb.m1.tmr), mapper.r_ap),
        (cb.m2.r_p_ohm * (1 + cb.m2.tmr), mapper.r_ap), (cb.m1.ic0_ua, mapper.ic0),
        (cb.m2.ic0_ua, mapper.ic0), (cb.m1.delta, mapper.delta), (cb.m2.delta, mapper.delta)))
    assert want is nominal
    assert cb._devices_at(mapper) is nominal
