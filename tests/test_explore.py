"""pnmsim compare / sweep: figures equal ``api.simulate``'s, sweeps validate every point first,
run the same in-process, on worker processes and on a Dask cluster, resume after an
interruption, and plot."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import click
import pandas as pd
import pytest
from click.testing import CliRunner

from pnmsim import api, explore
from pnmsim import cli as cli_mod
from pnmsim.cli_explore import compare, sweep
from pnmsim.config import load_arch
from pnmsim.errors import PnmsimError
from pnmsim.workload import load_workload

WL = "mnist_mlp"
PRESETS = ["reference", "outer_product", "digital_psum", "tile256", "variation"]
TILE_AXIS = "array.tile_rows+array.tile_cols=64,128,256"
SAMPLES = "20"
MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _cli() -> click.Group:
    main = cli_mod.main
    if "compare" in main.commands and "sweep" in main.commands:
        return main
    return cli_mod._Group(name="pnmsim", commands={"compare": compare, "sweep": sweep})


def _run(*args: str) -> Any:
    return CliRunner().invoke(_cli(), list(args), catch_exceptions=False)


def _png_ok(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


# ----------------------------------------------------------------------------- compare


def test_compare_equals_simulate_per_preset(tmp_path: Path) -> None:
    png = tmp_path / "cmp.png"
    r = _run("compare", *PRESETS, "--workload", WL, "--samples", SAMPLES, "--seed", "3",
             "--format", "json", "--plot", str(png), "--out", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    rows = doc["architectures"]
    assert [row["label"] for row in rows] == PRESETS
    assert doc["baseline"] == "reference" and doc["samples"] == 20 and doc["seed"] == 3
    for row in rows:
        res = api.simulate(row["arch"], WL, samples=20, seed=3)
        s = res.summary()
        cfg = load_arch(row["arch"])
        n = s["samples"]
        assert row["tiles"] == s["tiles"]
        assert row["array_utilisation"] == s["array_utilisation"]
        assert row["synapse_cells"] == s["tiles"] * cfg.array.tile_rows * cfg.array.tile_cols
        assert row["adcs"] == s["tiles"] * cfg.periphery.adcs_per_tile
        assert row["comparators"] == 2 * cfg.array.tile_cols * s["tiles"]
        assert row["dacs_drivers"] == s["tiles"] * (cfg.array.tile_rows + cfg.array.tile_cols)
        for p in ("feedforward", "backprop", "update"):
            m = s["phases"][p]
            assert row[f"cycles_{p}"] == m["cycles"]
            assert row[f"cycles_per_sample_{p}"] == m["cycles"] / n
            assert row[f"seconds_per_sample_{p}"] == m["seconds"] / n
            assert row[f"energy_per_sample_j_{p}"] == m["energy_j"] / n
            assert row[f"tops_per_w_array_{p}"] == m["tops_per_w_array"]
            assert row[f"tops_per_w_system_{p}"] == m["tops_per_w_system"]
            assert row[f"samples_per_s_{p}"] == m["samples_per_s"]
        assert row["throughput_samples_per_s"] == s["total"]["samples_per_s"]
        assert row["energy_per_sample_j_total"] == s["total"]["energy_j"] / n
        base = rows[0]
        assert row["throughput_samples_per_s_ratio"] == pytest.approx(
            row["throughput_samples_per_s"] / base["throughput_samples_per_s"], rel=1e-12)
        assert row["energy_per_sample_j_total_ratio"] == pytest.approx(
            row["energy_per_sample_j_total"] / base["energy_per_sample_j_total"], rel=1e-12)
    assert rows[0]["tops_per_w_array_feedforward_ratio"] == 1.0
    _png_ok(png)
    out = tmp_path / "out"
    table = pd.read_csv(out / "compare.csv")
    assert list(table["label"]) == PRESETS
    assert (out / "tile256" / "summary.json").exists()


def test_compare_table_and_errors(tmp_path: Path) -> None:
    r = _run("compare", "reference", "tile256", "--workload", WL, "--samples", "10")
    assert r.exit_code == 0, r.output
    for word in ("area proxy", "feedforward", "update", "TOPs/W array", "samples/s",
                 "ratios are to reference", "tile256"):
        assert word in r.stdout
    r = _run("compare", "reference", "nosuchpreset", "--workload", WL, "--samples", "10")
    assert r.exit_code == 2
    assert "nosuchpreset" in r.stderr and "Traceback" not in r.output
    r = _run("compare", "reference", "--set", "array.tile_rows=-4", "--workload", WL)
    assert r.exit_code == 2 and "array.tile_rows" in r.stderr
    r = _run("compare", "reference", "--plot", str(tmp_path / "x.pdf"), "--workload", WL)
    assert r.exit_code == 2 and "--plot" in r.stderr


# ----------------------------------------------------------------------------- sweep

SWEEP_ARGS = ("sweep", "reference", "--vary", TILE_AXIS, "--workload", WL,
              "--samples", SAMPLES, "--seed", "1")


@pytest.fixture(scope="module")
def base_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tile-size sweep run once in-process (--jobs 1), with a plot."""
    out = tmp_path_factory.mktemp("sweep") / "jobs1"
    png = out.parent / "sweep.png"
    r = _run(*SWEEP_ARGS, "--jobs", "1", "--out", str(out), "--plot", str(png),
             "--format", "csv")
    assert r.exit_code == 0, r.output
    assert "3 points, 3 computed, 0 reused" in r.stderr
    return out


