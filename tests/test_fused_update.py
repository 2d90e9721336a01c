"""The speed paths equal the plain paths they replace, bit for bit.

* :meth:`Crossbar.update_per_cell_fused` (one numba pass) against the three-step path it
  replaces: :meth:`Crossbar.update_per_cell` (state-aware pulse widths, jitter, write kernel),
  :func:`pnmsim.array.per_cell_facts` and the full conductance refresh — states, counters,
  facts, pulsed cells, changed weights, conductances and effective weights.
* :func:`kernels.line_stats` against numpy (square sums and non-zero counts per column).
* :func:`pnmsim.hw.timing.per_cell_tiles_cycles` against the per-tile closed form.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from pnmsim import kernels
from pnmsim.array import per_cell_facts
from pnmsim.config import load_arch
from pnmsim.crossbar import Crossbar
from pnmsim.hw import timing
from pnmsim.mapping import map_network
from pnmsim.pulses import PulseMapper
from pnmsim.workload import load_workload


@pytest.mark.parametrize("preset, over", [
    ("reference", ()),
    ("variation", ()),                                    # device variation and jitter
    ("reference", ("update.max_pulse_ns=2.0",)),          # capped pulses
    ("reference", ("periphery.pulse_resolution_ns=0.5",)),  # a coarse pulse grid
    ("reference", ("synapse.zero_encoding=apap",)),
    ("reference", ("periphery.pulse_resolution_ns=0.00001",)),   # too fine for the look-up
])
@pytest.mark.parametrize("scale", [0.05, 0.6, 1.7])      # small, large, whole-level steps
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf
def test_fused_update_equals_three_step_path(preset: str, over: tuple[str, ...],
                                             scale: float) -> None:
    arch = load_arch(preset, over)
    rows, cols, tile_rows = 150, 70, 64
    rng = np.random.default_rng(3)
    a = Crossbar(rows, cols, arch, np.random.default_rng(9))
    a.set_weights(rng.integers(-1, 2, (rows, cols)))
    b = copy.deepcopy(a)
    mapper = PulseMapper(arch)
    step = (rng.standard_normal((rows, cols)) * scale).astype(np.float32)
    step[rng.random((rows, cols)) < 0.1] = 0.0
    if scale > 1:    # diverged training: steps far beyond a whole level, and infinities
        step[0, :6] = [1e20, -1e25, np.inf, -np.inf, 2.0**63, -(2.0**62)]
    for _ in range(3):   # a few steps: states move, the incremental conductances must follow
        ra, rb = np.random.default_rng(5), np.random.default_rng(5)
        a.effective_weights(np.float32)
        cnt_a, col, read, pulsed, changed = a.update_per_cell_fused(step, 1.0, mapper, ra,
                                                                    tile_rows)
        before = b.weights()
        got: list[np.ndarray] = []
        cnt_b = b.update_per_cell(np.asarray(step, np.float64) / 1.0, mapper, rb, got)
        sign = np.sign(np.asarray(step, np.float64))

        class _Mp:   # the mapping fields per_cell_facts reads
            class layer:  # noqa: N801
                pass
            row_tiles = -(-rows // tile_rows)
        _Mp.tile_rows = tile_rows
        _Mp.layer.rows = rows
        facts = per_cell_facts(got[0], sign, _Mp, True)  # type: ignore[arg-type]
        assert np.array_equal(a.s1, b.s1) and np.array_equal(a.s2, b.s2)
        assert (cnt_a.pulses, cnt_a.switched) == (cnt_b.pulses, cnt_b.switched)
        assert cnt_a.write_fj == cnt_b.write_fj
        assert cnt_a.pulse_ns_total == cnt_b.pulse_ns_total
        assert np.array_equal(col, facts.col_pulse_ns)
        assert np.array_equal(read, facts.read_cols)
        pb = ((got[0] > 0) & (sign != 0))
        pad = _Mp.row_tiles * tile_rows - rows
        pb = np.vstack([pb, np.zeros((pad, cols), bool)]).reshape(_Mp.row_tiles, tile_rows,
                                                                  cols).sum(axis=1)
        assert np.array_equal(pulsed, pb)
        assert changed == int(np.count_nonzero(b.weights() != before))
        # the incrementally kept conductances equal a full refresh
        ga, gs = a._conductances()
        gb, gsb = b._conductances()
        assert np.array_equal(ga, gb) and np.array_equal(gs, gsb)
        assert np.array_equal(a.effective_weights(np.float32), b.effective_weights(np.float32))
        assert np.array_equal(a._gsum_lines(), b._gsum_lines())
        assert np.array_equal(a._gsum_lines(transpose=True), b._gsum_lines(transpose=True))
        assert ra.random() == rb.random()    # the same number of draws


@pytest.mark.parametrize("m, k", [(1, 1), (7, 3), (5000, 33)])
def test_line_stats_matches_numpy(m: int, k: int) -> None:
    rng = np.random.default_rng(m)
    x = rng.standard_normal((m, k)).astype(np.float32)
    x[rng.random((m, k)) < 0.4] = 0.0
    sq, nnz = kernels.line_stats(x)
    assert np.array_equal(sq, kernels.line_square_sums(x))    # bit-identical to the old pass
    assert np.allclose(sq, np.square(x.astype(np.float64)).sum(axis=0), rtol=1e-12)
    assert np.array_equal(nnz, np.count_nonzero(x, axis=0))


def test_per_cell_tiles_cycles_equals_per_tile() -> None:
    arch = load_arch("reference", ("array.tile_rows=32", "array.tile_cols=16"))
    mp = map_network(load_workload("tiny_mlp"), arch).layers[0]
    rng = np.random.default_rng(1)
    n = mp.row_tiles
    col = rng.uniform(0, 9, (n, mp.layer.cols, 2)) * (rng.random((n, mp.layer.cols, 2)) < .7)
    from pnmsim.records import UpdateFacts
    facts = UpdateFacts("per_cell", state_aware=True, col_pulse_ns=col,
                        read_cols=rng.random((n, mp.layer.cols)) < 0.5)
    tiles = [(r, c * mp.tile_cols, c * mp.tile_cols + mp.cols_in(c))
             for r in range(mp.row_tiles) for c in range(mp.col_tiles)]
    want = [timing.per_cell_tile_cycles(arch, facts, *t) for t in tiles]
    assert timing.per_cell_tiles_cycles(arch, facts, tiles) == want
    # widths that round to 0 or 1 cycle (no driver edge for 0), NaN and negative widths
    cyc = 1e3 / arch.clock_mhz
    col[0, :4, 0] = [1e-10 * cyc, 1e-8 * cyc, -1.0, np.nan]
    col[0, :4, 1] = [cyc, cyc * (1 + 1e-10), 0.0, np.inf * 0]
    want = [timing.per_cell_tile_cycles(arch, facts, *t) for t in tiles]
    assert timing.per_cell_tiles_cycles(arch, facts, tiles) == want
    for bad in ([(n, 0, 4)], [(0, 0, mp.layer.cols + 1)], [(0, 5, 4)], [(-1, 0, 4)]):
        with pytest.raises(ValueError, match="tile outside"):
            timing.per_cell_tiles_cycles(arch, facts, bad)


def test_per_tile_update_counts_sums_each_tile() -> None:
    """The per-tile counts kernel against per-tile sums over column slices written out
    (ragged last tile, bool and integer counts, NaN, negative and zero widths)."""
    rng = np.random.default_rng(3)
    for rt, cols, tc in ((3, 10, 4), (1, 7, 7), (2, 9, 1), (4, 130, 128)):
        pulsed = rng.integers(0, 40, (rt, cols))
        col = rng.uniform(-2, 9, (rt, cols, 2)) * (rng.random((rt, cols, 2)) < .6)
        col[0, 0] = [np.nan, 0.0]
        ct = -(-cols // tc)
        want_p = [int(pulsed[r, c * tc:(c + 1) * tc].sum()) for r in range(rt) for c in range(ct)]
        want_s = [int(np.count_nonzero(col[r, c * tc:(c + 1) * tc] > 0))
                  for r in range(rt) for c in range(ct)]
        got = kernels.per_tile_update_counts(pulsed, col, tc)
        assert got.dtype == np.int64 and got.tolist() == want_p + want_s
        got_b = kernels.per_tile_update_counts(pulsed > 20, col, tc)
        assert got_b[:rt * ct].tolist() == [int((pulsed[r, c * tc:(c + 1) * tc] > 20).sum())
                                           for r in range(rt) for c in range(ct)]
    with pytest.raises(ValueError, match="differ in shape"):
        kernels.per_tile_update_counts(np.zeros((2, 5)), np.zeros((2, 4, 2)), 2)
    with pytest.raises(ValueError, match="no column per tile"):
        kernels.per_tile_update_counts(np.zeros((2, 5)), np.zeros((2, 5, 2)), 0)


def _maxpool_numpy(x: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The numpy form the numba max-pool replaced (first maximum wins, NaN propagates)."""
    oh, ow = x.shape[1] // size, x.shape[2] // size
    y = x[:, 0:oh * size:size, 0:ow * size:size].copy()
    idx = np.zeros(y.shape, dtype=np.uint8)
    for o in range(1, size * size):
        dy, dx = divmod(o, size)
        v = x[:, dy:oh * size:size, dx:ow * size:size]
        better = v > y
        np.maximum(y, v, out=y)
        idx = np.where(better, np.uint8(o), idx)
    return y, idx


