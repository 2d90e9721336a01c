"""numba kernels: the only @njit code in pnmsim, split by job.

* :mod:`pnmsim.kernels.cell` — the two-MTJ write physics of a cell (per-cell pulses,
  outer-product steps);
* :mod:`pnmsim.kernels.dst` — which MTJs a pulse must switch and the probability a state-aware
  pulse aims at;
* :mod:`pnmsim.kernels.pulse_index` — state-aware pulse widths on the pulse generator's grid and
  their look-up tables;
* :mod:`pnmsim.kernels.percell` — the fused per-cell update of a layer;
* :mod:`pnmsim.kernels.pcg64` — NumPy's PCG64 stream drawn inside a kernel (the per-cell
  update's uniforms, the same doubles as ``Generator.random``);
* :mod:`pnmsim.kernels.bias` — the optional write physics they call (I_c0 by switching
  direction, bias-dependent TMR with the series divider solved, state-aware widths);
* :mod:`pnmsim.kernels.reference` — their plain-numpy twins, which tests compare against;
* :mod:`pnmsim.kernels.cycles` — the per-cell write's closed-form tile cycles;
* :mod:`pnmsim.kernels.tallies` — the per-cell update's per-tile counts and the counting
  plans' sums;
* :mod:`pnmsim.kernels.conductance` — a crossbar's conductances from its MTJ states;
* :mod:`pnmsim.kernels.lines` — line statistics of driven inputs (read energy, active lines)
  and NumPy's pairwise sum;
* :mod:`pnmsim.kernels.converters` — the DACs' and ADCs' quantiser, with its twin;
* :mod:`pnmsim.kernels.observed` — converter passes that also gather their range statistics;
* :mod:`pnmsim.kernels.engine` — the network engine's max-pooling, im2col and col2im.

Pure functions over arrays and scalars (no config objects); stochastic kernels take their random
draws, seeds or generator states as arguments. Callers use
``from pnmsim import kernels; kernels.NAME``.
"""

import pnmsim.kernels._cache  # noqa: F401  (first: drops stale machine code)
from pnmsim.kernels.cell import (
    _p_switch,
    _pulse_cell,
    outer_product_updates,
    update_cells,
)
from pnmsim.kernels.conductance import conductances
from pnmsim.kernels.converters import (
    PARALLEL_MIN,
    quantize_lines,
    quantize_sum,
    quantize_symmetric,
    quantize_symmetric_reference,
)
from pnmsim.kernels.cycles import per_cell_tiles_cycles
from pnmsim.kernels.engine import (
    col2im_add_nhwc,
    im2col_into_nhwc,
    maxpool_backward_nhwc,
    maxpool_nhwc,
)
from pnmsim.kernels.lines import (
    line_square_sums,
    line_square_sums_reference,
    line_stats,
    window_line_stats,
)
from pnmsim.kernels.observed import (
    dac_observed,
    quantize_add_observed,
    quantize_col2im_observed,
    quantize_observed,
    quantize_sum_observed,
)
from pnmsim.kernels.percell import per_cell_write
from pnmsim.kernels.pulse_index import state_aware_pulses
from pnmsim.kernels.reference import (
    conductances_reference,
    outer_product_updates_reference,
    p_switch_reference,
    update_cells_reference,
)
from pnmsim.kernels.tallies import add_plan, per_tile_update_counts

__all__ = [
    "PARALLEL_MIN",
    "add_plan",
    "_p_switch", "_pulse_cell", "col2im_add_nhwc", "conductances", "conductances_reference",
    "im2col_into_nhwc",
    "dac_observed", "quantize_add_observed", "quantize_col2im_observed", "quantize_observed",
    "quantize_sum_observed",
    "quantize_lines", "window_line_stats",
    "line_square_sums",
    "line_square_sums_reference", "line_stats", "maxpool_backward_nhwc", "maxpool_nhwc",
    "outer_product_updates", "outer_product_updates_reference", "p_switch_reference",
    "per_cell_tiles_cycles", "per_cell_write", "per_tile_update_counts", "quantize_sum",
    "quantize_symmetric",
    "quantize_symmetric_reference",
    "state_aware_pulses", "update_cells", "update_cells_reference",
]
