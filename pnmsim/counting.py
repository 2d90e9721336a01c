"""The hardware actions of each array operation, counted into a :class:`~pnmsim.records.Tally`
under the component tree's names (:func:`pnmsim.mapping.tile_name`).

Per-tile periphery (drivers, DACs, line sensing, partial-sum joins, ADCs, comparators,
accumulators, sense amplifiers) is counted on the tile that owns it: tile (r, c) of a layer
drives the rows of row tile r and the columns of column tile c; with analog partial sums the
joined column lines of a group of row tiles are sensed by the group's first row tile (the
others count a ``psum`` join); the digital accumulator that adds partial sums sits with the
first tile of the line it combines. The cells' energies (``synapse`` read/write fJ come from
one kernel pass over the whole layer) and the pulse generators' ns are counted per layer:
``chip.layer[NAME].synapse``, ``chip.layer[NAME].pulse_gen``.
Buffers are per layer (``chip.buffer[NAME]``); ``chip.digital``, ``chip.periphery_memory``,
``chip.interconnect`` and ``chip.controller`` are chip-wide.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pnmsim import kernels
from pnmsim.config import ArchConfig
from pnmsim.mapping import LayerMapping, bus_words, tile_name
from pnmsim.records import Tally


def _row_slices(mp: LayerMapping) -> list[slice]:
    return [slice(r * mp.tile_rows, r * mp.tile_rows + mp.rows_in(r)) for r in range(mp.row_tiles)]


def _col_slices(mp: LayerMapping) -> list[slice]:
    return [slice(c * mp.tile_cols, c * mp.tile_cols + mp.cols_in(c)) for c in range(mp.col_tiles)]


_TILE_CLASSES = ("row_driver", "col_driver", "dac", "psum", "line_sense", "adc", "accumulator",
                 "comparator", "sense_amp")
_TILE_COMPONENTS: dict[int, dict[str, str]] = {}


def _tc(mp: LayerMapping, r: int, c: int) -> dict[str, str]:
    """The component names of tile (r, c) of a layer by class (``chip.tile[07].adc``),
    formatted once per tile: the per-batch counts name every tile's periphery."""
    i = mp.first_tile + r * mp.col_tiles + c
    d = _TILE_COMPONENTS.get(i)
    if d is None:
        tn = tile_name(i)
        d = _TILE_COMPONENTS[i] = {k: f"{tn}.{k}" for k in _TILE_CLASSES}
    return d


class _TilePlan:
    """The per-tile adds of one counting function for one layer and static setting, in the
    order the per-tile loop makes them: entry i adds ``const[i] + per_m[i] * m +
    per_dyn[i] * dyn[dyn_at[i]]`` (``dyn_at`` -1: no data-dependent term) to ``keys[i]``.
    Built once per setting, so a call costs one vectorised evaluation and one vector add
    (:meth:`Tally.add_planned`) instead of a Python loop of formatted names and ``Tally.add``
    calls; the counts and the order the keys first appear are those of the loop (integer
    counts, exact in float64)."""

    __slots__ = ("keys", "_rows", "const", "per_m", "per_dyn", "dyn_at", "_dyn_k", "_dyn_i")

    def __init__(self) -> None:
        self.keys: list[tuple[str, str, str, str]] = []
        self._rows: list[tuple[int, int, int, int]] = []

    def entry(self, key: tuple[str, str, str, str], const: int = 0, per_m: int = 0,
              per_dyn: int = 0, dyn_at: int = -1) -> None:
        self.keys.append(key)
        self._rows.append((const, per_m, per_dyn, dyn_at))

    def done(self) -> _TilePlan:
        a = np.array(self._rows, dtype=np.int64).reshape(-1, 4)
        self.const, self.per_m, self.per_dyn, self.dyn_at = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
        # the entries with a data-dependent term and the dyn index each reads
        self._dyn_k = np.flatnonzero(self.dyn_at >= 0)
        self._dyn_i = self.dyn_at[self._dyn_k]
        del self._rows
        return self

    def add_to(self, t: Tally, m: int, dyn: np.ndarray | list[int] | None = None) -> None:
        acc = t.planned_sums(self.keys)
        if acc is not None and dyn is not None:   # every key counted before: one kernel call
            kernels.add_plan(acc, self.const, self.per_m, self.per_dyn, self.dyn_at, m,
                             np.asarray(dyn, dtype=np.int64))
            return
        v = self.const + self.per_m * m
        if dyn is not None and self._dyn_k.size:
            v[self._dyn_k] += self.per_dyn[self._dyn_k] * np.asarray(dyn, dtype=np.int64)[
                self._dyn_i]
        t.add_planned(self.keys, v)


