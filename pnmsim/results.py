"""Results: tidy tables, the energy roll-up and every throughput / efficiency formula, once.

* counts: one row per (phase, component, component_class, action) with the action count;
* energy = count x the cost model's energy (pJ, :func:`pnmsim.costs.cost_table`), rolled up here
  and nowhere else;
* ops (one convention, defined by the workload, never by the hardware) = ops_per_mac x MACs:
  feedforward, the synapse MACs (rows x cols per matrix-vector product); backprop, the error
  MACs (the same per transposed product); update, the weight-gradient MACs (rows x cols per
  input vector of the batch) — identical for every update scheme, learning rate and batch split;
* TOPs/W = ops / energy(J) / 1e12 at three nested scopes (:mod:`pnmsim.costs.table`):
  ``synapse`` (cells and access devices), ``array`` (plus drivers, pulse generators,
  converters, sensing and partial-sum circuits) and ``system`` (everything);
* seconds = cycles / clock (the only place cycles become seconds).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pnmsim import __version__
from pnmsim.config import ArchConfig, dump_yaml
from pnmsim.costs import SCOPES, cost_table, scope_level, scope_of
from pnmsim.mapping import NetworkMapping
from pnmsim.records import PHASES, Tally
from pnmsim.units import PJ_PER_J, cycles_to_seconds
from pnmsim.workload import Workload


def _safe_div(a: float, b: float) -> float:
    return a / b if b else 0.0


_ENERGY_KEY = {"synapse": "energy_j_synapse", "array": "energy_j_array", "system": "energy_j"}


@dataclasses.dataclass
class Results:
    arch: ArchConfig
    workload: Workload
    samples: int
    seed: int
    tally: Tally
    cycles: dict[str, int]
    mapping: NetworkMapping
    busy: dict[str, int]
    events: int
    wall_s: float
    accuracy: float = 0.0
    loss: float = 0.0
    timed: bool = True
    weights_source: str = ""
    phases_run: tuple[str, ...] = PHASES
    update_setting: str = ""
    tile_busy: dict[str, int] = dataclasses.field(default_factory=dict)

    # ------------------------------------------------------------------ tables
    def counts(self) -> pd.DataFrame:
        """Tidy action counts with their energy (pJ)."""
        rows = self.tally.rows()
        df = pd.DataFrame(rows, columns=["phase", "component", "component_class", "action",
                                         "count"])
        table = cost_table(self.arch)
        df["energy_pj"] = [cnt * table.energy_pj(c, a) for c, a, cnt in
                           zip(df["component_class"], df["action"], df["count"], strict=True)]
        df["scope"] = [scope_of(c) for c in df["component_class"]]
        return df

    def breakdown(self) -> pd.DataFrame:
        """Energy (J) by phase x component class."""
        df = self.counts()
        if df.empty:
            return pd.DataFrame()
        t = df.pivot_table(index="component_class", columns="phase", values="energy_pj",
                           aggfunc="sum", fill_value=0.0) / PJ_PER_J
        return t.reindex(columns=[p for p in PHASES if p in t.columns])

    def phase_energy_j(self) -> dict[str, dict[str, float]]:
        """Energy (J) by phase and scope: the :meth:`counts` rows of the phase whose class is
        in the scope, their ``energy_pj`` summed by numpy in row order (the floats summing that
        table's column gives) — without building the table, which the trainer's per-epoch
        figures would otherwise pay for three times an epoch."""
        table = cost_table(self.arch)
        rows: dict[str, list[tuple[float, int]]] = {p: [] for p in PHASES}
        for phase, _comp, cls, action, cnt in self.tally.rows():
            if phase in rows:   # with the class's innermost scope, as its index in SCOPES
                rows[phase].append((cnt * table.energy_pj(cls, action), scope_level(cls)))
        out: dict[str, dict[str, float]] = {}
        for p in PHASES:
            e = np.array([r[0] for r in rows[p]], dtype=np.float64)
            lv_rows = np.array([r[1] for r in rows[p]], dtype=np.int64)
            # a row counts at every scope from its own outwards (as in_scope); nansum: a NaN count
            # is skipped, as pandas' column sum skipped it
            out[p] = {sc: float(np.nansum(e[lv_rows <= k])) / PJ_PER_J
                      for k, sc in enumerate(SCOPES)}
        return out

    def phase_metrics(self) -> dict[str, dict[str, float]]:
        clock = self.arch.clock_mhz
        energy = self.phase_energy_j()
        out: dict[str, dict[str, float]] = {}
        for p in PHASES:
            e = energy[p]
            ops = self.arch.ops_per_mac * float(self.tally.macs.get(p, 0.0))
            cyc = int(self.cycles.get(p, 0))
            sec = cycles_to_seconds(cyc, clock)
            out[p] = self._metrics(cyc, sec, e, ops)
        tot_c = sum(int(self.cycles.get(p, 0)) for p in PHASES)
        tot_e = {sc: sum(m[_ENERGY_KEY[sc]] for m in out.values()) for sc in SCOPES}
        out["total"] = self._metrics(tot_c, cycles_to_seconds(tot_c, clock), tot_e,
                                     sum(m["ops"] for m in out.values()))
        return out

    def _metrics(self, cyc: int, sec: float, e: dict[str, float],
                 ops: float) -> dict[str, float]:
        return {
            "cycles": cyc,
            "seconds": sec,
            "energy_j": e["system"],
            "energy_j_array": e["array"],
            "energy_j_synapse": e["synapse"],
            "ops": ops,
            "tops": _safe_div(ops, sec) / 1e12,
            "tops_per_w_synapse": _safe_div(ops, e["synapse"]) / 1e12,
            "tops_per_w_array": _safe_div(ops, e["array"]) / 1e12,
            "tops_per_w_system": _safe_div(ops, e["system"]) / 1e12,
            "samples_per_s": _safe_div(self.samples, sec),
            "energy_per_sample_j": _safe_div(e["system"], self.samples),
        }

    def utilisation(self) -> dict[str, float]:
        """Busy fraction of each component class over the whole run."""
        total = sum(int(self.cycles.get(p, 0)) for p in PHASES)
        out = {}
        for k, v in self.busy.items():
            inst = self.mapping.tiles if k == "tiles" else 1
            out[k] = _safe_div(v, total * inst)
        return out

    def tile_utilisation(self) -> pd.DataFrame:
        """Busy cycles and busy fraction of every tile (``chip.tile[07]``) over the run."""
        total = sum(int(self.cycles.get(p, 0)) for p in PHASES)
        return pd.DataFrame([(k, v, _safe_div(v, total)) for k, v in self.tile_busy.items()],
                            columns=["component", "busy_cycles", "utilisation"])

    def summary(self) -> dict[str, Any]:
        """The JSON object of ``pnmsim simulate --format json``."""
        pm = self.phase_metrics()
        extra = ("samples_per_s", "energy_j_array", "energy_j_synapse")
        keys = ("cycles", "seconds", "energy_j", "ops", "tops", "tops_per_w_synapse",
                "tops_per_w_array", "tops_per_w_system")
        return {
            "arch": self.arch.name,
            "workload": self.workload.name,
            "samples": self.samples,
            "seed": self.seed,
            "ops_per_mac": self.arch.ops_per_mac,
            "ops_convention": f"ops = {self.arch.ops_per_mac} x MACs of the workload: synapse "
                              "MACs (feedforward), error MACs (backprop), weight-gradient MACs "
                              "(update)",
            "phases": {p: {k: pm[p][k] for k in (*keys, *extra)} for p in PHASES},
            "total": {k: pm["total"][k] for k in (*keys, *extra)},
            "tiles": self.mapping.tiles,
            "synapses": self.mapping.synapses,
            "array_utilisation": self.mapping.utilisation,
            "component_utilisation": self.utilisation(),
            "energy_breakdown_j": {c: {p: float(v) for p, v in row.items()}
                                   for c, row in self.breakdown().iterrows()},
            "weights": self.weights_source,
            "timed": self.timed,
            "accuracy": self.accuracy,
            "accuracy_measured": "inference: the feedforward pass of each batch, before that "
                                 "batch's weight update",
            "phases_run": list(self.phases_run),
            "update_setting": self.update_setting,
            "accuracy_on_samples": self.accuracy,
            "events": self.events,
            "wall_s": self.wall_s,
        }

    def phase_table(self) -> pd.DataFrame:
        pm = self.phase_metrics()
        df = pd.DataFrame(pm).T
        df.index.name = "phase"
        return df[["cycles", "seconds", "energy_j", "ops", "tops", "tops_per_w_synapse",
                   "tops_per_w_array", "tops_per_w_system", "samples_per_s"]]

    def text(self) -> str:
        """Human-readable report."""
        s = self.summary()
        lines = [
            f"pnmsim {__version__}: arch={s['arch']} workload={s['workload']} "
            f"samples={s['samples']} seed={s['seed']}",
            f"mapping: {s['tiles']} tiles of {self.arch.array.tile_rows}x"
            f"{self.arch.array.tile_cols}, {s['synapses']} synapses, "
            f"array utilisation {s['array_utilisation']:.1%}",
            f"ops convention: {s['ops_convention']}",
            f"weights: {self.weights_source}" + ("" if self.timed else
                                                 "; functional-only run: no timing"),
            "",
            self.phase_table().to_string(float_format=lambda v: f"{v:.4g}"),
            "",
            "energy by component class (J):",
            self.breakdown().to_string(float_format=lambda v: f"{v:.3e}"),
            "",
            "utilisation: " + ", ".join(f"{k} {v:.1%}" for k, v in
                                        s["component_utilisation"].items()),
            f"phases run: {', '.join(self.phases_run)}"
            + (f" (update: {self.update_setting})" if self.update_setting else ""),
            f"inference accuracy of the simulated feedforward on these samples (each batch "
            f"before its update): {s['accuracy']:.2%}",
        ]
        return "\n".join(lines)

    # ------------------------------------------------------------------ output folder
    def write(self, out_dir: str | Path, extra_meta: dict[str, Any] | None = None) -> Path:
        """Write counts.csv, phases.csv, breakdown.csv, summary.json, config.yaml and
        metadata.json into ``out_dir``, each atomically."""
        from pnmsim.jsonsafe import dumps
        from pnmsim.outdir import ensure_dir, write_marker

        out = ensure_dir(out_dir)
        write_marker(out, "simulate")
        atomic_write(out / "counts.csv", self.counts().to_csv(index=False))
        atomic_write(out / "phases.csv", self.phase_table().to_csv())
        atomic_write(out / "breakdown.csv", self.breakdown().to_csv())
        if self.tile_busy:
            atomic_write(out / "tiles.csv", self.tile_utilisation().to_csv(index=False))
        atomic_write(out / "summary.json", dumps(self.summary())[0])
        atomic_write(out / "config.yaml", dump_yaml(self.arch))
        meta = run_metadata(self.seed, self.wall_s)
        meta["workload"] = self.workload.to_dict()
        meta.update(extra_meta or {})
        atomic_write(out / "metadata.json", dumps(meta)[0])
        return out


def atomic_write(path: str | Path, text: str | bytes) -> None:
    """Write a file so that readers see the old or the new content, never a torn one."""
    from pnmsim.errors import OutputError

    path = Path(path)
    try:
        _atomic_write(path, text)
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror or e}); allowed: a writable "
                          "location with free space") from None


def _atomic_write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(text, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)    # mkstemp makes owner-only files; use the usual mode
    try:
        with os.fdopen(fd, mode) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz file; a missing, truncated or foreign file is a one-line
    :class:`~pnmsim.errors.PnmsimError` naming it."""
    from pnmsim.safeload import load_npz

    return load_npz(path, str(path))


def git_revision() -> str:
    try:
        here = Path(__file__).resolve().parent
        r = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                           text=True, timeout=5)
        rev = r.stdout.strip()
        if r.returncode != 0 or not rev:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_metadata(seed: int, wall_s: float) -> dict[str, Any]:
    return {"pnmsim_version": __version__, "seed": seed, "git_revision": git_revision(),
            "wall_s": wall_s, "python": platform.python_version(),
            "platform": platform.platform()}
