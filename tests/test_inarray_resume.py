"""The in-array scheme's periphery state (factored momentum, second moments) is part of the
checkpoint: a resumed outer_lowrank run equals an uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pnmsim.config import load_arch
from pnmsim.datasets import Dataset
from pnmsim.training.trainer import Trainer, TrainSettings
from pnmsim.workload import load_workload


def _data() -> Dataset:
    rng = np.random.default_rng(0)
    centers = rng.choice([-0.5, 0.5], size=(4, 64))

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 4, n)
        x = np.clip(centers[y] + 0.6 * rng.standard_normal((n, 64)), -1, 1)
        return x.astype(np.float32).reshape(n, 1, 8, 8), y.astype(np.int64)

    (xtr, ytr), (xva, yva), (xte, yte) = split(256), split(64), split(64)
    return Dataset("blobs", xtr, ytr, xva, yva, xte, yte, classes=4)


def _run(out: Path, epochs: int, resume: Path | None = None) -> list[dict]:
    s = TrainSettings(mode="hardware", epochs=2, batch_size=64, lr_start=0.05, lr_end=0.01,
                      seed=5)
    tr = Trainer(load_arch("outer_lowrank"), load_workload("tiny_mlp"), _data(), s, out)
    if resume is not None:
        tr.load_checkpoint(resume)
    if epochs < 2:
        tr.s = TrainSettings(**{**s.__dict__, "epochs": epochs})
    tr.run()
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in tr.log]


def test_outer_lowrank_resume_equals_uninterrupted(tmp_path: Path) -> None:
    straight = _run(tmp_path / "a", 2)
    _run(tmp_path / "b", 1)
    resumed = _run(tmp_path / "b", 2, resume=tmp_path / "b")
    assert resumed[1:] == straight[1:]                  # epoch 0 holds NaN losses
    assert straight[-1]["test_accuracy"] > 0.5          # it learned (chance is 0.25)
