"""Timeline trace: valid Chrome trace JSON, one named track per tile in use, no overlapping X
events on a track, X durations per track summing to the chip's own busy counters (cycles /
clock), power counters integrating to the cost roll-up's energy, and no figure changed."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from pnmsim import api
from pnmsim.cli import main
from pnmsim.results import Results
from pnmsim.trace import SCHEMA, Tracer
from pnmsim.tracefmt import POWER_COUNTER, parse_trace, read_trace


def _summary(res: Results) -> dict:
    s = res.summary()
    s.pop("wall_s")          # the only measured (not simulated) figure
    return s


def traced(arch: str, overrides: tuple[str, ...] = (), mode: str = "coarse",
           samples: int = 24, limit: int | None = None, tmp: Path | None = None,
           workload: str = "tiny_cnn") -> tuple[Results, dict, Tracer]:
    tr = Tracer(clock_mhz=1.0, limit=limit)
    res = api.simulate(arch, workload, overrides=overrides, samples=samples,
                       dataset="synthetic" if workload.startswith("tiny") else None,
                       mode=mode, tracer=tr)  # type: ignore[arg-type]
    tr.clock_mhz = res.arch.clock_mhz
    tr.meta["arch"] = res.arch.name
    assert tmp is not None
    path = tr.write(tmp / "t.json")
    return res, json.loads(path.read_text()), tr


def tracks(doc: dict) -> tuple[dict[int, str], dict[str, list[tuple[float, float]]]]:
    names = {e["tid"]: e["args"]["name"] for e in doc["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for e in doc["traceEvents"]:
        if e["ph"] == "X":
            spans[names[e["tid"]]].append((e["ts"], e["dur"]))
    return names, spans


def check_schedule(res: Results, doc: dict) -> None:
    clock = res.arch.clock_mhz
    names, spans = tracks(doc)
    assert doc["otherData"]["schema"] == SCHEMA
    parsed = parse_trace(doc)           # the shared schema's strict reader accepts it
    assert len(parsed.spans) == sum(len(v) for v in spans.values())
    # one named track per tile of the mapping that did any work
    used = {k for k, v in res.tile_busy.items() if v > 0}
    assert used and used <= set(names.values())
    # never two X events at once on one track (1e-9 us slack for float rounding)
    for name, sp in spans.items():
        sp.sort()
        for (t0, d0), (t1, _) in zip(sp, sp[1:], strict=False):
            assert t0 + d0 <= t1 + 1e-9, f"{name}: overlap at {t1}"
    # X durations per track == the component's busy cycles from the chip's counters
    total = {k: sum(d for _, d in sp) * clock for k, sp in spans.items()}
    for tile, busy in res.tile_busy.items():
        assert total.get(tile, 0.0) == pytest.approx(busy, rel=1e-9, abs=1e-6), tile
    by_unit = {"controller": "chip.controller", "bus": "chip.interconnect",
               "digital": "chip.digital"}
    for cls, unit in by_unit.items():
        got = sum(v for k, v in total.items() if k == unit or k.startswith(unit + ".slot["))
        assert got == pytest.approx(res.busy[cls], rel=1e-9, abs=1e-6), cls
    assert sum(v for k, v in total.items() if k.startswith("chip.tile[")) == pytest.approx(
        res.busy["tiles"], rel=1e-9)


CASES = [
    ("reference", (), "coarse"),
    ("reference", ("system.batch_size=8",), "coarse"),      # memoised phases replayed
    ("reference", ("system.batch_size=8",), "fine"),
    ("outer_product", ("system.batch_size=10",), "coarse"),
    ("outer_product", ("system.batch_size=10",), "fine"),
    ("reference", ("array.tile_rows=16", "array.tile_cols=8", "system.issue_group=3",
                   "system.controller_issue_slots=2", "system.batch_size=8"), "coarse"),
    ("reference", ("array.tile_rows=16", "array.tile_cols=8", "system.issue_group=3",
                   "system.controller_issue_slots=3", "system.batch_size=8"), "fine"),
]


@pytest.mark.parametrize(("arch", "overrides", "mode"), CASES)
def test_trace_matches_the_chips_counters(tmp_path: Path, arch: str,
                                          overrides: tuple[str, ...], mode: str) -> None:
    res, doc, _ = traced(arch, overrides, mode, tmp=tmp_path)
    check_schedule(res, doc)
    # and tracing changed nothing
    plain = api.simulate(arch, "tiny_cnn", overrides=overrides, samples=24,
                         dataset="synthetic", mode=mode)  # type: ignore[arg-type]
    assert _summary(res) == _summary(plain)
    assert res.tile_busy == plain.tile_busy


def test_controller_slots_get_their_own_tracks(tmp_path: Path) -> None:
    res, doc, _ = traced("reference", ("array.tile_rows=16", "array.tile_cols=8",
                                       "system.controller_issue_slots=2",
                                       "system.issue_group=1"), tmp=tmp_path)
    names = set(tracks(doc)[0].values())
    assert {"chip.controller.slot[0]", "chip.controller.slot[1]"} <= names
    assert "chip.controller" not in names


def test_x_events_carry_phase_layer_batch_and_group(tmp_path: Path) -> None:
    res, doc, _ = traced("reference", ("system.batch_size=8", "system.issue_group=4"),
                         tmp=tmp_path)
    xs = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert {e["args"]["phase"] for e in xs} == {"feedforward", "backprop", "update"}
    assert {e["args"]["batch"] for e in xs} == {0, 1, 2}
    layers = {m.layer.name for m in res.mapping.layers}
    assert {e["args"]["layer"] for e in xs} == layers
    ff = {tuple(e["args"]["group"]) for e in xs if e["args"]["phase"] == "feedforward"}
    assert ff == {(0, 4), (4, 8)}             # two issue groups of 4 per batch of 8
    # simulated time: the last X event ends at the run's total cycles
    end = max(e["ts"] + e["dur"] for e in xs)
    assert end * res.arch.clock_mhz <= sum(res.cycles.values()) + 1e-6


def test_power_counters_integrate_to_the_energy_roll_up(tmp_path: Path) -> None:
    res, doc, _ = traced("reference", ("system.batch_size=8",), tmp=tmp_path)
    cs = defaultdict(list)
    for e in doc["traceEvents"]:
        if e["ph"] == "C":
            assert e["name"] == POWER_COUNTER
            for cls, w in e["args"].items():
                cs[cls].append((e["ts"], w))
    energy_j = res.breakdown().sum(axis=1)              # J per component class
    assert set(cs) == set(energy_j.index)
    for cls, pts in cs.items():
        pts.sort()
        assert pts[-1][1] == 0.0                       # ends at zero
        integral = sum(v * (t1 - t0) for (t0, v), (t1, _) in zip(pts, pts[1:], strict=False))
        assert integral * 1e-6 == pytest.approx(energy_j[cls], rel=1e-9), cls   # W * us


def test_trace_limit_truncates_with_a_note(tmp_path: Path) -> None:
    res, doc, tr = traced("reference", ("system.batch_size=8",), limit=10, tmp=tmp_path)
    xs = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert len(xs) == 10
    other = doc["otherData"]
    assert other["truncated"] is True and other["dropped_events"] > 0
    assert "truncated" in other["note"] and "10" in other["note"]


def test_cli_trace_refuses_to_overwrite_and_notes_truncation(tmp_path: Path) -> None:
    t = tmp_path / "t.json"
    args = ["simulate", "--workload", "tiny_cnn", "--dataset", "synthetic", "--samples", "8",
            "--trace", str(t), "--format", "json"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    first = t.read_text()
    assert json.loads(first)["traceEvents"]
    r = CliRunner().invoke(main, [*args, "--trace-limit", "5"])
    assert r.exit_code == 2 and "exists" in r.output and "--force" in r.output
    assert t.read_text() == first                      # nothing already written is lost
    r = CliRunner().invoke(main, [*args, "--trace-limit", "5", "--force"])
    assert r.exit_code == 0
    assert "truncated" in r.stderr
    assert read_trace(t).other["truncated"] is True
    png = tmp_path / "t.png"                 # pnmsim timeline draws what simulate wrote
    r = CliRunner().invoke(main, ["timeline", str(t), "--out", str(png)])
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads(t.read_text())
    assert len([e for e in doc["traceEvents"] if e["ph"] == "X"]) == 5
    assert not list(tmp_path.glob(".*.tmp"))           # written atomically


@pytest.mark.slow
def test_mnist_trace_of_20_samples(tmp_path: Path) -> None:
    """The issue's check: pnmsim simulate --samples 20 --trace t.json on the MNIST CNN."""
    res, doc, _ = traced("reference", samples=20, tmp=tmp_path, workload="mnist_cnn")
    assert "traceEvents" in doc
    check_schedule(res, doc)


