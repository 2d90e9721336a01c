"""Compare presets side by side: one workload, the same inputs and seed, one row per
architecture with ratios to the first (:func:`compare`), its text and output folder."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pnmsim.config import ArchConfig, load_arch
from pnmsim.errors import ConfigError
from pnmsim.explore.rows import ALL_PHASES, results_row

# ----------------------------------------------------------------------------- compare

RATIO_COLUMNS = ("synapse_cells", *(f"energy_per_sample_j_{p}" for p in ALL_PHASES),
                 *(f"tops_per_w_array_{p}" for p in ALL_PHASES),
                 *(f"tops_per_w_system_{p}" for p in ALL_PHASES), "throughput_samples_per_s")
"""Columns that get a ``<column>_ratio`` to the first architecture in :func:`compare`."""


@dataclasses.dataclass
class Comparison:
    table: pd.DataFrame                 # one row per architecture, in the order given
    results: dict[str, Any]             # label -> Results

    def to_json(self) -> dict[str, Any]:
        first = next(iter(self.results.values()))
        return {"workload": first.workload.name, "samples": first.samples, "seed": first.seed,
                "baseline": self.table["label"].iloc[0],
                "architectures": table_records(self.table)}


def table_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain Python values (full float precision; NaN -> None) for JSON."""
    out = []
    for rec in df.to_dict(orient="records"):
        row = {}
        for k, v in rec.items():
            v = v.item() if hasattr(v, "item") else v
            row[str(k)] = None if isinstance(v, float) and math.isnan(v) else v
        out.append(row)
    return out


def _labels(archs: Sequence[str], cfgs: Sequence[ArchConfig]) -> list[str]:
    names = [c.name for c in cfgs]
    out = [n if names.count(n) == 1 else str(a) for n, a in zip(names, archs, strict=True)]
    seen: dict[str, int] = {}
    for i, n in enumerate(out):
        seen[n] = seen.get(n, 0) + 1
        if out.count(n) > 1:
            out[i] = f"{n}#{seen[n]}"
    return out


def compare(archs: Sequence[str], workload: str | None = None, *,
            overrides: Sequence[str] = (), samples: int | None = None, seed: int = 0,
            dataset: str | None = None, data_dir: str | None = None,
            progress: Callable[[str], None] | None = None) -> Comparison:
    """Run ``workload`` with the same inputs and seed on each architecture (``overrides``
    apply to all); every architecture is validated before anything runs."""
    from pnmsim import api
    from pnmsim.mapping import map_network
    from pnmsim.workload import load_workload

    if not archs:
        raise ConfigError("compare", "ARCH", "(none)", "one or more presets or YAML paths")
    wl = load_workload(workload or api.DEFAULT_WORKLOAD)
    cfgs = [load_arch(a, overrides) for a in archs]
    for c in cfgs:
        map_network(wl, c)
    api.load_inputs(wl, samples, dataset, data_dir, seed)
    labels = _labels(archs, cfgs)
    results: dict[str, Any] = {}
    rows = []
    for label, cfg in zip(labels, cfgs, strict=True):
        if progress is not None:
            progress(label)
        res = api.simulate(cfg, wl, samples=samples, seed=seed, dataset=dataset,
                           data_dir=data_dir)
        results[label] = res
        rows.append({"label": label, **results_row(res)})
    table = pd.DataFrame(rows)
    base = table.iloc[0]
    for c in RATIO_COLUMNS:
        b = float(base[c])
        table[f"{c}_ratio"] = [float(v) / b if b else math.nan for v in table[c]]
    return Comparison(table=table, results=results)


def compare_text(cmp: Comparison) -> str:
    """Human-readable comparison: blocks with one row per architecture."""
    t = cmp.table.set_index("label")
    t.index.name = "arch"
    first = cmp.table["label"].iloc[0]
    r = next(iter(cmp.results.values()))
    fmt: dict[str, Any] = {"float_format": lambda v: f"{v:.4g}"}
    out = [f"workload {r.workload.name}, {r.samples} samples, seed {r.seed}; "
           f"ratios are to {first}", "", "area proxy:"]
    area = t[["tiles", "tile_rows", "tile_cols", "synapses", "array_utilisation",
              "synapse_cells", "adcs", "comparators", "dacs_drivers", "synapse_cells_ratio"]]
    out.append(area.rename(columns={"synapse_cells_ratio": "cells_ratio",
                                    "array_utilisation": "utilisation"}).to_string(**fmt))
    for p in ALL_PHASES:
        cols = {f"cycles_per_sample_{p}": "cycles/sample",
                f"seconds_per_sample_{p}": "s/sample",
                f"energy_per_sample_j_{p}": "J/sample",
                f"ops_{p}": "ops",
                f"tops_per_w_synapse_{p}": "TOPs/W synapse",
                f"tops_per_w_array_{p}": "TOPs/W array",
                f"tops_per_w_system_{p}": "TOPs/W system",
                f"energy_per_sample_j_{p}_ratio": "J ratio",
                f"tops_per_w_array_{p}_ratio": "TOPs/W array ratio",
                f"tops_per_w_system_{p}_ratio": "TOPs/W sys ratio"}
        if p == "total":
            cols["throughput_samples_per_s"] = "samples/s"
            cols["throughput_samples_per_s_ratio"] = "throughput ratio"
        out += ["", f"{p}:", t[list(cols)].rename(columns=cols).to_string(**fmt)]
    return "\n".join(out)


def write_comparison(cmp: Comparison, out_dir: str | Path,
                     extra_meta: dict[str, Any] | None = None) -> Path:
    """compare.csv, compare.json and each architecture's simulate outputs in OUT/<label>/."""
    from pnmsim.jsonsafe import dumps
    from pnmsim.outdir import ensure_dir, write_marker
    from pnmsim.results import atomic_write

    out = ensure_dir(out_dir)
    write_marker(out, "compare")
    atomic_write(out / "compare.csv", cmp.table.to_csv(index=False))
    atomic_write(out / "compare.json", dumps(cmp.to_json())[0])
    for label, res in cmp.results.items():
        res.write(out / _safe_name(label), extra_meta)
    return out


def _safe_name(label: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-_.#" else "_" for ch in label)
    return keep.strip(".") or "arch"
