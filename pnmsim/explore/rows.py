"""Result rows shared by compare and sweep: one flat dict per run (tiles, area proxy,
per-phase cycles / energy / TOPs/W per sample). See :mod:`pnmsim.explore` for the columns."""

from __future__ import annotations

from typing import Any

from pnmsim.config import ArchConfig
from pnmsim.errors import PnmsimError

PHASES = ("feedforward", "backprop", "update")
ALL_PHASES = (*PHASES, "total")
PHASE_KEYS = ("cycles", "cycles_per_sample", "seconds_per_sample", "energy_j",
              "energy_per_sample_j", "ops", "tops_per_w_synapse", "tops_per_w_array",
              "tops_per_w_system", "samples_per_s")
ACCURACY_KEYS = ("final_test_accuracy", "best_test_accuracy", "max_test_accuracy", "best_epoch",
                 "train_samples", "test_samples")
METRICS = ("energy", "accuracy")
DASK_HINT = "pip install pnmsim[dask]"


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0



# ----------------------------------------------------------------------------- rows


def area_proxy(cfg: ArchConfig, tiles: int) -> dict[str, int]:
    """Synapse cells and periphery counts of ``tiles`` tiles of ``cfg`` (an area proxy)."""
    a, p = cfg.array, cfg.periphery
    return {
        "synapse_cells": tiles * a.tile_rows * a.tile_cols,
        "adcs": tiles * p.adcs_per_tile,
        "comparators": 2 * a.tile_cols * tiles,
        "dacs_drivers": tiles * (a.tile_rows + a.tile_cols),
    }


def _phase_columns(phases: dict[str, dict[str, float]], samples: int) -> dict[str, Any]:
    """Per-phase columns from phase metrics (cycles, seconds, energy_j, tops_per_w_*)."""
    row: dict[str, Any] = {}
    for p in ALL_PHASES:
        m = phases[p]
        cyc, sec, e = int(m["cycles"]), float(m["seconds"]), float(m["energy_j"])
        row[f"cycles_{p}"] = cyc
        row[f"cycles_per_sample_{p}"] = _div(cyc, samples)
        row[f"seconds_per_sample_{p}"] = _div(sec, samples)
        row[f"energy_j_{p}"] = e
        row[f"energy_per_sample_j_{p}"] = _div(e, samples)
        row[f"ops_{p}"] = float(m["ops"])
        row[f"tops_per_w_synapse_{p}"] = float(m.get("tops_per_w_synapse", 0.0))
        row[f"tops_per_w_array_{p}"] = float(m["tops_per_w_array"])
        row[f"tops_per_w_system_{p}"] = float(m["tops_per_w_system"])
        row[f"samples_per_s_{p}"] = _div(samples, sec)
    row["throughput_samples_per_s"] = row["samples_per_s_total"]
    return row


def _cost_columns(cfg: ArchConfig) -> dict[str, Any]:
    """Prices of the cost model that sweeps move: converters (energy per conversion, latency
    in cycles and ns) and one line read (row drive + the column line's sense amplifier)."""
    from pnmsim.costs import cost_table

    t = cost_table(cfg)
    return {"adc_convert_pj": t.energy_pj("adc", "convert"),
            "adc_convert_cycles": t.cycles("adc", "convert"),
            "dac_convert_pj": t.energy_pj("dac", "convert"),
            "dac_convert_cycles": t.cycles("dac", "convert"),
            "dac_convert_ns": t["dac", "convert"].latency_ns,
            "line_read_pj": t.energy_pj("row_driver", "drive")
            + t.energy_pj("line_sense", "sense")}


def results_row(res: Any) -> dict[str, Any]:
    """One table row from a :class:`pnmsim.results.Results` (a simulate run)."""
    s = res.summary()
    phases = {**s["phases"], "total": s["total"]}
    a = res.arch.array
    row: dict[str, Any] = {
        "arch": res.arch.name, "workload": res.workload.name, "samples": res.samples,
        "seed": res.seed, "tile_rows": a.tile_rows, "tile_cols": a.tile_cols,
        "tiles": int(s["tiles"]), "synapses": int(s["synapses"]),
        "array_utilisation": float(s["array_utilisation"]),
        **area_proxy(res.arch, int(s["tiles"])),
    }
    row.update(_phase_columns(phases, res.samples))
    row.update(_cost_columns(res.arch))
    row["accuracy_on_samples"] = float(s["accuracy_on_samples"])
    for k, v in sorted(s["component_utilisation"].items()):
        row[f"util_{k}"] = float(v)
    return row


def training_row(cfg: ArchConfig, workload: Any, summary: dict[str, Any]) -> dict[str, Any]:
    """One table row from a hardware training summary (``api.train``): accuracy next to the
    energy / cycles / TOPs/W of the whole training run; per-sample figures are per trained
    sample (train_samples x epochs)."""
    from pnmsim.mapping import map_network

    mapping = map_network(workload, cfg)
    samples = int(summary["train_samples"]) * int(summary["epochs"])
    row: dict[str, Any] = {
        "arch": cfg.name, "workload": workload.name, "samples": samples,
        "seed": summary["seed"], "tile_rows": cfg.array.tile_rows,
        "tile_cols": cfg.array.tile_cols, "tiles": mapping.tiles,
        "synapses": mapping.synapses, "array_utilisation": mapping.utilisation,
        **area_proxy(cfg, mapping.tiles),
    }
    for k in ACCURACY_KEYS:
        v = summary[k]
        row[k] = int(v) if k in ("best_epoch", "train_samples", "test_samples") else float(v)
    phases = summary.get("phases")
    if phases is None:
        raise PnmsimError("--metric accuracy needs a hardware training summary with phases")
    row.update(_phase_columns(phases, samples))
    row.update(_cost_columns(cfg))
    return row