_PLANS: dict[tuple, _TilePlan] = {}


def _plan(key: tuple, build: Callable[[], _TilePlan]) -> _TilePlan:
    p = _PLANS.get(key)
    if p is None:
        if len(_PLANS) > 4096:   # bounded: settings seen by a long-lived process
            _PLANS.clear()
        p = _PLANS[key] = build().done()
    return p


def _static(mp: LayerMapping) -> tuple:
    """Everything of a layer's mapping the per-tile counts depend on."""
    return (mp.first_tile, mp.row_tiles, mp.col_tiles, mp.tile_rows, mp.tile_cols,
            mp.layer.rows, mp.layer.cols, mp.layer.first)


def nnz_per_slice(a: np.ndarray, slices: list[slice],
                  per_col: np.ndarray | None = None) -> list[int]:
    """Non-zero entries of ``a`` (2-D) in each column slice (``per_col``: the non-zero
    entries of each column of ``a``, when already counted)."""
    if per_col is not None:
        return [int(per_col[s].sum()) for s in slices]
    if len(slices) == 1:
        return [int(np.count_nonzero(a))]
    per_col = np.count_nonzero(a, axis=0)          # one pass over the array
    return [int(per_col[s].sum()) for s in slices]


def _nnz_per_tile(a: np.ndarray, per_col: np.ndarray | None, tile: int,
                  slices: Callable[[], list[slice]]) -> list[int]:
    """:func:`nnz_per_slice` of ``a`` over consecutive tiles of ``tile`` columns (the last
    one possibly shorter): with the per-column counts given, one ``reduceat`` (the same
    integers)."""
    if per_col is not None and len(per_col) == a.shape[1]:
        starts = np.arange(0, len(per_col), tile)
        return np.add.reduceat(np.asarray(per_col, dtype=np.int64), starts).tolist()
    return nnz_per_slice(a, slices(), per_col)



def layer_name(mp: LayerMapping) -> str:
    return f"chip.layer[{mp.layer.name}]"


def buffer_name(mp: LayerMapping) -> str:
    return f"chip.buffer[{mp.layer.name}]"


def count_forward(t: Tally, arch: ArchConfig, mp: LayerMapping, x: np.ndarray, read_fj: float,
                  sensing: str, sense_groups: int, per_group: int, groups: int,
                  nnz_lines: np.ndarray | None = None) -> None:
    """Feedforward of ``x`` (M, rows) through one layer whose row tiles are sensed in
    ``sense_groups`` groups of ``per_group`` (:func:`pnmsim.mapping.sense_groups`): the first
    row tile of each group senses the group's joined column lines; ``groups`` is the number of
    issue groups of samples (controller operations per tile)."""
    lay = mp.layer
    ph = "feedforward"
    m, n = x.shape[0], lay.cols
    t.macs[ph] += m * lay.rows * lay.cols
    # driven input lines per row tile
    active = _nnz_per_tile(x, nnz_lines, mp.tile_rows, lambda: _row_slices(mp))

    def build() -> _TilePlan:   # per tile (r, c); m-dependent counts are per_m * m
        p = _TilePlan()
        for r in range(mp.row_tiles):
            for c in range(mp.col_tiles):
                tn = _tc(mp, r, c)
                p.entry((ph, tn["row_driver"], "row_driver", "drive"), per_dyn=1, dyn_at=r)
                if lay.first:
                    p.entry((ph, tn["dac"], "dac", "convert_input"), per_dyn=1, dyn_at=r)
                cols = mp.cols_in(c)    # lines sensed per sample
                if r % per_group:   # analog partial sums: this tile's lines join the group's
                    p.entry((ph, tn["psum"], "psum", "join"), per_m=cols)
                    continue
                # every sensed line needs its virtual-ground amplifier, whatever converts it
                p.entry((ph, tn["line_sense"], "line_sense", "sense"), per_m=cols)
                if sense_groups > 1:   # every group digitised, then added digitally
                    p.entry((ph, tn["adc"], "adc", "convert"), per_m=cols)
                    if r == 0:
                        p.entry((ph, tn["accumulator"], "accumulator", "add"),
                                per_m=cols * (sense_groups - 1))
                        if sensing == "comparators":   # thresholds applied digitally
                            p.entry((ph, tn["accumulator"], "accumulator", "add"),
                                    per_m=2 * cols)
                elif r == 0:
                    if sensing == "comparators":
                        p.entry((ph, tn["comparator"], "comparator", "compare"), per_m=2 * cols)
                    else:
                        p.entry((ph, tn["adc"], "adc", "convert"), per_m=cols)
        return p

    _plan(("fwd", _static(mp), sensing, sense_groups, per_group), build).add_to(t, m, active)
    t.add(ph, f"{layer_name(mp)}.synapse", "synapse", "read_fj", read_fj)
    if sensing == "adc":
        t.add(ph, "chip.digital", "digital", "bn", m * n)
    t.add(ph, "chip.periphery_memory", "periphery_memory", "read", 2 * n)
    t.add(ph, buffer_name(mp), "buffer", "read", m * lay.rows)
    t.add(ph, buffer_name(mp), "buffer", "write", m * n)
    t.add(ph, "chip.interconnect", "bus", "transfer", bus_words(arch, mp, ph, m))
    t.add(ph, "chip.controller", "controller", "issue", mp.tiles * groups)


