"""The results roll-up with expectations written as arithmetic: energy = count x price (prices
read from the preset YAML here), array scope, TOPs/W and throughput formulas, ops per phase
from the workload's shapes, seconds from cycles, and the output folder."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import pnmsim
from pnmsim import api
from pnmsim.config import load_arch
from pnmsim.results import Results
from pnmsim.simulation import Simulation
from pnmsim.workload import load_workload
from tests._presets import raw_preset

PHASES = ("feedforward", "backprop", "update")
# the array scope of the paper's figures: cells, their drivers, converters and sense circuits
# (sense_amp: the state reads of the per-cell update, a sense circuit like the comparators)
ARRAY_CLASSES = {"synapse", "row_driver", "col_driver", "dac", "line_sense", "comparator",
                 "sense_amp", "adc"}




def prices(name: str) -> dict[tuple[str, str], float]:
    costs = raw_preset(name)["costs"]
    return {(c, a): float(e["energy_pj"]) for c, acts in costs.items() for a, e in acts.items()}


# (preset, workload, samples, batch_size)
RUNS = [("reference", "tiny_cnn", 25, 10),          # per-cell update, 3 mini-batches
        ("digital_psum", "mnist_mlp", 20, 100),     # split layers, digital partial sums
        ("outer_product", "tiny_mlp", 12, 5),       # one update step per active vector
        ("tile256", "tiny_cnn", 9, 4)]              # tile256 overrides driver energies


@pytest.fixture(scope="module", params=RUNS, ids=[f"{r[0]}-{r[1]}" for r in RUNS])
def run(request) -> tuple[str, str, int, int, Results]:
    name, wl_name, n, b = request.param
    arch = load_arch(name, [f"system.batch_size={b}"])
    wl = load_workload(wl_name)
    if wl_name == "mnist_mlp":
        res = api.simulate(arch, wl, samples=n)
    else:
        rng = np.random.default_rng(2)
        x = rng.uniform(-1, 1, (n, *wl.input_shape)).astype(np.float32)
        res = Simulation(arch, wl, seed=1).run(x, rng.integers(0, wl.classes, n))
    return name, wl_name, n, b, res


def test_energy_is_count_times_price(run) -> None:
    name, _, _, _, res = run
    price = prices(name)
    per_phase = {p: 0.0 for p in PHASES}
    arr = {p: 0.0 for p in PHASES}
    for phase, _comp, cls, action, count in res.tally.rows():
        e = count * price[(cls, action)]
        per_phase[phase] += e
        if cls in ARRAY_CLASSES:
            arr[phase] += e
    pm = res.phase_metrics()
    for p in PHASES:
        assert pm[p]["energy_j"] == pytest.approx(per_phase[p] / 1e12, rel=1e-12)
        assert pm[p]["energy_j_array"] == pytest.approx(arr[p] / 1e12, rel=1e-12)
        assert 0 < arr[p] < per_phase[p]
    assert pm["total"]["energy_j"] == pytest.approx(sum(per_phase.values()) / 1e12, rel=1e-12)
    assert pm["total"]["energy_j_array"] == pytest.approx(sum(arr.values()) / 1e12, rel=1e-12)


def test_counts_table_prices_and_scope(run) -> None:
    name, _, _, _, res = run
    price = prices(name)
    df = res.counts()
    assert list(df.columns[:5]) == ["phase", "component", "component_class", "action", "count"]
    assert len(df) == len(res.tally.rows())
    for row in df.itertuples(index=False):
        assert row.energy_pj == pytest.approx(row.count * price[(row.component_class,
                                                                  row.action)], rel=1e-12)
        assert row.scope == ("array" if row.component_class in ARRAY_CLASSES else "system")
    assert set(df["phase"]) == set(PHASES)
    # breakdown: J by class x phase, columns summing to the phase energies
    bd = res.breakdown()
    pm = res.phase_metrics()
    for p in PHASES:
        assert bd[p].sum() == pytest.approx(pm[p]["energy_j"], rel=1e-12)


def test_formulas_recomputed(run) -> None:
    name, _, n, _, res = run
    clock = raw_preset(name)["clock_mhz"]
    opm = raw_preset(name)["ops_per_mac"]
    pm = res.phase_metrics()
    for p in (*PHASES, "total"):
        m = pm[p]
        cyc = sum(res.cycles[q] for q in PHASES) if p == "total" else res.cycles[p]
        assert m["cycles"] == cyc > 0
        assert m["seconds"] == pytest.approx(cyc / (clock * 1e6), rel=1e-12)
        assert m["tops_per_w_system"] == pytest.approx(m["ops"] / m["energy_j"] / 1e12,
                                                       rel=1e-12)
        assert m["tops_per_w_array"] == pytest.approx(m["ops"] / m["energy_j_array"] / 1e12,
                                                      rel=1e-12)
        assert m["tops"] == pytest.approx(m["ops"] / m["seconds"] / 1e12, rel=1e-12)
        assert m["samples_per_s"] == pytest.approx(n / m["seconds"], rel=1e-12)
        assert m["energy_per_sample_j"] == pytest.approx(m["energy_j"] / n, rel=1e-12)
        assert m["tops_per_w_system"] < m["tops_per_w_array"]
    assert pm["total"]["ops"] == sum(pm[p]["ops"] for p in PHASES)
    assert opm == res.arch.ops_per_mac


def test_ops_from_workload_shapes(run) -> None:
    name, wl_name, n, b, res = run
    opm = raw_preset(name)["ops_per_mac"]
    wls = load_workload(wl_name).weighted_layers()
    pm = res.phase_metrics()
    ff = sum(w.rows * w.cols * w.positions for w in wls)
    bp = sum(w.rows * w.cols * w.positions for w in wls[1:])     # no backprop into the input
    assert pm["feedforward"]["ops"] == opm * n * ff
    assert pm["backprop"]["ops"] == opm * n * bp
    batches = math.ceil(n / b)
    synapses = sum(w.rows * w.cols for w in wls)
    scheme = raw_preset(name)["update"]["scheme"]
    if scheme == "per_cell":      # one update step per mini-batch
        assert pm["update"]["ops"] == opm * batches * synapses
    else:                         # one step per active input vector, at most every vector
        assert 0 < pm["update"]["ops"] <= opm * n * ff


def test_ops_written_out_for_mnist_mlp() -> None:
    """784-512-512-10 on 20 samples: 2 ops per MAC."""
    res = api.simulate("reference", "mnist_mlp", samples=20)
    pm = res.phase_metrics()
    opm = raw_preset("reference")["ops_per_mac"]
    assert pm["feedforward"]["ops"] == opm * 20 * (784 * 512 + 512 * 512 + 512 * 10)
    assert pm["backprop"]["ops"] == opm * 20 * (512 * 512 + 512 * 10)
    assert pm["update"]["ops"] == opm * 1 * (784 * 512 + 512 * 512 + 512 * 10)


def test_write_output_folder(run, tmp_path) -> None:
    name, wl_name, n, _, res = run
    out = res.write(tmp_path / "out", {"note": "x"})
    files = {"counts.csv", "phases.csv", "breakdown.csv", "summary.json", "config.yaml",
             "metadata.json"}
    assert files <= {p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["pnmsim_version"] == pnmsim.__version__
    assert meta["seed"] == res.seed
    assert isinstance(meta["git_revision"], str) and meta["git_revision"]
    assert meta["wall_s"] == res.wall_s > 0
    assert meta["note"] == "x"
    assert meta["workload"]["name"] == wl_name
    summ = json.loads((out / "summary.json").read_text())
    assert summ["arch"] == name and summ["workload"] == wl_name and summ["samples"] == n
    for p in PHASES:
        assert summ["phases"][p]["cycles"] == res.cycles[p]
    counts = pd.read_csv(out / "counts.csv")
    assert len(counts) == len(res.tally.rows())
    assert counts["energy_pj"].sum() == pytest.approx(
        res.phase_metrics()["total"]["energy_j"] * 1e12, rel=1e-9)
    phases = pd.read_csv(out / "phases.csv", index_col=0)
    assert list(phases.index) == [*PHASES, "total"]
    assert phases.loc["update", "cycles"] == res.cycles["update"]
    # the resolved config is a loadable preset equal to the one that ran
    assert load_arch(out / "config.yaml") == res.arch
