"""Hostile inputs and outputs: every user file goes through one loading discipline, checkpoints
are validated as data, output folders never destroy a run, errors keep their exit codes.

Each test states what a hostile user does and what must happen (one-line error naming the file
or option, exit 2; or a valid input accepted). Hypothesis generates random YAML trees, --set
values and workloads; hand-made files cover bombs and special files. ``benchmarks/fuzz_inputs.py``
is the large-scale version of the same checks.
"""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pnmsim import __version__
from pnmsim.cli import main
from pnmsim.config import ARCH_DIR, load_arch, load_arch_tree
from pnmsim.errors import ConfigError, PnmsimError, short_repr
from pnmsim.safeload import (
    PARTS_MAX_DEPTH,
    YAML_MAX_DEPTH,
    load_npz,
    parse_yaml,
)
from pnmsim.workload import load_workload, workload_from_dict

FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def cli(args: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, args, catch_exceptions=False)


def user_error(res, *needles: str) -> str:  # type: ignore[no-untyped-def]
    """Exit 2, exactly one stderr line starting with error:, naming each needle."""
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.output and "internal error" not in res.output
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def reference_tree() -> dict:
    tree, _ = load_arch_tree("reference")
    tree.pop("source", None)
    return tree


def write_preset(path: Path, tree: dict) -> Path:
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


# ----------------------------------------------------------------------------- YAML limits


def test_billion_laughs_fails_fast_with_one_line(tmp_path: Path) -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(lines) + "\nname: x\n")   # 9**10 leaves once expanded
    msg = user_error(cli(["validate", str(f)]), "bomb.yaml")
    assert len(msg) < 400 and "alias" in msg


@pytest.mark.parametrize("key", ["bad\nkey", "\n", "tab\tkey", "\x1b[31mred"])
def test_control_characters_in_a_key_stay_on_one_line(tmp_path: Path, key: str) -> None:
    """A key with a newline, tab or escape (found by the random-subtree test) is named in a
    one-line error, its control characters escaped."""
    p = tmp_path / "r.yaml"
    tree = reference_tree()
    tree["mtj"][key] = 1.0
    p.write_text(yaml.safe_dump(tree, sort_keys=False))
    with pytest.raises(ConfigError) as e:
        load_arch(p)
    msg = str(e.value)
    assert "r.yaml" in msg and msg.isprintable()
    assert key.encode("unicode_escape").decode("ascii") in msg


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(ConfigError, match="nodes"):
        parse_yaml("a: &a [*a]\n", "r.yaml")


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, "{a: " * 400 + "1" + "}" * 400])
def test_deep_nesting_is_refused_before_recursion(text: str) -> None:
    with pytest.raises(ConfigError, match=f"nesting deeper than {YAML_MAX_DEPTH}"):
        parse_yaml("x: " + text, "deep.yaml")


def test_duplicate_key_in_a_preset_is_refused(tmp_path: Path) -> None:
    # the first, invalid, clock would never be validated if the later one silently won
    f = tmp_path / "dup.yaml"
    f.write_text("clock_mhz: -5\n" + yaml.safe_dump(reference_tree(), sort_keys=False))
    user_error(cli(["validate", str(f)]), "dup.yaml", "duplicate key 'clock_mhz'")


def test_integer_with_thousands_of_digits_is_refused(tmp_path: Path) -> None:
    tree = reference_tree()
    f = write_preset(tmp_path / "big.yaml", tree)
    f.write_text(f.read_text().replace(f"clock_mhz: {tree['clock_mhz']}",
                                       "clock_mhz: 1" + "0" * 5000))
    user_error(cli(["validate", str(f)]), "big.yaml", "digits")


def test_yaml12_exponent_floats_are_numbers() -> None:
    assert parse_yaml("a: 1e3\nb: -5e-9\nc: x1e3\n", "f") == {"a": 1000.0, "b": -5e-9,
                                                               "c": "x1e3"}


@pytest.mark.parametrize("content", [b"\xff\xfe\x00bad", b"name: a\x00b\n",
                                     "name: caf\xe9\n".encode("latin-1")])
