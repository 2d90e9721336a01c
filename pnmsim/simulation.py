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
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pnmsim.array import PHASES, ArrayBackend
from pnmsim.config import ArchConfig
from pnmsim.hw.chip import Chip, Mode
from pnmsim.results import Results, read_npz
from pnmsim.training.network import Network
from pnmsim.workload import Workload


class Simulation:
    def __init__(self, arch: ArchConfig, workload: Workload, seed: int = 0,
                 mode: Mode = "coarse", timed: bool = True,
                 checkpoint: str | Path | None = None) -> None:
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
        self.backend.lr = arch.update.lr
        if checkpoint is not None:
            load_weights(self.network, checkpoint)
            self.calibrated = True
            self.weights_source = f"trained checkpoint {Path(checkpoint).name}"
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
        correct = 0
        losses = []
        batch_cycles: list[dict[str, int]] = []
        for start in range(0, n, b):
            xb, yb = x[start:start + b], y[start:start + b]
            be.batch_samples = len(xb)
            be.records.clear()
            stats = self.network.train_step(xb, yb, self.arch.update.lr, bn="running")
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
                       timed=self.timed, weights_source=self.weights_source)


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