@pytest.mark.parametrize("size, h", [(2, 8), (2, 9), (3, 7)])
def test_maxpool_kernels_equal_numpy_forms(size: int, h: int) -> None:
    from pnmsim.nn.layers import maxpool2d_backward_nhwc, maxpool2d_forward_nhwc
    rng = np.random.default_rng(h)
    x = rng.integers(-2, 3, (3, h, h, 5)).astype(np.float32)   # many ties
    x[0, 0, 0, 0] = np.nan
    y, (idx, shape, s) = maxpool2d_forward_nhwc(x, size)
    y0, idx0 = _maxpool_numpy(x, size)
    assert np.array_equal(y, y0, equal_nan=True) and np.array_equal(idx, idx0)
    g = rng.standard_normal(y.shape).astype(np.float32)
    got = maxpool2d_backward_nhwc(g, (idx, shape, s))
    n, oh, ow, c = g.shape
    out = np.zeros((n, oh, size, ow, size, c), dtype=g.dtype)
    for o in range(size * size):
        dy, dx = divmod(o, size)
        np.multiply(g, idx == o, out=out[:, :, dy, :, dx])
    want = np.zeros(x.shape, np.float32)
    want[:, :oh * size, :ow * size] = out.reshape(n, oh * size, ow * size, c)
    assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("k, stride, pad", [(5, 1, 0), (3, 2, 1), (2, 2, 0)])
