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

``phases`` selects what :meth:`Simulation.run` runs: ``("feedforward",)`` is inference only;
``("feedforward", "backprop")`` adds the error pass without writing; the default runs all three.

**Accuracy** is the inference accuracy of each batch's feedforward pass, measured *before* that
batch's weight update (the forward uses the running batch-norm statistics, so it is the
inference forward). From a trained checkpoint the update continues that training rather than
starting a new one: the checkpoint's Adam state (``pnmsim train`` checkpoints; the embedded
model carries an equivalent one, see benchmarks/export_model.py) at the schedule's final
learning rate (``lr_end`` of the checkpoint's settings); ``update.lr`` and a fresh Adam only
when the checkpoint gives neither.

**Every batch's step starts from the loaded state.** :meth:`Simulation.run` characterises one
in-situ training step per mini-batch — its values, switching, energy and time — and does not
train on the samples whose accuracy it reports (that is ``pnmsim train``): after a batch's
update has been simulated (pulses applied, cells switched, counted), the cells, batch-norm
parameters and optimiser state return to the loaded ones before the next batch (the write
streams go on). So the reported accuracy does not depend on ``system.batch_size``, and the
update phase's activity is that of a step from the checkpoint, not of a drifting model.

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

:class:`Simulation` is the one driver: it owns the backend (the simulated array, or GXNOR in
software with ``hardware=False``), the chip, the network and the tally, and offers
:meth:`~Simulation.train_step`, :meth:`~Simulation.evaluate`, :meth:`~Simulation.state_dict` /
:meth:`~Simulation.load_state_dict` and :meth:`~Simulation.results`. The training loop
(:mod:`pnmsim.training.trainer`) is a schedule, logs and checkpoint files over it; this module
imports nothing of it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pnmsim.array import ArrayBackend
from pnmsim.config import ArchConfig
from pnmsim.converter_ranges import CALIBRATION_SAMPLES
from pnmsim.errors import PnmsimError
from pnmsim.hw.chip import Chip, Mode
from pnmsim.nn.layers import squared_hinge_loss
from pnmsim.nn.network import N_BITS, Network, SoftwareBackend
from pnmsim.records import PHASES, OpLog, OpRecord
from pnmsim.results import Results, read_npz
from pnmsim.workload import Workload


class Simulation:
    def __init__(self, arch: ArchConfig, workload: Workload, seed: int = 0,
                 mode: Mode = "coarse", timed: bool = True,
                 checkpoint: str | Path | None = None, hardware: bool = True,
                 network_seed: int | Sequence[int] | None = None,
                 phases: Sequence[str] = PHASES) -> None:
        if tuple(phases) not in (PHASES[:1], PHASES[:2], PHASES):
            raise PnmsimError(f"--phases: got {','.join(phases)}; allowed: feedforward, "
                              "feedforward,backprop or feedforward,backprop,update")
        self.phases = tuple(phases)
        self.arch = arch
        self.workload = workload
        self.seed = seed
        self.mode = mode
        self.hardware = hardware
        self.timed = timed and hardware
        self.log = OpLog()
        self.backend: Any
        if hardware:
            self.backend = ArrayBackend(arch, workload, seed)
        else:
            self.backend = SoftwareBackend(np.random.default_rng([seed, 1]),
                                           n_bits=N_BITS[workload.weights], m=arch.update.m)
        self.network = Network(workload, self.backend, np.random.default_rng(
            seed if network_seed is None else network_seed))
        self.checkpoint = checkpoint
        self.calibrated = False
        self.weights_source = "random ternary weights, batch-norm calibrated on the first batch"
        self.lr = arch.update.lr
        self.update_setting = f"fresh Adam, lr {self.lr:g} (update.lr)"
        if checkpoint is not None:
            got = load_weights(self.network, checkpoint)
            self.calibrated = True
            if got["lr_end"] is not None:
                self.lr = float(got["lr_end"])
            self.update_setting = ("checkpoint's Adam state" if got["adam"] else "fresh Adam")
            self.update_setting += (f", lr {self.lr:g} (the checkpoint schedule's final "
                                    "learning rate)" if got["lr_end"] is not None else
                                    f", lr {self.lr:g} (update.lr)")
            self.weights_source = f"trained checkpoint {Path(checkpoint).name}"
        self.chip = Chip(arch, self.backend.mapping, mode) if self.timed else None
        self.samples = 0          # samples trained through so far
        self.wall_s = 0.0
        self.batches = 0          # mini-batches trained through so far
        self.tracer: Any = None   # a pnmsim.trace.Tracer while a timeline is recorded
        self.recording: list[list[OpRecord]] | None = None   # each batch's records (replay)
        self.trace_range: tuple[int, int] | None = None   # batches [a, b) traced; None: all

    def attach_tracer(self, tracer: Any) -> None:
        """Record the chip's schedule (and each phase's power) into a
        :class:`pnmsim.trace.Tracer`; None stops recording. Changes no figure."""
        if self.chip is None:
            raise PnmsimError("a timeline trace needs a timed run on the simulated array")
        self.tracer = tracer
        self.chip.attach_tracer(tracer)

    @property
    def tally(self):  # noqa: ANN201 - the run's Tally
        return self.log.tally

    # ------------------------------------------------------------------ steps
    def calibrate(self, x: np.ndarray) -> None:
        """Set the batch-norm running statistics to those of one training-mode forward of x
        (set-up: neither counted nor scheduled)."""
        old = {k: v.copy() for k, v in self.network.running.items()}
        self.network.forward(x, train=True, log=None)
        # forward(train=True) moved the running statistics by momentum 0.1 towards the
        # batch statistics; set them to the batch statistics themselves
        mom = 0.1
        for k, v in self.network.running.items():
            self.network.running[k] = ((v - (1 - mom) * old[k]) / mom).astype(v.dtype)
        self.calibrated = True

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float | None = None, *,
                   bn: str = "running") -> dict[str, Any]:
        """One mini-batch through all three phases: counted, and scheduled on the chip.
        ``lr`` defaults to the preset's ``update.lr``; ``bn="batch"`` trains with batch
        statistics (a training forward: pre-activations digitised), ``"running"`` with the
        frozen running statistics (comparator forward). Returns the network's step statistics
        plus ``cycles`` (per phase, this step)."""
        lr = self.arch.update.lr if lr is None else lr
        self.log.records.clear()
        tracing = self.tracer is not None and (
            self.trace_range is None or self.trace_range[0] <= self.batches < self.trace_range[1])
        if self.tracer is not None and self.chip is not None:
            self.chip.attach_tracer(self.tracer if tracing else None)
        before = dict(self.log.tally.counts) if tracing else None
        st: dict[str, Any] = dict(self.network.train_step(x, y, lr, bn=bn, log=self.log))
        if self.recording is not None:
            self.recording.append(list(self.log.records))
        t0 = sum(self.chip.cycles.values()) if self.chip is not None else 0
        if tracing:
            self.tracer.batch = self.batches
        st["cycles"] = (self.chip.run_batch(list(self.log.records)) if self.chip is not None
                        else {p: 0 for p in PHASES})
        if before is not None:
            self._trace_power(before, t0, st["cycles"])
        self.log.records.clear()
        self.samples += len(x)
        self.batches += 1
        return st

    def _trace_power(self, before: dict, t0: int, cycles: dict[str, int]) -> None:
        """Each phase's energy per component class (this batch's tally, priced by the cost
        table) over the phase's duration, into the trace's power counters."""
        from pnmsim.costs import cost_table

        table = cost_table(self.arch)
        energy: dict[str, dict[str, float]] = {p: {} for p in PHASES}
        for k, v in self.log.tally.counts.items():
            d = v - before.get(k, 0.0)
            if d:
                ph, _, cls, action = k
                e = energy[ph]
                e[cls] = e.get(cls, 0.0) + d * table.energy_pj(cls, action)
        for p in PHASES:
            self.tracer.phase_power(t0, cycles[p], energy[p])
            t0 += cycles[p]

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int = 1000,
                 ) -> tuple[float, float]:
        """(accuracy, loss) in inference mode; not a phase: neither counted nor scheduled, and
        not part of the converters' statistics (those come from training data)."""
        ranges = getattr(self.backend, "ranges", None)
        if ranges is None:
            return self.network.evaluate(x, y, batch_size)
        ranges.observing = False
        try:
            return self.network.evaluate(x, y, batch_size)
        finally:
            ranges.observing = True

    def calibrate_ranges(self, x: np.ndarray, y: np.ndarray) -> None:
        """Set-up (not counted): fixed converter ranges from one forward and backward pass
        over ``x``, for every converter group without a range yet (those set are kept)."""
        be, net = self.backend, self.network
        stored = dict(be.ranges.fixed)
        be.ranges.reset()
        out = net.forward(x, train=True, bn="running", log=None)
        _, g = squared_hinge_loss(out, np.asarray(y), self.workload.classes)
        net.backward(g)
        net._caches = []
        be.ranges.calibrate()
        be.ranges.fixed.update(stored)

    def step(self, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """One mini-batch through the selected phases (counted and scheduled); its accuracy
        is that of its feedforward, before any update."""
        if self.phases == PHASES:
            return self.train_step(x, y, self.lr)
        net = self.network
        self.log.records.clear()
        if self.phases == PHASES[:1]:
            out = net.forward(x, train=False, log=self.log)
            loss, _ = squared_hinge_loss(out, np.asarray(y), self.workload.classes)
        else:
            out = net.forward(x, train=True, bn="running", log=self.log)
            loss, g = squared_hinge_loss(out, np.asarray(y), self.workload.classes)
            net.backward(g)
            net._caches = []
        if self.chip is not None:
            self.chip.run_batch(list(self.log.records))
        self.log.records.clear()
        self.samples += len(x)
        return {"loss": float(loss), "accuracy": float(np.mean(out.argmax(axis=1) == y))}

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

    def run(self, x: np.ndarray, y: np.ndarray,
            progress: Callable[[int, int], None] | None = None) -> Results:
        """Train through ``x`` in mini-batches of ``system.batch_size`` (frozen batch-norm, the
        preset's lr) and return the results of this run."""
        t0 = time.perf_counter()
        b = self.arch.system.batch_size
        n = len(x)
        if n == 0:
            raise ValueError("no samples to simulate")
        if not self.calibrated:
            self.calibrate(x[:b])
        if self.hardware:
            # converter groups the checkpoint has no range for (all of them, or those another
            # preset adds, e.g. digitised partial sums) get one from a set-up pass
            self.calibrate_ranges(x[:CALIBRATION_SAMPLES], y[:CALIBRATION_SAMPLES])
            self.backend.ranges.observing = False     # fixed from here on
        start_state = self._snapshot() if self.hardware and "update" in self.phases else None
        correct = 0
        losses = []
        for start in range(0, n, b):
            xb, yb = x[start:start + b], y[start:start + b]
            stats = self.step(xb, yb)
            if start_state is not None:
                self._restore(start_state)
            correct += int(round(stats["accuracy"] * len(xb)))
            losses.append(stats["loss"] * len(xb))
            if progress is not None:
                progress(min(start + b, n), n)
        self.wall_s += time.perf_counter() - t0
        return self.results(samples=n, accuracy=correct / n, loss=float(sum(losses) / n),
                            run=True)

    # ------------------------------------------------------------------ results / state
    def results(self, samples: int | None = None, accuracy: float = 0.0,
                loss: float = 0.0, run: bool = False) -> Results:
        """The results so far; ``run``: of :meth:`run` (which phases ran and how the update
        was set are reported)."""
        chip = self.chip
        cycles = dict(chip.cycles) if chip is not None else {p: 0 for p in PHASES}
        return Results(arch=self.arch, workload=self.workload,
                       samples=max(1, self.samples if samples is None else samples),
                       seed=self.seed, tally=self.log.tally, cycles=cycles,
                       mapping=self.backend.mapping if self.hardware else None,  # type: ignore[arg-type]
                       busy=chip.busy_cycles() if chip else {},
                       events=chip.total_events() if chip else 0,
                       wall_s=self.wall_s, accuracy=accuracy, loss=loss, timed=self.timed,
                       weights_source=self.weights_source,
                       tile_busy=chip.tile_busy() if chip else {},
                       phases_run=self.phases if run else PHASES,
                       update_setting=(self.update_setting if run and "update" in self.phases
                                       else ""))

    def state_dict(self) -> dict[str, np.ndarray]:
        """The network's state (weights, batch-norm, Adam, backend rng) plus this driver's
        counters (``sim.meta``: tally, cycles, busy cycles, events, samples, wall time)."""
        d = self.network.state_dict()
        t = self.log.tally
        meta = {"tally": [[*k, v] for k, v in t.counts.items()], "macs": dict(t.macs),
                "chip": self.chip.state() if self.chip is not None else None,
                "samples": self.samples, "wall_s": self.wall_s, "calibrated": self.calibrated,
                "batches": self.batches}
        d["sim.meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8).copy()
        return d

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        d = dict(d)
        meta = json.loads(np.asarray(d.pop("sim.meta"), np.uint8).tobytes()) \
            if "sim.meta" in d else None
        self.network.load_state_dict(d)
        if meta is None:
            return
        t = self.log.tally
        t.clear()
        for *k, v in meta["tally"]:
            t.counts[tuple(k)] = v
        t.macs.update(meta["macs"])
        if self.chip is not None and meta["chip"] is not None:
            self.chip.load_state(meta["chip"])
        self.samples = int(meta["samples"])
        self.batches = int(meta.get("batches", 0))
        self.wall_s = float(meta["wall_s"])
        self.calibrated = bool(meta["calibrated"])


def load_weights(network: Network, path: str | Path) -> dict[str, Any]:
    """Load trained weights and batch-norm state (a ``pnmsim train`` checkpoint or the embedded
    model) into a network, with what else the checkpoint holds: its converter ranges
    (``ranges`` or ``backend.ranges``), its Adam state (``adam.*``, or the embedded model's
    compact ``adam16.*``) and its schedule's final learning rate (``lr_end`` of ``trainer.meta``
    or ``info`` settings). Returns which of these it found:
    ``{"ranges": bool, "adam": bool, "lr_end": float | None}``."""
    from pnmsim.checkpoints import check_weights

    d = read_npz(path)
    check_weights(d, network, path)      # dtype, shape and value set of every array
    for i, layer in enumerate(network.layers):
        network.backend.init_layer(i, layer, np.asarray(d[f"w{i}"]).astype(np.int8))
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
