"""Design-space exploration: compare presets side by side, and sweep preset keys.

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

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import io
import itertools
import json
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pnmsim.config import ArchConfig, load_arch, parse_set, to_dict
from pnmsim.errors import ConfigError, PnmsimError

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


# ----------------------------------------------------------------------------- sweep plan


@dataclasses.dataclass(frozen=True)
class Axis:
    """One ``--vary``: keys (several joined with ``+`` vary together) and raw value strings."""

    keys: tuple[str, ...]
    raw: tuple[str, ...]


def parse_vary(item: str) -> Axis:
    """Parse ``key.path=v1,v2,...`` (or ``key1+key2=v1,v2``: both keys take each value)."""
    if "=" not in item:
        raise ConfigError("--vary", item, item, "key.path=v1,v2,... (values separated by ',')")
    lhs, rhs = item.split("=", 1)
    keys = tuple(k.strip() for k in lhs.split("+"))
    for k in keys:
        if not k or any(not p for p in k.split(".")):
            raise ConfigError("--vary", k or "(empty)", item, "key.path=v1,v2,...")
    if len(set(keys)) != len(keys):
        raise ConfigError("--vary", lhs, item, "distinct keys joined by '+'")
    raw = tuple(v.strip() for v in rhs.split(","))
    if not rhs.strip() or any(v == "" for v in raw):
        raise ConfigError("--vary", "+".join(keys), rhs, "a comma-separated list of values, "
                          "none empty (e.g. 64,128,256)")
    vals = [json.dumps(parse_set(f"{keys[0]}={v}")[1], sort_keys=True, default=str)
            for v in raw]
    dup = next((v for v, pv in zip(raw, vals, strict=True) if vals.count(pv) > 1), None)
    if dup is not None:
        raise ConfigError("--vary", "+".join(keys), dup, "each value once")
    return Axis(keys=keys, raw=raw)


@dataclasses.dataclass(frozen=True)
class Point:
    """One sweep point: its position in the cross product and its overrides."""

    index: int
    values: tuple[tuple[str, Any], ...]     # (key, typed value) in axis order
    overrides: tuple[str, ...]              # key=value strings (after the base --set)
    config_sha: str = ""        # hash of the resolved config and workload (set by plan_sweep)

    @property
    def id(self) -> str:
        """Stable id: a hash of the point's overrides, key-sorted, with the values as the
        validated config holds them (so 64 and 64.0 for an integer key are one point)."""
        canon = sorted([k, v] for k, v in self.values)
        blob = json.dumps(canon, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @property
    def label(self) -> str:
        return " ".join(self.overrides)


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """Everything but the varied keys that determines a point's result."""

    arch: str
    workload: str
    overrides: tuple[str, ...] = ()
    samples: int | None = None
    seed: int = 0
    dataset: str | None = None
    data_dir: str | None = None
    metric: str = "energy"
    epochs: int = 1
    train_limit: int | None = None
    test_limit: int | None = None
    val_size: int = 5000
    batch_size: int = 100
    lr: float = 0.01

    def fingerprint(self) -> dict[str, Any]:
        """The settings a saved point must share to be reused (data_dir excluded: where the
        files are does not change the result)."""
        d = dataclasses.asdict(self)
        d.pop("data_dir")
        if self.metric == "energy":
            for k in ("epochs", "train_limit", "test_limit", "val_size", "batch_size", "lr"):
                d.pop(k)
        return d


def _get_path(cfg: Any, key: str) -> Any:
    node = cfg
    for p in key.split("."):
        node = node[p] if isinstance(node, dict) else getattr(node, p)
    if dataclasses.is_dataclass(node):
        return json.dumps(to_dict(node), sort_keys=True)
    return node