def test_col2im_kernel_equals_numpy_form(k: int, stride: int, pad: int) -> None:
    from pnmsim.nn.layers import col2im_nhwc, conv_out_size
    rng = np.random.default_rng(k)
    shape = (2, 9, 9, 3)
    oh = conv_out_size(9, k, stride, pad)
    cols = rng.standard_normal((2 * oh * oh, 3 * k * k)).astype(np.float32)
    got = col2im_nhwc(cols, shape, k, stride, pad)
    c6 = cols.reshape(2, oh, oh, 3, k, k)
    out = np.zeros((2, 9 + 2 * pad, 9 + 2 * pad, 3), np.float32)
    for ky in range(k):
        for kx in range(k):
            out[:, ky:ky + stride * (oh - 1) + 1:stride,
                kx:kx + stride * (oh - 1) + 1:stride] += c6[..., ky, kx]
    want = out[:, pad:pad + 9, pad:pad + 9]
    assert np.array_equal(got, want)


@pytest.mark.parametrize("over", [(), ("periphery.pulse_resolution_ns=0.5",),
                                  ("update.max_pulse_ns=2.0",), ("mtj.delta=40",)])
def test_width_lookup_equals_direct_evaluation(over: tuple[str, ...]) -> None:
    """The per-cell write's threshold look-up of a pulse's grid index (written out inside
    :func:`kernels.per_cell_write`) gives the index the direct formula (tanh, logs, rounding to
    the grid) gives, for every cell class, at random steps over 300 decades, at every
    threshold and one ulp either side of it. Read from the kernel's facts: with one row per
    row tile, the widest pulse of (row tile, column) is the cell's own width."""
    from pnmsim.kernels.pulse_index import _width_index_many, width_index_tables

    arch = load_arch("reference", over)
    mp = PulseMapper(arch)
    nom = np.array([mp.r_p, mp.r_ap, mp.r_access, mp.v_write, mp.ic0, mp.delta, mp.tau_d_ns,
                    mp.m, mp.p_max, mp.max_pulse_ns, mp.resolution_ns])
    thr = width_index_tables(nom)[0]
    rng = np.random.default_rng(7)
    fin = thr[np.isfinite(thr)]
    vs = np.concatenate([np.exp(rng.uniform(np.log(1e-300), 0.0, 100_000)),
                         rng.random(100_000), fin, np.nextafter(fin, 0.0),
                         np.nextafter(fin, 1.0)])
    vs = vs[(vs > 0.0) & (vs < 1.0)]
    cols = 500
    vs = np.concatenate([vs, np.full(-vs.size % cols, 0.5)]).reshape(-1, cols)
    n_pulsed = 0
    seen = set()
    for enc in ("", "apap"):
        a0 = load_arch("reference", over + ((f"synapse.zero_encoding={enc}",) if enc else ()))
        for w in (-1, 0, 1):
            for sign in (1.0, -1.0):
                a = Crossbar(vs.shape[0], cols, a0, np.random.default_rng(9))
                a.set_weights(np.full(vs.shape, w))
                cls = int(4 * a.s1[0, 0] + 2 * a.s2[0, 0] + (sign > 0))
                b1, b2 = int(a.s1[0, 0]), int(a.s2[0, 0])
                _, col, _, _, _ = a.update_per_cell_fused(vs * sign, 1.0, PulseMapper(a0),
                                                          np.random.default_rng(1), 1)
                want_n = _width_index_many(vs.reshape(-1), cls, nom).reshape(vs.shape)
                needs = (b1 == (0 if sign > 0 else 1)) or (b2 == (1 if sign > 0 else 0))
                want = np.minimum(want_n * nom[10], nom[9]) if needs else np.zeros(vs.shape)
                assert np.array_equal(col[:, :, 0 if sign > 0 else 1], want), (enc, w, sign)
                n_pulsed += int(np.count_nonzero(want))
                seen.add(cls)
    assert len(seen) == 8                 # every (state, polarity) class
    for cls in range(8):    # each threshold is where the index steps up
        row = thr[cls][np.isfinite(thr[cls])]
        if row.size:
            assert np.all(_width_index_many(row, cls, nom) >= np.arange(1, row.size + 1))
            assert np.all(_width_index_many(np.nextafter(row, 0.0), cls, nom)
                          < np.arange(1, row.size + 1))
    assert n_pulsed > 100_000      # the test exercised pulsed cells, not only zeros


