"""Memory estimates checked before anything big is allocated.

A workload's tensors, a run's inputs and a network's weights are sized from the workload and the
preset alone (no allocation), and a run that would need more than :func:`memory_budget` bytes is
refused with one line naming the workload, the estimate and the budget -- instead of a
``MemoryError`` (or the kernel's OOM killer) minutes later.

The estimate is deliberately generous (an upper bound, not a measurement): per sample in a
mini-batch, every layer's output and, for a conv, its im2col matrix, times
:data:`ACTIVATION_COPIES` (forward values, caches kept for backprop, gradients); per synapse,
:data:`BYTES_PER_SYNAPSE_HW` (two int8 MTJ states and float64 per-device parameters) on the
simulated array or :data:`BYTES_PER_SYNAPSE_SW` in software (latent weight and Adam moments).
"""

from __future__ import annotations

import os
from typing import Any

from pnmsim.errors import ConfigError

ACTIVATION_COPIES = 6
BYTES_PER_SYNAPSE_HW = 160
BYTES_PER_SYNAPSE_SW = 48
FLOAT = 4
ENV_BUDGET = "PNMSIM_MEMORY_BUDGET_GB"


def memory_budget() -> int:
    """Bytes a run may plan to use: ``$PNMSIM_MEMORY_BUDGET_GB`` when set, else 80 % of the
    memory available now (``MemAvailable``), else of the physical memory."""
    env = os.environ.get(ENV_BUDGET, "")
    if env:
        try:
            gb = float(env)
            if gb > 0 and gb == gb and gb != float("inf"):
                return int(gb * (1 << 30))
        except ValueError:
            pass
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(int(line.split()[1]) * 1024 * 0.8)
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.8)
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def per_sample_bytes(workload: Any) -> int:
    """Activation bytes one sample of a mini-batch needs (see the module doc)."""
    n = _numel(workload.input_shape)
    for layer in workload.layers:
        n += _numel(layer.out_shape)
    for w in workload.weighted_layers():
        n += w.rows * w.positions            # im2col (dense: the input vector)
    return n * FLOAT * ACTIVATION_COPIES


def peak_layer_bytes(workload: Any) -> int:
    """Bytes of the largest single layer of one sample (input, im2col, output): what an
    inference pass holds at once."""
    best = 0
    for layer in workload.layers:
        best = max(best, _numel(layer.in_shape) + _numel(layer.out_shape))
    for w in workload.weighted_layers():
        best = max(best, _numel(w.in_shape) + w.rows * w.positions + _numel(w.out_shape))
    return best * FLOAT


def weight_bytes(workload: Any, hardware: bool) -> int:
    per = BYTES_PER_SYNAPSE_HW if hardware else BYTES_PER_SYNAPSE_SW
    return sum(w.rows * w.cols for w in workload.weighted_layers()) * per


def _gib(b: float) -> str:
    return f"{b / (1 << 30):.3g} GiB"


def check_fit(workload: Any, batch: int, samples: int, hardware: bool, what: str,
              eval_batch: int = 0) -> int:
    """Refuse a run whose estimated memory exceeds the budget; returns the estimate."""
    need = (max(per_sample_bytes(workload) * max(1, batch),
                peak_layer_bytes(workload) * 2 * eval_batch)
            + _numel(workload.input_shape) * FLOAT * max(0, samples)
            + weight_bytes(workload, hardware))
    budget = memory_budget()
    if need > budget:
        where = getattr(workload, "origin", "") or f"workload {workload.name}"
        raise ConfigError(where, "(memory)", _gib(need),
                          f"a {what} that fits in {_gib(budget)} (inputs of {samples} "
                          f"samples (--samples), weights and a mini-batch of {batch} samples' "
                          f"tensors; reduce the batch, --samples or the network, or set "
                          f"${ENV_BUDGET})")
    return need


def check_simulation_fit(arch: Any, workload: Any, samples: int) -> int:
    return check_fit(workload, min(arch.system.batch_size, samples), samples, True,
                     "simulation")


def check_training_fit(arch: Any, workload: Any, data: Any, settings: Any) -> int:
    n = len(data.x_train)
    n_eval = max(len(data.x_val), len(data.x_test))
    return check_fit(workload, min(settings.batch_size, n), 0, settings.mode == "hardware",
                     f"{settings.mode}-mode training", min(settings.eval_batch, n_eval))
