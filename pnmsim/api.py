"""The public library API the CLI (and users' scripts) call.

>>> from pnmsim import api
>>> res = api.simulate("reference", "mnist_cnn", samples=100)
>>> res.summary()["phases"]["feedforward"]["tops_per_w_array"]
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from pnmsim.array import PHASES
from pnmsim.config import ArchConfig, load_arch
from pnmsim.errors import ConfigError, PnmsimError
from pnmsim.hw.chip import Mode
from pnmsim.progress import bar
from pnmsim.results import Results
from pnmsim.simulation import Simulation
from pnmsim.workload import Workload, load_workload

DEFAULT_WORKLOAD = "mnist_cnn"
EMBEDDED_MODEL = "mnist_cnn_trained.npz"
"""Trained ternary MNIST CNN shipped in pnmsim/data (benchmarks/train_mnist.py trains it,
benchmarks/export_model.py writes it)."""


def embedded_model_path(workload: Workload) -> Path | None:
    """The embedded trained model for ``workload``, when there is one."""
    if workload.name != DEFAULT_WORKLOAD:
        return None
    p = resources.files("pnmsim") / "data" / EMBEDDED_MODEL
    path = Path(str(p))
    return path if path.exists() else None


def load_inputs(workload: Workload, samples: int | None, dataset: str | None,
                data_dir: str | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs for a simulation: the embedded MNIST sample by default, a dataset's test split,
    or ``synthetic`` (seeded uniform pixels in [-1, 1], random labels; for workloads without
    local data)."""
    from pnmsim.resources import check_fit

    shape = tuple(workload.input_shape)
    if dataset == "synthetic":
        check_fit(workload, 1, samples or 512, False, "set of inputs")
        n = samples or 512
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1, 1, size=(n, *shape)).astype(np.float32)
        return x, rng.integers(0, workload.classes, n)
    if dataset is None:
        from pnmsim.datasets import load_embedded_sample

        x, y = load_embedded_sample()
        src = "the embedded MNIST sample (1x28x28)"
    else:
        from pnmsim.datasets import load_test_set

        x, y = load_test_set(dataset, data_dir, limit=samples)
        src = f"dataset {dataset} test split ({'x'.join(map(str, x.shape[1:]))})"
    if tuple(x.shape[1:]) != shape:
        raise ConfigError(workload.name, "input", "x".join(map(str, shape)),
                          f"inputs shaped like {src}: pass --dataset NAME (or synthetic) "
                          "matching the workload")
    if samples is not None:
        if samples > len(x):
            raise ConfigError("--samples", "samples", samples, f"at most {len(x)} for {src}")
        x, y = x[:samples], y[:samples]
    return x, y


def simulate(arch: str | ArchConfig | None = None, workload: str | Workload | None = None, *,
             overrides: Sequence[str] = (), samples: int | None = None, seed: int = 0,
             dataset: str | None = None, data_dir: str | None = None,
             checkpoint: str | None = None, mode: Mode = "coarse", timed: bool = True,
             progress: bool = False, phases: Sequence[str] | None = None,
             tracer: Any = None, record: str | Path | None = None,
             force: bool = False) -> Results:
    """Simulate a workload on an architecture; see :class:`pnmsim.simulation.Simulation`.
    ``tracer`` (a :class:`pnmsim.trace.Tracer`) records the schedule's timeline; ``record``
    writes the run's activity record to that folder (:mod:`pnmsim.replay`; an existing
    record is replaced only with ``force``)."""
    if record is not None:
        from pnmsim.replay.record import check_record_target

        check_record_target(record, force)
    cfg = arch if isinstance(arch, ArchConfig) else load_arch(arch, overrides)
    wl = workload if isinstance(workload, Workload) else load_workload(
        workload or DEFAULT_WORKLOAD)
    from pnmsim.resources import check_simulation_fit

    x, y = load_inputs(wl, samples, dataset, data_dir, seed)
    check_simulation_fit(cfg, wl, len(x))
    ckpt: str | Path | None = checkpoint
    if ckpt is None:
        ckpt = embedded_model_path(wl)
    sim = Simulation(cfg, wl, seed=seed, mode=mode, timed=timed, checkpoint=ckpt,
                     phases=tuple(phases) if phases is not None else PHASES)
    if tracer is not None:
        sim.attach_tracer(tracer)
    if record is not None:
        if sim.chip is None:
            raise PnmsimError("--record needs a timed run on the simulated array")
        sim.recording = []
    with bar(len(x), "sample", "simulate", enabled=progress) as pb:
        res = sim.run(x, y, progress=lambda done, total: pb.update(done - pb.n))
    if record is not None:
        from pnmsim.replay.record import weights_fingerprint, write_record

        assert sim.recording is not None
        write_record(record, cfg, wl, sim.recording, sim.tally,
                     {"samples": res.samples, "seed": seed, "mode": mode,
                      "accuracy": res.accuracy, "loss": res.loss,
                      "weights_source": res.weights_source,
                      "phases_run": list(res.phases_run),
                      "update_setting": res.update_setting,
                      "dataset": dataset or "embedded MNIST sample"},
                     weights_fingerprint(sim.network.state_dict()), force=force)
    return res