def _lookup_thresholds(over: tuple[str, ...]) -> tuple[object, PulseMapper, np.ndarray]:
    """The preset with ``over``, its pulse mapper and the grid-index look-up's thresholds
    (:func:`pnmsim.kernels.pulse_index.width_index_tables`)."""
    from pnmsim.kernels.pulse_index import width_index_tables

    arch = load_arch("reference", over)
    mp = PulseMapper(arch)
    nom = np.array([mp.r_p, mp.r_ap, mp.r_access, mp.v_write, mp.ic0, mp.delta, mp.tau_d_ns,
                    mp.m, mp.p_max, mp.max_pulse_ns, mp.resolution_ns])
    return arch, mp, width_index_tables(nom)[0]


def _assert_fused_equals_three_step(a: Crossbar, b: Crossbar, step: np.ndarray,
                                    level_step: float, mapper: PulseMapper,
                                    got: list[np.ndarray], min_pulses: int) -> np.ndarray:
    """``step`` written into the twin crossbars ``a`` (the fused update) and ``b`` (the
    three-step path on step / level_step in float64, its widths appended to ``got``): the same
    pulses (more than ``min_pulses``), switches, energy, pulse time, states and changed
    weights. Returns the fused update's widest pulse per (row tile, column, polarity)."""
    cnt_a, col, _, _, changed = a.update_per_cell_fused(step, level_step, mapper,
                                                        np.random.default_rng(5), 64)
    before = b.weights()
    cnt_b = b.update_per_cell(np.asarray(step, np.float64) / level_step, mapper,
                              np.random.default_rng(5), got)
    assert cnt_a.pulses == cnt_b.pulses and cnt_a.pulses > min_pulses
    assert (cnt_a.switched, cnt_a.write_fj, cnt_a.pulse_ns_total) == (
        cnt_b.switched, cnt_b.write_fj, cnt_b.pulse_ns_total)
    assert np.array_equal(a.s1, b.s1) and np.array_equal(a.s2, b.s2)
    assert changed == int(np.count_nonzero(b.weights() != before))
    return col