def test_sweep_tile_sizes_trend(base_sweep: Path) -> None:
    df = pd.read_csv(base_sweep / "sweep.csv")
    assert list(df["point"]) == [0, 1, 2]
    assert list(df["array.tile_rows"]) == [64, 128, 256]
    assert list(df["array.tile_cols"]) == [64, 128, 256]
    assert df["array.tile_rows"].dtype.kind == "i"
    tiles = list(df["tiles"])
    assert tiles[0] > tiles[1] > tiles[2]
    util = list(df["array_utilisation"])
    assert util[0] > util[1] > util[2]          # bigger tiles waste more cells on edges
    wl = load_workload(WL)
    for t, u, size in zip(tiles, util, (64, 128, 256), strict=True):
        layers = wl.weighted_layers()
        want_tiles = sum(math.ceil(x.rows / size) * math.ceil(x.cols / size) for x in layers)
        assert t == want_tiles
        assert u == pytest.approx(sum(x.rows * x.cols for x in layers)
                                  / (want_tiles * size * size), rel=1e-12)
    assert (df["synapse_cells"] == df["tiles"] * df["array.tile_rows"] ** 2).all()
    for c in ("energy_j_feedforward", "cycles_update", "tops_per_w_array_update",
              "tops_per_w_system_feedforward", "throughput_samples_per_s"):
        assert (df[c] > 0).all(), c
    assert not [c for c in df.columns if "wall" in c]
    assert len(list((base_sweep / "points").glob("*.json"))) == 3
    _png_ok(base_sweep.parent / "sweep.png")
    timings = pd.read_csv(base_sweep / "timings.csv")
    assert list(timings["status"]) == ["computed"] * 3


def test_sweep_jobs2_and_dask_give_the_same_table(base_sweep: Path, tmp_path: Path) -> None:
    want = (base_sweep / "sweep.csv").read_bytes()
    r = _run(*SWEEP_ARGS, "--jobs", "2", "--out", str(tmp_path / "jobs2"), "--format", "csv")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "jobs2" / "sweep.csv").read_bytes() == want
    assert r.stdout.encode() == want

    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        r = _run(*SWEEP_ARGS, "--scheduler", cluster.scheduler_address,
                 "--out", str(tmp_path / "dask"), "--format", "csv")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "dask" / "sweep.csv").read_bytes() == want
    hosts = pd.read_csv(tmp_path / "dask" / "timings.csv")["status"]
    assert list(hosts) == ["computed"] * 3