def test_trace_of_a_batch_range_matches_that_ranges_busy_cycles(tmp_path: Path) -> None:
    """train --trace-batches A:B: only batches A..B-1 traced; their X durations per track are
    the busy cycles the chip's counters gained over those batches; ts is the run's time."""
    import numpy as np

    from pnmsim.config import load_arch
    from pnmsim.simulation import Simulation
    from pnmsim.workload import load_workload

    cfg = load_arch("reference", ("system.issue_group=2",))
    sim = Simulation(cfg, load_workload("tiny_cnn"), seed=1)
    tr = Tracer(limit=None)
    sim.attach_tracer(tr)
    sim.trace_range = (2, 4)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (30, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 4, 30)
    sim.calibrate(x[:6])
    snaps = []
    for b in range(5):
        assert sim.chip is not None
        snaps.append((dict(sim.chip.tile_busy()), dict(sim.chip.busy_cycles()),
                      sum(sim.chip.cycles.values())))
        sim.train_step(x[6 * b:6 * b + 6], y[6 * b:6 * b + 6], lr=0.05, bn="batch")
    snaps.append((dict(sim.chip.tile_busy()), dict(sim.chip.busy_cycles()),
                  sum(sim.chip.cycles.values())))
    tr.clock_mhz = cfg.clock_mhz
    doc = json.loads(tr.write(tmp_path / "t.json").read_text())
    names, spans = tracks(doc)
    xs = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert {e["args"]["batch"] for e in xs} == {2, 3}
    assert min(e["ts"] for e in xs) * cfg.clock_mhz == pytest.approx(snaps[2][2])
    assert max(e["ts"] + e["dur"] for e in xs) * cfg.clock_mhz <= snaps[4][2] + 1e-6
    total = {k: sum(d for _, d in sp) * cfg.clock_mhz for k, sp in spans.items()}
    for tile, busy in snaps[4][0].items():
        assert total.get(tile, 0.0) == pytest.approx(busy - snaps[2][0][tile], abs=1e-6)
    assert total["chip.digital"] == pytest.approx(snaps[4][1]["digital"] - snaps[2][1]["digital"])


@pytest.mark.parametrize(("value", "needle"), [("5", "A:B"), ("4:2", "A:B"), ("x:3", "A:B")])
def test_train_trace_batches_bad_value_is_one_line(tmp_path: Path, value: str,
                                                   needle: str) -> None:
    r = CliRunner().invoke(main, ["train", "--trace", str(tmp_path / "t.json"),
                                  "--trace-batches", value])
    assert r.exit_code == 2 and needle in r.output and "--trace-batches" in r.output
    assert len(r.output.strip().splitlines()) == 1