def plan_sweep(spec: SweepSpec, axes: Sequence[Axis]) -> list[Point]:
    """Expand the axes into their cross product and validate every point (config, mapping,
    inputs or dataset) before anything runs; the first bad point raises one line naming its
    key and value."""
    from pnmsim import api
    from pnmsim.mapping import map_network
    from pnmsim.workload import load_workload

    if spec.metric not in METRICS:
        raise ConfigError("--metric", "metric", spec.metric, ", ".join(METRICS))
    if not axes:
        raise ConfigError("--vary", "(none)", "(none)", "at least one --vary key.path=v1,v2")
    seen: set[str] = set()
    for ax in axes:
        for k in ax.keys:
            if k in seen:
                raise ConfigError("--vary", k, "+".join(ax.keys), "each key in one --vary only")
            seen.add(k)
    wl = load_workload(spec.workload)
    if spec.metric == "energy":
        api.load_inputs(wl, spec.samples, spec.dataset, spec.data_dir, spec.seed)
    else:
        from pnmsim.datasets import locate_dataset

        locate_dataset(spec.dataset or "mnist", spec.data_dir)
    load_arch(spec.arch, spec.overrides)          # the base preset and --set alone
    points: list[Point] = []
    for i, combo in enumerate(itertools.product(*(ax.raw for ax in axes))):
        ovr = tuple(f"{k}={v}" for ax, v in zip(axes, combo, strict=True) for k in ax.keys)
        try:
            cfg = load_arch(spec.arch, (*spec.overrides, *ovr))
            map_network(wl, cfg)
        except ConfigError as e:
            where = " ".join(ovr)
            raise ConfigError(f"--vary point {where}", e.key, e.value, e.allowed) from None
        values = tuple((k, _get_path(cfg, k)) for k in (k for ax in axes for k in ax.keys))
        sha = hashlib.sha256(json.dumps([to_dict(cfg), wl.to_dict()], sort_keys=True,
                                        default=str).encode()).hexdigest()[:16]
        points.append(Point(index=i, values=values, overrides=ovr, config_sha=sha))
    return points


# ----------------------------------------------------------------------------- sweep run


_BLAS_THREAD_FUNCS = (   # (set, get) of the BLAS builds numpy/scipy wheels ship with
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
    ("MKL_Set_Num_Threads", "MKL_Get_Max_Threads"),
    ("bli_thread_set_num_threads", "bli_thread_get_num_threads"),
)


def _blas_controls() -> list[tuple[Any, Any]]:
    """(set, get) functions of every BLAS library loaded in this process (Linux only)."""
    import ctypes

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    libs = sorted({ln.split()[-1] for ln in maps.splitlines()
                   if ln.split()[-1].startswith("/") and
                   any(t in Path(ln.split()[-1]).name.lower() for t in ("blas", "mkl_rt"))})
    out = []
    for lib in libs:
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        for set_name, get_name in _BLAS_THREAD_FUNCS:
            if hasattr(handle, set_name) and hasattr(handle, get_name):
                out.append((getattr(handle, set_name), getattr(handle, get_name)))
                break
    return out


@contextlib.contextmanager
def single_thread_blas() -> Iterator[None]:
    """Run the block with one BLAS thread. Multi-threaded BLAS sums in a thread-count dependent
    order, so without this a point's figures would differ in the last digits between this
    process, local workers and Dask workers (which start with one BLAS thread)."""
    import numpy  # noqa: F401  (loads the BLAS library)

    ctl = _blas_controls()
    saved = [int(get()) for _, get in ctl]
    for st, _ in ctl:
        st(1)
    try:
        yield
    finally:
        for (st, _), n in zip(ctl, saved, strict=True):
            st(max(1, n))


def run_point(spec: SweepSpec, point: Point) -> dict[str, Any]:
    """Compute one point (in any process, with one BLAS thread); returns the record saved in
    points/<id>.json."""
    try:
        with single_thread_blas():
            return _run_point(spec, point)
    except PnmsimError as e:     # ConfigError(4 args) does not unpickle across processes
        raise PnmsimError(str(e)) from None


def _run_point(spec: SweepSpec, point: Point) -> dict[str, Any]:
    from pnmsim import api
    from pnmsim.workload import load_workload

    t0 = time.perf_counter()
    cfg = load_arch(spec.arch, (*spec.overrides, *point.overrides))
    wl = load_workload(spec.workload)
    if spec.metric == "accuracy":
        summary = api.train(cfg, wl, dataset=spec.dataset or "mnist", data_dir=spec.data_dir,
                            mode="hardware", epochs=spec.epochs, batch_size=spec.batch_size,
                            lr=spec.lr, lr_end=spec.lr / 100, train_limit=spec.train_limit,
                            test_limit=spec.test_limit, val_size=spec.val_size,
                            seed=spec.seed)
        row = training_row(cfg, wl, summary)
    else:
        res = api.simulate(cfg, wl, samples=spec.samples, seed=spec.seed,
                           dataset=spec.dataset, data_dir=spec.data_dir)
        row = results_row(res)
    return {"row": row, "wall_s": time.perf_counter() - t0,
            "host": socket.gethostname(), "pid": os.getpid()}