def _assert_fused_equals_three_step_at(arch: object, mapper: PulseMapper,
                                       step: np.ndarray) -> None:
    """Steps ``step`` (rows, 6) on cells of weights -1, 0, +1 (columns 0-2 and 3-5, each step
    value once in every state): the fused update gives the pulses, facts, states, energy and
    changed weights of the three-step path, which evaluates every width directly in float64."""
    rows, cols = step.shape
    a = Crossbar(rows, cols, arch, np.random.default_rng(9))  # type: ignore[arg-type]
    a.set_weights(np.tile([-1, 0, 1, -1, 0, 1], (rows, 1)))
    b = copy.deepcopy(a)
    got: list[np.ndarray] = []
    col = _assert_fused_equals_three_step(a, b, step, 1.0, mapper, got, min_pulses=rows)
    # the widest pulse per column and polarity: the direct widths of the three-step path
    w = np.asarray(got[0])
    want = np.zeros((cols, 2))
    for k, sel in enumerate((step > 0, step < 0)):
        want[:, k] = np.where(sel & (w > 0), w, 0.0).max(axis=0)
    assert np.array_equal(col.max(axis=0), want)


@pytest.mark.parametrize("over", [(), ("synapse.zero_encoding=apap",),
                                  ("periphery.pulse_resolution_ns=0.5",)])
def test_fused_update_at_every_threshold(over: tuple[str, ...]) -> None:
    """The kernel's own (inlined) grid-index look-up at every threshold of every class and
    one ulp either side of it, plus signed zeros and subnormal steps: the same pulses, facts,
    states and energy as the three-step path, which evaluates every width directly."""
    arch, mapper, thr = _lookup_thresholds(over)
    fin = np.unique(thr[np.isfinite(thr)])
    vs = np.concatenate([fin, np.nextafter(fin, 0.0), np.nextafter(fin, 1.0),
                         [0.0, -0.0, 5e-324, 1e-310, np.nextafter(1.0, 0.0)]])
    vs = vs[vs < 1.0]
    # every value in every (state, polarity): weights -1, 0, +1 for each sign of the step
    step = vs[:, None] * np.array([1, 1, 1, -1, -1, -1], dtype=np.float64)[None, :]
    _assert_fused_equals_three_step_at(arch, mapper, step)


