"""Crossbar lines: capacitance from the tile's size, read-drive energy C V^2 and settling.

A row line runs across ``tile_cols`` cells, a column line across ``tile_rows`` cells; each cell
adds a pitch of wire and its access device's junction:
``C = cells x (cell_pitch_um x wire_cap_ff_per_um + cell_cap_ff)``. A driver charges its line to
the drive voltage from rest, ``E = C V^2`` (half stored, half lost in the driver), plus its
enable/decode logic; it settles in ``settle_taus x R_driver x C``.

GXNOR reads drive each input on two branch lines (+u and -u, science.md §4): a forward row
drive charges two row lines. The transposed (backprop) read drives one column line per error.
"""

from __future__ import annotations

from pnmsim.config import ArchConfig
from pnmsim.costs.entry import Cost, timed
from pnmsim.units import FJ_PER_PJ

FF_OHM_TO_NS = 1e-6      # 1 fF x 1 ohm = 1e-15 s = 1e-6 ns


def line_cap_ff(arch: ArchConfig, cells: int) -> float:
    """Capacitance (fF) of a line across ``cells`` synapse cells."""
    ln = arch.circuits.lines
    return cells * (ln.cell_pitch_um * ln.wire_cap_ff_per_um + ln.cell_cap_ff)


def row_cap_ff(arch: ArchConfig) -> float:
    """A row (input) line: it crosses the tile's columns."""
    return line_cap_ff(arch, arch.array.tile_cols)


def col_cap_ff(arch: ArchConfig) -> float:
    """A column (sensed) line: it crosses the tile's rows."""
    return line_cap_ff(arch, arch.array.tile_rows)


def settle_ns(arch: ArchConfig, cap_ff: float, taus: float | None = None) -> float:
    ln = arch.circuits.lines
    return (ln.settle_taus if taus is None else taus) * ln.driver_r_ohm * cap_ff * FF_OHM_TO_NS


def _line_inputs(arch: ArchConfig, cells_key: str, cells: int) -> dict[str, float | int | str]:
    ln = arch.circuits.lines
    return {cells_key: cells, "circuits.lines.cell_pitch_um": ln.cell_pitch_um,
            "circuits.lines.wire_cap_ff_per_um": ln.wire_cap_ff_per_um,
            "circuits.lines.cell_cap_ff": ln.cell_cap_ff}


def drive_costs(arch: ArchConfig) -> dict[tuple[str, str], Cost]:
    ln, v = arch.circuits.lines, arch.synapse.v_read_v
    c_row, c_col = row_cap_ff(arch), col_cap_ff(arch)
    common = {"synapse.v_read_v": v, "circuits.lines.driver_logic_fj": ln.driver_logic_fj,
              "circuits.lines.driver_r_ohm": ln.driver_r_ohm,
              "circuits.lines.settle_taus": ln.settle_taus}
    row = timed(arch, (2 * c_row * v * v + ln.driver_logic_fj) / FJ_PER_PJ, settle_ns(arch, c_row),
                "(2 C_row V_rd^2 + E_logic) / 1000; C_row = tile_cols (pitch wire_cap + cell_cap)"
                "; latency settle_taus R_drv C_row",
                {**_line_inputs(arch, "array.tile_cols", arch.array.tile_cols), **common,
                 "C_row_ff": c_row})
    col = timed(arch, (c_col * v * v + ln.driver_logic_fj) / FJ_PER_PJ, settle_ns(arch, c_col),
                "(C_col V_rd^2 + E_logic) / 1000; C_col = tile_rows (pitch wire_cap + cell_cap)"
                "; latency settle_taus R_drv C_col",
                {**_line_inputs(arch, "array.tile_rows", arch.array.tile_rows), **common,
                 "C_col_ff": c_col})
    return {("row_driver", "drive"): row, ("col_driver", "drive"): col}
