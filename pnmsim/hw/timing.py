"""Closed-form per-operation latencies (cycles) from the preset: the rules both the coarse and
the fine timed models use. No constant lives here: every latency is an entry of the cost model's
table (:func:`pnmsim.costs.cost_table`) or a pulse width converted to whole cycles.

A tile operation of n matrix-vector products flows through a linear pipeline of stages
(drive -> read -> sense -> combine -> digital); with deterministic stage times s_k and a stage
free as soon as its item moves on, item n leaves after ``sum(s) + (n - 1) * max(s)`` cycles.
The fine model realises the pipeline with one SimPy event per product and stage, and the tests
prove the two agree to the cycle.
"""

from __future__ import annotations

import math

from pnmsim.config import ArchConfig
from pnmsim.costs import cost_table
from pnmsim.mapping import LayerMapping, sense_groups


def forward_stages(arch: ArchConfig, mp: LayerMapping, sensing: str) -> list[int]:
    c = cost_table(arch).cycles
    drive = c("row_driver", "drive")
    if mp.layer.first:
        drive += c("dac", "convert_input")
    read = c("line_sense", "sense")
    groups = sense_groups(arch, mp)[0]
    digital_psum = groups > 1
    cols = mp.cols_in(0)
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


def backward_stages(arch: ArchConfig, mp: LayerMapping) -> list[int]:
    c = cost_table(arch).cycles
    drive = c("dac", "convert") + c("col_driver", "drive")
    read = c("line_sense", "sense")
    rows = mp.rows_in(0)
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


def write_cycles(arch: ArchConfig, tiles: list[tuple[int, int, int]],
                 state_reads: bool = False) -> int:
    """Cycles of a layer's write step: tiles write in parallel, so the slowest tile. Each tile
    is (cycles of its pulse widths, driver pulses, columns read first): every pulse adds the
    write driver's edge latency, every state read the read window and the sense latch."""
    c = cost_table(arch).cycles
    drv = c("col_driver", "write_pulse")
    read = c("line_sense", "sense") + c("sense_amp", "read") if state_reads else 0
    return max((p + drv * n + read * r for p, n, r in tiles), default=0)

