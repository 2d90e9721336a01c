"""Closed-form per-operation latencies (cycles) from the preset: the rules both the coarse and
the fine timed models use. No constant lives here: every latency is an entry of the cost model's
table (:func:`pnmsim.costs.cost_table`) or a pulse width converted to whole cycles.

A tile operation of n matrix-vector products flows through a linear pipeline of stages
(drive -> read -> sense -> combine -> digital); with deterministic stage times s_k and a stage
free as soon as its item moves on, item n leaves after ``sum(s) + (n - 1) * max(s)`` cycles.
The fine model realises the pipeline with one SimPy event per product and stage, and the tests
prove the two agree to the cycle.

The update's latencies come from the facts the functional model recorded
(:class:`~pnmsim.records.UpdateFacts`, pulse widths in ns): per-cell writes go column by column
in each tile (a state read first where asked, one sub-step per polarity, each the column's
widest pulse in whole cycles plus the write driver's edge); outer-product writes go vector
after vector, two sub-steps of the widest pulse plus the write driver's edge.
"""

from __future__ import annotations

import math

import numpy as np

from pnmsim import kernels
from pnmsim.config import ArchConfig
from pnmsim.costs import cost_table
from pnmsim.mapping import LayerMapping, sense_groups
from pnmsim.records import UpdateFacts
from pnmsim.units import cycle_ns, ns_array_to_cycles


def forward_stages(arch: ArchConfig, mp: LayerMapping, sensing: str, col_tile: int = 0,
                   ) -> list[int]:
    """Stage latencies of one feedforward product on column tile ``col_tile`` of a layer (its
    ADC pool converts that tile's ``cols_in(col_tile)`` columns)."""
    c = cost_table(arch).cycles
    drive = c("row_driver", "drive")
    if mp.layer.first:
        drive += c("dac", "convert_input")
    read = c("line_sense", "sense")
    groups = sense_groups(arch, mp)[0]
    digital_psum = groups > 1
    cols = mp.cols_in(col_tile)
    if sensing == "comparators" and not digital_psum:
        sense = c("comparator", "compare")
    else:
        sense = math.ceil(cols / arch.periphery.adcs_per_tile) * c("adc", "convert")
    combine = 0
    if digital_psum:
        combine = c("accumulator", "add") * math.ceil(math.log2(groups))
        if sensing == "comparators":
            combine += c("accumulator", "add")   # digital threshold compare
    digital = c("digital", "bn") if sensing == "adc" else 0
    return [s for s in (drive, read, sense, combine, digital) if s > 0]


def backward_stages(arch: ArchConfig, mp: LayerMapping, row_tile: int = 0) -> list[int]:
    """Stage latencies of one transposed product on row tile ``row_tile`` (its ADCs convert
    ``rows_in(row_tile)`` row lines)."""
    c = cost_table(arch).cycles
    drive = c("dac", "convert") + c("col_driver", "drive")
    read = c("line_sense", "sense_row")
    rows = mp.rows_in(row_tile)
    sense = math.ceil(rows / arch.periphery.adcs_per_tile) * c("adc", "convert")
    combine = 0
    if mp.col_tiles > 1:
        combine = c("accumulator", "add") * math.ceil(math.log2(mp.col_tiles))
    digital = c("digital", "bn")
    return [s for s in (drive, read, sense, combine, digital) if s > 0]


def pipeline_cycles(stages: list[int], n: int) -> int:
    """Cycles for n items through a linear pipeline of deterministic stages."""
    if n <= 0 or not stages:
        return 0
    return sum(stages) + (n - 1) * max(stages)


def issue_cycles(arch: ArchConfig, mp: LayerMapping) -> int:
    """Controller cycles to issue one operation to every tile of a layer."""
    return mp.tiles * cost_table(arch).cycles("controller", "issue")


def bus_cycles(arch: ArchConfig, words: int) -> int:
    """Cycles the shared bus is held to move ``words`` words."""
    if words <= 0:
        return 0
    beats = math.ceil(words / arch.system.bus_words_per_cycle)
    return beats * cost_table(arch).cycles("bus", "transfer")


