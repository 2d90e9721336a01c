"""The command line through click's CliRunner: simulate's JSON and output folder, one-line
``error:`` messages with exit code 2 for every class of user mistake, validate, device, and
train (software and hardware) including resume == uninterrupted."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from tests._cli import assert_user_error, invoke

PHASES = ("feedforward", "backprop", "update")
# real MNIST: $PNMSIM_DATA_DIR first (how CI and users point at data), then ../shared/datasets
DATA_DIR = Path(os.environ.get("PNMSIM_DATA_DIR")
                or Path(__file__).resolve().parents[2] / "shared" / "datasets")


# ----------------------------------------------------------------------------- costs


def test_costs_json_lists_every_action() -> None:
    from pnmsim.costs import COMPONENT_CLASSES

    res = invoke(["costs", "reference", "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    got = {(r["component"], r["action"]) for r in d["costs"]}
    assert got == {(c, a) for c, acts in COMPONENT_CLASSES.items() for a in acts}
    for r in d["costs"]:
        assert {"energy_pj", "latency_cycles", "formula", "inputs"} <= set(r)
        assert r["energy_pj"] >= 0 and r["formula"]
    adc = next(r for r in d["costs"] if r["component"] == "adc")
    assert adc["energy_pj"] == pytest.approx(6.1e-3 * 2**8)
    assert adc["inputs"]["periphery.adc_bits"] == 8


def test_costs_table_csv_and_set() -> None:
    res = invoke(["costs", "--set", "periphery.adc_bits=6", "--format", "csv"])
    assert res.exit_code == 0, res.output
    rows = res.stdout.splitlines()
    assert rows[0].startswith("component,action,scope,energy_pj,latency_cycles")
    adc = next(r for r in rows if r.startswith("adc,convert,"))
    assert float(adc.split(",")[3]) == pytest.approx(6.1e-3 * 2**6)
    assert int(adc.split(",")[4]) == 7
    res = invoke(["costs", "tile256"])
    assert res.exit_code == 0 and "line_sense" in res.stdout and "formula" in res.stdout


def test_costs_bad_set_is_one_line() -> None:
    assert_user_error(invoke(["costs", "--set", "circuits.lines.cell_pitch_um=-1"]),
                      "circuits.lines.cell_pitch_um", "> 0")


# ----------------------------------------------------------------------------- simulate

PHASE_KEYS = {"cycles", "seconds", "energy_j", "ops", "tops", "tops_per_w_synapse",
              "tops_per_w_array", "tops_per_w_system"}


@pytest.fixture(scope="module")
def sim_json() -> dict:
    res = invoke(["simulate", "reference", "mnist_mlp", "--format", "json", "--samples", "20"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_simulate_json_keys(sim_json: dict) -> None:
    d = sim_json
    assert {"arch", "workload", "samples", "ops_per_mac", "phases", "total"} <= set(d)
    assert d["arch"] == "reference" and d["workload"] == "mnist_mlp" and d["samples"] == 20
    assert set(d["phases"]) == set(PHASES)
    for p in PHASES:
        m = d["phases"][p]
        assert PHASE_KEYS <= set(m), p
        assert m["cycles"] > 0 and m["energy_j"] > 0 and m["ops"] > 0
        assert m["seconds"] == pytest.approx(m["cycles"] / 1e9, rel=1e-12)   # 1000 MHz
        assert m["tops_per_w_system"] == pytest.approx(m["ops"] / m["energy_j"] / 1e12)
        assert m["tops"] == pytest.approx(m["ops"] / m["seconds"] / 1e12)
    for m in (*d["phases"].values(), d["total"]):
        assert m["tops_per_w_synapse"] >= m["tops_per_w_array"] >= m["tops_per_w_system"] > 0
    assert PHASE_KEYS <= set(d["total"])
    assert d["total"]["cycles"] == sum(d["phases"][p]["cycles"] for p in PHASES)
    assert d["total"]["ops"] == sum(d["phases"][p]["ops"] for p in PHASES)
    assert d["phases"]["feedforward"]["ops"] == d["ops_per_mac"] * 20 * (
        784 * 512 + 512 * 512 + 512 * 10)


def test_simulate_default_workload_json() -> None:
    res = invoke(["simulate", "--format", "json", "--samples", "20"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["arch"] == "reference" and d["workload"] == "mnist_cnn" and d["samples"] == 20
    assert all(d["phases"][p]["cycles"] > 0 for p in PHASES)


def test_simulate_out_writes_files(tmp_path: Path, sim_json: dict) -> None:
    out = tmp_path / "run"
    res = invoke(["simulate", "reference", "mnist_mlp", "--samples", "20", "--format", "json",
                  "--out", str(out)])
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    assert {"counts.csv", "phases.csv", "breakdown.csv", "summary.json", "config.yaml",
            "metadata.json"} <= names
    meta = json.loads((out / "metadata.json").read_text())
    assert {"pnmsim_version", "seed", "git_revision", "wall_s"} <= set(meta)
    summ = json.loads((out / "summary.json").read_text())
    assert summ["phases"] == json.loads(res.stdout)["phases"]
    # same seed, same inputs: the same numbers as the run without --out
    for p in PHASES:
        for k in ("cycles", "energy_j", "ops"):
            assert summ["phases"][p][k] == sim_json["phases"][p][k]


def test_simulate_table_and_csv_formats() -> None:
    res = invoke(["simulate", "reference", "tiny_mlp", "--samples", "8", "--dataset",
                  "synthetic", "--format", "csv"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0].split(",")[0] == "phase"
    assert [ln.split(",")[0] for ln in lines[1:]] == [*PHASES, "total"]
    res = invoke(["simulate", "reference", "tiny_mlp", "--samples", "8", "--dataset",
                  "synthetic"])
    assert res.exit_code == 0, res.output
    assert "feedforward" in res.stdout and "arch=reference" in res.stdout


# ----------------------------------------------------------------------------- user errors


def test_unknown_layer_type(tmp_path: Path) -> None:
    bad = tmp_path / "bad_net.yaml"
    bad.write_text("name: bad_net\nsource: test\ninput: {channels: 1, height: 8, width: 8}\n"
                   "classes: 4\nweights: ternary\nlayers:\n  - {type: lstm, units: 32}\n")
    line = assert_user_error(invoke(["simulate", "reference", str(bad), "--samples", "4",
                                     "--dataset", "synthetic"]), "lstm")
    assert "type" in line


def test_layer_does_not_fit() -> None:
    assert_user_error(invoke(["simulate", "reference", "mnist_mlp", "--samples", "4",
                              "--set", "array.max_tiles=1"]), "array.max_tiles")


def test_set_missing_key() -> None:
    assert_user_error(invoke(["simulate", "reference", "mnist_mlp", "--samples", "4",
                              "--set", "array.no_such_key=3"]), "array.no_such_key")


def test_set_bad_value() -> None:
    assert_user_error(invoke(["simulate", "reference", "mnist_mlp", "--samples", "4",
                              "--set", "clock_mhz=-5"]), "clock_mhz")


def test_unknown_preset_name() -> None:
    assert_user_error(invoke(["simulate", "no_such_preset", "mnist_mlp", "--samples", "4"]),
                      "no_such_preset")


def test_malformed_yaml_preset(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: [broken\n  clock_mhz: 1000\n")
    assert_user_error(invoke(["simulate", str(bad), "mnist_mlp", "--samples", "4"]),
                      "broken.yaml")
    assert_user_error(invoke(["validate", str(bad)]), "broken.yaml")


def test_too_many_samples() -> None:
    assert_user_error(invoke(["simulate", "reference", "mnist_mlp", "--samples", "100000"]),
                      "samples")


# ----------------------------------------------------------------------------- validate


def test_validate_good_preset() -> None:
    res = invoke(["validate", "reference"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ok:") and "reference" in lines[0]


def test_validate_bad_preset(tmp_path: Path) -> None:
    import yaml

    from pnmsim.config import ARCH_DIR

    src = Path(ARCH_DIR) / "reference.yaml"
    data = yaml.safe_load(src.read_text())
    data["parts"] = [str(Path(ARCH_DIR) / p) for p in data["parts"]]
    data["mtj"] = {"tmr": -1.0}
    bad = tmp_path / "neg_tmr.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert_user_error(invoke(["validate", str(bad)]), "mtj.tmr")


def test_validate_dump_round_trip(tmp_path: Path) -> None:
    res = invoke(["validate", "digital_psum", "--dump"])
    assert res.exit_code == 0, res.output
    p = tmp_path / "dumped.yaml"
    p.write_text(res.stdout)
    res2 = invoke(["validate", str(p), "--dump"])
    assert res2.exit_code == 0, res2.output
    assert res2.stdout == res.stdout


# ----------------------------------------------------------------------------- device


def test_device_curve() -> None:
    res = invoke(["device", "--points", "5"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "pulse_ns,current_ua,p_switch"
    rows = [[float(v) for v in ln.split(",")] for ln in lines[1:]]
    assert len(rows) == 5
    t = [r[0] for r in rows]
    p = [r[2] for r in rows]
    assert t == pytest.approx([0.0, 2.5, 5.0, 7.5, 10.0])     # default --pulse-ns-max 10
    assert len({r[1] for r in rows}) == 1 and rows[0][1] > 0
    assert all(0.0 <= v <= 1.0 for v in p)
    assert all(b >= a for a, b in zip(p, p[1:], strict=False))
    assert p[0] == 0.0 and p[-1] > 0.5


def test_device_bad_current() -> None:
    res = invoke(["device", "--points", "5", "--current-ua", "-3"])
    assert res.exit_code == 2
    assert "Traceback" not in res.output


# ----------------------------------------------------------------------------- train

needs_mnist = pytest.mark.skipif(not (DATA_DIR / "mnist").is_dir(),
                                 reason=f"MNIST not found under {DATA_DIR}")
TRAIN = ["train", "reference", "mnist_mlp", "--train-limit", "200", "--test-limit", "50",
         "--val-size", "50", "--format", "json"]


def _train(args: list[str]) -> dict:
    res = invoke(TRAIN + args, env={"PNMSIM_DATA_DIR": str(DATA_DIR)})
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _strip(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "wall_s"}


@needs_mnist
def test_train_software_json() -> None:
    d = _train(["--mode", "software", "--epochs", "1"])
    assert {"final_test_accuracy", "best_test_accuracy", "epochs"} <= set(d)
    assert d["epochs"] == 1
    assert 0.0 <= d["final_test_accuracy"] <= 1.0
    assert 0.0 <= d["best_test_accuracy"] <= 1.0
    assert d["train_samples"] == 200 and d["test_samples"] == 50
    # a test accuracy is a count over 50 samples
    assert math.isclose(d["final_test_accuracy"] * 50, round(d["final_test_accuracy"] * 50))


@needs_mnist
@pytest.mark.parametrize("mode", ["software", "hardware"])
def test_train_resume_equals_uninterrupted(mode: str, tmp_path: Path) -> None:
    straight = _train(["--mode", mode, "--epochs", "2", "--out", str(tmp_path / "a")])
    first = _train(["--mode", mode, "--epochs", "1", "--out", str(tmp_path / "b")])
    assert first["epochs"] == 1
    assert (tmp_path / "b" / "checkpoint.npz").exists()
    resumed = _train(["--mode", mode, "--epochs", "2", "--resume", str(tmp_path / "b")])
    assert resumed["epochs"] == straight["epochs"] == 2
    assert _strip(resumed) == _strip(straight)
    for d in (tmp_path / "a", tmp_path / "b"):
        assert {"log.csv", "checkpoint.npz", "summary.json", "config.yaml"} <= {
            p.name for p in d.iterdir()}
        assert _strip(json.loads((d / "summary.json").read_text())) == _strip(straight)
    if mode == "hardware":
        for p in PHASES:
            m = straight["phases"][p]
            assert m["cycles"] > 0 and m["energy_j"] > 0 and m["ops"] > 0
            assert m["tops_per_w_system"] < m["tops_per_w_array"]
        # 2 epochs x 200 samples through 784-512-512-10, 2 ops per MAC
        assert straight["phases"]["feedforward"]["ops"] == 2 * 2 * 200 * (
            784 * 512 + 512 * 512 + 512 * 10)


@needs_mnist
def test_train_resume_with_other_settings_is_a_user_error(tmp_path: Path) -> None:
    _train(["--mode", "software", "--epochs", "1", "--out", str(tmp_path / "c")])
    res = invoke(TRAIN + ["--mode", "software", "--epochs", "2", "--seed", "9", "--resume",
                          str(tmp_path / "c")], env={"PNMSIM_DATA_DIR": str(DATA_DIR)})
    assert_user_error(res, "seed")


def test_train_missing_data_is_a_user_error(tmp_path: Path) -> None:
    res = invoke(TRAIN + ["--mode", "software", "--epochs", "1", "--data-dir",
                          str(tmp_path / "empty")],
                 env={"PNMSIM_DATA_DIR": str(tmp_path / "empty"),
                      "XDG_CACHE_HOME": str(tmp_path / "cache"),
                      "HOME": os.environ.get("HOME", str(tmp_path))})
    assert_user_error(res)


def test_workload_option_everywhere_and_per_tile_counts(tmp_path: Path) -> None:
    """simulate takes --workload like compare and sweep; --out writes per-tile components
    (chip.tile[NN].<part>) in counts.csv and per-tile utilisation in tiles.csv."""
    import pandas as pd

    out = tmp_path / "run"
    res = invoke(["simulate", "reference", "--workload", "tiny_mlp", "--samples", "4",
                  "--dataset", "synthetic", "--out", str(out), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["workload"] == "tiny_mlp"
    counts = pd.read_csv(out / "counts.csv")
    tiles = {c.split(".")[1] for c in counts["component"] if c.startswith("chip.tile[")}
    assert tiles == {"tile[00]", "tile[01]"}          # tiny_mlp: two layers, one tile each
    util = pd.read_csv(out / "tiles.csv")
    assert list(util["component"]) == ["chip.tile[00]", "chip.tile[01]"]
    assert ((util["utilisation"] > 0) & (util["utilisation"] <= 1)).all()
    bad = invoke(["simulate", "reference", "mnist_mlp", "--workload", "tiny_mlp"])
    assert bad.exit_code == 2 and "--workload" in bad.output
    for cmd in ("simulate", "train", "compare", "sweep"):
        assert "--workload" in invoke([cmd, "--help"]).output, cmd


def test_closed_stdout_pipe_is_not_an_internal_error() -> None:
    """`pnmsim costs reference | head -1` where head is gone before pnmsim writes: the closed
    pipe is no bug to report (before the fix: 'internal error ... BrokenPipeError', exit 1)."""
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-m", "pnmsim.cli", "costs", "reference"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None
    p.stdout.close()             # the reader is gone before the child (still importing) writes
    _, err = p.communicate(timeout=120)
    assert "internal error" not in err.decode()
    assert p.returncode == 141
