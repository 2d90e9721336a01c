"""Design-space exploration: compare presets side by side, and sweep preset keys.

Modules by job: :mod:`.rows` (result rows), :mod:`.compare`, :mod:`.plan` (sweep planning),
:mod:`.executors` (running points: in-process, process pool, Dask), :mod:`.plots`.

* :func:`compare` runs one workload with the same inputs and seed on several architectures
  (through :func:`pnmsim.api.simulate`, so every figure equals ``pnmsim simulate`` on that preset
  alone) and returns one row per architecture: tiles, an area proxy (synapse cells and periphery
  counts), per-phase cycles / seconds / energy per sample and TOPs/W, throughput, and ratios to
  the first architecture.
* :func:`plan_sweep` expands ``--vary key=v1,v2`` axes into their cross product and validates
  every point (config and mapping) before anything runs; :func:`run_sweep` runs the points
  in-process, in local worker processes, or on a Dask cluster, writes each point to
  ``OUT/points/<point-id>.json`` as it completes (atomically), skips points already there on a
  rerun, and assembles one tidy table (one row per point, in point order, no wall times) that is
  the same however and in whatever order the points ran.

Row columns (shared by compare and sweep): ``tiles``, ``synapses`` (weights held),
``array_utilisation``, the area proxy ``synapse_cells = tiles*tile_rows*tile_cols``, ``adcs =
tiles*adcs_per_tile``, ``comparators = 2*tile_cols*tiles``, ``dacs_drivers =
tiles*(tile_rows+tile_cols)``, then for each phase P of feedforward, backprop, update and total:
``cycles_P``, ``cycles_per_sample_P``, ``seconds_per_sample_P``, ``energy_j_P``,
``energy_per_sample_j_P``, ``ops_P``, ``tops_per_w_synapse_P``, ``tops_per_w_array_P``,
``tops_per_w_system_P``, ``samples_per_s_P``; ``throughput_samples_per_s`` (=
``samples_per_s_total``); and prices of the cost model (``adc_convert_pj``,
``adc_convert_cycles``, ``dac_convert_pj``, ``dac_convert_cycles``, ``dac_convert_ns``,
``line_read_pj``).
"""


from pnmsim.explore.compare import (
    Comparison,
    compare,
    compare_text,
    table_records,
    write_comparison,
)
from pnmsim.explore.executors import (
    SweepOutcome,
    check_sweep_out,
    run_point,
    run_sweep,
    sweep_columns,
)
from pnmsim.explore.plan import Axis, Point, SweepSpec, parse_vary, plan_sweep
from pnmsim.explore.plots import plot_comparison, plot_sweep
from pnmsim.explore.rows import area_proxy, results_row, training_row

__all__ = ["Axis", "Comparison", "Point", "SweepOutcome", "SweepSpec", "area_proxy",
           "check_sweep_out",
           "compare", "compare_text", "parse_vary", "plan_sweep", "plot_comparison",
           "plot_sweep", "results_row", "run_point", "run_sweep", "sweep_columns", "table_records",
           "training_row", "write_comparison"]
