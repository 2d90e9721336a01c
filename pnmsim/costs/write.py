"""Write drivers and the write pulse generator.

* ``row_driver.write_pulse`` / ``col_driver.write_pulse``: a write pulse charges the driven
  line to the write voltage, ``E = C_line V_write^2`` plus the driver's logic; the edge settles
  in ``settle_taus x R_driver C_line`` (the pulse width itself is data-dependent and timed from
  the pulses the functional model applied).
* ``pulse_gen.ns``: a pulse of width w is timed by a delay line of stages of the generator's
  resolution ``periphery.pulse_resolution_ns``: w / resolution stages switch, so each ns of
  generated pulse costs ``E_stage / resolution`` — a finer resolution costs more energy.
"""

from __future__ import annotations

from pnmsim.config import ArchConfig
from pnmsim.costs.entry import Cost, timed
from pnmsim.costs.lines import col_cap_ff, row_cap_ff, settle_ns
from pnmsim.units import FJ_PER_PJ


def write_costs(arch: ArchConfig) -> dict[tuple[str, str], Cost]:
    ln, v = arch.circuits.lines, arch.synapse.v_write_v
    out: dict[tuple[str, str], Cost] = {}
    for cls, cap, name, key, cells in (
            ("row_driver", row_cap_ff(arch), "C_row", "array.tile_cols", arch.array.tile_cols),
            ("col_driver", col_cap_ff(arch), "C_col", "array.tile_rows", arch.array.tile_rows)):
        out[(cls, "write_pulse")] = timed(
            arch, (cap * v * v + ln.driver_logic_fj) / FJ_PER_PJ, settle_ns(arch, cap),
            f"({name} V_write^2 + E_logic) / 1000; latency settle_taus R_drv {name} per edge",
            {key: cells, "synapse.v_write_v": v,
             "circuits.lines.driver_logic_fj": ln.driver_logic_fj,
             "circuits.lines.driver_r_ohm": ln.driver_r_ohm, f"{name}_ff": cap})
    res = arch.periphery.pulse_resolution_ns
    out[("pulse_gen", "ns")] = Cost(
        ln.pulse_stage_fj / res / FJ_PER_PJ, 0,
        "E_stage / resolution / 1000 per ns of pulse (delay-line stages switched)",
        {"circuits.lines.pulse_stage_fj": ln.pulse_stage_fj,
         "periphery.pulse_resolution_ns": res})
    return out
