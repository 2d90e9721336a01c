"""The results roll-up with expectations written as arithmetic: energy = count x price (prices
computed from the preset YAML's circuit parameters by tests._prices, not by pnmsim.costs), the
three scopes on a hand-built tally, TOPs/W and throughput formulas, ops per phase from the
workload's shapes, counts from the shapes, seconds from cycles, and the output folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import pnmsim
from pnmsim import api
from pnmsim.array import Tally
from pnmsim.config import load_arch
from pnmsim.mapping import map_network
from pnmsim.results import Results
from pnmsim.simulation import Simulation
from pnmsim.workload import load_workload
from tests._presets import raw_preset
from tests._prices import energy

PHASES = ("feedforward", "backprop", "update")
# scopes: the cells (and their access devices); the array adds drivers, pulse generators,
# converters, sensing and partial-sum circuits; the system adds everything else
SYNAPSE_CLASSES = {"synapse"}
ARRAY_CLASSES = SYNAPSE_CLASSES | {"row_driver", "col_driver", "pulse_gen", "dac", "line_sense",
                                   "psum", "comparator", "sense_amp", "adc", "accumulator"}


def prices(name: str) -> dict[tuple[str, str], float]:
    return energy(name)


def test_roll_up_of_a_hand_built_tally() -> None:
    """Energy per scope and TOPs/W of a tally written by hand, priced by arithmetic."""
    arch = load_arch("reference")
    wl = load_workload("tiny_mlp")
    pr = prices("reference")
    t = Tally()
    t.add("feedforward", "l0.synapse", "synapse", "read_fj", 1000.0)
    t.add("feedforward", "l0.line_sense", "line_sense", "sense", 10)
    t.add("feedforward", "l0.psum", "psum", "join", 3)
    t.add("feedforward", "l0.buffer", "buffer", "read", 4)
    t.add("backprop", "l0.synapse", "synapse", "read_fj", 20.0)
    t.add("backprop", "l0.adc", "adc", "convert", 2)
    t.add("backprop", "l0.accumulator", "accumulator", "add", 5)
    t.add("backprop", "chip.bus", "bus", "transfer", 6)
    t.add("update", "l0.synapse", "synapse", "write_fj", 500.0)
    t.add("update", "l0.pulse_gen", "pulse_gen", "ns", 3.0)
    t.add("update", "l0.row_driver", "row_driver", "write_pulse", 8)
    t.add("update", "chip.digital", "digital", "grad_mac", 7)
    t.macs.update({"feedforward": 100.0, "backprop": 50.0, "update": 100.0})
    res = Results(arch, wl, samples=2, seed=0, tally=t, cycles={p: 1000 for p in PHASES},
                  mapping=map_network(wl, arch), busy={}, events=0, wall_s=0.0)
    syn = {"feedforward": 1000 * 1e-3, "backprop": 20 * 1e-3, "update": 500 * 1e-3}
    arr = {"feedforward": syn["feedforward"] + 10 * pr[("line_sense", "sense")]
           + 3 * pr[("psum", "join")],
           "backprop": syn["backprop"] + 2 * pr[("adc", "convert")]
           + 5 * pr[("accumulator", "add")],
           "update": syn["update"] + 3.0 * pr[("pulse_gen", "ns")]
           + 8 * pr[("row_driver", "write_pulse")]}
    tot = {"feedforward": arr["feedforward"] + 4 * pr[("buffer", "read")],
           "backprop": arr["backprop"] + 6 * pr[("bus", "transfer")],
           "update": arr["update"] + 7 * pr[("digital", "grad_mac")]}
    pm = res.phase_metrics()
    opm = raw_preset("reference")["ops_per_mac"]
    for p in PHASES:
        m = pm[p]
        assert m["energy_j_synapse"] == pytest.approx(syn[p] / 1e12, rel=1e-12)
        assert m["energy_j_array"] == pytest.approx(arr[p] / 1e12, rel=1e-12)
        assert m["energy_j"] == pytest.approx(tot[p] / 1e12, rel=1e-12)
        assert m["ops"] == opm * t.macs[p]
        for scope, e in (("synapse", syn), ("array", arr), ("system", tot)):
            assert m[f"tops_per_w_{scope}"] == pytest.approx(m["ops"] / (e[p] / 1e12) / 1e12,
                                                              rel=1e-12)
        assert m["tops_per_w_synapse"] > m["tops_per_w_array"] > m["tops_per_w_system"]
    assert pm["total"]["energy_j_synapse"] == pytest.approx(sum(syn.values()) / 1e12, rel=1e-12)
    assert pm["total"]["energy_j"] == pytest.approx(sum(tot.values()) / 1e12, rel=1e-12)


# (preset, workload, samples, batch_size)
RUNS = [("reference", "tiny_cnn", 25, 10),          # per-cell update, 3 mini-batches
        ("digital_psum", "mnist_mlp", 20, 100),     # split layers, digital partial sums
        ("outer_product", "tiny_mlp", 12, 5),       # one update step per active vector
        ("tile256", "tiny_cnn", 9, 4)]              # longer lines: larger line prices


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


def test_scopes_nest_on_real_runs(run) -> None:
    """Every phase spends energy at every scope, and the scopes nest."""
    pm = run[4].phase_metrics()
    for p in (*PHASES, "total"):
        m = pm[p]
        assert 0 < m["energy_j_synapse"] < m["energy_j_array"] < m["energy_j"]
        assert m["tops_per_w_synapse"] > m["tops_per_w_array"] > m["tops_per_w_system"] > 0


def test_forward_sensing_counts_from_shapes() -> None:
    """mnist_mlp (784-512-512-10, row tiles 7, 4, 4) on the reference (analog fan-in 4), 6
    samples, inference sensing: layer 0 is sensed in ceil(7/4) = 2 groups (7 - 2 = 5 joined
    lines per output), digitised and added, thresholds applied digitally (2 subtractions);
    layers 1 and 2 join their 4 tiles on one line (3 joins) and use comparators (layer 1) or
    the ADC (last layer)."""
    n = 6
    res = api.simulate("reference", "mnist_mlp", samples=n, timed=False)
    c = res.counts()
    ff = c[c["phase"] == "feedforward"]

    mps = map_network(load_workload("mnist_mlp"), load_arch("reference")).layers
    # each layer's components are its tiles' (chip.tile[NN].<part>)
    tiles = {mp.layer.name: {f"chip.tile[{mp.first_tile + k:02d}]" for k in range(mp.tiles)}
             for mp in mps}

    def cnt(layer: str, cls: str, action: str) -> float:
        sel = ff[ff["component"].map(lambda s: s.rsplit(".", 1)[0] in tiles[layer]
                                     and s.rsplit(".", 1)[1] == cls) & (ff["action"] == action)]
        return float(sel["count"].sum())

    names = [mp.layer.name for mp in mps]
    assert cnt(names[0], "line_sense", "sense") == n * 512 * 2
    assert cnt(names[0], "psum", "join") == n * 512 * (7 - 2)
    assert cnt(names[0], "adc", "convert") == n * 512 * 2
    assert cnt(names[0], "accumulator", "add") == n * 512 * (2 - 1) + 2 * n * 512
    assert cnt(names[0], "comparator", "compare") == 0
    assert cnt(names[1], "line_sense", "sense") == n * 512
    assert cnt(names[1], "psum", "join") == n * 512 * 3
    assert cnt(names[1], "comparator", "compare") == 2 * n * 512
    assert cnt(names[2], "adc", "convert") == n * 10


def test_counts_table_prices_and_scope(run) -> None:
    name, _, _, _, res = run
    price = prices(name)
    df = res.counts()
    assert list(df.columns[:5]) == ["phase", "component", "component_class", "action", "count"]
    assert len(df) == len(res.tally.rows())
    for row in df.itertuples(index=False):
        assert row.energy_pj == pytest.approx(row.count * price[(row.component_class,
                                                                  row.action)], rel=1e-12)
        assert row.scope == ("synapse" if row.component_class in SYNAPSE_CLASSES else
                             "array" if row.component_class in ARRAY_CLASSES else "system")
    assert set(df["phase"]) == set(PHASES)
    # breakdown: J by class x phase, columns summing to the phase energies
    bd = res.breakdown()
    pm = res.phase_metrics()
    for p in PHASES:
        assert bd[p].sum() == pytest.approx(pm[p]["energy_j"], rel=1e-12)


def test_phase_energy_is_the_counts_table_summed(run) -> None:
    """The per-phase, per-scope energies (summed without building a table) are, bit for bit,
    the counts table's energy_pj column summed over the phase's rows in scope (pandas)."""
    _, _, _, _, res = run
    df = res.counts()
    got = res.phase_energy_j()
    for p in PHASES:
        sub = df[df["phase"] == p]
        for sc, classes in (("synapse", SYNAPSE_CLASSES), ("array", ARRAY_CLASSES),
                            ("system", None)):
            keep = [classes is None or c in classes for c in sub["component_class"]]
            want = float(sub.loc[keep, "energy_pj"].sum()) / 1e12
            assert got[p][sc] == want, (p, sc)
        assert res.phase_metrics()[p]["energy_j_array"] == got[p]["array"]


def test_phase_energy_skips_a_nan_count_as_the_table_did() -> None:
    """A NaN count (Tally.add keeps it: NaN is truthy) is skipped in the sums, as the counts
    table's pandas column sum skipped it; inf stays inf."""
    arch = load_arch("reference")
    wl = load_workload("tiny_mlp")
    t = Tally()
    t.add("feedforward", "l0.synapse", "synapse", "read_fj", 1000.0)
    t.add("feedforward", "l0.adc", "adc", "convert", float("nan"))
    t.add("backprop", "l0.adc", "adc", "convert", float("inf"))
    res = Results(arch, wl, samples=1, seed=0, tally=t, cycles={p: 1 for p in PHASES},
                  mapping=map_network(wl, arch), busy={}, events=0, wall_s=0.0)
    df = res.counts()
    got = res.phase_energy_j()
    for p in PHASES:
        want = float(df.loc[df["phase"] == p, "energy_pj"].sum()) / 1e12
        assert got[p]["system"] == want
    assert got["feedforward"]["system"] == 1000.0 * 1e-3 / 1e12


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
    # weight-gradient MACs: rows x cols per input vector, whatever the scheme and batch split
    assert pm["update"]["ops"] == opm * n * ff


def test_ops_written_out_for_mnist_mlp() -> None:
    """784-512-512-10 on 20 samples: 2 ops per MAC."""
    res = api.simulate("reference", "mnist_mlp", samples=20)
    pm = res.phase_metrics()
    opm = raw_preset("reference")["ops_per_mac"]
    assert pm["feedforward"]["ops"] == opm * 20 * (784 * 512 + 512 * 512 + 512 * 10)
    assert pm["backprop"]["ops"] == opm * 20 * (512 * 512 + 512 * 10)
    assert pm["update"]["ops"] == opm * 20 * (784 * 512 + 512 * 512 + 512 * 10)


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
