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

import numpy as np

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


def _per_tile_sums(a: np.ndarray, mp: LayerMapping) -> list[list[int]]:
    """``a`` (row tiles, columns) of integer counts summed over each column tile:
    [row tile][column tile]."""
    starts = np.arange(mp.col_tiles) * mp.tile_cols
    return np.add.reduceat(a, starts, axis=1).tolist()  # type: ignore[no-any-return]


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
    active = nnz_per_slice(x, _row_slices(mp), nnz_lines)   # driven input lines per row tile
    for r in range(mp.row_tiles):
        for c in range(mp.col_tiles):
            tn = _tc(mp, r, c)
            t.add(ph, tn["row_driver"], "row_driver", "drive", active[r])
            if lay.first:
                t.add(ph, tn["dac"], "dac", "convert_input", active[r])
            cols = m * mp.cols_in(c)
            if r % per_group:   # analog partial sums: this tile's lines join the group's line
                t.add(ph, tn["psum"], "psum", "join", cols)
                continue
            # every sensed line needs its virtual-ground amplifier, whatever converts it after
            t.add(ph, tn["line_sense"], "line_sense", "sense", cols)
            if sense_groups > 1:   # every group digitised, then added digitally
                t.add(ph, tn["adc"], "adc", "convert", cols)
                if r == 0:
                    t.add(ph, tn["accumulator"], "accumulator", "add",
                          cols * (sense_groups - 1))
                    if sensing == "comparators":   # thresholds applied digitally
                        t.add(ph, tn["accumulator"], "accumulator", "add", 2 * cols)
            elif r == 0:
                if sensing == "comparators":
                    t.add(ph, tn["comparator"], "comparator", "compare", 2 * cols)
                else:
                    t.add(ph, tn["adc"], "adc", "convert", cols)
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
    nnz = nnz_per_slice(dq, _col_slices(mp), nnz_lines)   # driven column lines per col tile
    for r in range(mp.row_tiles):
        for c in range(mp.col_tiles):
            tn = _tc(mp, r, c)
            rows = m * mp.rows_in(r)
            t.add(ph, tn["dac"], "dac", "convert", nnz[c])
            t.add(ph, tn["col_driver"], "col_driver", "drive", nnz[c])
            t.add(ph, tn["line_sense"], "line_sense", "sense_row", rows)
            t.add(ph, tn["adc"], "adc", "convert", rows)
            if c == 0:
                t.add(ph, tn["accumulator"], "accumulator", "add", rows * (mp.col_tiles - 1))
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
    pulsed = (width > 0) & (sign != 0) if pulsed_cols is None else None
    rs, cs = _row_slices(mp), _col_slices(mp)
    # per tile: pulsed cells, and the (column, polarity) sub-steps with a pulse
    n_pulsed = (_per_tile_sums(pulsed_cols, mp) if pulsed is None else
                [[int(np.count_nonzero(pulsed[rs[r], cs[c]])) for c in range(mp.col_tiles)]
                 for r in range(mp.row_tiles)])
    n_steps = _per_tile_sums(np.count_nonzero(col_pulse_ns > 0, axis=2), mp)
    for r in range(mp.row_tiles):
        for c in range(mp.col_tiles):
            tn = _tc(mp, r, c)
            if state_aware:   # the periphery reads every cell before writing
                t.add(ph, tn["sense_amp"], "sense_amp", "read",
                      2 * mp.rows_in(r) * mp.cols_in(c))
            t.add(ph, tn["row_driver"], "row_driver", "write_pulse", n_pulsed[r][c])
            t.add(ph, tn["col_driver"], "col_driver", "write_pulse", n_steps[r][c])
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
