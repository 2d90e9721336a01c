"""Activity record and replay: every schema key classified; changing a cost/timing key
changes no record or count of a functional run; replay equals a full simulate figure for
figure; value changes and corrupt records are refused with one line naming the key/file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pnmsim import api
from pnmsim.cli import main
from pnmsim.config import describe_schema, load_arch, to_dict
from pnmsim.errors import ConfigError, PnmsimError
from pnmsim.replay import key_class, load_record, replay
from pnmsim.replay.keys import flatten
from pnmsim.results import Results
from pnmsim.simulation import Simulation
from pnmsim.workload import load_workload

TINY = dict(dataset="synthetic", samples=24)


def _summary(res: Results) -> dict:
    s = res.summary()
    s.pop("wall_s")          # measured, not simulated
    return s


# ----------------------------------------------------------------------------- classification
def test_every_schema_key_is_classified() -> None:
    keys = [k for k, _, _ in describe_schema()]
    missing = [k for k in keys if key_class(k) is None]
    assert not missing
    # the list of value keys is refused
    for k in ("array.tile_rows", "array.tile_cols", "periphery.adc_bits", "periphery.dac_bits",
              "mtj.delta", "variation.ic0_sigma", "update.scheme", "periphery.forward_sensing",
              "array.max_analog_fanin", "periphery.pulse_resolution_ns", "system.batch_size"):
        assert key_class(k) == "values", k
    assert key_class("system.issue_group") == "activity"


def _perturbed(arch: str, key: str) -> str | None:
    """An override of ``key`` to another valid value (None when none is found)."""
    cur = flatten(to_dict(load_arch(arch)))[key]
    if isinstance(cur, bool) or cur is None:
        return None
    if isinstance(cur, str):
        cands = [cur + "_x"]
    elif isinstance(cur, int):
        cands = [cur + 1, cur - 1, cur * 2]
    else:
        cands = [cur * 1.25, cur * 0.8, cur + 1.0]
    for v in cands:
        try:
            load_arch(arch, (f"{key}={v}",))
            return f"{key}={v}"
        except ConfigError:
            continue
    return None


def _functional(arch: str, overrides: tuple[str, ...]) -> tuple[list, dict, dict]:
    cfg = load_arch(arch, overrides)
    sim = Simulation(cfg, load_workload("tiny_cnn"), seed=3, timed=False)
    sim.recording = []
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (6, 1, 8, 8)).astype(np.float32)
    sim.run(x, rng.integers(0, 4, 6))
    w = {k: v for k, v in sim.network.state_dict().items() if k.startswith("w")}
    return sim.recording, dict(sim.tally.counts), w


def _same_records(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    for ra, rb in zip([r for x in a for r in x], [r for x in b for r in x], strict=True):
        da, db = dataclasses.asdict(ra), dataclasses.asdict(rb)
        fa, fb = da.pop("facts"), db.pop("facts")
        if da != db or (fa is None) != (fb is None):
            return False
        if fa is not None:
            for k in fa:
                va, vb = fa[k], fb[k]
                if isinstance(va, np.ndarray) or isinstance(vb, np.ndarray):
                    if not np.array_equal(va, vb):
                        return False
                elif va != vb:
                    return False
    return True


LIKELY_LEAKS = ("clock_mhz", "ops_per_mac", "periphery.adcs_per_tile",
                "system.bus_words_per_cycle", "system.controller_issue_slots",
                "system.digital_lanes", "circuits.digital.bus_word_bits",
                "circuits.converters.adc_sample_cycles")


@pytest.mark.parametrize(("arch", "every"), [
    ("reference", False),
    pytest.param("reference", True, marks=pytest.mark.slow),
    pytest.param("outer_product", True, marks=pytest.mark.slow)])
def test_cost_keys_change_no_record_count_or_weight(arch: str, every: bool) -> None:
    """The classification's claim, checked: a functional run with a cost key changed records
    the same operations and counts and ends with the same weights (every cost key in the
    slow run; by default the keys a functional module could most plausibly read)."""
    base = _functional(arch, ())
    cost_keys = [k for k, _, _ in describe_schema() if key_class(k) == "cost"]
    if not every:
        assert set(LIKELY_LEAKS) <= set(cost_keys)
        cost_keys = list(LIKELY_LEAKS)
    tried = 0
    for k in cost_keys:
        ov = _perturbed(arch, k)
        if ov is None:
            continue
        tried += 1
        recs, counts, w = _functional(arch, (ov,))
        assert _same_records(base[0], recs), ov
        assert counts == base[1], ov
        assert all(np.array_equal(w[k2], base[2][k2]) for k2 in w), ov
    assert tried >= len(cost_keys) - 2
    # and the check can fail: a value key does change them
    recs, counts, _ = _functional(arch, ("system.issue_group=3",))
    assert counts != base[1]


# ----------------------------------------------------------------------------- replay == simulate
VARIANTS = [
    ("clock_mhz=400", "circuits.converters.adc_fom_fj_per_step=50"),
    ("system.controller_issue_slots=2", "system.bus_words_per_cycle=1",
     "system.digital_lanes=8"),
    ("periphery.adcs_per_tile=2", "circuits.lines.driver_r_ohm=5000",
     "circuits.digital.optimizer_cycles=9", "ops_per_mac=3", "name=variant"),
]


@pytest.mark.parametrize(("arch", "mode"), [("reference", "coarse"), ("outer_product", "coarse"),
                                            ("reference", "fine")])
def test_replay_equals_simulate(tmp_path: Path, arch: str, mode: str) -> None:
    ov0 = ("system.batch_size=10",)
    rec_dir = tmp_path / "rec"
    base = api.simulate(arch, "tiny_cnn", overrides=ov0, seed=2, mode=mode,  # type: ignore
                        record=rec_dir, **TINY)  # type: ignore[arg-type]
    rec = load_record(rec_dir)
    assert _summary(replay(rec, base.arch)) == _summary(base)
    for extra in VARIANTS if mode == "coarse" else VARIANTS[1:2]:
        cfg = load_arch(arch, (*ov0, *extra))
        full = api.simulate(cfg, "tiny_cnn", seed=2, mode=mode, **TINY)  # type: ignore
        rep = replay(rec, cfg)
        assert _summary(rep) == _summary(full), extra
        assert rep.tile_busy == full.tile_busy
        assert rep.counts().equals(full.counts())


def test_replay_refuses_value_changes(tmp_path: Path) -> None:
    rec_dir = tmp_path / "rec"
    api.simulate("reference", "tiny_cnn", record=rec_dir, **TINY)  # type: ignore[arg-type]
    run = CliRunner()
    for ov, key in (("array.tile_rows=16", "array.tile_rows"),
                    ("system.issue_group=2", "system.issue_group"),
                    ("update.lr=0.5", "update.lr"), ("mtj.delta=50", "mtj.delta"),
                    ("system.batch_size=7", "system.batch_size")):
        r = run.invoke(main, ["replay", str(rec_dir), "reference", "--set", ov])
        assert r.exit_code == 2, (ov, r.output)
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and key in lines[0]
    r = run.invoke(main, ["replay", str(rec_dir), "tile256"])
    assert r.exit_code == 2 and "array.tile_rows" in r.output
    # a cost-only variant through the CLI equals simulate through the CLI
    args = ["--workload", "tiny_cnn", "--dataset", "synthetic", "--samples", "24"]
    a = run.invoke(main, ["replay", str(rec_dir), "reference", "--set", "clock_mhz=250",
                          "--format", "json"])
    b = run.invoke(main, ["simulate", "reference", *args, "--set", "clock_mhz=250",
                          "--format", "json"])
    assert a.exit_code == 0 and b.exit_code == 0
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    ja.pop("wall_s")
    jb.pop("wall_s")
    assert ja == jb


# ----------------------------------------------------------------------------- the record on disk
@pytest.fixture(scope="module")
def record_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("r") / "rec"
    api.simulate("reference", "tiny_cnn", record=d, **TINY)  # type: ignore[arg-type]
    return d


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_record_holds_config_counts_and_fingerprint(record_dir: Path) -> None:
    m = json.loads((record_dir / "manifest.json").read_text())
    assert {"weights_sha256", "records_sha256", "tally_sha256",
            "config_sha256"} <= set(m["fingerprint"])
    assert m["samples"] == 24 and m["batches"] == 1
    rec = load_record(record_dir)
    assert to_dict(rec.arch) == to_dict(load_arch("reference"))
    assert rec.tally.counts and sum(len(b) for b in rec.batches) > 0


@pytest.mark.parametrize(("name", "mutate", "needle"), [
    ("manifest.json", lambda p: p.unlink(), "manifest.json: missing"),
    ("manifest.json", lambda p: p.write_text("{"), "manifest.json: not valid JSON"),
    ("manifest.json", lambda p: p.write_text(json.dumps(
        {**json.loads(p.read_text()), "samples": "many"})), "manifest.json: samples"),
    ("manifest.json", lambda p: p.write_text(json.dumps(
        {**json.loads(p.read_text()), "mode": "warp"})), "manifest.json: mode"),
    ("tally.json", lambda p: p.write_text(p.read_text().replace("1", "2", 1)),
     "tally.json: tally_sha256"),
    ("records.npz", lambda p: p.write_bytes(p.read_bytes()[:100]),
     "records.npz: records_sha256"),
    ("records.npz", lambda p: p.unlink(), "records.npz: missing"),
    ("config.yaml", lambda p: p.write_text("name: x\nbogus: 1\n"), "config.yaml"),
    ("config.yaml", lambda p: p.write_text(p.read_text().replace("tile_rows: 128",
                                                                 "tile_rows: 64")),
     "config.yaml: config_sha256"),
])
def test_corrupt_record_is_one_line(tmp_path: Path, record_dir: Path, name: str, mutate,
                                    needle: str) -> None:  # noqa: ANN001
    d = _copy(record_dir, tmp_path / "bad")
    mutate(d / name)
    with pytest.raises(PnmsimError, match=needle.replace(".", r"\.")):
        load_record(d)
    r = CliRunner().invoke(main, ["replay", str(d), "reference"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1


def test_record_is_not_overwritten_without_force(tmp_path: Path, record_dir: Path) -> None:
    d = _copy(record_dir, tmp_path / "rec")
    before = (d / "manifest.json").read_text()
    args = ["simulate", "--workload", "tiny_cnn", "--dataset", "synthetic", "--samples", "8",
            "--record", str(d)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and "--force" in r.output
    assert (d / "manifest.json").read_text() == before
    r = CliRunner().invoke(main, [*args, "--force"])
    assert r.exit_code == 0, r.output
    assert json.loads((d / "manifest.json").read_text())["samples"] == 8
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    r = CliRunner().invoke(main, [*args[:-1], str(other), "--force"])
    assert r.exit_code == 2 and "not empty" in r.output


@pytest.mark.slow
def test_mnist_replay_of_a_cost_variant_equals_simulate(tmp_path: Path) -> None:
    """The issue's check on the MNIST CNN: replay on a cost-only variant == simulate."""
    rec = tmp_path / "rec"
    api.simulate("reference", samples=20, record=rec)
    cfg = load_arch("reference", ("clock_mhz=700", "circuits.digital.fp32_mul_pj=5"))
    full = api.simulate(cfg, samples=20)
    assert _summary(replay(load_record(rec), cfg)) == _summary(full)


# ----------------------------------------------------------------------------- sweep
def test_sweep_replays_cost_keys_and_equals_the_simulated_sweep(tmp_path: Path) -> None:
    base = ["sweep", "reference", "--vary", "clock_mhz=500,1000",
            "--vary", "circuits.converters.adc_fom_fj_per_step=20,50", "--workload", "tiny_cnn",
            "--dataset", "synthetic", "--samples", "24", "--set", "system.batch_size=10",
            "--jobs", "1", "--format", "csv"]
    run = CliRunner()
    a = run.invoke(main, [*base, "--out", str(tmp_path / "replay")])
    b = run.invoke(main, [*base, "--out", str(tmp_path / "full"), "--no-replay"])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert "replayed" in a.stderr and "replayed" not in b.stderr
    assert (tmp_path / "replay" / "sweep.csv").read_bytes() == \
        (tmp_path / "full" / "sweep.csv").read_bytes()
    assert a.stdout == b.stdout
    # a value key is never replayed
    c = run.invoke(main, ["sweep", "reference", "--vary", "array.tile_rows=32,64",
                          "--workload", "tiny_cnn", "--dataset", "synthetic", "--samples", "8",
                          "--jobs", "1"])
    assert c.exit_code == 0 and "replayed" not in c.stderr
