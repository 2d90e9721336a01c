"""The per-tile counts of pnmsim.counting (built once per layer and setting as a plan) against
the per-tile loops written out: the same keys, the same counts, the keys first seen in the
same order (checkpoints store the tally in that order), for several mappings and settings."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pnmsim.config import load_arch
from pnmsim.counting import (
    _col_slices,
    _row_slices,
    buffer_name,
    count_backward,
    count_forward,
    count_per_cell_update,
    layer_name,
)
from pnmsim.mapping import LayerMapping, bus_words, map_network, sense_groups, tile_name
from pnmsim.records import Tally
from pnmsim.workload import load_workload


def _tn(mp: LayerMapping, r: int, c: int, cls: str) -> str:
    return f"{tile_name(mp.first_tile + r * mp.col_tiles + c)}.{cls}"


def _forward_loop(t: Tally, arch, mp, x, read_fj, sensing, sg, per, groups) -> None:
    ph, lay, m = "feedforward", mp.layer, x.shape[0]
    t.macs[ph] += m * lay.rows * lay.cols
    active = [int(np.count_nonzero(x[:, s])) for s in _row_slices(mp)]
    for r in range(mp.row_tiles):
        for c in range(mp.col_tiles):
            t.add(ph, _tn(mp, r, c, "row_driver"), "row_driver", "drive", active[r])
            if lay.first:
                t.add(ph, _tn(mp, r, c, "dac"), "dac", "convert_input", active[r])
            cols = m * mp.cols_in(c)
            if r % per:
                t.add(ph, _tn(mp, r, c, "psum"), "psum", "join", cols)
                continue
            t.add(ph, _tn(mp, r, c, "line_sense"), "line_sense", "sense", cols)
            if sg > 1:
                t.add(ph, _tn(mp, r, c, "adc"), "adc", "convert", cols)
                if r == 0:
                    t.add(ph, _tn(mp, r, c, "accumulator"), "accumulator", "add", cols * (sg - 1))
                    if sensing == "comparators":
                        t.add(ph, _tn(mp, r, c, "accumulator"), "accumulator", "add", 2 * cols)
            elif r == 0:
                if sensing == "comparators":
                    t.add(ph, _tn(mp, r, c, "comparator"), "comparator", "compare", 2 * cols)
                else:
                    t.add(ph, _tn(mp, r, c, "adc"), "adc", "convert", cols)
    n = lay.cols
    t.add(ph, f"{layer_name(mp)}.synapse", "synapse", "read_fj", read_fj)
    if sensing == "adc":
        t.add(ph, "chip.digital", "digital", "bn", m * n)
    t.add(ph, "chip.periphery_memory", "periphery_memory", "read", 2 * n)
    t.add(ph, buffer_name(mp), "buffer", "read", m * lay.rows)
    t.add(ph, buffer_name(mp), "buffer", "write", m * n)
    t.add(ph, "chip.interconnect", "bus", "transfer", bus_words(arch, mp, ph, m))
    t.add(ph, "chip.controller", "controller", "issue", mp.tiles * groups)


def _backward_loop(t: Tally, arch, mp, dq, read_fj, groups) -> None:
    ph, lay, m = "backprop", mp.layer, dq.shape[0]
    t.macs[ph] += m * lay.rows * lay.cols
    nnz = [int(np.count_nonzero(dq[:, s])) for s in _col_slices(mp)]
    for r in range(mp.row_tiles):
        for c in range(mp.col_tiles):
            rows = m * mp.rows_in(r)
            t.add(ph, _tn(mp, r, c, "dac"), "dac", "convert", nnz[c])
            t.add(ph, _tn(mp, r, c, "col_driver"), "col_driver", "drive", nnz[c])
            t.add(ph, _tn(mp, r, c, "line_sense"), "line_sense", "sense_row", rows)
            t.add(ph, _tn(mp, r, c, "adc"), "adc", "convert", rows)
            if c == 0:
                t.add(ph, _tn(mp, r, c, "accumulator"), "accumulator", "add",
                      rows * (mp.col_tiles - 1))
    t.add(ph, f"{layer_name(mp)}.synapse", "synapse", "read_fj", read_fj)
    t.add(ph, "chip.digital", "digital", "bn", m * lay.cols)
    t.add(ph, buffer_name(mp), "buffer", "read", m * lay.cols)
    t.add(ph, buffer_name(mp), "buffer", "write", m * lay.rows)
    t.add(ph, "chip.interconnect", "bus", "transfer", bus_words(arch, mp, ph, m))
    t.add(ph, "chip.controller", "controller", "issue", mp.tiles * groups)


def _per_cell_loop(t: Tally, mp, width, sign, col, state_aware, rd, grad_macs, m, ns) -> None:
    ph, lay = "update", mp.layer
    pulsed = (width > 0) & (sign != 0)
    rs, cs = _row_slices(mp), _col_slices(mp)
    for r in range(mp.row_tiles):
        for c in range(mp.col_tiles):
            if state_aware:
                t.add(ph, _tn(mp, r, c, "sense_amp"), "sense_amp", "read",
                      2 * mp.rows_in(r) * mp.cols_in(c))
            t.add(ph, _tn(mp, r, c, "row_driver"), "row_driver", "write_pulse",
                  int(np.count_nonzero(pulsed[rs[r], cs[c]])))
            steps = int(np.count_nonzero(col[r, cs[c]] > 0))   # (column, polarity) pairs
            t.add(ph, _tn(mp, r, c, "col_driver"), "col_driver", "write_pulse", steps)
    if state_aware:
        t.add(ph, f"{layer_name(mp)}.synapse", "synapse", "read_fj", rd)
    t.add(ph, f"{layer_name(mp)}.pulse_gen", "pulse_gen", "ns", ns)
    t.add(ph, "chip.digital", "digital", "grad_mac_fp32" if lay.first else "grad_mac", grad_macs)
    t.add(ph, "chip.digital", "digital", "optimizer", lay.rows * lay.cols)
    t.add(ph, "chip.periphery_memory", "periphery_memory", "read", 2 * lay.rows * lay.cols)
    t.add(ph, "chip.periphery_memory", "periphery_memory", "write", 2 * lay.rows * lay.cols)
    t.add(ph, buffer_name(mp), "buffer", "read", m * (lay.rows + lay.cols))


def _archs() -> list:
    ref = load_arch("reference")
    digital = dataclasses.replace(ref, array=dataclasses.replace(ref.array,
                                                                 partial_sums="digital"))
    return [ref, digital, load_arch("tile256")]


def _batch(rng: np.random.Generator, mp: LayerMapping, m: int) -> tuple[np.ndarray, ...]:
    """A batch of m random inputs (some lines never driven) and errors of a layer, a
    per-cell update's widths and signs, and its facts' widest pulse per (row tile, column,
    polarity)."""
    lay = mp.layer
    x = rng.integers(-1, 2, (m, lay.rows)).astype(np.float32)
    x[:, rng.random(lay.rows) < 0.3] = 0.0
    dq = rng.integers(-1, 2, (m, lay.cols)).astype(np.float32)
    width = np.where(rng.random((lay.rows, lay.cols)) < 0.4,
                     rng.uniform(0.5, 20.0, (lay.rows, lay.cols)), 0.0)
    sign = rng.integers(-1, 2, (lay.rows, lay.cols))
    pad = mp.row_tiles * mp.tile_rows - lay.rows
    wz = np.vstack([np.where(sign > 0, width, 0.0), np.zeros((pad, lay.cols))])
    nz = np.vstack([np.where(sign < 0, width, 0.0), np.zeros((pad, lay.cols))])
    shape = (mp.row_tiles, mp.tile_rows, lay.cols)
    col = np.stack([wz.reshape(shape).max(axis=1), nz.reshape(shape).max(axis=1)], -1)
    return x, dq, width, sign, col


@pytest.mark.parametrize("arch_i", [0, 1, 2])
@pytest.mark.parametrize("workload", ["mnist_mlp", "mnist_cnn"])
def test_plans_count_what_the_per_tile_loops_count(arch_i: int, workload: str) -> None:
    arch = _archs()[arch_i]
    rng = np.random.default_rng(arch_i)
    for mp in map_network(load_workload(workload), arch).layers:
        lay = mp.layer
        sg, per = sense_groups(arch, mp)
        for m in (1, 37):
            x, dq, width, sign, col = _batch(rng, mp, m)
            pad = mp.row_tiles * mp.tile_rows - lay.rows
            shape = (mp.row_tiles, mp.tile_rows, lay.cols)
            for sensing in ("adc", "comparators"):
                a, b = Tally(), Tally()
                count_forward(a, arch, mp, x, 1.25, sensing, sg, per, 4)
                _forward_loop(b, arch, mp, x, 1.25, sensing, sg, per, 4)
                assert list(a.counts.items()) == list(b.counts.items())
                assert a.macs == b.macs
                c = Tally()     # with the driven lines counted by the read (line_stats)
                count_forward(c, arch, mp, x, 1.25, sensing, sg, per, 4,
                              nnz_lines=np.count_nonzero(x, axis=0))
                assert list(c.counts.items()) == list(b.counts.items())
            a, b = Tally(), Tally()
            count_backward(a, arch, mp, dq, 0.5, 4)
            _backward_loop(b, arch, mp, dq, 0.5, 4)
            assert list(a.counts.items()) == list(b.counts.items())
            c = Tally()
            count_backward(c, arch, mp, dq, 0.5, 4, nnz_lines=np.count_nonzero(dq, axis=0))
            assert list(c.counts.items()) == list(b.counts.items())
            for aware in (True, False):
                a, b = Tally(), Tally()
                count_per_cell_update(a, mp, width, sign, col, aware, 3.5, 1000, m, 77.0)
                _per_cell_loop(b, mp, width, sign, col, aware, 3.5, 1000, m, 77.0)
                assert list(a.counts.items()) == list(b.counts.items())
                # the write kernel's per-(row tile, column) pulsed counts give the same
                pad_p = np.vstack([(width > 0) & (sign != 0),
                                   np.zeros((pad, lay.cols), dtype=bool)])
                pulsed_cols = pad_p.reshape(shape).sum(axis=1)
                c = Tally()
                count_per_cell_update(c, mp, None, None, col, aware, 3.5, 1000, m, 77.0,
                                      pulsed_cols=pulsed_cols)
                assert list(c.counts.items()) == list(b.counts.items())


def test_plan_sums_added_in_place_are_the_loops_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once every key of a plan is counted, later calls add into the plan's running sums in
    one kernel call (kernels.add_plan): after calls with other batch sizes and data the
    counts, and the order keys first appear, are the per-tile loops'."""
    from pnmsim import kernels

    calls = []
    real = kernels.add_plan
    monkeypatch.setattr(kernels, "add_plan", lambda *a: calls.append(1) or real(*a))
    arch = load_arch("reference")
    rng = np.random.default_rng(5)
    a, b = Tally(), Tally()
    for mp in map_network(load_workload("mnist_mlp"), arch).layers:
        sg, per = sense_groups(arch, mp)
        for m in (37, 5, 37):
            x, dq, width, sign, col = _batch(rng, mp, m)
            count_forward(a, arch, mp, x, 1.25, "adc", sg, per, 4)
            _forward_loop(b, arch, mp, x, 1.25, "adc", sg, per, 4)
            count_backward(a, arch, mp, dq, 0.5, 3)
            _backward_loop(b, arch, mp, dq, 0.5, 3)
            count_per_cell_update(a, mp, width, sign, col, True, 3.5, 1000, m, 77.0)
            _per_cell_loop(b, mp, width, sign, col, True, 3.5, 1000, m, 77.0)
    assert calls    # the in-place sums were taken
    assert list(a.counts.items()) == list(b.counts.items())
    with pytest.raises(ValueError, match="past the counts given"):
        real(np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64),
             np.zeros(2, dtype=np.int64), np.ones(2, dtype=np.int64),
             np.array([0, 1]), 3, np.zeros(1, dtype=np.int64))