@pytest.mark.parametrize("preset, taken", [("reference", True), ("variation", False)])
def test_kernel_draws_itself_only_at_nominal_devices(preset: str, taken: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """At nominal devices the kernel draws u1/u2 from the generator's chains (so
    test_fused_update_equals_three_step_path compares those draws with the three-step path's
    fills); with variation or jitter the fills stay."""
    import pnmsim.crossbar as cb

    seen: list[bool] = []
    real = cb.pcg64_chains

    def spy(rng: np.random.Generator, n: int) -> np.ndarray | None:
        got = real(rng, n)
        seen.append(got is not None)
        return got

    monkeypatch.setattr(cb, "pcg64_chains", spy)
    arch = load_arch(preset)
    a = Crossbar(40, 30, arch, np.random.default_rng(9))
    a.set_weights(np.random.default_rng(1).integers(-1, 2, (40, 30)))
    step = np.random.default_rng(2).standard_normal((40, 30)).astype(np.float32) * 0.5
    a.update_per_cell_fused(step, 1.0, PulseMapper(arch), np.random.default_rng(5), 16)
    assert seen == ([True] if taken else [])


def test_fused_update_refuses_a_step_of_another_shape() -> None:
    arch = load_arch("reference")
    a = Crossbar(6, 5, arch, np.random.default_rng(9))
    with pytest.raises(ValueError, match="step shape"):
        a.update_per_cell_fused(np.zeros((6, 1), np.float32), 1.0, PulseMapper(arch),
                                np.random.default_rng(1), 4)


def test_write_tables_written_out_and_built_when_not_given(monkeypatch) -> None:
    """The nominal path's tables (kept between calls): per state the series current
    V / (R1 + R2 + R_access), the conductances, and per grid index a needed MTJ's switching
    probability (the numpy twin) and the no-switch energy V i0 t; a write given stand-ins
    instead (the kernel builds the tables itself) gives the same result bit for bit."""
    import pnmsim.crossbar as cbmod
    from pnmsim.kernels.percell import write_tables
    from pnmsim.kernels.reference import p_switch_reference

    arch = load_arch("reference")
    mp = PulseMapper(arch)
    nom = np.array([mp.r_p, mp.r_ap, mp.r_access, mp.v_write, mp.ic0, mp.delta, mp.tau_d_ns,
                    mp.m, mp.p_max, mp.max_pulse_ns, mp.resolution_ns])
    s, d = arch.synapse, arch.mtj
    xb = Crossbar(4, 4, arch, np.random.default_rng(0))
    wtab, stab = write_tables(nom, 50, s.v_write_v, s.r_access_ohm, d.tau_d_ns, d.tau0_ns,
                              arch.update.max_pulse_ns, arch.periphery.pulse_resolution_ns,
                              xb.dg_nominal)
    for x1 in (0, 1):
        for x2 in (0, 1):
            st = 2 * x1 + x2
            r1 = mp.r_p if x1 else mp.r_ap
            r2 = mp.r_p if x2 else mp.r_ap
            i0 = s.v_write_v / (r1 + r2 + s.r_access_ohm) * 1e6
            assert stab[0, st] == pytest.approx(i0, rel=1e-14)
            assert stab[1, st] == pytest.approx(1 / r1 - 1 / r2, rel=1e-14, abs=1e-20)
            assert stab[2, st] == pytest.approx(1 / r1 + 1 / r2, rel=1e-14)
            assert stab[3, st] == pytest.approx((1 / r1 - 1 / r2) / xb.dg_nominal, rel=1e-14,
                                                abs=1e-14)
            t = wtab[0]
            want = p_switch_reference(t, np.full(t.shape, i0 / mp.ic0), np.full(t.shape,
                                      mp.delta), d.tau_d_ns, d.tau0_ns)
            np.testing.assert_allclose(wtab[1 + st], want, rtol=1e-12, atol=1e-300)
            np.testing.assert_allclose(wtab[5 + st], s.v_write_v * i0 * t, rtol=1e-14)
    assert wtab[0, 0] == 0.0 and np.all(np.diff(wtab[0]) >= 0)
    # stand-ins: the kernel builds its own tables; the same bits as with the kept ones
    rng = np.random.default_rng(2)
    a = Crossbar(90, 40, arch, np.random.default_rng(9))
    a.set_weights(rng.integers(-1, 2, (90, 40)))
    b = copy.deepcopy(a)
    step = (rng.standard_normal((90, 40)) * 0.6).astype(np.float32)
    got_a = a.update_per_cell_fused(step, 1.0, mp, np.random.default_rng(5), 32)
    monkeypatch.setattr(cbmod, "_write_tables", lambda *args: cbmod._NO_WRITE_TABLES)
    got_b = b.update_per_cell_fused(step, 1.0, mp, np.random.default_rng(5), 32)
    assert got_a[0].write_fj == got_b[0].write_fj and got_a[4] == got_b[4]
    assert np.array_equal(a.s1, b.s1) and np.array_equal(a.s2, b.s2)
    assert np.array_equal(a._conductances()[1], b._conductances()[1])


def test_pairwise_sum_is_numpys_order() -> None:
    """kernels.lines.pairwise_sum gives the bits of NumPy's sum of a 1-D float64 slice and of
    each row of a 2-D array's sum(axis=1): lengths across the unrolled blocks (8), the leaf
    size (128) and several recursion levels; values spread over many magnitudes so that
    another order would round differently."""
    from pnmsim.kernels.lines import pairwise_sum

    rng = np.random.default_rng(4)
    a = rng.standard_normal(3000) * 10.0 ** rng.integers(-8, 9, 3000)
    lengths = [0, 1, 7, 8, 9, 15, 16, 17, 127, 128, 129, 136, 255, 256, 257, 511, 512, 520,
               784, 1000, 1031, 2049]
    for n in lengths:
        for lo in (0, 3):
            assert pairwise_sum(a, lo, n) == a[lo:lo + n].sum(), (n, lo)
    m = a[:10 * 257].reshape(10, 257)
    assert [pairwise_sum(m[i], 0, 257) for i in range(10)] == m.sum(axis=1).tolist()


@pytest.mark.parametrize("rows, cols", [(300, 520), (150, 70), (512, 10), (9, 1), (4, 3),
                                        (1, 9)])
def test_kernel_line_sums_equal_numpys_of_the_written_states(rows: int, cols: int) -> None:
    """At nominal devices the write kernel sums G1 + G2 along every row (and, once a transposed
    read has used them, every column) of the written array: the bits of NumPy's sums of the
    conductances recomputed from the new states (kernels.conductances_reference)."""
    arch = load_arch("reference")
    rng = np.random.default_rng(rows + cols)
    xb = Crossbar(rows, cols, arch, np.random.default_rng(2))
    xb.set_weights(rng.integers(-1, 2, (rows, cols)))
    mapper = PulseMapper(arch)
    for it in range(3):
        if it:
            xb._gsum_lines(transpose=True)   # a transposed read: column sums wanted from now
        step = (rng.standard_normal((rows, cols)) * 0.8).astype(np.float32)
        xb.update_per_cell_fused(step, 1.0, mapper, np.random.default_rng(it), 64)
        _, gs, _ = kernels.conductances_reference(xb.s1, xb.s2, xb.rp1, xb.rap1, xb.rp2,
                                                  xb.rap2, xb.dg_nominal)
        made_cols = xb._gsum_cols is not None
        assert made_cols == (it > 0 and cols > 1)      # made by the kernel, or not at all
        assert xb._gsum_lines().tobytes() == gs.sum(axis=1).tobytes()
        assert xb._gsum_lines(transpose=True).tobytes() == gs.sum(axis=0).tobytes()


def test_kernel_refuses_line_sums_off_the_nominal_path(monkeypatch) -> None:
    """Only the nominal path sums the lines; a caller that asked for them on another path
    (device variation here) gets an error, not sums the kernel never wrote."""
    arch = load_arch("variation")
    xb = Crossbar(20, 12, arch, np.random.default_rng(1))
    xb.set_weights(np.random.default_rng(2).integers(-1, 2, (20, 12)))
    seen: list[list] = []
    real = kernels.per_cell_write

    def spy(*a):  # noqa: ANN002, ANN202
        seen.append(list(a))
        return real(*a)

    import pnmsim.crossbar as cb
    monkeypatch.setattr(cb.kernels, "per_cell_write", spy)
    step = np.random.default_rng(3).standard_normal((20, 12)).astype(np.float32)
    xb.update_per_cell_fused(step, 1.0, PulseMapper(arch), np.random.default_rng(4), 8)
    args = seen[0]
    assert args[34] is False and args[42].size == 0 and args[43].size == 0
    args[42] = np.empty(20)              # ask for the row sums off the nominal path
    with pytest.raises(ValueError, match="nominal path only"):
        real(*args)


def _flags_reference(step: np.ndarray, s1: np.ndarray, s2: np.ndarray,
                     level_step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The write kernel's pass (A) written out in float64 NumPy: each cell's fractional step,
    its flags byte (1 up, 2 MTJ 1 off target, 4 MTJ 2 off target, 8 whole-level step, 16 a
    pulse to give) and its class 4 b1 + 2 b2 + up."""
    with np.errstate(invalid="ignore"):
        st = step.astype(np.float64) / level_step
        mag = np.abs(st)
        kappa = np.floor(mag)
        v = mag - kappa
    up = (st > 0).astype(np.int8)
    nd1 = s1 == 1 - up
    nd2 = s2 == up
    whole = kappa >= 1.0
    live = (st == st) & (st != 0) & (nd1 | nd2) & (whole | (v > 0))
    flags = up | 2 * nd1 | 4 * nd2 | 8 * whole | 16 * live
    return v, flags.astype(np.int8), (4 * s1 + 2 * s2 + up).astype(np.int8)


def test_float32_flags_pass_equals_the_float64_pass() -> None:
    """:func:`pnmsim.kernels.percell._flags_f32` (float32 arithmetic, two loops) gives the
    flags, classes and fractional steps of the float64 pass written out, on float32 steps with
    signed zeros, subnormals, NaN, infinities, whole levels, values next to integers and huge
    values, in every state."""
    from pnmsim.kernels.percell import _flags_f32

    f32 = np.float32
    tiny = np.nextafter(f32(0), f32(1))
    edge = np.array([0.0, -0.0, tiny, -tiny, 1e-40, -1e-40, np.nan, -np.nan, np.inf, -np.inf,
                     1.0, -1.0, 2.0, 0.5, -0.5, np.nextafter(f32(1), f32(0)),
                     -np.nextafter(f32(1), f32(0)), np.nextafter(f32(1), f32(2)),
                     np.nextafter(f32(3), f32(0)), 2.0**23 + 1, -(2.0**24), 3e38, -3e38,
                     np.finfo(f32).max, 0.1, -0.3, 7.25, -7.75], dtype=f32)
    rng = np.random.default_rng(4)
    rand = np.concatenate([(rng.standard_normal(4000) * s).astype(f32)
                           for s in (1e-30, 1e-3, 0.1, 1.0, 30.0, 1e10)])
    step = np.concatenate([np.repeat(edge, 4), rand])
    n = step.size
    s1 = np.tile(np.array([0, 0, 1, 1], dtype=np.int8), -(-n // 4))[:n]
    s2 = np.tile(np.array([0, 1, 0, 1], dtype=np.int8), -(-n // 4))[:n]
    s1[4 * edge.size:] = rng.integers(0, 2, n - 4 * edge.size)
    s2[4 * edge.size:] = rng.integers(0, 2, n - 4 * edge.size)
    v32 = np.empty(n, np.float32)
    h = np.empty(n, np.int8)
    flags = np.empty(n, np.int8)
    cls = np.empty(n, np.int8)
    _flags_f32(step, s1, s2, v32, h, flags, cls)
    v, want_flags, want_cls = _flags_reference(step, s1, s2, 1.0)
    assert np.array_equal(flags, want_flags)
    assert np.array_equal(cls, want_cls)
    live = (want_flags & 16) != 0
    assert live.sum() > 1000 and (~live).sum() > 1000
    # the fractional step the look-up reads (live cells without a whole-level step), bit for bit
    read = live & ((want_flags & 8) == 0)
    assert np.array_equal(v32[read].astype(np.float64).view(np.int64), v[read].view(np.int64))
    finite = np.isfinite(v)
    assert np.array_equal(v32[finite].astype(np.float64), v[finite])


@pytest.mark.parametrize("over", [(), ("periphery.pulse_resolution_ns=0.5",)])
def test_fused_update_float32_steps_at_every_threshold(over: tuple[str, ...]) -> None:
    """The kernel's float32 flags pass (float32 steps, level step 1) in the whole update: the
    look-up's thresholds rounded to float32 and the float32 values either side of them, plus
    signed zeros, float32 subnormals and whole levels, in every state and for both signs:
    the same pulses, facts, states, energy and changed weights as the three-step path, which
    computes every width in float64 from the same steps."""
    arch, mapper, thr = _lookup_thresholds(over)
    fin = np.unique(thr[np.isfinite(thr) & (thr < 1.0)].astype(np.float32))
    f32 = np.float32
    vs = np.concatenate([fin, np.nextafter(fin, f32(0)), np.nextafter(fin, f32(1)),
                         np.array([0.0, -0.0, np.nextafter(f32(0), f32(1)), 1e-40, 1.0, 2.0,
                                   1.25, np.nextafter(f32(1), f32(0))], dtype=f32)])
    step = (vs[:, None] * np.array([1, 1, 1, -1, -1, -1], dtype=f32)[None, :]).astype(f32)
    assert step.dtype == np.float32
    _assert_fused_equals_three_step_at(arch, mapper, step)


@pytest.mark.parametrize("level_step", [0.5, 2.0, float(np.nextafter(1.0, 2.0))])
def test_fused_update_float32_steps_at_other_level_steps(level_step: float) -> None:
    """Float32 steps at a level step other than 1 take the float64 flags pass (the float32
    one is exact only for steps already in units of the level): the same states, counts,
    energy and changed weights as the three-step path on step / level_step in float64."""
    arch = load_arch("reference")
    rows, cols = 120, 50
    rng = np.random.default_rng(11)
    a = Crossbar(rows, cols, arch, np.random.default_rng(9))
    a.set_weights(rng.integers(-1, 2, (rows, cols)))
    b = copy.deepcopy(a)
    mapper = PulseMapper(arch)
    step = (rng.standard_normal((rows, cols)) * 0.7).astype(np.float32)
    step[rng.random((rows, cols)) < 0.1] = 0.0
    step[0, :4] = [1.0, -2.0, 0.5, -1.5]      # whole levels at one level step, not at another
    _assert_fused_equals_three_step(a, b, step, level_step, mapper, [], min_pulses=100)