def count_backward(t: Tally, arch: ArchConfig, mp: LayerMapping, dq: np.ndarray, read_fj: float,
                   groups: int, nnz_lines: np.ndarray | None = None) -> None:
    """Transposed read of the quantised errors ``dq`` (M, cols) through one layer."""
    lay = mp.layer
    ph = "backprop"
    m = dq.shape[0]
    t.macs[ph] += m * lay.rows * lay.cols
    # driven column lines per column tile
    nnz = _nnz_per_tile(dq, nnz_lines, mp.tile_cols, lambda: _col_slices(mp))

    def build() -> _TilePlan:   # per tile (r, c); m-dependent counts are per_m * m
        p = _TilePlan()
        for r in range(mp.row_tiles):
            for c in range(mp.col_tiles):
                tn = _tc(mp, r, c)
                rows = mp.rows_in(r)    # row lines sensed per sample
                p.entry((ph, tn["dac"], "dac", "convert"), per_dyn=1, dyn_at=c)
                p.entry((ph, tn["col_driver"], "col_driver", "drive"), per_dyn=1, dyn_at=c)
                p.entry((ph, tn["line_sense"], "line_sense", "sense_row"), per_m=rows)
                p.entry((ph, tn["adc"], "adc", "convert"), per_m=rows)
                if c == 0:
                    p.entry((ph, tn["accumulator"], "accumulator", "add"),
                            per_m=rows * (mp.col_tiles - 1))
        return p

    _plan(("bwd", _static(mp)), build).add_to(t, m, nnz)
    t.add(ph, f"{layer_name(mp)}.synapse", "synapse", "read_fj", read_fj)
    t.add(ph, "chip.digital", "digital", "bn", m * lay.cols)
    t.add(ph, buffer_name(mp), "buffer", "read", m * lay.cols)
    t.add(ph, buffer_name(mp), "buffer", "write", m * lay.rows)
    t.add(ph, "chip.interconnect", "bus", "transfer", bus_words(arch, mp, ph, m))
    t.add(ph, "chip.controller", "controller", "issue", mp.tiles * groups)