def digital_cycles(arch: ArchConfig, grad_macs: int, optimizer_ops: int = 0) -> int:
    """Cycles of the digital periphery's lanes for the weight-gradient MACs and the
    optimiser updates, each at its own latency."""
    lanes = arch.system.digital_lanes
    c = cost_table(arch).cycles
    return (math.ceil(max(grad_macs, 0) / lanes) * c("digital", "grad_mac")
            + math.ceil(max(optimizer_ops, 0) / lanes) * c("digital", "optimizer"))


# ---------------------------------------------------------------------- update (from facts)
def write_driver_cycles(arch: ArchConfig) -> int:
    """Fixed overhead of one write sub-step: the write driver's edge latency (the column
    drivers time every pulse, in both schemes)."""
    return cost_table(arch).cycles("col_driver", "write_pulse")


def state_read_cycles(arch: ArchConfig) -> int:
    """Reading one column's cells before a state-aware write: the read window and the sense
    latch."""
    c = cost_table(arch).cycles
    return c("line_sense", "sense") + c("sense_amp", "read")


def per_cell_substeps(arch: ArchConfig, facts: UpdateFacts, r: int, c0: int,
                      c1: int) -> tuple[np.ndarray, np.ndarray]:
    """The sub-steps of one tile's per-cell write (row tile ``r``, columns ``c0:c1``): the
    cycles of each column's positive and negative pulse sub-step (write driver included, 0 =
    no pulse; shape (cols, 2)) and the columns read first (bool (cols,))."""
    assert facts.col_pulse_ns is not None and facts.read_cols is not None
    cyc = ns_array_to_cycles(facts.col_pulse_ns[r, c0:c1], arch.clock_mhz)
    cyc = cyc + write_driver_cycles(arch) * (cyc > 0)
    return cyc, facts.read_cols[r, c0:c1]


def per_cell_tile_cycles(arch: ArchConfig, facts: UpdateFacts, r: int, c0: int, c1: int) -> int:
    """Closed form of one tile's per-cell write: columns one after another (all rows of a
    column in parallel), a state read first where asked, one sub-step per polarity."""
    cyc, read = per_cell_substeps(arch, facts, r, c0, c1)
    rd = state_read_cycles(arch) if facts.state_aware else 0
    return int(cyc.sum()) + rd * int(read.sum())


def per_cell_tiles_cycles(arch: ArchConfig, facts: UpdateFacts,
                          tiles: list[tuple[int, int, int]] | np.ndarray) -> list[int]:
    """:func:`per_cell_tile_cycles` of several tiles ``(r, c0, c1)`` of one layer at once (the
    same integers; the pulse widths are converted to cycles once for the whole layer); a tile
    outside the facts is refused (ValueError)."""
    assert facts.col_pulse_ns is not None and facts.read_cols is not None
    rd = state_read_cycles(arch) if facts.state_aware else 0
    t = np.asarray(tiles, dtype=np.int64).reshape(-1, 3)
    read = np.ascontiguousarray(facts.read_cols)
    if read.dtype != np.bool_:
        read = read.astype(np.int64)
    return kernels.per_cell_tiles_cycles(  # type: ignore[no-any-return]
        np.ascontiguousarray(facts.col_pulse_ns, dtype=np.float64), read, t,
        cycle_ns(arch.clock_mhz), write_driver_cycles(arch), rd).tolist()


def outer_substeps(arch: ArchConfig, facts: UpdateFacts) -> np.ndarray:
    """Cycles of one polarity sub-step of each applied input vector on each column tile
    (write driver included): shape (applied vectors, col_tiles)."""
    assert facts.vec_pulse_ns is not None and facts.active is not None
    cyc = ns_array_to_cycles(facts.vec_pulse_ns[facts.active], arch.clock_mhz)
    return cyc + write_driver_cycles(arch)


def outer_layer_cycles(arch: ArchConfig, facts: UpdateFacts) -> int:
    """Closed form of a layer's outer-product writes: vector after vector (the controller
    broadcasts the next one when every tile is done), two polarity sub-steps each."""
    sub = outer_substeps(arch, facts)
    return int(2 * sub.max(axis=1, initial=0).sum())
