"""Sensing: the virtual-ground amplifier of a sensed line, comparators, state-read sense
amplifiers and the analog partial-sum combine.

* ``line_sense.sense``: the amplifier holding a sensed column line at virtual ground for the
  sense window ``synapse.read_ns``. Its bias power is proportional to the capacitance it must
  settle within the window (gm = 2 pi GBW C): ``E = k_bias x C_col x t_read``; its latency is
  the window. ``line_sense.sense_row`` is the same amplifier on a row line (the transposed read
  of backprop senses rows, which cross ``tile_cols`` cells): ``E = k_bias x C_row x t_read``.
* ``psum.join``: joining one more row tile's column line onto a sensed node (analog partial
  sums). The node gains that line plus the link wire across the tile (``C_join = C_col +
  tile_rows x pitch x wire_cap``): the amplifier needs ``k_bias x C_join`` more bias for the
  window and the joined line is charged to the read swing, ``C_join V_rd^2``. At most
  ``array.max_analog_fanin`` tiles are joined (beyond it: groups digitised and added).
* ``comparator.compare`` and ``sense_amp.read``: a latch comparator decision (the state read of
  the per-cell update uses the same latch).
"""

from __future__ import annotations

from pnmsim.config import ArchConfig
from pnmsim.costs.entry import Cost, timed
from pnmsim.costs.lines import col_cap_ff, row_cap_ff
from pnmsim.units import FJ_PER_PJ

UW_NS_TO_FJ = 1.0   # 1 uW x 1 ns = 1 fJ


def join_cap_ff(arch: ArchConfig) -> float:
    ln = arch.circuits.lines
    return col_cap_ff(arch) + arch.array.tile_rows * ln.cell_pitch_um * ln.wire_cap_ff_per_um


def sensing_costs(arch: ArchConfig) -> dict[tuple[str, str], Cost]:
    se, t, v = arch.circuits.sensing, arch.synapse.read_ns, arch.synapse.v_read_v
    c_col, c_join = col_cap_ff(arch), join_cap_ff(arch)
    k = se.amp_bias_uw_per_ff
    sense = timed(arch, k * c_col * t * UW_NS_TO_FJ / FJ_PER_PJ, t,
                  "k_bias C_col t_read / 1000; latency t_read",
                  {"circuits.sensing.amp_bias_uw_per_ff": k, "synapse.read_ns": t,
                   "C_col_ff": c_col})
    c_row = row_cap_ff(arch)
    sense_row = timed(arch, k * c_row * t * UW_NS_TO_FJ / FJ_PER_PJ, t,
                      "k_bias C_row t_read / 1000; latency t_read",
                      {"circuits.sensing.amp_bias_uw_per_ff": k, "synapse.read_ns": t,
                       "C_row_ff": c_row})
    join = timed(arch, (k * c_join * t * UW_NS_TO_FJ + c_join * v * v) / FJ_PER_PJ, 0.0,
                 "(k_bias C_join t_read + C_join V_rd^2) / 1000; C_join = C_col + tile_rows "
                 "pitch wire_cap; settles within the window",
                 {"circuits.sensing.amp_bias_uw_per_ff": k, "synapse.read_ns": t,
                  "synapse.v_read_v": v, "C_join_ff": c_join,
                  "array.max_analog_fanin": arch.array.max_analog_fanin})
    comp = timed(arch, se.comparator_fj / FJ_PER_PJ, se.comparator_ns,
                 "E_comp / 1000; latency t_comp",
                 {"circuits.sensing.comparator_fj": se.comparator_fj,
                  "circuits.sensing.comparator_ns": se.comparator_ns})
    return {("line_sense", "sense"): sense, ("line_sense", "sense_row"): sense_row,
            ("psum", "join"): join,
            ("comparator", "compare"): comp, ("sense_amp", "read"): comp}