def count_per_cell_update(t: Tally, mp: LayerMapping, width: np.ndarray | None,
                          sign: np.ndarray | None,
                          col_pulse_ns: np.ndarray, state_aware: bool, state_read_fj: float,
                          grad_macs: int, m: int, pulse_ns_total: float,
                          pulsed_cols: np.ndarray | None = None) -> None:
    """Per-cell writes: the digital gradient and optimiser, then one pulse per cell that
    changes (polarity sub-steps per column; ``col_pulse_ns`` from the update facts).
    ``pulsed_cols``: pulsed cells per (row tile, column) when the write kernel counted them
    (then ``width`` and ``sign`` are not needed)."""
    lay = mp.layer
    ph = "update"
    if pulsed_cols is None:   # pulsed cells per (row tile, column), the kernel's count
        pulsed = (width > 0) & (sign != 0)
        pad = mp.row_tiles * mp.tile_rows - lay.rows
        if pad:
            pulsed = np.vstack([pulsed, np.zeros((pad, lay.cols), dtype=bool)])
        pulsed_cols = pulsed.reshape(mp.row_tiles, mp.tile_rows, lay.cols).sum(axis=1)
    # per tile: pulsed cells, then the (column, polarity) sub-steps with a pulse
    dyn = kernels.per_tile_update_counts(np.ascontiguousarray(pulsed_cols),
                                         np.ascontiguousarray(col_pulse_ns, dtype=np.float64),
                                         mp.tile_cols)
    tiles = mp.tiles

    def build() -> _TilePlan:   # per tile (r, c): dyn = [pulsed cells..., sub-steps...]
        p = _TilePlan()
        for r in range(mp.row_tiles):
            for c in range(mp.col_tiles):
                tn = _tc(mp, r, c)
                if state_aware:   # the periphery reads every cell before writing
                    p.entry((ph, tn["sense_amp"], "sense_amp", "read"),
                            const=2 * mp.rows_in(r) * mp.cols_in(c))
                i = r * mp.col_tiles + c
                p.entry((ph, tn["row_driver"], "row_driver", "write_pulse"), per_dyn=1, dyn_at=i)
                p.entry((ph, tn["col_driver"], "col_driver", "write_pulse"), per_dyn=1,
                        dyn_at=tiles + i)
        return p

    _plan(("cell", _static(mp), state_aware), build).add_to(t, m, dyn)
    if state_aware:
        t.add(ph, f"{layer_name(mp)}.synapse", "synapse", "read_fj", state_read_fj)
    # the pulse generators' time (ns of every applied pulse, from the kernel: per layer)
    t.add(ph, f"{layer_name(mp)}.pulse_gen", "pulse_gen", "ns", pulse_ns_total)
    # ternary inputs make each MAC a gated add; real first-layer pixels need multiplies
    t.add(ph, "chip.digital", "digital", "grad_mac_fp32" if lay.first else "grad_mac", grad_macs)
    t.add(ph, "chip.digital", "digital", "optimizer", lay.rows * lay.cols)
    t.add(ph, "chip.periphery_memory", "periphery_memory", "read",
          2 * lay.rows * lay.cols)       # Adam moments m, v
    t.add(ph, "chip.periphery_memory", "periphery_memory", "write", 2 * lay.rows * lay.cols)
    t.add(ph, buffer_name(mp), "buffer", "read", m * (lay.rows + lay.cols))


def count_outer_update(t: Tally, mp: LayerMapping, xs: np.ndarray, widths: np.ndarray,
                       active: np.ndarray, m: int) -> None:
    """Outer-product writes: two polarity sub-steps per applied input vector."""
    ph = "update"
    xa = xs[active]
    wa = widths[active]
    rows_on = nnz_per_slice(xa, _row_slices(mp))
    cols_on = nnz_per_slice(wa, _col_slices(mp))
    for r in range(mp.row_tiles):
        for c in range(mp.col_tiles):
            tn = _tc(mp, r, c)
            t.add(ph, tn["row_driver"], "row_driver", "write_pulse", 2 * rows_on[r])
            t.add(ph, tn["col_driver"], "col_driver", "write_pulse", 2 * cols_on[c])
    # column drivers time each pulse (both polarity sub-steps) in every row tile
    t.add(ph, f"{layer_name(mp)}.pulse_gen", "pulse_gen", "ns",
          2 * float(widths[active].sum()) * mp.row_tiles)
    t.add(ph, buffer_name(mp), "buffer", "read", m * (mp.layer.rows + mp.layer.cols))


def count_update_common(t: Tally, mp: LayerMapping, write_fj: float, m: int, bus: int) -> None:
    """What every update scheme pays: the cells' write energy, one controller issue per tile,
    the words moved over the interconnect, and the first layer's batch-norm backward."""
    lay = mp.layer
    ph = "update"
    t.add(ph, f"{layer_name(mp)}.synapse", "synapse", "write_fj", write_fj)
    t.add(ph, "chip.controller", "controller", "issue", mp.tiles)   # one per tile
    t.add(ph, "chip.interconnect", "bus", "transfer", bus)
    if lay.first:   # its batch-norm backward ran in backprop, without a transposed read
        t.add("backprop", "chip.digital", "digital", "bn", m * lay.cols)
    # ops convention (the workload's, not the hardware's): weight-gradient MACs, one per
    # synapse per input vector of the batch, whatever the update scheme or step size
    t.macs[ph] += m * lay.rows * lay.cols
