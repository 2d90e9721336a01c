"""The cost model: the one place that turns counted actions into energy and latency.

Every price is derived from the circuit parameters of the preset (``circuits:``) by a small
model per circuit: :mod:`~pnmsim.costs.lines` (line capacitance and read drive),
:mod:`~pnmsim.costs.write` (write drivers and pulse generator),
:mod:`~pnmsim.costs.converters` (ADCs and DACs), :mod:`~pnmsim.costs.sensing` (sense amplifiers,
comparators, the analog partial-sum combine) and :mod:`~pnmsim.costs.digital` (arithmetic,
SRAM, bus, controller). :func:`cost_table` assembles them into one :class:`CostTable`;
``pnmsim costs`` prints it.
"""

from pnmsim.costs.entry import Cost
from pnmsim.costs.table import (
    ARRAY_SCOPE,
    COMPONENT_CLASSES,
    SCOPES,
    SYNAPSE_SCOPE,
    CostTable,
    cost_table,
    in_scope,
    scope_level,
    scope_of,
)

__all__ = ["ARRAY_SCOPE", "COMPONENT_CLASSES", "SCOPES", "SYNAPSE_SCOPE", "Cost", "CostTable",
           "cost_table", "in_scope", "scope_level", "scope_of"]
