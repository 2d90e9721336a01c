"""Which preset keys a replay may change: every schema key, classified once.

* ``cost`` — read only by the cost model, the timed model or the roll-up (prices, latencies,
  clock, bus width, issue slots, lanes, ADCs shared per tile, the ops convention, names): a
  recorded activity is re-timed and re-priced under a new value exactly.
* ``values`` — read by the functional model: it changes the weights, the sensed values, the
  pulse widths or the mapping (device, variation, synapse, tile size, partial sums, fan-in,
  bits, sensing, pulse resolution, update scheme, batch size).
* ``activity`` — changes no value but the recorded action counts or records themselves (the
  controller's issue group sets how many tile operations the tally counts).

``values`` and ``activity`` keys must equal the recorded run's for a replay. A test checks that
this table names every schema key, and that changing any ``cost`` key leaves a functional run's
records and tally untouched.
"""

from __future__ import annotations

from typing import Any, Literal

KeyClass = Literal["cost", "values", "activity"]

_COST: tuple[str, ...] = (
    "name", "description", "clock_mhz", "ops_per_mac",
    "array.max_tiles",               # only checks that the mapping fits (replay checks again)
    "periphery.adcs_per_tile",       # ADC sharing: conversion latency per tile
    "system.bus_words_per_cycle", "system.controller_issue_slots", "system.digital_lanes",
)
_COST_PREFIXES: tuple[str, ...] = ("circuits.",)
_VALUES_PREFIXES: tuple[str, ...] = ("mtj.", "variation.", "synapse.", "update.")
_VALUES: tuple[str, ...] = (
    "array.tile_rows", "array.tile_cols", "array.partial_sums", "array.max_analog_fanin",
    "periphery.adc_bits", "periphery.dac_bits", "periphery.input_dac_bits",
    "periphery.forward_sensing", "periphery.training_forward_sensing",
    "periphery.adc_range_sigmas", "periphery.pulse_resolution_ns",
    "system.batch_size",
)
_ACTIVITY: tuple[str, ...] = ("system.issue_group",)

REASONS: dict[str, str] = {
    "values": "it changes the simulated values (weights, sensed signals, pulses or mapping)",
    "activity": "it changes the recorded action counts",
}


def key_class(key: str) -> KeyClass | None:
    """The class of a schema key path (None: not classified, which a test forbids)."""
    if key in _COST or key.startswith(_COST_PREFIXES):
        return "cost"
    if key in _VALUES or key.startswith(_VALUES_PREFIXES):
        return "values"
    if key in _ACTIVITY:
        return "activity"
    return None


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (a config's plain-data view)."""
    if not isinstance(d, dict):
        return {prefix[:-1]: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}{k}."))
    return out


def first_value_difference(recorded: dict[str, Any], other: dict[str, Any],
                           ) -> tuple[str, Any, Any, str] | None:
    """The first key (schema order) whose difference a replay cannot honour: (key, recorded
    value, other value, reason), or None when only ``cost`` keys differ."""
    a, b = flatten(recorded), flatten(other)
    for k in list(a) + [k for k in b if k not in a]:
        if a.get(k) == b.get(k):
            continue
        cls = key_class(k)
        if cls != "cost":
            return k, a.get(k), b.get(k), REASONS.get(cls or "values", REASONS["values"])
    return None


__all__ = ["REASONS", "KeyClass", "first_value_difference", "flatten", "key_class"]