def test_binary_and_non_utf8_files_are_refused(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "bin.yaml"
    f.write_bytes(content)
    user_error(cli(["validate", str(f)]), "bin.yaml")


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    f = tmp_path / "huge.yaml"
    f.write_text("name: x\ndescription: '" + "x" * (2 << 20) + "'\n")
    user_error(cli(["validate", str(f)]), "huge.yaml", "bytes")


# ----------------------------------------------------------------------------- special files


def _special(tmp_path: Path, kind: str) -> Path:
    if kind == "dir":
        p = tmp_path / "d.yaml"
        p.mkdir()
    elif kind == "fifo":
        p = tmp_path / "fifo.yaml"
        os.mkfifo(p)
    elif kind == "loop":
        p = tmp_path / "loop.yaml"
        os.symlink(p, p)
    else:
        p = Path(kind)
    return p


@pytest.mark.parametrize("kind", ["dir", "fifo", "loop", "/dev/zero", "/dev/null"])
def test_special_files_are_refused_without_opening(tmp_path: Path, kind: str) -> None:
    p = _special(tmp_path, kind)
    user_error(cli(["validate", str(p)]), p.name)
    user_error(cli(["simulate", "--samples", "2", "--checkpoint", str(p)]), p.name)
    user_error(cli(["fit-device", str(p)]), p.name)
    user_error(cli(["timeline", str(p), "--out", str(tmp_path / "t.png")]), p.name)


@pytest.mark.parametrize("kind", ["dir", "fifo", "loop", "/dev/zero"])
def test_special_files_as_parts_are_refused(tmp_path: Path, kind: str) -> None:
    p = _special(tmp_path, kind)
    top = tmp_path / "top.yaml"
    top.write_text(f"parts: ['{p}']\nname: x\n")
    user_error(cli(["validate", str(top)]), "top.yaml", "parts[0]")


def test_parts_chain_is_bounded(tmp_path: Path) -> None:
    n = 1500
    for i in range(n):
        (tmp_path / f"p{i}.yaml").write_text(f"parts: [p{i + 1}.yaml]\n" if i < n - 1
                                            else "{}\n")
    top = tmp_path / "top.yaml"
    top.write_text("parts: [p0.yaml]\nname: x\n")
    user_error(cli(["validate", str(top)]), "top.yaml", f"{PARTS_MAX_DEPTH} files deep")


# ----------------------------------------------------------------------------- numbers


def _numeric(tree: dict, prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for k, v in tree.items():
        if isinstance(v, dict):
            out += _numeric(v, f"{prefix}{k}.")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((f"{prefix}{k}", v))
    return out


NUMERIC = _numeric(reference_tree())


def test_numeric_keys_found() -> None:
    keys = [k for k, _ in NUMERIC]
    assert "clock_mhz" in keys and "ops_per_mac" in keys
    assert any(k.startswith("circuits.") for k in keys)


@pytest.mark.parametrize("bad", [10**400, -(10**400), 10**30, float("nan"), float("inf")],
                         ids=["1e400", "-1e400", "1e30", "nan", "inf"])
@pytest.mark.parametrize("key", ["clock_mhz", "ops_per_mac", "mtj.tmr", "update.max_pulse_ns",
                                 "circuits.lines.driver_r_ohm", "array.max_tiles",
                                 "circuits.digital.buffer_kb"])
def test_out_of_range_numbers_are_refused_in_files(tmp_path: Path, key: str, bad: object) -> None:
    tree = reference_tree()
    node = tree
    *head, last = key.split(".")
    for p in head:
        node = node[p]
    node[last] = bad
    f = write_preset(tmp_path / "n.yaml", tree)
    if isinstance(bad, float):      # safe_dump writes .nan/.inf, which YAML reads back
        assert yaml.safe_load(f.read_text()) is not None
    if isinstance(bad, int) and abs(bad) > 10**40:     # refused by the YAML reader, by line
        user_error(cli(["validate", str(f)]), "n.yaml", "digits")
    else:
        user_error(cli(["validate", str(f)]), "n.yaml", key)


@FAST
@given(key=st.sampled_from([k for k, _ in NUMERIC]),
       raw=st.one_of(st.integers(min_value=-(10**500), max_value=10**500).map(str),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr),
                     st.sampled_from([".nan", ".inf", "-.inf", "1e999", "abc", "[1]", "{a: 1}",
                                      "~", "true", "1" * 5000])))
def test_set_any_value_is_accepted_or_refused_cleanly(key: str, raw: str) -> None:
    """Any --set value on any numeric key: a config whose value is that finite number within
    bounds, or a ConfigError naming the key; never another exception."""
    try:
        cfg = load_arch("reference", [f"{key}={raw}"])
    except ConfigError as e:
        assert key in str(e) or "--set" in str(e)
        return
    got = cfg
    for p in key.split("."):
        got = got[p] if isinstance(got, dict) else getattr(got, p)
    assert isinstance(got, (int, float)) and np.isfinite(got)
    assert got == float(raw)      # the number the user typed, not a truncation


def _yaml_trees() -> st.SearchStrategy:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**40), 10**40),
                        st.floats(allow_nan=True), st.text(max_size=8))
    return st.recursive(scalars, lambda ch: st.one_of(
        st.lists(ch, max_size=4), st.dictionaries(st.text(max_size=6), ch, max_size=4)),
        max_leaves=20)


