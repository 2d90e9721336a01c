"""One explicit simulation: an architecture, a workload, a seed -> results.

``Simulation(arch, workload, seed).run(x, y)`` processes the samples in mini-batches of
``system.batch_size``. Each mini-batch is one in-situ training step on the array:

* **feedforward** — the batch through the crossbars with the preset's ``forward_sensing``
  (comparators with batch-norm folded into two thresholds per neuron, using the running
  statistics; the last layer is digitised);
* **backprop** — the output error (squared hinge) back through the transposed arrays with
  DAC/ADC quantisation, batch-norm frozen at its running statistics (which is what makes the
  comparator forward exact during training);
* **update** — the weight change through MTJ stochastic switching with the preset's update
  scheme.

``phases`` selects what runs: ``("feedforward",)`` is inference only; ``("feedforward",
"backprop")`` adds the error pass without writing; the default runs all three.

**Accuracy** is the inference accuracy of each batch's feedforward pass, measured *before* that
batch's weight update (the forward uses the running batch-norm statistics, so it is the
inference forward). From a trained checkpoint the update continues that training rather than
starting a new one: the checkpoint's Adam state (``pnmsim train`` checkpoints; the embedded
model carries an equivalent one, see benchmarks/export_model.py) at the schedule's final
learning rate (``lr_end`` of the checkpoint's settings); ``update.lr`` and a fresh Adam only
when the checkpoint gives neither.

**Every batch's step starts from the loaded state.** ``simulate`` characterises one in-situ
training step per mini-batch — its values, switching, energy and time — and does not train on
the samples whose accuracy it reports (that is ``pnmsim train``): after a batch's update has been
simulated (pulses applied, cells switched, counted), the cells, batch-norm parameters and
optimiser state return to the loaded ones before the next batch (the write streams go on). So
the reported accuracy does not depend on ``system.batch_size``, and the update phase's activity
is that of a step from the checkpoint, not of a drifting model.

**Converter ranges** are fixed (:mod:`pnmsim.converter_ranges`): those stored with the
checkpoint; any group it lacks (all, for an old checkpoint; or one another preset adds) is set
by one set-up pass (not counted) over the first
:data:`~pnmsim.converter_ranges.CALIBRATION_SAMPLES` samples, whatever ``system.batch_size``.

The network's weights and batch-norm statistics come from a trained checkpoint when one is
given (the embedded MNIST CNN for the default run); otherwise the ternary weights are random and
a calibration pass of one training-mode forward on the first batch sets the batch-norm
statistics (not counted: it is set-up, not a phase).

``timed=False`` runs the same functional code without the SimPy schedule (a functional-only
run); its values and action counts are identical to a timed run with the same seed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pnmsim.array import PHASES, ArrayBackend
from pnmsim.config import ArchConfig
from pnmsim.converter_ranges import CALIBRATION_SAMPLES
from pnmsim.errors import PnmsimError
from pnmsim.hw.chip import Chip, Mode
from pnmsim.results import Results, read_npz
from pnmsim.training.layers import squared_hinge_loss
from pnmsim.training.network import Network
from pnmsim.workload import Workload


class Simulation:
    def __init__(self, arch: ArchConfig, workload: Workload, seed: int = 0,
                 mode: Mode = "coarse", timed: bool = True,
                 checkpoint: str | Path | None = None,
                 phases: tuple[str, ...] = PHASES) -> None:
        if tuple(phases) not in (PHASES[:1], PHASES[:2], PHASES):
            raise PnmsimError(f"--phases: got {','.join(phases)}; allowed: feedforward, "
                              "feedforward,backprop or feedforward,backprop,update")
        self.phases = tuple(phases)
        self.arch = arch
        self.workload = workload
        self.seed = seed
        self.mode = mode
        self.timed = timed
        self.backend = ArrayBackend(arch, workload, seed)
        self.network = Network(workload, self.backend, np.random.default_rng(seed))
        self.checkpoint = checkpoint
        self.calibrated = False
        self.weights_source = "random ternary weights, batch-norm calibrated on the first batch"
        self.lr = arch.update.lr
        self.ranges_loaded = False
        self.update_setting = f"fresh Adam, lr {self.lr:g} (update.lr)"
        if checkpoint is not None:
            got = load_weights(self.network, checkpoint)
            self.calibrated = True
            self.ranges_loaded = bool(got["ranges"])
            if got["lr_end"] is not None:
                self.lr = float(got["lr_end"])
            self.update_setting = ("checkpoint's Adam state" if got["adam"] else "fresh Adam")
            self.update_setting += (f", lr {self.lr:g} (the checkpoint schedule's final "
                                    "learning rate)" if got["lr_end"] is not None else
                                    f", lr {self.lr:g} (update.lr)")
            self.weights_source = f"trained checkpoint {Path(checkpoint).name}"
        self.backend.lr = self.lr
        self.chip = Chip(arch, self.backend.mapping, mode) if timed else None

    def run(self, x: np.ndarray, y: np.ndarray,
            progress: Callable[[int, int], None] | None = None) -> Results:
        t0 = time.perf_counter()
        b = self.arch.system.batch_size
        n = len(x)
        if n == 0:
            raise ValueError("no samples to simulate")
        be = self.backend
        if not self.calibrated:
            be.training_forward = True
            be.batch_samples = min(b, n)
            old = {k: v.copy() for k, v in self.network.running.items()}
            self.network.forward(x[:b], train=True)
            # forward(train=True) moved the running statistics by momentum 0.1 towards the
            # batch statistics; set them to the batch statistics themselves
            mom = 0.1
            for k, v in self.network.running.items():
                self.network.running[k] = ((v - (1 - mom) * old[k]) / mom).astype(v.dtype)
            be.tally.counts.clear()
            be.tally.macs.clear()
            be.records.clear()
            be.training_forward = False
            self.calibrated = True
        # converter groups the checkpoint has no range for (all of them, or those another
        # preset adds, e.g. digitised partial sums) get one from a set-up pass
        self._calibrate_ranges(x[:CALIBRATION_SAMPLES], y[:CALIBRATION_SAMPLES])
        be.ranges.observing = False       # fixed from here on
        start_state = self._snapshot() if "update" in self.phases else None
        correct = 0
        losses = []
        batch_cycles: list[dict[str, int]] = []
        for start in range(0, n, b):
            xb, yb = x[start:start + b], y[start:start + b]
            be.batch_samples = len(xb)
            be.records.clear()
            stats = self._batch(xb, yb)
            if start_state is not None:
                self._restore(start_state)
            correct += int(round(stats["accuracy"] * len(xb)))
            losses.append(stats["loss"] * len(xb))
            if self.chip is not None:
                batch_cycles.append(self.chip.run_batch(list(be.records)))
            if progress is not None:
                progress(min(start + b, n), n)
        wall = time.perf_counter() - t0
        cycles = dict(self.chip.cycles) if self.chip is not None else {p: 0 for p in PHASES}
        return Results(arch=self.arch, workload=self.workload, samples=n, seed=self.seed,
                       tally=be.tally, cycles=cycles, mapping=be.mapping,
                       busy=self.chip.busy_cycles() if self.chip else {},
                       events=self.chip.total_events() if self.chip else 0,
                       wall_s=wall, accuracy=correct / n, loss=float(sum(losses) / n),
                       timed=self.timed, weights_source=self.weights_source,
                       phases_run=self.phases,
                       update_setting=self.update_setting if "update" in self.phases else "")

    def _snapshot(self) -> dict[str, Any]:
        """Cells, batch-norm parameters and optimiser state (not the random streams)."""
        be, net = self.backend, self.network
        cells = {i: (be.crossbar(i).s1.copy(), be.crossbar(i).s2.copy())
                 for i in range(len(net.layers))}
        return {"cells": cells, "params": {k: v.copy() for k, v in net.params.items()},
                "adam": net.adam.state_dict()}

    def _restore(self, snap: dict[str, Any]) -> None:
        be, net = self.backend, self.network
        for i, (s1, s2) in snap["cells"].items():
            xb = be.crossbar(i)
            xb.s1, xb.s2 = s1.copy(), s2.copy()
            xb._invalidate()
        for k, v in snap["params"].items():
            net.params[k] = v.copy()
        net.adam.load_state_dict(snap["adam"])

    def _batch(self, xb: np.ndarray, yb: np.ndarray) -> dict[str, float]:
        """One mini-batch through the selected phases; accuracy of its feedforward."""
        net = self.network
        if self.phases == PHASES:
            return net.train_step(xb, yb, self.lr, bn="running")
        if self.phases == PHASES[:1]:
            out = net.forward(xb, train=False)
            loss, _ = squared_hinge_loss(out, np.asarray(yb), self.workload.classes)
        else:
            out = net.forward(xb, train=True, bn="running")
            loss, g = squared_hinge_loss(out, np.asarray(yb), self.workload.classes)
            net.backward(g)
            net._caches = []
        return {"loss": float(loss), "accuracy": float(np.mean(out.argmax(axis=1) == yb))}

    def _calibrate_ranges(self, x: np.ndarray, y: np.ndarray) -> None:
        """Set-up (not counted): fixed converter ranges from one forward and backward pass
        over a fixed number of samples, for every converter group the checkpoint gave no range
        (the stored ones are kept)."""
        be, net = self.backend, self.network
        stored = dict(be.ranges.fixed)
        be.ranges.reset()
        be.batch_samples = len(x)
        out = net.forward(x, train=True, bn="running")
        _, g = squared_hinge_loss(out, np.asarray(y), self.workload.classes)
        net.backward(g)
        net._caches = []
        be.ranges.calibrate()
        be.ranges.fixed.update(stored)
        be.tally.counts.clear()
        be.tally.macs.clear()
        be.records.clear()


def load_weights(network: Network, path: str | Path) -> dict[str, Any]:
    """Load trained weights and batch-norm state (a ``pnmsim train`` checkpoint or the embedded
    model) into a network, with what else the checkpoint holds: its converter ranges
    (``ranges`` or ``backend.ranges``), its Adam state (``adam.*``) and its schedule's final
    learning rate (``lr_end`` of ``trainer.meta`` or ``info`` settings). Returns which of
    these it found: ``{"ranges": bool, "adam": bool, "lr_end": float | None}``."""
    d = read_npz(path)
    needed = [f"w{i}" for i in range(len(network.layers))] + list(network.params)
    needed += list(network.running)
    missing = [k for k in needed if k not in d]
    if missing:
        raise PnmsimError(f"{path}: checkpoint lacks {missing[0]} (and {len(missing) - 1} more "
                          f"keys): it does not hold a trained {network.workload.name}")
    for i, layer in enumerate(network.layers):
        w = d[f"w{i}"]
        if w.shape != (layer.rows, layer.cols):
            raise PnmsimError(f"{path}: w{i} has shape {w.shape}, {network.workload.name} "
                              f"needs ({layer.rows}, {layer.cols})")
        network.backend.init_layer(i, layer, w.astype(np.int8))
    for store in (network.params, network.running):
        for k in store:
            store[k] = d[k].astype(np.float32)
    found: dict[str, Any] = {"ranges": False, "adam": False, "lr_end": None}
    blob = d.get("ranges", d.get("backend.ranges"))
    ranges = getattr(network.backend, "ranges", None)
    if blob is not None and ranges is not None:
        try:
            ranges.load_array(blob)
        except (ValueError, TypeError, AttributeError) as e:
            raise PnmsimError(f"{path}: unreadable converter ranges ({e})") from None
        found["ranges"] = True
    adam = {k[5:]: v for k, v in d.items() if k.startswith("adam.")}
    for k, v in d.items():   # compact form of the embedded model (benchmarks/export_model.py)
        if k.startswith("adam16.") and not k.startswith("adam16.scale."):
            name = k[len("adam16."):]
            scale = d.get(f"adam16.scale.{name}")
            if scale is None:
                raise PnmsimError(f"{path}: {k} has no adam16.scale.{name}")
            val = v.astype(np.float32) * np.float32(scale)
            adam[name] = val * val if name.startswith("v.") else val
    if "t" in adam:
        try:
            network.adam.load_state_dict(adam)
        except (ValueError, KeyError) as e:
            raise PnmsimError(f"{path}: unreadable optimiser state ({e})") from None
        found["adam"] = True
    for key in ("trainer.meta", "info"):
        if key in d:
            try:
                lr_end = json.loads(d[key].tobytes())["settings"]["lr_end"]
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(lr_end, (int, float)) and lr_end >= 0:
                found["lr_end"] = float(lr_end)
                break
    return found


__all__ = ["Simulation", "load_weights"]