def _record(spec: SweepSpec, point: Point, computed: dict[str, Any]) -> dict[str, Any]:
    from pnmsim import __version__

    return {"point_id": point.id, "values": dict(point.values),
            "overrides": list(point.overrides), "config_sha": point.config_sha,
            "spec": spec.fingerprint(), "pnmsim_version": __version__, **computed}


def _load_record(path: Path, spec: SweepSpec, point: Point) -> dict[str, Any] | None:
    """A saved point when it was computed with the same settings and config, else None."""
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    fp = json.loads(json.dumps(spec.fingerprint()))
    if (not isinstance(rec, dict) or rec.get("spec") != fp
            or rec.get("config_sha") != point.config_sha or "row" not in rec):
        return None
    return rec


@dataclasses.dataclass
class SweepOutcome:
    table: pd.DataFrame
    computed: list[str]             # ids of the points computed in this run
    reused: list[str]               # ids of the points taken from OUT/points
    timings: pd.DataFrame


def _table(points: Sequence[Point], records: dict[str, dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for p in points:
        rec = json.loads(json.dumps(records[p.id]))   # the same values as a saved point
        row: dict[str, Any] = {"point": p.index, "point_id": p.id}
        row.update({k: v for k, v in p.values})
        row.update(rec["row"])
        rows.append(row)
    df = pd.DataFrame(rows)
    return df.sort_values("point", kind="stable").reset_index(drop=True)


def _parquet_engine() -> str | None:
    for mod in ("pyarrow", "fastparquet"):
        if importlib.util.find_spec(mod) is not None:
            return mod
    return None


def _iter_local(spec: SweepSpec, todo: Sequence[Point],
                jobs: int) -> Iterator[tuple[Point, dict[str, Any]]]:
    if jobs <= 1 or len(todo) <= 1:
        for p in todo:
            yield p, _guard(p, lambda p=p: run_point(spec, p))
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    # numba and threads do not survive fork(); forkserver (else spawn) starts clean workers.
    # The forkserver preloads the simulator once, so each worker starts without importing it.
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["pnmsim.explore", "pnmsim.api"])
    else:
        ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx)
    failed: tuple[Point, BaseException] | None = None
    try:
        futs = {pool.submit(run_point, spec, p): p for p in todo}
        for fut in as_completed(futs):
            p = futs[fut]
            if fut.cancelled():
                continue
            try:
                res = fut.result()
            except BrokenProcessPool:
                raise PnmsimError(f"sweep point {p.label}: a worker process died (out of "
                                  "memory?); finished points are saved, rerun with --resume "
                                  "and the same --out") from None
            except Exception as e:
                # stop starting points, but keep (and save) those already running
                if failed is None:
                    failed = (p, e)
                    for f in futs:
                        f.cancel()
                continue
            yield p, res
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if failed is not None:
        _raise_point_error(*failed)


def _iter_dask(spec: SweepSpec, todo: Sequence[Point],
               address: str) -> Iterator[tuple[Point, dict[str, Any]]]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise PnmsimError(f"--scheduler needs dask.distributed, which is not installed: "
                          f"{DASK_HINT}") from None
    try:
        client = Client(address, timeout="15s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise PnmsimError(f"--scheduler {address}: cannot connect to a Dask scheduler "
                          f"({type(e).__name__}: {e})") from None
    try:
        futs = {client.submit(run_point, spec, p, pure=False,
                              key=f"pnmsim-sweep-{p.id}-{os.getpid()}-{time.time_ns()}"): p
                for p in todo}
        by_key = {f.key: p for f, p in futs.items()}
        for fut in as_completed(list(futs), loop=client.loop):
            p = by_key[fut.key]
            try:
                res = fut.result()
            except Exception as e:
                client.cancel([f for f in futs if not f.done()])
                _raise_point_error(p, e)
            yield p, res
    finally:
        client.close()


def _raise_point_error(p: Point, e: BaseException) -> None:
    if isinstance(e, PnmsimError):
        raise PnmsimError(f"sweep point {p.label}: {e}") from None
    raise e