@FAST
@given(path=st.lists(st.sampled_from(["mtj", "array", "circuits", "lines", "tmr", "tile_rows",
                                      "digital", "driver_r_ohm", "x"]), min_size=1,
                     max_size=3),
       value=_yaml_trees())
def test_random_subtrees_in_a_preset_never_crash(tmp_path_factory: pytest.TempPathFactory,
                                                 path: list[str], value: object) -> None:
    tree = reference_tree()
    node = tree
    for p in path[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[path[-1]] = value
    f = tmp_path_factory.mktemp("t") / "r.yaml"
    try:
        f.write_text(yaml.safe_dump(tree))
    except yaml.YAMLError:
        return
    try:
        load_arch(f)
    except PnmsimError as e:
        assert "r.yaml" in str(e) and "\n" not in str(e)


@FAST
@given(data=_yaml_trees())
def test_random_workload_documents_never_crash(data: object) -> None:
    base = load_workload("tiny_cnn").to_dict()
    if isinstance(data, dict):
        base.update(data)
    else:
        base["layers"] = [data] if not isinstance(data, list) else data
    try:
        workload_from_dict(base, "w.yaml")
    except ConfigError as e:
        assert str(e).startswith("w.yaml: ")


def test_huge_layer_sizes_are_refused() -> None:
    base = load_workload("tiny_cnn").to_dict()
    base["input"] = {"channels": 1, "height": 100000, "width": 100000}
    with pytest.raises(ConfigError, match=r"input.height: got 100000; allowed: an integer in"):
        workload_from_dict(base, "w.yaml")


def test_error_message_never_walks_a_huge_value() -> None:
    v: object = [1] * 10
    for _ in range(200):           # 10**200 elements when expanded
        v = [v] * 10
    msg = str(ConfigError("f.yaml", "k", v, "x"))
    assert len(msg) < 200
    assert short_repr("y" * 10**6).endswith("...'") or len(short_repr("y" * 10**6)) <= 80


# ----------------------------------------------------------------------------- --set / validate


def test_set_string_key_takes_the_text(tmp_path: Path) -> None:
    for raw in ("123", "'123'", "1e5", "true"):
        res = cli(["validate", "reference", "--set", f"name={raw}", "--dump"])
        assert res.exit_code == 0, res.output
        assert yaml.safe_load(res.stdout)["name"] == raw.strip("'")


def test_validate_decides_the_kind_from_the_document(tmp_path: Path) -> None:
    d = load_workload("tiny_cnn").to_dict()
    d["source"] = "a network for mtj crossbars; mtj: yes"
    f = tmp_path / "w.yaml"
    f.write_text(yaml.safe_dump(d))
    res = cli(["validate", str(f)])
    assert res.exit_code == 0 and res.stdout.startswith("ok: workload"), res.output
    res = cli(["validate", "tiny_cnn"])
    assert res.exit_code == 0 and res.stdout.startswith("ok: workload"), res.output
    user_error(cli(["validate", str(f), "--set", "name=x"]), "--set")


@pytest.mark.parametrize("args, opt", [
    (["device", "--current-ua", "nan"], "--current-ua"),
    (["device", "--current-ua", "inf"], "--current-ua"),
    (["device", "--pulse-ns-max", "nan"], "--pulse-ns-max"),
    (["sweep", "reference", "--vary", "array.tile_rows=64", "--lr", "nan"], "--lr"),
    (["train", "--lr", "inf"], "--lr"),
    (["train", "--lr-end", "nan"], "--lr-end"),
    (["simulate", "--seed", "-1"], "--seed"),
    (["simulate", "--dataset", "imagenet"], "--dataset"),
])
def test_non_finite_and_bad_options_are_refused(args: list[str], opt: str) -> None:
    user_error(cli(args), opt)


def test_json_output_is_strict_json() -> None:
    res = cli(["simulate", "reference", "tiny_mlp", "--dataset", "synthetic", "--samples", "4",
               "--format", "json"])
    assert res.exit_code == 0, res.output

    def refuse(c: str) -> None:
        raise ValueError(c)

    json.loads(res.stdout, parse_constant=refuse)


def test_jsonsafe_replaces_non_finite_with_null() -> None:
    from pnmsim.jsonsafe import dumps

    text, bad = dumps({"a": [1.0, float("nan")], "b": {"c": np.float32("inf")}, "d": 2})
    assert json.loads(text) == {"a": [1.0, None], "b": {"c": None}, "d": 2}
    assert bad == ["a[1]", "b.c"]


def test_internal_errors_are_not_disguised(monkeypatch: pytest.MonkeyPatch) -> None:
    from pnmsim import api

    def boom(*a: object, **k: object) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(api, "simulate", boom)
    res = CliRunner().invoke(main, ["simulate", "--samples", "2"])
    assert res.exit_code == 1
    assert "internal error, please report" in res.stderr
    assert "ValueError" in res.stderr and __version__ in res.stderr
    assert "Traceback" not in res.output


# ----------------------------------------------------------------------------- checkpoints


def _embedded() -> dict[str, np.ndarray]:
    from importlib import resources

    p = Path(str(resources.files("pnmsim") / "data" / "mnist_cnn_trained.npz"))
    with np.load(p) as f:
        return {k: f[k] for k in f.files}


def _mutated(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    d = _embedded()
    change(d)
    p = tmp_path / "ck.npz"
    np.savez(p, **d)
    return p


def _set(d: dict, key: str, dtype: object, value: object) -> None:
    a = d[key].astype(dtype)
    a.flat[0] = value
    d[key] = a


@pytest.mark.parametrize("change, key", [
    (lambda d: _set(d, "w0", np.int8, -128), "w0"),       # abs(-128) overflows in int8
    (lambda d: _set(d, "w0", np.float32, 0.5), "w0"),     # astype(int8) would truncate to 0
    (lambda d: _set(d, "w1", np.float32, np.nan), "w1"),
    (lambda d: _set(d, "w0", np.int64, 2**40 + 1), "w0"),  # wraps to 1 in int8
    (lambda d: d.update(w0=d["w0"][:-1]), "w0"),
    (lambda d: d.pop("w2"), "w2"),
    (lambda d: d.update(w0=d["w0"].astype(bool)), "w0"),
    (lambda d: _set(d, "bn0.running_var", np.float32, -1.0), "bn0.running_var"),
    (lambda d: _set(d, "bn0.running_var", np.float32, 0.0), "bn0.running_var"),
    (lambda d: _set(d, "bn1.running_var", np.float32, np.nan), "bn1.running_var"),
    (lambda d: _set(d, "bn0.gamma", np.float32, np.inf), "bn0.gamma"),
    (lambda d: d.update({"bn0.beta": d["bn0.beta"][:3]}), "bn0.beta"),
])
def test_bad_checkpoint_values_are_refused(tmp_path: Path, change, key: str) -> None:  # type: ignore[no-untyped-def]
    p = _mutated(tmp_path, change)
    user_error(cli(["simulate", "--samples", "4", "--checkpoint", str(p)]), "ck.npz", key)


def test_exact_float_weights_are_accepted_like_int8(tmp_path: Path) -> None:
    p = _mutated(tmp_path, lambda d: d.update(w0=d["w0"].astype(np.float32)))
    a = cli(["simulate", "--samples", "8", "--format", "json", "--checkpoint", str(p)])
    b = cli(["simulate", "--samples", "8", "--format", "json"])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert json.loads(a.stdout)["phases"] == json.loads(b.stdout)["phases"]


def test_pickled_and_garbage_npz_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "pk.npz"
    np.savez(p, w0=np.array([{"a": 1}], dtype=object))
    with pytest.raises(PnmsimError, match="pk.npz"):
        load_npz(p)
    g = tmp_path / "g.npz"
    g.write_bytes(b"PK\x03\x04" + os.urandom(200))
    user_error(cli(["simulate", "--samples", "2", "--checkpoint", str(g)]), "g.npz")


# ----------------------------------------------------------------------------- resume metadata


def _tiny_dataset():  # type: ignore[no-untyped-def]
    from pnmsim.datasets import Dataset

    rng = np.random.default_rng(0)

    def part(n: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.uniform(-1, 1, (n, 1, 8, 8)).astype(np.float32), rng.integers(0, 4, n)

    (xt, yt), (xv, yv), (xs, ys) = part(40), part(10), part(10)
    return Dataset("synthetic8", xt, yt, xv, yv, xs, ys, classes=4)


def _trainer(out: Path, mode: str, epochs: int = 2):  # type: ignore[no-untyped-def]
    from pnmsim.training.trainer import Trainer, TrainSettings

    return Trainer(load_arch("reference"), load_workload("tiny_mlp"), _tiny_dataset(),
                   TrainSettings(mode=mode, epochs=epochs, batch_size=20), out)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for mode in ("software", "hardware"):
        d = tmp_path_factory.mktemp(mode)
        t = _trainer(d, mode, epochs=1)
        t.run()
        out[mode] = d
    return out


def _rewrite_meta(src: Path, dst: Path, change) -> None:  # type: ignore[no-untyped-def]
    with np.load(src / "checkpoint.npz") as f:
        d = {k: f[k] for k in f.files}
    meta = json.loads(d["trainer.meta"].tobytes())
    change(meta, d)
    d["trainer.meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8).copy()
    dst.mkdir(parents=True, exist_ok=True)
    np.savez(dst / "checkpoint.npz", **d)


@pytest.mark.parametrize("mode", ["software", "hardware"])
@pytest.mark.parametrize("change, key", [
    (lambda m, d: m.pop("epoch"), "epoch"),
    (lambda m, d: m.update(epoch="1"), "epoch"),
    (lambda m, d: m.update(epoch=-3), "epoch"),
    (lambda m, d: m.update(epoch=10**12), "epoch"),
    (lambda m, d: m.update(epoch=5), "epoch"),            # beyond --epochs 2
    (lambda m, d: m.update(log=[]), "log"),
    (lambda m, d: m.update(wall_s=float("nan")), "wall_s"),
    (lambda m, d: m.update(data_rng={"state": 1}), "data_rng"),
    (lambda m, d: m.update(settings=None), "trainer.meta"),
    (lambda m, d: d.update({"adam.t": np.array(-1)}), "adam.t"),
])
def test_malformed_resume_metadata_is_refused(trained: dict[str, Path], tmp_path: Path,
                                              mode: str, change, key: str) -> None:  # type: ignore[no-untyped-def]
    dst = tmp_path / "r"
    _rewrite_meta(trained[mode], dst, change)
    t = _trainer(dst, mode)
    with pytest.raises(PnmsimError) as e:
        t.load_checkpoint(dst)
    assert "checkpoint.npz" in str(e.value) and key in str(e.value)
    assert "\n" not in str(e.value)


def _sim_meta(d: dict, change) -> None:  # type: ignore[no-untyped-def]
    sm = json.loads(d["sim.meta"].tobytes())
    change(sm)
    d["sim.meta"] = np.frombuffer(json.dumps(sm).encode(), np.uint8).copy()


@pytest.mark.parametrize("change, key", [
    (lambda m, d: d.update({"backend.s1.0": np.full_like(d["backend.s1.0"], 2)}),
     "backend.s1.0"),
    (lambda m, d: d.update({"backend.s2.1": d["backend.s2.1"][:1]}), "backend.s2.1"),
    (lambda m, d: d.update({"backend.s1.0": 1 - d["backend.s1.0"]}), "backend.s1.0"),
    (lambda m, d: d.update({"backend.rng.0": np.frombuffer(b"{}", np.uint8).copy()}),
     "backend.rng.0"),
    (lambda m, d: _sim_meta(d, lambda sm: sm["chip"].update(counters=[])),
     "sim.meta.chip.counters"),
    (lambda m, d: _sim_meta(d, lambda sm: sm.update(tally=[["a", "b", "x"]])), "sim.meta.tally"),
    (lambda m, d: _sim_meta(d, lambda sm: sm.update(samples=-4)), "sim.meta.samples"),
])
def test_bad_physical_state_is_refused(trained: dict[str, Path], tmp_path: Path, change,
                                       key: str) -> None:  # type: ignore[no-untyped-def]
    dst = tmp_path / "r"
    _rewrite_meta(trained["hardware"], dst, change)
    with pytest.raises(PnmsimError, match=key.replace(".", r"\.")):
        _trainer(dst, "hardware").load_checkpoint(dst)


def test_good_checkpoint_still_resumes(trained: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "r"
    _rewrite_meta(trained["software"], dst, lambda m, d: None)
    t = _trainer(dst, "software")
    t.load_checkpoint(dst)
    assert t.epoch == 1


# ----------------------------------------------------------------------------- output folders


SIM = ["simulate", "reference", "tiny_mlp", "--dataset", "synthetic", "--samples", "4"]


def _snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", ["checkpoint.npz", "summary.json", "sweep.json",
                                  "compare.json", "pnmsim-run.json"])
@pytest.mark.parametrize("cmd", [
    SIM,
    ["compare", "reference", "--workload", "tiny_mlp", "--dataset", "synthetic", "--samples",
     "4"],
    ["sweep", "reference", "--vary", "array.tile_rows=64", "--workload", "tiny_mlp",
     "--dataset", "synthetic", "--samples", "4", "--jobs", "1"],
    ["train", "--mode", "software"],
])
def test_out_refuses_a_folder_holding_a_run(tmp_path: Path, kind: str, cmd: list[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    marker = {"pnmsim-run.json": json.dumps({"pnmsim_run": "train"})}
    (run / kind).write_text(marker.get(kind, "precious"))
    (run / "other.txt").write_text("keep")
    before = _snapshot(run)
    user_error(cli([*cmd, "--out", str(run)]), "--out", str(run))
    assert _snapshot(run) == before


def test_simulate_into_a_simulate_run_needs_force(tmp_path: Path) -> None:
    run = tmp_path / "a"
    assert cli([*SIM, "--out", str(run)]).exit_code == 0
    assert json.loads((run / "pnmsim-run.json").read_text())["pnmsim_run"] == "simulate"
    before = _snapshot(run)
    user_error(cli([*SIM, "--seed", "3", "--out", str(run)]), "--out", "simulate run")
    assert _snapshot(run) == before
    res = cli([*SIM, "--seed", "3", "--out", str(run), "--force"])
    assert res.exit_code == 0, res.output


def test_out_that_is_a_file_or_unwritable(tmp_path: Path) -> None:
    f = tmp_path / "file.txt"
    f.write_text("keep")
    user_error(cli([*SIM, "--out", str(f)]), "--out", "file.txt")
    assert f.read_text() == "keep"
    user_error(cli([*SIM, "--out", str(f / "sub")]), "--out")


def test_resume_into_another_out_is_refused(trained: dict[str, Path], tmp_path: Path) -> None:
    a = tmp_path / "a"
    before = _snapshot(trained["software"])
    user_error(cli(["train", "--resume", str(trained["software"]), "--out", str(a)]), "--out")
    assert _snapshot(trained["software"]) == before and not a.exists()
    user_error(cli(["train", "--resume", str(tmp_path)]), "--resume")


def test_empty_folder_and_failed_run_folder_are_usable(tmp_path: Path) -> None:
    run = tmp_path / "empty"
    run.mkdir()
    assert cli([*SIM, "--out", str(run)]).exit_code == 0
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "pnmsim-run.json").write_text('{"pnmsim_run": "simulate"}')
    assert cli([*SIM, "--out", str(tmp_path / "m")]).exit_code == 0


# ----------------------------------------------------------------------------- datasets


def _idx(path: Path, arr: np.ndarray) -> None:
    dims = arr.shape
    magic = 2051 if arr.ndim == 3 else 2049
    path.write_bytes(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims)
                     + arr.astype(np.uint8).tobytes())


def test_simulate_dataset_reads_only_the_test_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    d = tmp_path / "mnist"
    d.mkdir()
    _idx(d / "t10k-images-idx3-ubyte", rng.integers(0, 256, (20, 28, 28)))
    _idx(d / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 20))
    res = cli(["simulate", "--dataset", "mnist", "--data-dir", str(tmp_path), "--samples", "16",
               "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["samples"] == 16


def test_gzip_bomb_in_a_dataset_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    from pnmsim import safeload

    monkeypatch.setattr(safeload, "DATA_MAX_BYTES", 1 << 20)
    d = tmp_path / "mnist"
    d.mkdir()
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\0" * (8 << 20)))
    _idx(d / "t10k-labels-idx1-ubyte", np.zeros(3))
    user_error(cli(["simulate", "--dataset", "mnist", "--data-dir", str(tmp_path)]),
               "t10k-images")


# ----------------------------------------------------------------------------- resources


def test_memory_estimate_is_the_written_out_arithmetic() -> None:
    from pnmsim.resources import ACTIVATION_COPIES, FLOAT, per_sample_bytes

    w = load_workload("tiny_mlp")     # 64 -> dense 32 -> bn -> act -> dense 4 -> bn
    inputs, outputs, vectors = 64, 32 + 32 + 32 + 4 + 4, 64 + 32
    assert per_sample_bytes(w) == (inputs + outputs + vectors) * FLOAT * ACTIVATION_COPIES


def test_workload_too_big_for_memory_is_refused_before_allocation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PNMSIM_MEMORY_BUDGET_GB", "1")
    d = load_workload("tiny_mlp").to_dict()
    d["input"] = {"channels": 1, "height": 4096, "width": 4096}
    f = tmp_path / "big.yaml"
    f.write_text(yaml.safe_dump(d))
    user_error(cli(["simulate", "reference", str(f), "--dataset", "synthetic"]), "big.yaml",
               "(memory)")
    user_error(cli(["validate", str(f)]), "big.yaml", "(memory)")


# ----------------------------------------------------------------------------- package data


def test_presets_and_workloads_are_found_from_any_directory(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.chdir(tmp_path)
    assert (ARCH_DIR / "reference.yaml").is_file()
    res = cli(["validate", "reference"])
    assert res.exit_code == 0, res.output
    assert load_workload("mnist_cnn").name == "mnist_cnn"


def test_stdout_of_refusals_is_empty() -> None:
    res = cli(["validate", "nonexistent_preset"])
    assert res.exit_code == 2 and res.stdout == ""
    assert isinstance(io.StringIO, type)