def train(arch: str | ArchConfig | None = None, workload: str | Workload | None = None, *,
          overrides: Sequence[str] = (), dataset: str = "mnist", data_dir: str | None = None,
          mode: str = "hardware", epochs: int = 10, batch_size: int = 100, lr: float = 0.01,
          lr_end: float = 1e-4, train_limit: int | None = None, test_limit: int | None = None,
          val_size: int = 5000, seed: int = 0, out_dir: str | None = None,
          resume_dir: str | None = None, progress: bool = False, tracer: Any = None,
          trace_batches: tuple[int, int] | None = None, force: bool = False) -> dict:
    """Train with GXNOR (software) or on the simulated array (hardware); returns the summary.
    ``tracer`` records the timeline of the mini-batches ``trace_batches`` = [a, b) (counted
    from 0 over the whole run; None: all)."""
    if tracer is not None and mode != "hardware":
        raise PnmsimError("--trace needs --mode hardware (software training has no schedule)")
    from pnmsim.datasets import load_dataset
    from pnmsim.training.trainer import Trainer, TrainSettings

    cfg = arch if isinstance(arch, ArchConfig) else load_arch(arch, overrides)
    wl = workload if isinstance(workload, Workload) else load_workload(
        workload or DEFAULT_WORKLOAD)
    data = load_dataset(dataset, data_dir, val_size=val_size, train_limit=train_limit,
                        test_limit=test_limit, seed=seed)
    settings = TrainSettings(mode=mode, epochs=epochs, batch_size=batch_size, lr_start=lr,
                             lr_end=lr_end, seed=seed)
    out = out_dir or resume_dir
    if (resume_dir is None and out_dir is not None and not force
            and (Path(out_dir) / "checkpoint.npz").exists()):
        raise PnmsimError(f"{out_dir}: already holds a training run (checkpoint.npz); continue it "
                          "with --resume DIR or choose another --out")
    from pnmsim.resources import check_training_fit

    check_training_fit(cfg, wl, data, settings)
    tr = Trainer(cfg, wl, data, settings, out)
    if tracer is not None:
        tr.sim.attach_tracer(tracer)
        tr.sim.trace_range = trace_batches
    if resume_dir is not None:
        tr.load_checkpoint(resume_dir)
    elif out is not None:
        from pnmsim.outdir import write_marker

        write_marker(out, "train", mode=mode, dataset=dataset)
    with bar(0, "batch", "train", enabled=progress) as pb:
        def _p(epoch: int, done: int, total: int) -> None:
            if pb.total != total or done == 1:
                pb.reset(total=total)
                pb.set_description(f"epoch {epoch}/{epochs}")
            pb.update(1)

        summary = tr.run(progress=_p)
    tr.write_outputs()
    return summary