def test_sweep_resume_recomputes_only_missing_points(base_sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "resume"
    shutil.copytree(base_sweep, out)
    want = (out / "sweep.csv").read_bytes()
    files = sorted((out / "points").glob("*.json"))
    victim = files[1]
    victim.unlink()
    (out / "sweep.csv").unlink()
    before = {f.name: f.stat().st_mtime_ns for f in files if f != victim}
    r = _run(*SWEEP_ARGS, "--jobs", "1", "--out", str(out), "--format", "csv")
    assert r.exit_code == 2 and "--resume" in r.stderr, r.output    # not without saying so
    r = _run(*SWEEP_ARGS, "--jobs", "1", "--out", str(out), "--format", "csv", "--resume")
    assert r.exit_code == 0, r.output
    assert "3 points, 1 computed, 2 reused" in r.stderr
    assert victim.exists()
    assert {f.name: f.stat().st_mtime_ns for f in files if f != victim} == before
    assert (out / "sweep.csv").read_bytes() == want
    t = pd.read_csv(out / "timings.csv").set_index("point_id")
    assert t.loc[victim.stem, "status"] == "computed"
    assert (t["status"] == "reused").sum() == 2


def test_sweep_with_other_settings_does_not_reuse(base_sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "other"
    shutil.copytree(base_sweep, out)
    args = ["sweep", "reference", "--vary", TILE_AXIS, "--workload", WL, "--samples", SAMPLES,
            "--seed", "2", "--jobs", "1", "--out", str(out)]
    before = {p.name: p.read_bytes() for p in (out / "points").iterdir()}
    r = _run(*args, "--resume")      # another sweep's folder: refused, nothing touched
    assert r.exit_code == 2 and "--out" in r.stderr and "different seed" in r.stderr, r.output
    assert {p.name: p.read_bytes() for p in (out / "points").iterdir()} == before
    r = _run(*args, "--force")
    assert r.exit_code == 0, r.output
    assert "3 points, 3 computed, 0 reused" in r.stderr


@pytest.mark.parametrize("vary, key", [
    ("array.tile_rows=64,abc", "array.tile_rows"),
    ("array.tile_rows=64,-8", "array.tile_rows"),
    ("array.tile_rowz=64,128", "array.tile_rowz"),
    ("update.scheme=per_cell,diagonal", "update.scheme"),
    ("array.tile_cols=128,100", "periphery.adcs_per_tile"),     # 8 ADCs do not divide 100
    ("array.max_tiles=1000,2", "array.max_tiles"),              # the network does not fit
    ("array.tile_rows=", "array.tile_rows"),
    ("array.tile_rows=64,64", "array.tile_rows"),
])
def test_sweep_invalid_value_is_reported_before_running(tmp_path: Path, vary: str,
                                                        key: str) -> None:
    out = tmp_path / "bad"
    r = _run("sweep", "reference", "--vary", vary, "--workload", WL, "--samples", SAMPLES,
             "--jobs", "1", "--out", str(out))
    assert r.exit_code == 2
    assert key in r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    assert not out.exists()          # nothing ran


def test_plan_ids_and_cross_product() -> None:
    spec = explore.SweepSpec(arch="reference", workload=WL, samples=20)
    axes = [explore.parse_vary("array.tile_rows=64,128,256"),
            explore.parse_vary("array.partial_sums=digital,analog")]
    pts = explore.plan_sweep(spec, axes)
    assert len(pts) == 6 and [p.index for p in pts] == list(range(6))
    assert dict(pts[1].values) == {"array.tile_rows": 64, "array.partial_sums": "analog"}
    assert len({p.id for p in pts}) == 6
    swapped = explore.plan_sweep(spec, axes[::-1])
    assert {p.id for p in swapped} == {p.id for p in pts}        # order of --vary: same ids
    again = explore.plan_sweep(spec, [explore.parse_vary("array.tile_rows=64.0")])
    assert again[0].id == explore.plan_sweep(
        spec, [explore.parse_vary("array.tile_rows=64")])[0].id
    sig = explore.plan_sweep(spec, [explore.parse_vary("variation.ic0_sigma=0,0.05")])
    assert [type(dict(p.values)["variation.ic0_sigma"]) for p in sig] == [float, float]


def test_dask_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = explore.SweepSpec(arch="reference", workload=WL, samples=20)
    pts = explore.plan_sweep(spec, [explore.parse_vary("array.tile_rows=64")])
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(PnmsimError, match=r"pip install pnmsim\[dask\]"):
        explore.run_sweep(spec, pts, None, scheduler="tcp://127.0.0.1:1")


# ----------------------------------------------------------------------------- accuracy


def _mnist_dir() -> Path | None:
    env = os.environ.get("PNMSIM_DATA_DIR")
    for d in (MNIST_DIR, Path(env) if env else None):
        if d is not None and ((d / "mnist").is_dir() or (d / "train-images-idx3-ubyte.gz")
                              .exists()):
            return d
    return None


@pytest.mark.skipif(_mnist_dir() is None, reason="MNIST not available")
def test_sweep_metric_accuracy(tmp_path: Path) -> None:
    r = _run("sweep", "reference", "--vary", "variation.ic0_sigma=0,0.05", "--workload", WL,
             "--metric", "accuracy", "--epochs", "1", "--train-limit", "300",
             "--test-limit", "100", "--val-size", "500", "--data-dir", str(_mnist_dir()),
             "--jobs", "1", "--out", str(tmp_path / "acc"), "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [row["variation.ic0_sigma"] for row in rows] == [0.0, 0.05]
    for row in rows:
        for k in ("final_test_accuracy", "best_test_accuracy"):
            assert 0.0 <= row[k] <= 1.0
        assert row["train_samples"] == 300 and row["test_samples"] == 100
        assert row["samples"] == 300
        for p in ("feedforward", "backprop", "update"):
            assert row[f"energy_j_{p}"] > 0 and row[f"tops_per_w_array_{p}"] > 0
    df = pd.read_csv(tmp_path / "acc" / "sweep.csv")
    assert {"final_test_accuracy", "best_test_accuracy", "max_test_accuracy"} <= set(df)


def test_point_failing_in_a_worker_keeps_finished_points(tmp_path: Path) -> None:
    """A point that fails at run time (planned points cannot: this one skips plan_sweep) gives
    one error line naming it; the points that finished are saved for a rerun."""
    spec = explore.SweepSpec(arch="reference", workload=WL, samples=20)
    good = explore.plan_sweep(spec, [explore.parse_vary("array.tile_rows=64")])[0]
    bad = explore.Point(1, (("array.tile_rows", -1),), ("array.tile_rows=-1",))
    with pytest.raises(PnmsimError, match=r"sweep point array.tile_rows=-1: .*array.tile_rows"):
        explore.run_sweep(spec, [good, bad], tmp_path, jobs=2)
    assert [f.stem for f in (tmp_path / "points").glob("*.json")] == [good.id]
