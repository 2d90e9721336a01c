"""The one CostTable: every (component class, action) the functional model counts, priced by
the circuit models of this package, and the scope each class belongs to."""

from __future__ import annotations

import functools
from collections.abc import Iterator

from pnmsim.config import ArchConfig
from pnmsim.costs.converters import converter_costs
from pnmsim.costs.digital import digital_costs
from pnmsim.costs.entry import Cost
from pnmsim.costs.lines import drive_costs
from pnmsim.costs.sensing import sensing_costs
from pnmsim.costs.write import write_costs
from pnmsim.units import FJ_PER_PJ

COMPONENT_CLASSES: dict[str, tuple[str, ...]] = {
    # class: actions the functional model counts (each priced below)
    "synapse": ("read_fj", "write_fj"),
    "row_driver": ("drive", "write_pulse"),
    "col_driver": ("drive", "write_pulse"),
    "pulse_gen": ("ns",),
    "dac": ("convert", "convert_input"),
    "line_sense": ("sense", "sense_row"),
    "psum": ("join",),
    "comparator": ("compare",),
    "sense_amp": ("read",),
    "adc": ("convert",),
    "accumulator": ("add",),
    "digital": ("bn", "grad_mac", "grad_mac_fp32", "optimizer"),
    "buffer": ("read", "write"),
    "periphery_memory": ("read", "write"),
    "bus": ("transfer",),
    "controller": ("issue",),
}

SCOPES: tuple[str, ...] = ("synapse", "array", "system")
SYNAPSE_SCOPE: frozenset[str] = frozenset({"synapse"})
"""Cells and their access devices: the V^2 G t reads and V I t writes of the device physics."""
ARRAY_SCOPE: frozenset[str] = SYNAPSE_SCOPE | frozenset(
    {"row_driver", "col_driver", "pulse_gen", "dac", "line_sense", "psum", "comparator",
     "sense_amp", "adc", "accumulator"})
"""Plus the drivers, pulse generators, converters, sensing and partial-sum circuits."""


def scope_of(cls: str) -> str:
    """The innermost scope a component class belongs to (``system`` holds everything)."""
    if cls in SYNAPSE_SCOPE:
        return "synapse"
    return "array" if cls in ARRAY_SCOPE else "system"


def scope_level(cls: str) -> int:
    """The index in :data:`SCOPES` of ``cls``'s innermost scope: its energy counts at that
    scope and every later (outer) one."""
    return SCOPES.index(scope_of(cls))


def in_scope(cls: str, scope: str) -> bool:
    """Whether energy of ``cls`` counts at ``scope`` (scopes nest: synapse < array < system)."""
    return scope_level(cls) <= SCOPES.index(scope)


class CostTable:
    """(component class, action) -> :class:`~pnmsim.costs.entry.Cost`."""

    def __init__(self, entries: dict[tuple[str, str], Cost]) -> None:
        self.entries = entries

    def __getitem__(self, key: tuple[str, str]) -> Cost:
        return self.entries[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.entries)

    def energy_pj(self, cls: str, action: str) -> float:
        return self.entries[(cls, action)].energy_pj

    def cycles(self, cls: str, action: str) -> int:
        return self.entries[(cls, action)].latency_cycles

    def rows(self) -> list[dict[str, object]]:
        return [{"component": c, "action": a, "scope": scope_of(c), **e.to_dict()}
                for (c, a), e in self.entries.items()]


def _synapse_costs() -> dict[tuple[str, str], Cost]:
    unit = 1.0 / FJ_PER_PJ
    src = {"units.FJ_PER_PJ": FJ_PER_PJ}
    return {("synapse", "read_fj"): Cost(unit, 0, "1 / FJ_PER_PJ per fJ of V_rd^2 (G1 + G2) "
                                               "t_read integrated by the crossbar", src),
            ("synapse", "write_fj"): Cost(unit, 0, "1 / FJ_PER_PJ per fJ of V_write I t "
                                                "integrated by the write kernels", src)}


_BY_ID: dict[int, tuple[ArchConfig, CostTable]] = {}
_BY_ID_MAX = 64


def cost_table(arch: ArchConfig) -> CostTable:
    """The resolved cost table of a preset (cached: presets are immutable).

    Looked up first by the object's identity: the SimPy model asks for the table on every
    operation it schedules, and hashing a whole preset (a tree of frozen dataclasses) for the
    value cache each time cost ~30 us a call. The identity cache holds the preset itself, so
    an id is never reused while it is in there; it is emptied when full."""
    hit = _BY_ID.get(id(arch))
    if hit is not None and hit[0] is arch:
        return hit[1]
    table = _cost_table(arch)
    if len(_BY_ID) >= _BY_ID_MAX:
        _BY_ID.clear()
    _BY_ID[id(arch)] = (arch, table)
    return table


@functools.lru_cache(maxsize=64)
def _cost_table(arch: ArchConfig) -> CostTable:
    """:func:`cost_table`, cached by value (equal presets share one table)."""
    entries: dict[tuple[str, str], Cost] = {}
    for part in (_synapse_costs(), drive_costs(arch), write_costs(arch), converter_costs(arch),
                 sensing_costs(arch), digital_costs(arch)):
        entries.update(part)
    ordered = {(c, a): entries[(c, a)] for c, acts in COMPONENT_CLASSES.items() for a in acts}
    missing = set(entries) - set(ordered)
    assert not missing, f"priced but not declared: {sorted(missing)}"
    return CostTable(ordered)