def test_a_zero_count_leaves_no_key() -> None:
    """As Tally.add: a count of zero is not recorded (no key appears)."""
    arch = load_arch("reference")
    mp = map_network(load_workload("mnist_mlp"), arch).layers[1]
    t = Tally()
    count_backward(t, arch, mp, np.zeros((5, mp.layer.cols), dtype=np.float32), 0.0, 1)
    assert not any(k[3] in ("convert", "drive") and k[2] in ("dac", "col_driver")
                   for k in t.counts)
    assert all(v != 0 for v in t.counts.values())


def test_planned_counts_are_the_adds_in_call_order() -> None:
    """Tally.add_planned sums per key list and enters counts when they are read: the values and
    the order keys first appear are those of Tally.add called in the same order, with other
    adds in between, across reads, a pickle round trip and a clear."""
    import pickle

    keys = [("p", f"c{i}", "x", "n") for i in range(5)]
    other = [("p", "c9", "x", "n"), ("p", "c2", "x", "n")]   # one shared with the plan
    rng = np.random.default_rng(3)
    a, b = Tally(), Tally()
    for step in range(40):
        v = rng.integers(0, 4, 5) * (rng.random(5) < 0.4)
        if step < 6:
            v[3:] = 0          # the last keys first counted later
        a.add_planned(keys, v.astype(np.int64))
        for k, x in zip(keys, v.tolist(), strict=True):
            b.add(*k, x)
        if step % 3 == 0:
            k = other[step % 2]
            a.add(*k, 7)
            b.add(*k, 7)
        if step % 11 == 10:
            assert list(a.counts.items()) == list(b.counts.items())
        if step == 20:
            a = pickle.loads(pickle.dumps(a))
    assert list(a.counts.items()) == list(b.counts.items())
    assert all(v != 0 for v in a.counts.values())
    a.add_planned(keys, np.array([1, 0, 0, 0, 2], dtype=np.int64))
    a.clear()
    assert not a.counts
    a.add_planned(keys, np.array([0, 0, 5, 0, 0], dtype=np.int64))
    assert list(a.counts.items()) == [(keys[2], 5.0)]
    a.add_planned(keys, np.array([1, 0, 0, 0, 0], dtype=np.int64))
    a.counts = {keys[4]: 2.0}            # replaced: the pending sums go with the old counts
    a.add(*keys[4], 1)
    assert list(a.counts.items()) == [(keys[4], 3.0)]