def _guard(p: Point, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return fn()
    except PnmsimError as e:
        raise PnmsimError(f"sweep point {p.label}: {e}") from None


def check_sweep_out(spec: SweepSpec, out_dir: str | Path, force: bool = False,
                    resume: bool = False) -> None:
    """Refuse an --out that holds another run unless ``force``; a sweep folder is continued
    only with ``resume`` and the same settings."""
    from pnmsim.outdir import _only_marker, check_out, read_marker, run_kind

    out = check_out(out_dir, "--out", "sweep", force=force, same_kind_ok=resume)
    if force or not out.is_dir() or run_kind(out) != "sweep" or _only_marker(out):
        return
    mark = read_marker(out)
    mine = json.loads(json.dumps(spec.fingerprint(), default=str))
    saved = mark.get("spec") if mark else None
    if saved is None:         # a sweep folder written before run markers: its sweep.json
        try:
            full = json.loads((out / "sweep.json").read_text())["spec"]
            saved = {k: full[k] for k in mine}
        except (OSError, ValueError, KeyError, TypeError):
            raise PnmsimError(f"--out {out_dir}: holds a pnmsim sweep run whose settings "
                              "cannot be read; allowed: a new folder, or --force") from None
    if saved != mine:
        diff = next((k for k in mine if saved.get(k) != mine[k]), "settings") \
            if isinstance(saved, dict) else "settings"
        raise PnmsimError(f"--out {out_dir}: holds a sweep with a different {diff}; allowed: "
                          "the same settings (to resume it), a new folder, or --force")


def run_sweep(spec: SweepSpec, points: Sequence[Point], out_dir: str | Path | None = None, *,
              jobs: int = 1, scheduler: str | None = None, progress: bool = False,
              extra_meta: dict[str, Any] | None = None) -> SweepOutcome:
    """Run the points (reusing those saved in ``out_dir``/points with the same settings) and
    write ``sweep.csv`` (and ``sweep.parquet`` when a Parquet engine is installed)."""
    from tqdm import tqdm

    from pnmsim.results import atomic_write

    out = Path(out_dir) if out_dir is not None else None
    pdir = out / "points" if out is not None else None
    records: dict[str, dict[str, Any]] = {}
    reused: list[str] = []
    if out is not None:
        from pnmsim.outdir import write_marker

        write_marker(out, "sweep", spec=json.loads(json.dumps(spec.fingerprint(), default=str)))
    if pdir is not None:
        for tmp in pdir.glob(".*.tmp"):      # left by a sweep killed in mid-write
            tmp.unlink(missing_ok=True)
        for p in points:
            rec = _load_record(pdir / f"{p.id}.json", spec, p)
            if rec is not None:
                records[p.id] = rec
                reused.append(p.id)
    todo = [p for p in points if p.id not in records]
    computed: list[str] = []
    bar = tqdm(total=len(points), initial=len(reused), unit="point", desc="sweep",
               file=sys.stderr, disable=None if progress else True, leave=False)
    try:
        it = (_iter_dask(spec, todo, scheduler) if scheduler and todo
              else _iter_local(spec, todo, jobs))
        for p, res in it:
            rec = _record(spec, p, res)
            if pdir is not None:
                atomic_write(pdir / f"{p.id}.json", json.dumps(rec, indent=1, default=str))
            records[p.id] = rec
            computed.append(p.id)
            bar.update(1)
    finally:
        bar.close()
    table = _table(points, records)
    timings = pd.DataFrame([{"point": p.index, "point_id": p.id,
                             "status": "reused" if p.id in reused else "computed",
                             "wall_s": records[p.id].get("wall_s"),
                             "host": records[p.id].get("host")} for p in points])
    if out is not None:
        atomic_write(out / "sweep.csv", table.to_csv(index=False))
        atomic_write(out / "timings.csv", timings.to_csv(index=False))
        meta = {"spec": dataclasses.asdict(spec),
                "points": [{"point": p.index, "point_id": p.id, "overrides": list(p.overrides)}
                           for p in points], **(extra_meta or {})}
        atomic_write(out / "sweep.json", json.dumps(meta, indent=2, default=str))
        engine = _parquet_engine()
        pq = out / "sweep.parquet"
        if engine is not None:
            buf = io.BytesIO()
            table.to_parquet(buf, engine=engine, index=False)  # type: ignore[arg-type]
            atomic_write(pq, buf.getvalue())
        else:
            pq.unlink(missing_ok=True)     # never leave a stale table next to the new one
    return SweepOutcome(table=table, computed=computed, reused=reused, timings=timings)


def sweep_columns(table: pd.DataFrame, keys: Sequence[str], metric: str) -> list[str]:
    """The columns shown by the sweep command's table format."""
    cols = [*keys, "tiles", "array_utilisation", "energy_per_sample_j_total",
            "energy_per_sample_j_backprop", "cycles_per_sample_backprop",
            "adc_convert_pj", "adc_convert_cycles", "dac_convert_pj",
            "tops_per_w_array_feedforward", "tops_per_w_array_update",
            "throughput_samples_per_s"]
    if metric == "accuracy":
        cols += ["final_test_accuracy", "best_test_accuracy"]
    # the backprop and converter columns only where the sweep moves them
    varying = {"energy_per_sample_j_backprop", "cycles_per_sample_backprop", "adc_convert_pj",
               "adc_convert_cycles", "dac_convert_pj"}
    return [c for c in cols if c in table.columns
            and (c not in varying or table[c].nunique() > 1)]


# ----------------------------------------------------------------------------- plots


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PnmsimError("--plot needs matplotlib, which is not installed: "
                          "pip install pnmsim[plot]") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    from pnmsim.results import atomic_write

    p = Path(path)
    if p.suffix.lower() != ".png":
        raise ConfigError("--plot", "file", str(path), "a .png file name")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    atomic_write(p, buf.getvalue())
    return p


def _eng(v: float, unit: str) -> str:
    if v == 0:
        return f"0 {unit}"
    exp = int(math.floor(math.log10(abs(v)) / 3) * 3)
    exp = max(-15, min(12, exp))
    prefix = {-15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G",
              12: "T"}[exp]
    return f"{v / 10 ** exp:.3g} {prefix}{unit}"


def plot_comparison(cmp: Comparison, path: str | Path) -> Path:
    """Energy per sample by component class (one panel per phase, stacked bars per
    architecture) and array-level TOPs/W vs throughput per phase."""
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter

    labels = list(cmp.results)
    bds = {lab: r.breakdown() / r.samples for lab, r in cmp.results.items()}
    classes = sorted({c for b in bds.values() for c in b.index},
                     key=lambda c: -max(float(b.loc[c].sum()) if c in b.index else 0.0
                                        for b in bds.values()))
    cmap = plt.get_cmap("tab20")
    colours = {c: cmap(i % 20) for i, c in enumerate(classes)}
    fig = plt.figure(figsize=(15, 9.5))
    gs = fig.add_gridspec(2, 3, height_ratios=[1, 1.15], hspace=0.38, wspace=0.3,
                          left=0.06, right=0.98, bottom=0.09, top=0.86)
    for j, phase in enumerate(PHASES):
        ax = fig.add_subplot(gs[0, j])
        bottom = [0.0] * len(labels)
        for c in classes:
            vals = [float(bds[lab].loc[c, phase]) if (c in bds[lab].index and
                                                       phase in bds[lab].columns) else 0.0
                    for lab in labels]
            ax.bar(labels, vals, bottom=bottom, color=colours[c],
                   label=c if j == 0 else None, edgecolor="white", linewidth=0.4)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        top = max(bottom) or 1.0
        for x, b in enumerate(bottom):
            ax.text(x, b + 0.01 * top, _eng(b, "J"), ha="center", va="bottom", fontsize=8)
        ax.set_ylim(0, top * 1.12)
        ax.set_title(f"{phase}: energy per sample by component class", fontsize=10)
        ax.set_ylabel("energy per sample (J)")
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    fig.legend(loc="upper center", ncol=min(len(classes), 12), fontsize=8,
               bbox_to_anchor=(0.5, 0.995), frameon=False)
    ax = fig.add_subplot(gs[1, :2])
    markers = {"feedforward": "o", "backprop": "s", "update": "^"}
    acmap = plt.get_cmap("tab10")
    t = cmp.table.set_index("label")
    short = {"feedforward": "ff", "backprop": "bp", "update": "upd"}
    clusters: list[tuple[float, float, dict[str, list[str]]]] = []   # nearby points
    xs: list[float] = []
    for i, lab in enumerate(labels):
        for phase in PHASES:
            x = float(t.loc[lab, f"samples_per_s_{phase}"])
            y = float(t.loc[lab, f"tops_per_w_array_{phase}"])
            if x <= 0 or y <= 0:
                continue
            xs.append(x)
            ax.scatter(x, y, color=acmap(i % 10), marker=markers[phase], s=70,
                       edgecolor="black", linewidth=0.5, zorder=3, alpha=0.85)
            for cx, cy, names in clusters:
                if abs(math.log10(x / cx)) < 0.12 and abs(math.log10(y / cy)) < 0.12:
                    names.setdefault(phase, []).append(lab)
                    break
            else:
                clusters.append((x, y, {phase: [lab]}))
    if xs:
        ax.set_xlim(min(xs) / 8, max(xs) * 8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ys = [c[1] for c in clusters]
    if ys:
        ax.set_ylim(min(ys) / 2, max(ys) * 2)
    _place_labels(fig, ax, [(x, y, "\n".join(f"{short[ph]}: {', '.join(n)}"
                                             for ph, n in names.items()))
                            for x, y, names in clusters])
    ax.set_xlabel("phase throughput (samples/s)")
    ax.set_ylabel("TOPs/W (array level)")
    ax.set_title("array-level TOPs/W vs throughput, per phase", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    handles = [plt.Line2D([], [], marker=m, linestyle="", color="grey", markeredgecolor="black",
                          label=p) for p, m in markers.items()]
    handles += [plt.Line2D([], [], marker="o", linestyle="", color=acmap(i % 10), label=lab)
                for i, lab in enumerate(labels)]
    ax.legend(handles=handles, fontsize=8, loc="best")
    ax = fig.add_subplot(gs[1, 2])
    x = range(len(labels))
    tp = [float(t.loc[lab, "throughput_samples_per_s"]) for lab in labels]
    en = [float(t.loc[lab, "energy_per_sample_j_total"]) for lab in labels]
    ax.bar([i - 0.2 for i in x], [v / tp[0] if tp[0] else 0 for v in tp], width=0.4,
           label="throughput", color="tab:blue")
    ax.bar([i + 0.2 for i in x], [v / en[0] if en[0] else 0 for v in en], width=0.4,
           label="energy / sample", color="tab:orange")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(list(x), labels, rotation=20, fontsize=8)
    ax.set_yscale("log")
    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(fmt)
    ax.yaxis.set_minor_formatter(fmt)
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_title(f"total, relative to {labels[0]}", fontsize=10)
    ax.set_ylabel("ratio")
    ax.legend(fontsize=8)
    r = next(iter(cmp.results.values()))
    fig.suptitle(f"pnmsim compare: {r.workload.name}, {r.samples} samples, seed {r.seed}",
                 y=0.945, fontsize=12)
    p = _save(fig, path)
    plt.close(fig)
    return p


def _place_labels(fig: Any, ax: Any, items: Sequence[tuple[float, float, str]]) -> None:
    """Annotate points, each label at the first of a few offsets where it overlaps neither an
    earlier label nor a point, and stays inside the axes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    pts = [ax.transData.transform((x, y)) for x, y, _ in items]
    r = 7.0
    from matplotlib.transforms import Bbox

    taken = [Bbox.from_extents(px - r, py - r, px + r, py + r) for px, py in pts]
    options = [((9, 0), "left", "center"), ((-9, 0), "right", "center"),
               ((0, 9), "center", "bottom"), ((0, -9), "center", "top"),
               ((9, 9), "left", "bottom"), ((9, -9), "left", "top"),
               ((-9, 9), "right", "bottom"), ((-9, -9), "right", "top")]
    for x, y, text in items:
        chosen = None
        for off, ha, va in options:
            ann = ax.annotate(text, (x, y), textcoords="offset points", xytext=off,
                              fontsize=8, ha=ha, va=va)
            bb = ann.get_window_extent(renderer)
            inside = (bb.x0 >= frame.x0 and bb.x1 <= frame.x1 and bb.y0 >= frame.y0
                      and bb.y1 <= frame.y1)
            if inside and not any(bb.overlaps(t) for t in taken):
                chosen = bb
                break
            ann.remove()
        if chosen is None:
            off, ha, va = options[0]
            ann = ax.annotate(text, (x, y), textcoords="offset points", xytext=off,
                              fontsize=8, ha=ha, va=va)
            chosen = ann.get_window_extent(renderer)
        taken.append(chosen)


def _xvalues(table: pd.DataFrame, key: str) -> tuple[list[Any], bool]:
    vals = list(dict.fromkeys(table[key].tolist()))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
    return vals, numeric


def plot_sweep(table: pd.DataFrame, axes: Sequence[Sequence[str]], metric: str,
               path: str | Path) -> Path:
    """Four panels against the first ``--vary`` (``axes``: the key groups of each --vary, in
    order), one line colour per combination of the other --vary values, one line style per
    series (e.g. per phase)."""
    plt = _pyplot()
    xkey = axes[0][0]
    others = [ks[0] for ks in axes[1:]]
    xs, numeric = _xvalues(table, xkey)
    groups = ([("", table)] if not others else
              [(", ".join(f"{k}={v}" for k, v in zip(others, g if isinstance(g, tuple)
                                                     else (g,), strict=True)), sub)
               for g, sub in table.groupby(others, sort=False)])
    panels: list[tuple[str, list[tuple[str, str]]]] = [
        ("energy per sample (J)", [("energy_per_sample_j_total", "")]),
        ("TOPs/W (array level)", [(f"tops_per_w_array_{p}", p) for p in PHASES]),
        ("throughput (samples/s)", [("throughput_samples_per_s", "")]),
    ]
    if metric == "accuracy":
        panels.append(("test accuracy", [("final_test_accuracy", "final"),
                                         ("best_test_accuracy", "best")]))
    else:
        panels.append(("tiles used", [("tiles", "")]))
    fig, axs = plt.subplots(2, 2, figsize=(12, 8.5))
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D"]
    cmap = plt.get_cmap("tab10")
    for ax, (ylabel, cols) in zip(axs.flat, panels, strict=True):
        for gi, (_, sub) in enumerate(groups):
            sub = sub.set_index(xkey).reindex(xs)
            pos = xs if numeric else list(range(len(xs)))
            for si, (col, _) in enumerate(cols):
                ax.plot(pos, sub[col].astype(float).tolist(), marker=markers[si % 4],
                        linestyle=styles[si % 4], color=cmap(gi % 10))
        if not numeric:
            ax.set_xticks(list(range(len(xs))), [str(v) for v in xs])
        elif all(v > 0 for v in xs) and max(xs) / min(xs) >= 8:
            ax.set_xscale("log", base=2 if all(float(v).is_integer() for v in xs) else 10)
            ax.set_xticks(xs, [f"{v:g}" for v in xs])
            ax.minorticks_off()
        vals = table[[c for c, _ in cols]].to_numpy(dtype=float)
        if (vals > 0).all() and vals.max() / vals.min() >= 20:
            ax.set_yscale("log")
        ax.set_xlabel("+".join(axes[0]))
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        handles = [plt.Line2D([], [], color=cmap(gi % 10), marker="o", label=g)
                   for gi, (g, _) in enumerate(groups) if g]
        if len(cols) > 1:
            handles += [plt.Line2D([], [], color="black", linestyle=styles[si % 4],
                                   marker=markers[si % 4], label=name)
                        for si, (_, name) in enumerate(cols)]
        if handles:
            ax.legend(handles=handles, fontsize=7, loc="best")
    r = table.iloc[0]
    if "train_samples" in table.columns:
        what = (f"hardware training on {r['train_samples']} samples x "
                f"{int(r['samples']) // max(1, int(r['train_samples']))} epochs, "
                f"tested on {r['test_samples']}")
    else:
        what = f"{r['samples']} samples"
    fig.suptitle(f"pnmsim sweep: {r['arch']} / {r['workload']}, {what}, seed {r['seed']}",
                 fontsize=12)
    fig.tight_layout()
    p = _save(fig, path)
    plt.close(fig)
    return p


__all__ = ["Axis", "Comparison", "Point", "SweepOutcome", "SweepSpec", "area_proxy",
           "compare", "compare_text", "parse_vary", "plan_sweep", "plot_comparison",
           "plot_sweep", "results_row", "run_point", "run_sweep", "table_records", "training_row",
           "write_comparison"]
