"""The training loop: GXNOR in software, or the same loop on the simulated MTJ array.

``--mode software``: :class:`~pnmsim.nn.network.SoftwareBackend` (exact GXNOR: ternary
weights, DST update with p = tanh(m|nu|/L)).
Both run through one :class:`~pnmsim.simulation.Simulation` (the driver that owns backend,
chip, network and tally); this module adds only the schedule, the logs and the checkpoint
files.

``--mode hardware``: :class:`~pnmsim.array.ArrayBackend`: forward through crossbar conductances
(device variation included when the preset has it) with the preset's training-forward ADCs,
backward through the transposed arrays with DAC/ADC quantisation, and every weight change by
MTJ stochastic switching with pulse widths from the preset's update scheme — the transition
probability comes from the device physics, not from tanh. Each mini-batch is also scheduled on
the SimPy chip model, so energy, cycles and TOPs/W per phase are tallied for the whole run.

Schedule: epoch 0 of the GXNOR reference runs at learning rate 0, which only snaps the initial
weights to the states; pnmsim's initialisation performs that snap directly, so epoch 0 in the
log is the evaluation of the snapped initial network and costs no training pass. Epochs 1..E use
``lr = lr_start * (lr_end / lr_start) ** ((e - 1) / (E - 1))`` (exponential decay, as the
reference). Test accuracy is reported final and best-over-epochs (the reference reports best),
each labelled; the best epoch is chosen on the *validation* split, so "best" is not tuned on
the test set (``best_test_accuracy`` is the test accuracy at that epoch;
``max_test_accuracy`` the maximum over epochs, the reference's convention).

Checkpoints are written atomically after every epoch; ``resume`` continues a killed run to the
same result as an uninterrupted run with the same seed (all random states are saved).
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pnmsim.config import ArchConfig, dump_yaml
from pnmsim.datasets import Dataset
from pnmsim.errors import PnmsimError
from pnmsim.records import PHASES
from pnmsim.results import Results, atomic_write, read_npz, run_metadata
from pnmsim.simulation import Simulation
from pnmsim.workload import Workload

CHECKPOINT = "checkpoint.npz"
LOG = "log.csv"


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    mode: str = "hardware"          # hardware | software
    epochs: int = 10
    batch_size: int = 100
    lr_start: float = 0.01
    lr_end: float = 0.0001
    seed: int = 0
    eval_batch: int = 1000

    def lr(self, epoch: int) -> float:
        if epoch <= 0:
            return 0.0
        if self.epochs <= 1:
            return self.lr_start
        f = (epoch - 1) / (self.epochs - 1)
        return float(self.lr_start * (self.lr_end / self.lr_start) ** f)


class Trainer:
    def __init__(self, arch: ArchConfig, workload: Workload, data: Dataset,
                 settings: TrainSettings, out_dir: str | Path | None = None) -> None:
        if tuple(data.input_shape) != tuple(workload.input_shape):
            raise PnmsimError(f"workload {workload.name} takes inputs "
                              f"{'x'.join(map(str, workload.input_shape))} but dataset "
                              f"{data.name} has {'x'.join(map(str, data.input_shape))}")
        if data.classes != workload.classes:
            raise PnmsimError(f"workload {workload.name} has {workload.classes} classes but "
                              f"dataset {data.name} has {data.classes}")
        self.arch, self.workload, self.data, self.s = arch, workload, data, settings
        self.out = Path(out_dir) if out_dir else None
        self.hardware = settings.mode == "hardware"
        self.sim = Simulation(arch, workload, settings.seed, "coarse", timed=self.hardware,
                              hardware=self.hardware, network_seed=[settings.seed, 2])
        self.sim.calibrated = True   # training starts from the snapped initial weights
        self.net = self.sim.network
        self.chip = self.sim.chip
        self.data_rng = np.random.default_rng([settings.seed, 3])
        self.epoch = 0
        self.log: list[dict[str, float]] = []
        self.wall_s = 0.0

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        if len(x) == 0:
            return float("nan"), float("nan")
        return self.sim.evaluate(x, y, self.s.eval_batch)   # inference: not a phase

    # ------------------------------------------------------------------ loop
    def run(self, progress: Callable[[int, int, int], None] | None = None) -> dict[str, Any]:
        d, s = self.data, self.s
        if self.epoch == 0 and not self.log:
            self._log_epoch(0, 0.0, {"loss": float("nan"), "accuracy": float("nan")}, 0.0,
                            {p: 0.0 for p in PHASES}, {p: 0 for p in PHASES}, 0.0)
            self._checkpoint()
        n = len(d.x_train)
        nb = -(-n // s.batch_size)
        for epoch in range(self.epoch + 1, s.epochs + 1):
            t0 = time.perf_counter()
            lr = s.lr(epoch)
            perm = self.data_rng.permutation(n)
            tot = {"loss": 0.0, "accuracy": 0.0}
            other = 0.0
            e_before = self._energy()
            c_before = dict(self.chip.cycles) if self.chip else {p: 0 for p in PHASES}
            for bi in range(nb):
                idx = perm[bi * s.batch_size:(bi + 1) * s.batch_size]
                xb, yb = d.x_train[idx], d.y_train[idx]
                st = self.sim.train_step(xb, yb, lr, bn="batch")
                tot["loss"] += st["loss"] * len(idx)
                tot["accuracy"] += st["accuracy"] * len(idx)
                other += st.get("switched", st.get("changed", 0.0))
                if progress is not None:
                    progress(epoch, bi + 1, nb)
            if self.hardware:   # converter ranges re-set from this epoch's statistics
                self.sim.backend.ranges.calibrate()
            e_after = self._energy()
            c_after = dict(self.chip.cycles) if self.chip else {p: 0 for p in PHASES}
            energy = {p: e_after[p] - e_before[p] for p in PHASES}
            cycles = {p: c_after.get(p, 0) - c_before.get(p, 0) for p in PHASES}
            self.wall_s += time.perf_counter() - t0
            self._log_epoch(epoch, lr, {k: v / n for k, v in tot.items()}, other, energy,
                            cycles, time.perf_counter() - t0)
            self.epoch = epoch
            self._checkpoint()
        return self.summary()

    def _energy(self) -> dict[str, float]:
        if not self.hardware:
            return {p: 0.0 for p in PHASES}
        pm = self._results().phase_metrics()
        return {p: pm[p]["energy_j"] for p in PHASES}

    def _results(self) -> Results:
        self.sim.wall_s = self.wall_s
        return self.sim.results(samples=max(1, self._samples()))

    def _samples(self) -> int:
        return self.epoch * len(self.data.x_train)

    def _log_epoch(self, epoch: int, lr: float, tr: dict[str, float], switched: float,
                   energy: dict[str, float], cycles: dict[str, int], wall: float) -> None:
        val_acc, val_loss = self._evaluate(self.data.x_val, self.data.y_val)
        test_acc, test_loss = self._evaluate(self.data.x_test, self.data.y_test)
        row: dict[str, float] = {"epoch": epoch, "lr": lr, "train_loss": tr["loss"],
                                 "train_accuracy": tr["accuracy"], "val_accuracy": val_acc,
                                 "test_accuracy": test_acc, "test_loss": test_loss,
                                 "switching_events": switched}
        for p in PHASES:
            row[f"energy_j_{p}"] = energy[p]
            row[f"cycles_{p}"] = cycles[p]
            row[f"seconds_{p}"] = cycles[p] / (self.arch.clock_mhz * 1e6)
        row["wall_s"] = wall
        self.log.append(row)
        if self.out is not None:
            import pandas as pd

            atomic_write(self.out / LOG, pd.DataFrame(self.log).to_csv(index=False))

    # ------------------------------------------------------------------ results
    def summary(self) -> dict[str, Any]:
        rows = [r for r in self.log if r["epoch"] >= 1] or self.log
        final = rows[-1]
        has_val = len(self.data.x_val) > 0
        best = max(rows, key=lambda r: (np.nan_to_num(r["val_accuracy"], nan=-1), -r["epoch"]))
        out: dict[str, Any] = {
            "arch": self.arch.name, "workload": self.workload.name, "dataset": self.data.name,
            "mode": self.s.mode, "epochs": self.epoch, "seed": self.s.seed,
            "batch_size": self.s.batch_size, "lr_start": self.s.lr_start,
            "lr_end": self.s.lr_end, "train_samples": len(self.data.x_train),
            "test_samples": len(self.data.x_test),
            "final_test_accuracy": final["test_accuracy"],
            "best_test_accuracy": best["test_accuracy"] if has_val else None,
            "best_epoch": best["epoch"] if has_val else None,
            "max_test_accuracy": max(r["test_accuracy"] for r in rows),
            "wall_s": self.wall_s,
        }
        if self.hardware:
            res = self._results()
            pm = res.phase_metrics()
            out["ops_per_mac"] = self.arch.ops_per_mac
            out["phases"] = {p: {k: pm[p][k] for k in ("cycles", "seconds", "energy_j", "ops",
                                                       "tops_per_w_synapse",
                                                       "tops_per_w_array",
                                                       "tops_per_w_system")}
                             for p in (*PHASES, "total")}
        return out

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint(self) -> None:
        if self.out is None:
            return
        from pnmsim.outdir import ensure_dir

        ensure_dir(self.out)
        d = self.sim.state_dict()
        meta = {"epoch": self.epoch, "log": self.log, "wall_s": self.wall_s,
                "run": self._identity(),
                "data_rng": self.data_rng.bit_generator.state,
                "net_rng": self.net.rng.bit_generator.state,
                "settings": dataclasses.asdict(self.s)}
        d["trainer.meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8).copy()
        buf = io.BytesIO()
        np.savez(buf, **d)
        atomic_write(self.out / CHECKPOINT, buf.getvalue())
        atomic_write(self.out / "config.yaml", dump_yaml(self.arch))

    def _identity(self) -> dict[str, Any]:
        """What must not change between a run and its resumption."""
        return {"arch": dump_yaml(self.arch), "workload": json.dumps(self.workload.to_dict()),
                "dataset": self.data.name, "train": len(self.data.x_train),
                "val": len(self.data.x_val), "test": len(self.data.x_test)}

    def load_checkpoint(self, path: str | Path) -> None:
        p = Path(path)
        if p.is_dir():
            p = p / CHECKPOINT
        d = read_npz(p)
        if "trainer.meta" not in d:
            raise PnmsimError(f"{p}: not a pnmsim train checkpoint (no trainer.meta)")
        from pnmsim.checkpoints import check_meta, check_sim_meta, check_state

        try:
            raw = d.pop("trainer.meta")
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise ValueError(f"{raw.dtype} {raw.shape}, not JSON bytes")
            meta = json.loads(raw.tobytes())
            saved = meta["settings"]
            if not isinstance(saved, dict):
                raise TypeError("settings is not a mapping")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as e:
            raise PnmsimError(f"{p}: trainer.meta: corrupt trainer metadata "
                              f"({type(e).__name__}: {str(e)[:80]}); allowed: a checkpoint "
                              "written by pnmsim train") from None
        mine = dataclasses.asdict(self.s)
        diff = {k: (saved[k], mine[k]) for k in ("mode", "batch_size", "seed", "lr_start",
                                                  "lr_end") if saved.get(k) != mine[k]}
        if diff:
            k, (a, b) = next(iter(diff.items()))
            raise PnmsimError(f"{p}: resume with a different {k} ({b}) than the run ({a}); "
                              "use the same settings or a new --out")
        check_meta(meta, p, self.s.epochs)
        mine_id = self._identity()
        for k, v in meta.get("run", {}).items():
            if mine_id.get(k) != v:
                raise PnmsimError(f"{p}: resume with a different {k} than the saved run; use "
                                  "the same arch, --set, workload, dataset and limits")
        check_state(d, self.net, self.hardware, p)
        chip = self.sim.chip
        check_sim_meta(d, p, len(chip.tile) + 4 if chip is not None else None)
        try:
            self.sim.load_state_dict(d)
        except (KeyError, ValueError) as e:
            raise PnmsimError(f"{p}: checkpoint does not match this network ({e})") from None
        self.epoch = int(meta["epoch"])
        self.log = list(meta["log"])
        self.wall_s = float(meta["wall_s"])
        self.data_rng.bit_generator.state = meta["data_rng"]
        self.net.rng.bit_generator.state = meta["net_rng"]

    def write_outputs(self, extra: dict[str, Any] | None = None) -> None:
        if self.out is None:
            return
        from pnmsim.jsonsafe import dumps

        atomic_write(self.out / "summary.json", dumps(self.summary())[0])
        meta = run_metadata(self.s.seed, self.wall_s)
        meta.update(extra or {})
        atomic_write(self.out / "metadata.json", json.dumps(meta, indent=2, default=str))
        if self.hardware:
            atomic_write(self.out / "counts.csv", self._results().counts().to_csv(index=False))
