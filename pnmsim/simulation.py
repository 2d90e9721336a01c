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
  scheme (learning rate ``update.lr``).

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
from pnmsim.hw.chip import Chip, Mode
from pnmsim.nn.network import N_BITS, Network, SoftwareBackend
from pnmsim.records import PHASES, OpLog
from pnmsim.results import Results, read_npz
from pnmsim.workload import Workload


class Simulation:
    def __init__(self, arch: ArchConfig, workload: Workload, seed: int = 0,
                 mode: Mode = "coarse", timed: bool = True,
                 checkpoint: str | Path | None = None, hardware: bool = True,
                 network_seed: int | Sequence[int] | None = None) -> None:
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
        if checkpoint is not None:
            load_weights(self.network, checkpoint)
            self.calibrated = True
            self.weights_source = f"trained checkpoint {Path(checkpoint).name}"
        self.chip = Chip(arch, self.backend.mapping, mode) if self.timed else None
        self.samples = 0          # samples trained through so far
        self.wall_s = 0.0

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
        st: dict[str, Any] = dict(self.network.train_step(x, y, lr, bn=bn, log=self.log))
        st["cycles"] = (self.chip.run_batch(list(self.log.records)) if self.chip is not None
                        else {p: 0 for p in PHASES})
        self.log.records.clear()
        self.samples += len(x)
        return st

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int = 1000,
                 ) -> tuple[float, float]:
        """(accuracy, loss) in inference mode; not a phase: neither counted nor scheduled."""
        return self.network.evaluate(x, y, batch_size)

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
        correct = 0
        losses = []
        for start in range(0, n, b):
            xb, yb = x[start:start + b], y[start:start + b]
            stats = self.train_step(xb, yb)
            correct += int(round(stats["accuracy"] * len(xb)))
            losses.append(stats["loss"] * len(xb))
            if progress is not None:
                progress(min(start + b, n), n)
        self.wall_s += time.perf_counter() - t0
        return self.results(samples=n, accuracy=correct / n, loss=float(sum(losses) / n))

    # ------------------------------------------------------------------ results / state
    def results(self, samples: int | None = None, accuracy: float = 0.0,
                loss: float = 0.0) -> Results:
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
                       tile_busy=chip.tile_busy() if chip else {})

    def state_dict(self) -> dict[str, np.ndarray]:
        """The network's state (weights, batch-norm, Adam, backend rng) plus this driver's
        counters (``sim.meta``: tally, cycles, busy cycles, events, samples, wall time)."""
        d = self.network.state_dict()
        t = self.log.tally
        meta = {"tally": [[*k, v] for k, v in t.counts.items()], "macs": dict(t.macs),
                "chip": self.chip.state() if self.chip is not None else None,
                "samples": self.samples, "wall_s": self.wall_s, "calibrated": self.calibrated}
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
        self.wall_s = float(meta["wall_s"])
        self.calibrated = bool(meta["calibrated"])


def load_weights(network: Network, path: str | Path) -> None:
    """Load trained weights and batch-norm state (a ``pnmsim train`` checkpoint or the embedded
    model) into a network, keeping its optimiser fresh."""
    from pnmsim.checkpoints import check_weights

    d = read_npz(path)
    check_weights(d, network, path)      # dtype, shape and value set of every array
    for i, layer in enumerate(network.layers):
        network.backend.init_layer(i, layer, np.asarray(d[f"w{i}"]).astype(np.int8))
    for store in (network.params, network.running):
        for k in store:
            store[k] = d[k].astype(np.float32)


__all__ = ["Simulation", "load_weights"]
