"""Whole simulations: coarse == fine cycle counts (all three phases) on small workloads for
every preset, seed reproducibility, and every preset running every phase of mnist_mlp."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pnmsim import api
from pnmsim.config import builtin_archs, load_arch
from pnmsim.simulation import Simulation
from pnmsim.workload import load_workload

PHASES = ("feedforward", "backprop", "update")


def inputs(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, 1, 8, 8)).astype(np.float32), rng.integers(0, 4, n)


# ----------------------------------------------------------------------------- coarse == fine

CASES = [
    ("reference", ()),
    ("digital_psum", ()),
    ("digital_psum", ("array.tile_rows=16", "array.tile_cols=16")),   # split layers
    ("reference", ("system.issue_group=1",)),
    ("outer_product", ("system.batch_size=7",)),                     # 7 does not divide 20
    ("reference", ("array.tile_rows=16", "array.tile_cols=8", "system.issue_group=3",
                   "system.controller_issue_slots=2", "system.bus_words_per_cycle=1")),
    ("tile256", ("system.batch_size=6", "system.issue_group=4")),
    ("variation", ("system.batch_size=9", "array.tile_rows=32", "array.tile_cols=16")),
    ("outer_lowrank", ("system.batch_size=7", "array.tile_rows=16")),   # 4 steps per batch
    ("outer_clustered", ("system.batch_size=7", "array.tile_rows=16",
                         "update.outer_clusters=8")),                  # disjoint row groups
]


def test_cases_cover_every_preset() -> None:
    assert {name for name, _ in CASES} == set(builtin_archs())


@pytest.mark.parametrize("workload", ["tiny_mlp", "tiny_cnn"])
@pytest.mark.parametrize("arch_name, overrides", CASES)
def test_coarse_equals_fine(workload: str, arch_name: str, overrides: tuple[str, ...]) -> None:
    arch = load_arch(arch_name, overrides)
    wl = load_workload(workload)
    x, y = inputs(20)
    res = {m: Simulation(arch, wl, seed=3, mode=m).run(x, y) for m in ("coarse", "fine")}
    for p in PHASES:
        assert res["coarse"].cycles[p] == res["fine"].cycles[p], p
        assert res["coarse"].cycles[p] > 0
    assert res["coarse"].busy == res["fine"].busy
    assert res["coarse"].tile_busy == res["fine"].tile_busy
    assert res["fine"].events > res["coarse"].events
    pd.testing.assert_frame_equal(res["coarse"].counts(), res["fine"].counts())


def test_fine_mode_has_many_more_events_on_a_cnn() -> None:
    """tiny_cnn conv1 has 64 positions: fine mode walks each product through each stage."""
    arch = load_arch("reference")
    wl = load_workload("tiny_cnn")
    x, y = inputs(10)
    c = Simulation(arch, wl, seed=0, mode="coarse").run(x, y)
    f = Simulation(arch, wl, seed=0, mode="fine").run(x, y)
    # at least 10 samples x 64 conv1 products x 3 stages of the comparator forward
    assert f.events >= 10 * 64 * 3
    assert f.events > 10 * c.events


# ----------------------------------------------------------------------------- timed == functional


def _weights(sim: Simulation) -> list[np.ndarray]:
    return [sim.backend.weights(i) for i in range(len(sim.backend.mapping.layers))]


# test_timed_equals_functional lived here; it could not fail (the chip never touched values).
# tests/test_model.py now checks that scheduling leaves every value untouched, that timed and
# functional runs agree, and that a change in the functional model moves the schedule.


def test_same_seed_twice_is_identical() -> None:
    arch = load_arch("reference", ["system.batch_size=8"])
    wl = load_workload("tiny_cnn")
    x, y = inputs(20)
    s1, s2 = Simulation(arch, wl, seed=11), Simulation(arch, wl, seed=11)
    r1, r2 = s1.run(x, y), s2.run(x, y)
    pd.testing.assert_frame_equal(r1.counts(), r2.counts())
    assert r1.cycles == r2.cycles
    assert r1.events == r2.events
    assert (r1.accuracy, r1.loss) == (r2.accuracy, r2.loss)
    for a, b in zip(_weights(s1), _weights(s2), strict=True):
        np.testing.assert_array_equal(a, b)


def test_different_seed_changes_the_update_outcome(tmp_path) -> None:
    """Same starting weights (a checkpoint), no device variation: the forward is identical for
    both seeds, only the stochastic MTJ switching differs (and is undone before the next batch:
    simulate characterises one step per batch from the loaded state)."""
    arch = load_arch("reference", ["system.batch_size=10"])
    wl = load_workload("tiny_mlp")
    from pnmsim.nn.network import Network, SoftwareBackend

    rng = np.random.default_rng(0)
    ckpt = tmp_path / "w.npz"
    net = Network(wl, SoftwareBackend(np.random.default_rng(0)), np.random.default_rng(0))
    state = {k: v for k, v in net.state_dict().items() if k.startswith(("w", "bn"))}
    state.update({f"w{i}": rng.integers(-1, 2, (lay.rows, lay.cols)).astype(np.int8)
                  for i, lay in enumerate(wl.weighted_layers())})
    np.savez(ckpt, **state)
    x, y = inputs(40)
    sims = [Simulation(arch, wl, seed=s, checkpoint=ckpt) for s in (0, 1)]
    start = [_weights(s) for s in sims]
    for a, b in zip(*start, strict=True):
        np.testing.assert_array_equal(a, b)
    res = [s.run(x[:10], y[:10]) for s in sims]
    ff = [r.counts().query("phase == 'feedforward'").reset_index(drop=True) for r in res]
    pd.testing.assert_frame_equal(ff[0], ff[1])
    # the switching differs: the write energy integrates the current over each pulse, which
    # changes when (and whether) an MTJ switches
    up = [r.counts().query("phase == 'update' and action == 'write_fj'")["count"].sum()
          for r in res]
    assert up[0] > 0 and up[0] != up[1]
    # each batch's step starts from the loaded state: the cells are back where they started
    after = [_weights(s) for s in sims]
    for a, b in zip(start[0], after[0], strict=True):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- every preset


@pytest.mark.parametrize("arch_name", builtin_archs())
def test_every_preset_runs_every_phase(arch_name: str) -> None:
    res = api.simulate(arch_name, "mnist_mlp", samples=20)
    pm = res.phase_metrics()
    for p in PHASES:
        m = pm[p]
        assert m["cycles"] > 0, p
        assert m["energy_j"] > 0, p
        assert m["ops"] > 0, p
        assert 0 < m["energy_j_array"] < m["energy_j"], p
        assert 0 < m["tops_per_w_system"] < m["tops_per_w_array"], p
    assert res.samples == 20
    assert res.events > 0
