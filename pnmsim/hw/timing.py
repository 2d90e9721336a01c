"""Closed-form per-operation latencies (cycles) from the preset: the rules both the coarse and
the fine timed models use. No constant lives here: every latency is a cost-table entry or a
configured pulse width converted to whole cycles.

A tile operation of n matrix-vector products flows through a linear pipeline of stages
(drive -> read -> sense -> combine -> digital); with deterministic stage times s_k and a stage
free as soon as its item moves on, item n leaves after ``sum(s) + (n - 1) * max(s)`` cycles.
The fine model realises the pipeline with one SimPy event per product and stage, and the tests
prove the two agree to the cycle.
"""

from __future__ import annotations

import math

from pnmsim.config import ArchConfig
from pnmsim.mapping import LayerMapping
from pnmsim.units import ns_to_cycles


def forward_stages(arch: ArchConfig, mp: LayerMapping, sensing: str) -> list[int]:
    c = arch.cost
    drive = c("row_driver", "drive").latency_cycles
    if mp.layer.first:
        drive += c("dac", "convert").latency_cycles
    read = ns_to_cycles(arch.synapse.read_ns, arch.clock_mhz)
    digital_psum = arch.array.partial_sums == "digital" and mp.row_tiles > 1
    cols = mp.cols_in(0)
    if sensing == "comparators" and not digital_psum:
        sense = c("comparator", "compare").latency_cycles
    else:
        sense = math.ceil(cols / arch.periphery.adcs_per_tile) * c("adc", "convert").latency_cycles
    combine = 0
    if digital_psum:
        combine = c("accumulator", "add").latency_cycles * math.ceil(math.log2(mp.row_tiles))
        if sensing == "comparators":
            combine += c("accumulator", "add").latency_cycles   # digital threshold compare
    digital = c("digital", "bn").latency_cycles if sensing == "adc" else 0
    return [s for s in (drive, read, sense, combine, digital) if s > 0]


def backward_stages(arch: ArchConfig, mp: LayerMapping) -> list[int]:
    c = arch.cost
    drive = c("dac", "convert").latency_cycles + c("col_driver", "drive").latency_cycles
    read = ns_to_cycles(arch.synapse.read_ns, arch.clock_mhz)
    rows = mp.rows_in(0)
    sense = math.ceil(rows / arch.periphery.adcs_per_tile) * c("adc", "convert").latency_cycles
    combine = 0
    if mp.col_tiles > 1:
        combine = c("accumulator", "add").latency_cycles * math.ceil(math.log2(mp.col_tiles))
    digital = c("digital", "bn").latency_cycles
    return [s for s in (drive, read, sense, combine, digital) if s > 0]


def pipeline_cycles(stages: list[int], n: int) -> int:
    """Cycles for n items through a linear pipeline of deterministic stages."""
    if n <= 0 or not stages:
        return 0
    return sum(stages) + (n - 1) * max(stages)


def issue_cycles(arch: ArchConfig, mp: LayerMapping) -> int:
    """Controller cycles to issue one operation to every tile of a layer."""
    return mp.tiles * arch.cost("controller", "issue").latency_cycles


def bus_cycles(arch: ArchConfig, words: int) -> int:
    """Cycles the shared bus is held to move ``words`` words."""
    if words <= 0:
        return 0
    beats = math.ceil(words / arch.system.bus_words_per_cycle)
    return beats * arch.cost("bus", "transfer").latency_cycles


def digital_cycles(arch: ArchConfig, grad_macs: int, optimizer_ops: int = 0) -> int:
    """Cycles of the digital periphery's lanes for the weight-gradient MACs and the
    optimiser updates, each at its own latency."""
    lanes = arch.system.digital_lanes
    return (math.ceil(max(grad_macs, 0) / lanes) * arch.cost("digital", "grad_mac").latency_cycles
            + math.ceil(max(optimizer_ops, 0) / lanes)
            * arch.cost("digital", "optimizer").latency_cycles)

