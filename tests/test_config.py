"""Strict YAML architecture config: presets load, every class of mistake gives a one-line error
naming the file, the key path, the bad value and what is allowed; overrides; dump round-trip;
the house rule that every number in a preset names its source."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from pnmsim import config
from pnmsim.config import (
    ARCH_DIR,
    ArchConfig,
    builtin_archs,
    dump_yaml,
    load_arch,
    parse_set,
    with_overrides,
)
from pnmsim.errors import ConfigError, PnmsimError

PARTS_DIR = ARCH_DIR / "parts"


# ----------------------------------------------------------------------------- helpers


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _reference_tree() -> dict:
    """The reference preset flattened into one mapping (parts merged, then its own keys)."""
    top = yaml.safe_load((ARCH_DIR / "reference.yaml").read_text())
    merged: dict = {}
    for p in top.pop("parts", []):
        merged = _deep_merge(merged, yaml.safe_load((ARCH_DIR / p).read_text()))
    return _deep_merge(merged, top)


def _set(tree: dict, path: str, value: Any) -> None:
    *head, last = path.split(".")
    node = tree
    for k in head:
        node = node[k]
    node[last] = value


def _delete(tree: dict, path: str) -> None:
    *head, last = path.split(".")
    node = tree
    for k in head:
        node = node[k]
    del node[last]


def _write(tmp_path: Path, tree: Any, name: str = "bad_preset.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(tree, sort_keys=False))
    return p


def _error(path: Path | str, overrides: list[str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as ei:
        load_arch(path, overrides=overrides or [])
    msg = str(ei.value)
    assert "\n" not in msg, "config errors are one line"
    return ei.value


def _assert_msg(err: ConfigError, *needles: str) -> None:
    msg = str(err)
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"


# ----------------------------------------------------------------------------- good presets


def test_reference_loads_with_its_values() -> None:
    cfg = load_arch()
    tree = _reference_tree()          # the YAML files, parsed and merged by the test itself
    assert isinstance(cfg, ArchConfig)
    assert cfg.name == "reference" == tree["name"]
    for section in ("mtj", "synapse", "array", "periphery", "update", "system"):
        sub = getattr(cfg, section)
        for key, value in tree[section].items():
            assert getattr(sub, key) == value, f"{section}.{key}"
    assert cfg.clock_mhz == tree["clock_mhz"]
    assert isinstance(cfg.array.tile_rows, int) and isinstance(cfg.mtj.r_parallel_ohm, float)
    for group, values in tree["circuits"].items():
        sub = getattr(cfg.circuits, group)
        for key, value in values.items():
            assert getattr(sub, key) == value, f"circuits.{group}.{key}"


def test_load_by_name_and_by_path_agree() -> None:
    assert load_arch("reference") == load_arch(ARCH_DIR / "reference.yaml")
    assert load_arch(None) == load_arch("reference")


def test_unknown_preset_name() -> None:
    err = _error("no_such_preset_xyz")
    _assert_msg(err, "no_such_preset_xyz", "reference")


def test_missing_preset_file(tmp_path: Path) -> None:
    err = _error(tmp_path / "absent.yaml")
    _assert_msg(err, "absent.yaml", "an existing YAML file")


@pytest.mark.parametrize("name", builtin_archs())
def test_every_builtin_preset_loads(name: str) -> None:
    cfg = load_arch(name)
    assert isinstance(cfg, ArchConfig)
    assert cfg.name
    # cross constraints hold
    assert cfg.array.tile_cols % cfg.periphery.adcs_per_tile == 0


def test_builtin_archs_lists_the_yaml_files() -> None:
    names = builtin_archs()
    assert "reference" in names
    assert names == sorted(p.stem for p in ARCH_DIR.glob("*.yaml"))


def test_flattened_reference_equals_composed(tmp_path: Path) -> None:
    """The test's own merge of parts + preset gives the same config as the loader's."""
    assert load_arch(_write(tmp_path, _reference_tree(), "flat.yaml")) == load_arch()


# ----------------------------------------------------------------------------- bad presets

# (key path, bad value, needles the message must contain besides file name and key path)
BAD_VALUES: list[tuple[str, Any, tuple[str, ...]]] = [
    ("mtj.tmr", "abc", ("'abc'", "a number")),                      # string for a number
    ("mtj.delta", True, ("True", "a number")),                       # bool for a number
    ("array.tile_rows", 128.5, ("128.5", "an integer")),             # float for an int
    ("array.tile_cols", True, ("True", "an integer")),               # bool for an int
    ("system.batch_size", "100", ("'100'", "an integer")),           # string for an int
    ("mtj.r_parallel_ohm", -2000.0, ("-2000.0", "> 0")),             # negative resistance
    ("mtj.r_parallel_ohm", 0, ("0", "> 0")),
    ("synapse.r_access_ohm", -1.0, ("-1.0", ">= 0")),
    ("mtj.tmr", 0.0, ("0.0", "> 0")),                                # tmr <= 0
    ("mtj.tmr", -0.5, ("-0.5", "> 0")),
    ("mtj.ic0_ua", 0.0, ("0.0", "> 0")),                             # ic0 <= 0
    ("mtj.ic0_ua", -50.0, ("-50.0", "> 0")),
    ("mtj.delta", -1.0, ("-1.0", "> 0")),
    ("array.tile_rows", 0, ("0", "> 0")),                            # zero-size tile
    ("array.tile_cols", 0, ("0", "> 0")),
    ("array.tile_rows", 5000, ("5000", "<= 4096")),
    ("clock_mhz", 0, ("0", "> 0")),                                  # clock 0
    ("clock_mhz", -1000.0, ("-1000.0", "> 0")),
    ("update.p_max", 1.5, ("1.5", "< 1")),                           # probability > 1
    ("update.p_max", 0.0, ("0.0", "> 0")),
    ("variation.ic0_sigma", -0.1, ("-0.1", ">= 0")),
    ("variation.tmr_sigma", 1.0, ("1.0", "< 1")),
    ("update.scheme", "foo", ("'foo'", "outer_product", "per_cell")),  # bad enum
    ("update.pulse_mapping", "tanh", ("'tanh'", "exact", "affine")),
    ("update.pulse_reference", "cell", ("'cell'", "fixed", "state")),
    ("synapse.zero_encoding", "ap", ("'ap'", "pp", "apap")),
    ("variation.distribution", "uniform", ("'uniform'", "lognormal", "normal")),
    ("update.affine_t0_ns", "x", ("'x'", "a number or null")),
    ("mtj", 5, ("5", "a mapping with keys", "r_parallel_ohm")),
    ("circuits", [1, 2], ("[1, 2]", "a mapping with keys", "converters")),
    ("circuits.converters.adc_fom_fj_per_step", -1.0, ("-1.0", "> 0")),
    ("circuits.converters.adc_sample_cycles", 1.5, ("1.5", "an integer")),
    ("circuits.sensing.amp_bias_uw_per_ff", -2.0, ("-2.0", ">= 0")),
    ("circuits.lines.cell_pitch_um", 0, ("0", "> 0")),
    ("circuits.digital.accumulator_bits", 0, ("0", "> 0")),
    ("array.max_analog_fanin", 0, ("0", "> 0")),
    ("mtj.tau_d_ns", float("inf"), ("inf", "a finite number")),
]


@pytest.mark.parametrize(("key", "value", "needles"), BAD_VALUES,
                         ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES])
def test_bad_value_rejected(tmp_path: Path, key: str, value: Any,
                            needles: tuple[str, ...]) -> None:
    tree = _reference_tree()
    _set(tree, key, value)
    err = _error(_write(tmp_path, tree))
    _assert_msg(err, "bad_preset.yaml", f": {key}: got ", *needles)
    assert err.key == key


def test_float_with_integer_value_accepted_for_int(tmp_path: Path) -> None:
    tree = _reference_tree()
    _set(tree, "array.tile_rows", 64.0)
    cfg = load_arch(_write(tmp_path, tree))
    assert cfg.array.tile_rows == 64 and isinstance(cfg.array.tile_rows, int)


def test_int_accepted_for_float(tmp_path: Path) -> None:
    tree = _reference_tree()
    _set(tree, "mtj.r_parallel_ohm", 2000)
    cfg = load_arch(_write(tmp_path, tree))
    assert cfg.mtj.r_parallel_ohm == 2000.0 and isinstance(cfg.mtj.r_parallel_ohm, float)


@pytest.mark.parametrize("key", ["bogus_top", "mtj.r_parallel_ohmm",
                                 "circuits.converters.adc_joules", "costs"])
def test_unknown_key(tmp_path: Path, key: str) -> None:
    tree = _reference_tree()
    _set(tree, key, 7)
    err = _error(_write(tmp_path, tree))
    _assert_msg(err, "bad_preset.yaml", f"{key}: got 7", "known keys")
    if key.startswith("mtj."):
        # the allowed list names the real keys of the section
        _assert_msg(err, "r_parallel_ohm", "tmr", "delta", "ic0_ua", "tau_d_ns", "tau0_ns")
    if key == "bogus_top":
        _assert_msg(err, "the preset", "clock_mhz", "mtj", "circuits")


@pytest.mark.parametrize("key", ["mtj.delta", "synapse.v_write_v", "array.tile_rows", "name",
                                 "circuits.sensing.comparator_fj", "update.scheme"])
def test_missing_required_value(tmp_path: Path, key: str) -> None:
    tree = _reference_tree()
    _delete(tree, key)
    err = _error(_write(tmp_path, tree))
    _assert_msg(err, "bad_preset.yaml", f"{key}: got '(missing)'", "a required value")


def test_missing_optional_value_takes_default(tmp_path: Path) -> None:
    tree = _reference_tree()
    _delete(tree, "mtj.tau0_ns")
    del tree["variation"]
    cfg = load_arch(_write(tmp_path, tree))
    assert cfg.mtj.tau0_ns == 1.0
    assert cfg.variation.r_parallel_sigma == 0.0


def test_malformed_yaml(tmp_path: Path) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("name: x\nmtj: [1, 2\nclock_mhz: 5\n")
    err = _error(p)
    _assert_msg(err, "broken.yaml", "line", "well-formed YAML")


@pytest.mark.parametrize("text", ["- a\n- b\n", "42\n", "just a string\n"])
def test_non_mapping_top_level(tmp_path: Path, text: str) -> None:
    p = tmp_path / "list.yaml"
    p.write_text(text)
    err = _error(p)
    _assert_msg(err, "list.yaml", "(top level)", "a mapping of keys")


def test_empty_file_is_missing_everything(tmp_path: Path) -> None:
    p = tmp_path / "empty.yaml"
    p.write_text("")
    err = _error(p)
    _assert_msg(err, "empty.yaml", "got '(missing)'", "a required value")


@pytest.mark.parametrize(("n", "needle"), [(7, "a divisor of array.tile_cols (128)"),
                                           (3, "a divisor of array.tile_cols (128)"),
                                           (256, "1..array.tile_cols (128)")])
def test_adcs_per_tile_must_divide_tile_cols(tmp_path: Path, n: int, needle: str) -> None:
    tree = _reference_tree()
    tree["periphery"]["adcs_per_tile"] = n
    err = _error(_write(tmp_path, tree))
    _assert_msg(err, "bad_preset.yaml", "periphery.adcs_per_tile", f"got {n}", needle)


def test_write_voltage_too_low_for_precessional_regime(tmp_path: Path) -> None:
    tree = _reference_tree()
    m, syn = tree["mtj"], tree["synapse"]
    # weakest series current: V / (2 R_AP + R_acc), R_AP = R_P (1 + TMR)
    r_weak = 2 * m["r_parallel_ohm"] * (1 + m["tmr"]) + syn["r_access_ohm"]
    v_bad = round(0.9 * m["ic0_ua"] * 1e-6 * r_weak, 3)
    v_ok = round(1.1 * m["ic0_ua"] * 1e-6 * r_weak, 3)
    tree["synapse"]["v_write_v"] = v_bad
    err = _error(_write(tmp_path, tree))
    _assert_msg(err, "bad_preset.yaml", "synapse.v_write_v", f"got {v_bad}",
                f"{v_bad / r_weak * 1e6:.1f} uA", "precessional")
    # 10 % above I_c0: accepted
    tree["synapse"]["v_write_v"] = v_ok
    assert load_arch(_write(tmp_path, tree, "ok.yaml")).synapse.v_write_v == v_ok
    # ... but not with a 3-sigma I_c0 spread of 10 % (I_c0 * 1.3)
    tree["variation"]["ic0_sigma"] = 0.1
    err = _error(_write(tmp_path, tree))
    _assert_msg(err, "synapse.v_write_v", "precessional")


def test_affine_params_both_or_neither(tmp_path: Path) -> None:
    tree = _reference_tree()
    tree["update"]["pulse_mapping"] = "affine"
    tree["update"]["pulse_reference"] = "fixed"
    tree["update"]["affine_t0_ns"] = 1.0
    err = _error(_write(tmp_path, tree))
    _assert_msg(err, "bad_preset.yaml", "update.affine_k_ns", "both")


def test_reference_uses_state_aware_exact_pulses() -> None:
    up = load_arch().update
    assert (up.scheme, up.pulse_mapping, up.pulse_reference) == ("per_cell", "exact", "state")
    op = load_arch("outer_product").update
    assert (op.scheme, op.pulse_mapping, op.pulse_reference) == ("outer_product", "exact",
                                                                  "fixed")


def test_pulse_reference_defaults_to_fixed(tmp_path: Path) -> None:
    tree = _reference_tree()
    _delete(tree, "update.pulse_reference")
    assert load_arch(_write(tmp_path, tree, "ok.yaml")).update.pulse_reference == "fixed"


def test_state_reference_needs_exact_mapping(tmp_path: Path) -> None:
    tree = _reference_tree()
    tree["update"]["pulse_mapping"] = "affine"
    tree["update"]["pulse_reference"] = "state"
    err = _error(_write(tmp_path, tree))
    _assert_msg(err, "bad_preset.yaml", "update.pulse_reference: got 'state'", "allowed: fixed",
                "pulse_mapping is exact")
    assert err.key == "update.pulse_reference"
    # the same through --set, on the preset (the error names the file that set the key) and
    # on an already loaded config
    err = _error("reference", ["update.pulse_mapping=affine"])
    _assert_msg(err, "periphery_reference.yaml", "update.pulse_reference: got 'state'",
                "allowed: fixed", "pulse_mapping is exact")
    with pytest.raises(ConfigError, match=r"update\.pulse_reference: got 'state'; allowed: fixed"):
        with_overrides(load_arch(), ["update.pulse_mapping=affine"])
    # and it is the reference that is wrong, not the mapping: with fixed, affine loads
    ok = load_arch("reference", ["update.pulse_mapping=affine", "update.pulse_reference=fixed"])
    assert (ok.update.pulse_mapping, ok.update.pulse_reference) == ("affine", "fixed")


def test_state_reference_forbidden_with_outer_product(tmp_path: Path) -> None:
    tree = _reference_tree()
    tree["update"]["scheme"] = "outer_product"
    tree["update"]["pulse_mapping"] = "exact"      # the mapping state allows: only the scheme
    tree["update"]["pulse_reference"] = "state"
    err = _error(_write(tmp_path, tree))
    _assert_msg(err, "bad_preset.yaml", "update.pulse_reference: got 'state'", "allowed: fixed",
                "outer_product")
    assert err.key == "update.pulse_reference"
    err = _error("outer_product", ["update.pulse_mapping=exact", "update.pulse_reference=state"])
    _assert_msg(err, "--set", "update.pulse_reference: got 'state'", "allowed: fixed",
                "outer_product")
    err = _error("reference", ["update.scheme=outer_product"])
    _assert_msg(err, "periphery_reference.yaml", "update.pulse_reference: got 'state'",
                "allowed: fixed", "outer_product")
    # fixed with outer_product and exact mapping is fine
    ok = load_arch("outer_product", ["update.pulse_mapping=exact"])
    assert (ok.update.scheme, ok.update.pulse_reference) == ("outer_product", "fixed")


def test_parts_cycle(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("parts: [b.yaml]\nname: a\n")
    (tmp_path / "b.yaml").write_text("parts: [a.yaml]\nclock_mhz: 1.0\n")
    err = _error(tmp_path / "a.yaml")
    _assert_msg(err, "parts", "cycles")


def test_self_cycle(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("parts: [a.yaml]\nname: a\n")
    _assert_msg(_error(tmp_path / "a.yaml"), "a.yaml", "parts", "cycles")


def test_parts_must_be_list_of_paths(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("parts: parts/mtj.yaml\nname: a\n")
    _assert_msg(_error(tmp_path / "a.yaml"), "a.yaml", "parts", "a list of YAML paths")


def test_missing_part_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("parts: [nowhere.yaml]\nname: a\n")
    _assert_msg(_error(tmp_path / "a.yaml"), "nowhere.yaml", "an existing YAML file")


def _preset_with_copied_parts(tmp_path: Path) -> tuple[Path, Path]:
    """reference.yaml and its parts copied into tmp_path (relative parts: paths kept)."""
    shutil.copytree(PARTS_DIR, tmp_path / "parts")
    preset = tmp_path / "my_preset.yaml"
    shutil.copy(ARCH_DIR / "reference.yaml", preset)
    return preset, tmp_path / "parts" / "mtj_reference.yaml"


def test_copied_preset_loads(tmp_path: Path) -> None:
    preset, _ = _preset_with_copied_parts(tmp_path)
    assert load_arch(preset) == load_arch()


def test_absolute_part_paths(tmp_path: Path) -> None:
    top = yaml.safe_load((ARCH_DIR / "reference.yaml").read_text())
    top["parts"] = [str((ARCH_DIR / p).resolve()) for p in top["parts"]]
    assert load_arch(_write(tmp_path, top, "abs.yaml")) == load_arch()


@pytest.mark.parametrize(("edit", "key", "needles"), [
    ({"r_parallel_ohmm": 5.0}, "mtj.r_parallel_ohmm", ("known keys",)),
    ({"tmr": -1.0}, "mtj.tmr", ("> 0",)),
    ({"delta": "high"}, "mtj.delta", ("'high'", "a number")),
])
def test_error_names_the_part_file(tmp_path: Path, edit: dict, key: str,
                                   needles: tuple[str, ...]) -> None:
    preset, part = _preset_with_copied_parts(tmp_path)
    tree = yaml.safe_load(part.read_text())
    tree["mtj"].update(edit)
    part.write_text(yaml.safe_dump(tree))
    err = _error(preset)
    _assert_msg(err, "mtj_reference.yaml", key, *needles)
    assert "my_preset.yaml" not in str(err)


def test_missing_key_in_part_names_part_file(tmp_path: Path) -> None:
    preset, part = _preset_with_copied_parts(tmp_path)
    tree = yaml.safe_load(part.read_text())
    del tree["mtj"]["delta"]
    part.write_text(yaml.safe_dump(tree))
    err = _error(preset)
    _assert_msg(err, "mtj_reference.yaml", "mtj.delta", "(missing)")


def test_preset_override_of_part_value_names_preset(tmp_path: Path) -> None:
    preset, _ = _preset_with_copied_parts(tmp_path)
    preset.write_text(preset.read_text() + "mtj:\n  tmr: -1.0\n")
    err = _error(preset)
    _assert_msg(err, "my_preset.yaml", "mtj.tmr", "-1.0", "> 0")
    assert "mtj_reference.yaml" not in str(err)


def test_preset_overrides_part_value(tmp_path: Path) -> None:
    preset, _ = _preset_with_copied_parts(tmp_path)
    preset.write_text(preset.read_text() + "mtj:\n  tmr: 2.0\n")
    cfg = load_arch(preset)
    assert cfg.mtj.tmr == 2.0
    assert cfg.mtj.delta == 60.0    # the rest of the part is kept


# ----------------------------------------------------------------------------- --set overrides


def test_valid_override_changes_value() -> None:
    base = load_arch()
    cfg = load_arch("reference", overrides=["mtj.tmr=2.0", "update.scheme=per_cell",
                                            "array.tile_rows=64", "update.affine_t0_ns=1.5",
                                            "update.affine_k_ns=2",
                                            "circuits.converters.adc_fom_fj_per_step=3"])
    assert cfg.mtj.tmr == 2.0
    assert cfg.update.scheme == "per_cell"
    assert cfg.array.tile_rows == 64
    assert (cfg.update.affine_t0_ns, cfg.update.affine_k_ns) == (1.5, 2.0)
    assert cfg.circuits.converters.adc_fom_fj_per_step == 3.0
    assert cfg.circuits.converters.dac_fj_per_level == \
        base.circuits.converters.dac_fj_per_level   # sibling kept
    assert cfg.mtj.delta == base.mtj.delta
    assert cfg.array.tile_cols == base.array.tile_cols


def test_override_unknown_key_lists_allowed() -> None:
    err = _error("reference", ["mtj.nope=1"])
    _assert_msg(err, "--set", "mtj.nope", "got 1", "known keys of mtj", "r_parallel_ohm", "tmr",
                "delta", "ic0_ua", "tau_d_ns", "tau0_ns")
    err = _error("reference", ["nope=1"])
    _assert_msg(err, "--set", "known keys of the preset", "mtj", "clock_mhz")


def test_override_bad_value_rejected() -> None:
    err = _error("reference", ["mtj.tmr=-1"])
    _assert_msg(err, "--set", "mtj.tmr", "-1", "> 0")
    err = _error("reference", ["update.scheme=foo"])
    _assert_msg(err, "--set", "update.scheme", "'foo'", "outer_product")
    err = _error("reference", ["mtj.tmr=abc"])
    _assert_msg(err, "--set", "mtj.tmr", "'abc'", "a number")


def test_override_past_a_leaf_rejected() -> None:
    err = _error("reference", ["mtj.tmr.x=1"])
    _assert_msg(err, "--set", "mtj.tmr.x", "a path ending at mtj.tmr")


@pytest.mark.parametrize("item", ["mtj.tmr", "", "=3", "mtj..tmr=1", ".tmr=1"])
def test_parse_set_malformed(item: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_set(item)
    _assert_msg(ei.value, "--set", "key.path=value")


def test_parse_set_values() -> None:
    assert parse_set("mtj.tmr=2.5") == ("mtj.tmr", 2.5)
    assert parse_set("array.tile_rows=64") == ("array.tile_rows", 64)
    assert parse_set(" update.scheme = per_cell") == ("update.scheme", "per_cell")
    assert parse_set("update.affine_t0_ns=null") == ("update.affine_t0_ns", None)
    assert parse_set("description=a=b") == ("description", "a=b")
    assert parse_set("description=") == ("description", "")


def test_with_overrides_revalidates() -> None:
    base = load_arch()
    cfg = with_overrides(base, ["synapse.zero_encoding=apap", "variation.ic0_sigma=0.05"])
    assert cfg.synapse.zero_encoding == "apap"
    assert cfg.variation.ic0_sigma == 0.05
    assert base.synapse.zero_encoding == "pp"       # the original is untouched (frozen)
    assert with_overrides(base, []) == base
    with pytest.raises(ConfigError, match="mtj.tmr"):
        with_overrides(base, ["mtj.tmr=0"])
    with pytest.raises(ConfigError, match="synapse.v_write_v"):
        with_overrides(base, ["synapse.v_write_v=0.01"])


def test_config_is_frozen() -> None:
    cfg = load_arch()
    with pytest.raises(AttributeError):
        cfg.mtj.tmr = 3.0  # type: ignore[misc]


def test_config_error_is_user_error() -> None:
    e = ConfigError("f.yaml", "a.b", 3, "x")
    assert isinstance(e, PnmsimError)
    assert str(e) == "f.yaml: a.b: got 3; allowed: x"


# ----------------------------------------------------------------------------- dump round trip


@pytest.mark.parametrize("name", builtin_archs())
def test_dump_yaml_round_trip(tmp_path: Path, name: str) -> None:
    cfg = load_arch(name)
    p = tmp_path / "dumped.yaml"
    p.write_text(dump_yaml(cfg))
    assert load_arch(p) == cfg


def test_dump_yaml_round_trip_with_overrides(tmp_path: Path) -> None:
    cfg = load_arch(overrides=["update.affine_t0_ns=0.5", "update.affine_k_ns=4",
                               "synapse.zero_encoding=apap", "variation.tmr_sigma=0.05"])
    p = tmp_path / "dumped.yaml"
    p.write_text(dump_yaml(cfg))
    assert load_arch(p) == cfg


def test_describe_schema_covers_every_leaf() -> None:
    keys = {k for k, _, _ in config.describe_schema()}
    assert {"mtj.r_parallel_ohm", "update.p_max", "array.tile_rows", "clock_mhz",
            "circuits.converters.adc_fom_fj_per_step", "array.max_analog_fanin"} <= keys
    assert all(doc for _, _, doc in config.describe_schema())


# ----------------------------------------------------------------------------- house rule

_NUMERIC_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def _numeric_scalars(node: yaml.Node) -> list[yaml.ScalarNode]:
    if isinstance(node, yaml.ScalarNode):
        return [node] if node.tag in _NUMERIC_TAGS else []
    if isinstance(node, yaml.MappingNode):
        return [n for _, v in node.value for n in _numeric_scalars(v)]
    if isinstance(node, yaml.SequenceNode):
        return [n for v in node.value for n in _numeric_scalars(v)]
    return []


ALL_YAML = sorted(ARCH_DIR.rglob("*.yaml"))


@pytest.mark.parametrize("path", ALL_YAML, ids=[str(p.relative_to(ARCH_DIR)) for p in ALL_YAML])
def test_every_number_names_its_source(path: Path) -> None:
    text = path.read_text()
    lines = text.splitlines()
    root = yaml.compose(text)
    assert root is not None
    bad = []
    for node in _numeric_scalars(root):
        line = lines[node.start_mark.line]
        if "#" not in line[node.end_mark.column:]:
            bad.append(f"{path.name}:{node.start_mark.line + 1}: {line.strip()}")
    assert not bad, "numbers without a source comment:\n" + "\n".join(bad)


def test_house_rule_check_detects_missing_comment() -> None:
    """The checker above is not vacuous."""
    root = yaml.compose("a: 1  # src\nb: {x: 2.5}\nc: text\n")
    nums = _numeric_scalars(root)
    assert [n.value for n in nums] == ["1", "2.5"]
