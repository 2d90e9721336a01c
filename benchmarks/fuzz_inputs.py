"""Adversarial fuzzing of pnmsim's inputs and outputs through its command line.

Generates (seeded) about 2000 cases -- hostile presets, ``--set`` values, workloads, YAML bombs,
special files, checkpoints, dataset files, option values and output folders -- plus valid
controls, runs each through the CLI in-process (click's CliRunner) under a per-case time limit,
and classifies the outcome:

* ``clean-refusal``: an invalid input refused with exit 2 and one ``error:`` line naming the
  file or option;
* ``accepted``: a valid input that ran (exit 0);
* ``traceback``: a traceback or an internal error (exit 1) -- a bug;
* ``hang``: the case ran past its time limit;
* ``silent-accept``: an invalid input that exited 0;
* ``refused-valid``: a valid input that did not exit 0;
* ``vague-refusal``: exit 2 but the message does not name the file/option or is not one line;
* ``data-loss``: a folder holding an earlier run changed.

    python benchmarks/fuzz_inputs.py [--seed 0] [--cases 2000] [--show 5]

MNIST (``$PNMSIM_DATA_DIR``) enables the dataset and ``train --resume`` cases; without it those
classes are skipped (and reported as such).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import io
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from click.testing import CliRunner

from pnmsim.cli import main
from pnmsim.config import ARCH_DIR, load_arch_tree

BAD_NUMBERS: list[Any] = [float("nan"), float("inf"), float("-inf"), 10**400, -(10**400),
                          10**30, -(10**30), 1e308 * 10, "abc", [1, 2], {"a": 1}, None, True]
BAD_TEXT = [".nan", ".inf", "-.inf", "1" + "0" * 400, "1e999", "[1, 2]", "{a: 1}", "abc", "~",
            "true", "1" * 5000, "0x" + "f" * 100]


class Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Timeout()


@dataclass
class Case:
    cls: str                      # the input class (for the table)
    args: list[str]
    valid: bool | None            # expected to be accepted (None: either, but cleanly)
    needle: str = ""              # a refusal must name this (file or option)
    guard: list[Path] = field(default_factory=list)   # folders that must not change
    timeout: float = 20.0
    json_out: bool = False        # stdout must be strict JSON


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    if not folder.exists():
        return "absent"
    for p in sorted(folder.rglob("*")):
        if p.name.endswith(".tmp"):
            continue
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def run_case(runner: CliRunner, case: Case) -> tuple[str, str]:
    before = {g: _digest(g) for g in case.guard}
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, case.timeout)
    t0 = time.perf_counter()
    try:
        res = runner.invoke(main, case.args, catch_exceptions=True)
    except Timeout:
        return "hang", f"> {case.timeout:.0f} s"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if isinstance(res.exception, Timeout):
        return "hang", f"> {case.timeout:.0f} s"
    dt = time.perf_counter() - t0
    err = getattr(res, "stderr", "") or ""
    out = res.stdout or ""
    text = out + err
    for g, d in before.items():
        if _digest(g) != d:
            return "data-loss", f"{g} changed (exit {res.exit_code})"
    if ("Traceback" in text or "internal error" in text or res.exit_code not in (0, 2)
            or (res.exception is not None and not isinstance(res.exception, SystemExit))):
        return "traceback", (text.strip().splitlines() or [repr(res.exception)])[-1][:200]
    if case.valid is None and res.exit_code == 0:
        return "accepted", f"{dt:.2f} s"
    if case.valid:
        if res.exit_code != 0:
            return "refused-valid", err.strip()[:200]
        if case.json_out:
            try:
                json.loads(out, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
            except ValueError as e:
                return "silent-accept", f"invalid JSON ({e})"
        return "accepted", f"{dt:.2f} s"
    if res.exit_code == 0:
        return "silent-accept", out.strip()[:120]
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    if len(lines) != 1 or not lines[0].startswith("error:") or (case.needle and
                                                                  case.needle not in lines[0]):
        return "vague-refusal", " | ".join(lines)[:200]
    return "clean-refusal", lines[0][:200]


# ----------------------------------------------------------------------------- generators


def _leaf_paths(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _leaf_paths(v, f"{prefix}{k}.")
    else:
        out.append((prefix[:-1], tree))
    return out


def _set_path(tree: dict, path: str, value: Any) -> None:
    node = tree
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, width=1 << 20)


class Gen:
    def __init__(self, rng: random.Random, tmp: Path, data_dir: Path | None) -> None:
        self.rng, self.tmp, self.data_dir = rng, tmp, data_dir
        tree, _ = load_arch_tree("reference")
        tree.pop("source", None)
        self.tree = tree
        self.numeric = [(p, v) for p, v in _leaf_paths(tree)
                        if isinstance(v, (int, float)) and not isinstance(v, bool)]
        self.n = 0

    def file(self, text: str | bytes, suffix: str = ".yaml") -> Path:
        self.n += 1
        p = self.tmp / f"f{self.n}{suffix}"
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        return p

    # presets with one hostile number
    def preset_number(self) -> Case:
        path, v = self.rng.choice(self.numeric)
        bad = self.rng.choice(BAD_NUMBERS)
        t = copy.deepcopy(self.tree)
        _set_path(t, path, bad)
        text = _dump(t).replace("null", ".nan") if isinstance(bad, float) else _dump(t)
        f = self.file(text)
        return Case("preset number", ["validate", str(f)], False, f.name)

    def preset_valid(self) -> Case:
        path, v = self.rng.choice(self.numeric)
        t = copy.deepcopy(self.tree)
        if isinstance(v, int) and self.rng.random() < 0.5:
            _set_path(t, path, float(v))          # 128.0 for an integer key is still 128
        f = self.file(_dump(t))
        return Case("preset valid", ["validate", str(f)], True)

    def set_value(self) -> Case:
        path, _ = self.rng.choice(self.numeric)
        raw = self.rng.choice(BAD_TEXT)
        return Case("--set number", ["validate", "reference", "--set", f"{path}={raw}"], False,
                    "--set" if False else path)

    def set_extreme(self) -> Case:
        """An in-schema but extreme value run through simulate: accepted or refused, cleanly."""
        path, v = self.rng.choice(self.numeric)
        val = self.rng.choice(["1e-300", "1e-30", "1e-9", "0.5", "1", "2", "7", "1e5", "1e9",
                               "1e14", "9e14", "2147483647", "4096", "0", "-0.0", "1e-320"])
        cmd = self.rng.choice([
            ["simulate", "reference", "tiny_mlp", "--dataset", "synthetic", "--samples", "4"],
            ["simulate", "reference", "tiny_cnn", "--dataset", "synthetic", "--samples", "3",
             "--fine", "--format", "json"],
            ["device", "reference", "--points", "5"],
            ["costs", "reference", "--format", "json"],
            ["compare", "reference", "--workload", "tiny_mlp", "--dataset", "synthetic",
             "--samples", "2", "--format", "json"]])
        return Case("extreme value", [*cmd, "--set", f"{path}={val}"], None, path, timeout=90,
                    json_out="json" in cmd)

    def vary(self) -> Case:
        path, _ = self.rng.choice(self.numeric)
        vals = self.rng.choice(["nan,1", "inf", "1e400,2", "abc", "1,1", "", ",", "[1],2",
                                "{a: 1}", "1e999", "-1"])
        return Case("--vary value", ["sweep", "reference", "--vary", f"{path}={vals}",
                                     "--workload", "tiny_mlp", "--dataset", "synthetic",
                                     "--samples", "4", "--jobs", "1"], False, path,
                    timeout=60)

    def set_bomb(self) -> Case:
        raw = self.rng.choice(["[&a [1,1,1,1,1,1,1,1,1], [*a,*a,*a,*a,*a,*a,*a,*a,*a]]",
                               "[" * 5000 + "]" * 5000, "&a [*a]", "{a: 1, a: 2}",
                               "!!python/object/apply:os.system ['true']", "1" * 6000])
        key = self.rng.choice(["name", "clock_mhz", "mtj", "circuits.lines"])
        return Case("--set yaml", ["validate", "reference", "--set", f"{key}={raw}"],
                    None if key == "name" else False, "--set", timeout=10)

    def nested_type(self) -> Case:
        t = copy.deepcopy(self.tree)
        key = self.rng.choice(["mtj", "circuits", "array", "update", "circuits.lines",
                               "circuits.digital", "variation"])
        _set_path(t, key, self.rng.choice([5, "x", [1, 2], None, {"zzz": 1}]))
        f = self.file(_dump(t))
        return Case("preset type", ["validate", str(f)], False, f.name)

    def train_extreme(self) -> Case | None:
        """Training with extreme (but maybe valid) settings: accepted or refused, cleanly."""
        if self.data_dir is None:
            return None
        extra = self.rng.choice([
            ["--batch-size", "1000000000"], ["--val-size", "0"], ["--train-limit", "1"],
            ["--test-limit", "1"], ["--lr", "1e6"], ["--lr", "1e-300"],
            ["--lr-end", "1e5"], ["--batch-size", "1"],
            ["--set", f"{self.rng.choice(self.numeric)[0]}={self.rng.choice(['1e-300', '9e14'])}"],
            ["--val-size", "100000"], ["--format", "json", "--val-size", "0"]])
        mode = self.rng.choice(["software", "software", "hardware"])
        return Case("train extreme", ["train", "reference", "mnist_mlp", "--mode", mode,
                                      "--epochs", "1", "--train-limit", "60", "--test-limit",
                                      "30", "--val-size", "20", "--data-dir",
                                      str(self.data_dir), *extra], None, extra[0],
                    timeout=120, json_out="json" in extra)

    def compare_case(self) -> Case:
        arch = self.rng.choice(["nonexistent", "/dev/null", "reference", "tile256"])
        return Case("compare arch", ["compare", "reference", arch, "--workload", "tiny_mlp",
                                     "--dataset", "synthetic", "--samples", "4", "--format",
                                     self.rng.choice(["json", "csv", "table"])],
                    arch in ("reference", "tile256"), arch, timeout=120)

    def set_valid(self) -> Case:
        choice = self.rng.choice([("name", "123"), ("name", "'123'"), ("description", "1e5"),
                                  ("name", "true"), ("description", "null"),
                                  ("array.tile_rows", "64"), ("array.tile_rows", "64.0"),
                                  ("update.lr", "1e-3"), ("clock_mhz", "1000")])
        return Case("--set valid", ["validate", "reference", "--set", "=".join(choice)], True)

    def set_unknown(self) -> Case:
        key = self.rng.choice(["nokey", "mtj.nokey", "mtj.tmr.deeper", "circuits.nope.x",
                               ".x", "a..b", "", "array"])
        return Case("--set key", ["validate", "reference", "--set", f"{key}=1"], False)

    def yaml_bomb(self) -> Case:
        kind = self.rng.choice(["laughs", "deep_list", "deep_map", "dup", "recursive", "bigint",
                                "binary", "nul", "latin1", "list_top", "huge", "tabs",
                                "anchors_many", "merge_bomb"])
        if kind == "laughs":
            lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
            for i in range(1, self.rng.randint(6, 12)):
                lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
            text = "\n".join(lines) + "\nname: x\n"
        elif kind == "deep_list":
            d = self.rng.choice([100, 1000, 50000])
            text = "name: " + "[" * d + "]" * d + "\n"
        elif kind == "deep_map":
            d = self.rng.choice([100, 3000])
            text = "name: " + "{a: " * d + "1" + "}" * d + "\n"
        elif kind == "dup":
            text = _dump(self.tree) + "clock_mhz: -5\n"
            text = "clock_mhz: -5\n" + text
        elif kind == "recursive":
            text = "a: &a [*a]\nname: x\n"
        elif kind == "bigint":
            text = _dump(self.tree).replace("clock_mhz: 1000", "clock_mhz: 1" + "0" * 5000)
        elif kind == "binary":
            text = bytes(self.rng.getrandbits(8) for _ in range(256))  # type: ignore[assignment]
        elif kind == "nul":
            text = "name: a\x00b\n"
        elif kind == "latin1":
            text = "name: caf\xe9\n".encode("latin-1")  # type: ignore[assignment]
        elif kind == "list_top":
            text = "- 1\n- 2\n"
        elif kind == "huge":
            text = "name: x\ndescription: '" + "x" * (2 << 20) + "'\n"
        elif kind == "tabs":
            text = "name:\tx\n\tmtj: 1\n"
        elif kind == "anchors_many":
            text = "a: &a 1\nb: [" + ", ".join(["*a"] * 500) + "]\n"
        else:
            text = "a: &a {x: 1}\nb:\n  <<: *a\n  <<: *a\n"
        f = self.file(text)
        return Case(f"yaml {kind}", ["validate", str(f)], False, f.name)

    def parts_attack(self) -> Case:
        kind = self.rng.choice(["dev_zero", "fifo", "dir", "loop", "chain", "cycle", "absent",
                                "abs_devnull", "empty_str", "not_list"])
        d = self.tmp / f"parts{self.n}"
        self.n += 1
        d.mkdir()
        top = d / "top.yaml"
        if kind == "dev_zero":
            top.write_text("parts: [/dev/zero]\nname: x\n")
        elif kind == "abs_devnull":
            top.write_text("parts: [/dev/null]\nname: x\n")
        elif kind == "fifo":
            os.mkfifo(d / "fifo.yaml")
            top.write_text("parts: [fifo.yaml]\nname: x\n")
        elif kind == "dir":
            (d / "sub.yaml").mkdir()
            top.write_text("parts: [sub.yaml]\nname: x\n")
        elif kind == "loop":
            os.symlink(d / "l1.yaml", d / "l2.yaml")
            os.symlink(d / "l2.yaml", d / "l1.yaml")
            top.write_text("parts: [l1.yaml]\nname: x\n")
        elif kind == "chain":
            n = self.rng.choice([40, 1500])
            for i in range(n):
                (d / f"p{i}.yaml").write_text(f"parts: [p{i + 1}.yaml]\n" if i < n - 1 else "{}")
            top.write_text("parts: [p0.yaml]\nname: x\n")
        elif kind == "cycle":
            (d / "a.yaml").write_text("parts: [top.yaml]\n")
            top.write_text("parts: [a.yaml]\nname: x\n")
        elif kind == "absent":
            top.write_text("parts: [nothere.yaml]\nname: x\n")
        elif kind == "empty_str":
            top.write_text("parts: ['']\nname: x\n")
        else:
            top.write_text("parts: {a: 1}\nname: x\n")
        return Case(f"parts {kind}", ["validate", str(top)], False, "yaml", timeout=10)

    def special_file(self) -> Case:
        kind = self.rng.choice(["/dev/zero", "/dev/null", "dir", "fifo", "loop"])
        if kind == "dir":
            p = self.tmp / f"d{self.n}.yaml"
            p.mkdir()
        elif kind == "fifo":
            p = self.tmp / f"fifo{self.n}.yaml"
            os.mkfifo(p)
        elif kind == "loop":
            p = self.tmp / f"loop{self.n}.yaml"
            os.symlink(p, p)
        else:
            p = Path(kind)
        self.n += 1
        cmd = self.rng.choice([["validate", str(p)], ["simulate", str(p), "--samples", "2"],
                               ["simulate", "reference", str(p), "--samples", "2"],
                               ["simulate", "--samples", "2", "--checkpoint", str(p)],
                               ["fit-device", str(p)],
                               ["timeline", str(p), "--out", str(self.tmp / "t.png")]])
        return Case(f"special {kind.strip('/').replace('dev/', '')}", cmd, False, p.name,
                    timeout=10)

    def workload(self) -> Case:
        base = yaml.safe_load((ARCH_DIR.parent / "traces" / "tiny_cnn.yaml").read_text()
                              if (ARCH_DIR.parent / "traces").is_dir() else "{}")
        from pnmsim.workload import load_workload
        base = load_workload("tiny_cnn").to_dict()
        kind = self.rng.choice(["huge_input", "neg", "float", "str", "huge_units", "bigint",
                                "no_layers", "valid_mtj", "valid", "huge_channels"])
        valid = kind in ("valid", "valid_mtj")
        if kind == "huge_input":
            base["input"] = {"channels": 1, "height": 100000, "width": 100000}
        elif kind == "huge_channels":
            base["input"]["channels"] = 4096
            base["layers"][0]["out_channels"] = 65536
        elif kind == "neg":
            base["layers"][0]["kernel"] = -3
        elif kind == "float":
            base["layers"][0]["kernel"] = 2.5
        elif kind == "str":
            base["classes"] = "four"
        elif kind == "huge_units":
            base["layers"][-2]["units"] = 10**12
        elif kind == "bigint":
            base["layers"][0]["out_channels"] = 10**400
        elif kind == "no_layers":
            base["layers"] = []
        elif kind == "valid_mtj":
            base["source"] = "a network for mtj crossbars (mtj: yes)"
        f = self.file(_dump(base))
        cmd = self.rng.choice([["validate", str(f)],
                               ["simulate", "reference", str(f), "--dataset", "synthetic",
                                "--samples", "4"]])
        return Case(f"workload {kind}", cmd, valid, f.name, timeout=60)

    def options(self) -> Case:
        opt = self.rng.choice([
            (["device", "--current-ua"], ["nan", "inf", "-1", "0", "-inf", "1e400", "x"]),
            (["device", "--pulse-ns-max"], ["nan", "inf", "0", "-5", "1e400"]),
            (["device", "--points"], ["1", "0", "-4", "1e9", "x"]),
            (["simulate", "--samples"], ["0", "-1", "nan", "1e3", "99999999"]),
            (["simulate", "--seed"], ["-1", "nan", "x", str(2**80)]),
            (["train", "--lr"], ["nan", "inf", "0", "-0.1"]),
            (["train", "--lr-end"], ["nan", "-inf", "0"]),
            (["train", "--epochs"], ["0", "-1", "nan"]),
            (["sweep", "reference", "--vary", "array.tile_rows=64", "--lr"], ["nan", "inf", "0"]),
            (["simulate", "--format"], ["xml", "JSON", ""]),
            (["simulate", "--dataset"], ["imagenet", "../etc", ""]),
        ])
        head, values = opt
        flag = head[-1]
        return Case(f"option {head[0]} {flag}", [*head, self.rng.choice(values)], False, flag,
                    timeout=30)

    def options_valid(self) -> Case:
        args = self.rng.choice([
            ["device", "--current-ua", "150"], ["device", "--pulse-ns-max", "5", "--points", "5"],
            ["validate", "mnist_cnn"], ["validate", "tiny_cnn"], ["validate", "reference"],
            ["simulate", "reference", "tiny_mlp", "--dataset", "synthetic", "--samples", "8",
             "--format", "json"],
            ["simulate", "--samples", "16", "--format", "json"],
        ])
        return Case("option valid", args, True, json_out="json" in args, timeout=120)


def _checkpoint_cases(g: Gen, n: int) -> list[Case]:
    from importlib import resources
    src = Path(str(resources.files("pnmsim") / "data" / "mnist_cnn_trained.npz"))
    with np.load(src) as f:
        base = {k: f[k] for k in f.files}
    mutations = ["m128", "float_half", "nan", "shape", "missing", "var_neg", "var_nan",
                 "gamma_inf", "str", "garbage", "empty", "pickle", "bool", "float_exact",
                 "valid", "complex", "w_big"]
    out = []
    for i in range(n):
        kind = mutations[i % len(mutations)]
        d = {k: v.copy() for k, v in base.items()}
        valid = kind in ("valid", "float_exact")
        p = g.tmp / f"ck{i}.npz"
        if kind == "m128":
            d["w0"] = d["w0"].astype(np.int8)
            d["w0"].flat[g.rng.randrange(d["w0"].size)] = -128
        elif kind == "float_half":
            d["w0"] = d["w0"].astype(np.float32)
            d["w0"].flat[0] = 0.5
        elif kind == "nan":
            d["w1"] = d["w1"].astype(np.float32)
            d["w1"].flat[3] = np.nan
        elif kind == "shape":
            d["w0"] = d["w0"][:-1]
        elif kind == "missing":
            d.pop(g.rng.choice(sorted(k for k in d if k != "info")))   # info: not needed
        elif kind == "var_neg":
            k = next(k for k in d if k.endswith("running_var"))
            d[k] = d[k].copy()
            d[k].flat[0] = -1.0
        elif kind == "var_nan":
            k = next(k for k in d if k.endswith("running_var"))
            d[k] = d[k].copy()
            d[k].flat[0] = np.nan
        elif kind == "gamma_inf":
            k = next(k for k in d if k.endswith("gamma"))
            d[k] = d[k].copy()
            d[k].flat[0] = np.inf
        elif kind == "str":
            d["w0"] = np.array(["a"] * d["w0"].size).reshape(d["w0"].shape)
        elif kind == "bool":
            d["w0"] = d["w0"].astype(bool)
        elif kind == "complex":
            d["w0"] = d["w0"].astype(np.complex64)
        elif kind == "w_big":
            d["w0"] = d["w0"].astype(np.int64)
            d["w0"].flat[0] = 2**40 + 1
        elif kind == "float_exact":
            d["w0"] = d["w0"].astype(np.float32)
        if kind == "garbage":
            p.write_bytes(bytes(g.rng.getrandbits(8) for _ in range(300)))
        elif kind == "empty":
            p.write_bytes(b"")
        elif kind == "pickle":
            np.savez(p, w0=np.array([{"a": 1}], dtype=object))
        else:
            np.savez(p, **d)
        out.append(Case(f"checkpoint {kind}", ["simulate", "--samples", "8", "--checkpoint",
                                               str(p)], valid, p.name, timeout=60))
    return out


def _dataset_cases(g: Gen, n: int) -> list[Case]:
    import gzip
    if g.data_dir is None:
        return []
    src = g.data_dir / "mnist"
    imgs = gzip.decompress((src / "t10k-images-idx3-ubyte.gz").read_bytes())
    lbls = gzip.decompress((src / "t10k-labels-idx1-ubyte.gz").read_bytes())
    m = 200
    small_i = imgs[:4] + (m).to_bytes(4, "big") + imgs[8:16] + imgs[16:16 + m * 784]
    small_l = lbls[:4] + (m).to_bytes(4, "big") + lbls[8:8 + m]
    kinds = ["valid_test_only", "truncated", "magic", "label_range", "count", "gzip_bomb",
             "fifo", "dir", "garbage_gz", "dims_huge"]
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        d = g.tmp / f"data{i}" / "mnist"
        d.mkdir(parents=True)
        ii, ll = small_i, small_l
        if kind == "truncated":
            ii = ii[:-100]
        elif kind == "magic":
            ii = b"\x00\x00\x08\x04" + ii[4:]
        elif kind == "label_range":
            ll = ll[:-1] + b"\x0b"
        elif kind == "count":
            ll = ll[:4] + (m - 1).to_bytes(4, "big") + ll[8:-1]
        elif kind == "dims_huge":
            ii = ii[:4] + (2**32 - 1).to_bytes(4, "big") + ii[8:]
        if kind == "gzip_bomb":
            (d / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\0" * (64 << 20)))
        elif kind == "fifo":
            os.mkfifo(d / "t10k-images-idx3-ubyte")
        elif kind == "dir":
            (d / "t10k-images-idx3-ubyte").mkdir()
        elif kind == "garbage_gz":
            (d / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b" + b"x" * 100)
        else:
            (d / "t10k-images-idx3-ubyte").write_bytes(ii)
        (d / "t10k-labels-idx1-ubyte").write_bytes(ll)
        out.append(Case(f"dataset {kind}", ["simulate", "--dataset", "mnist", "--data-dir",
                                            str(d.parent), "--samples", "16"],
                        kind == "valid_test_only", "t10k", timeout=60))
    return out


def _out_cases(g: Gen, runner: CliRunner, n: int) -> list[Case]:
    base = g.tmp / "runs"
    base.mkdir()
    sim = ["reference", "tiny_mlp", "--dataset", "synthetic", "--samples", "4"]
    made: dict[str, Path] = {}
    recipes = {
        "simulate": ["simulate", *sim, "--out"],
        "compare": ["compare", "reference", "tile256", "--workload", "tiny_mlp", "--dataset",
                    "synthetic", "--samples", "4", "--out"],
        "sweep": ["sweep", "reference", "--vary", "array.tile_rows=64,128", "--workload",
                  "tiny_mlp", "--dataset", "synthetic", "--samples", "4", "--jobs", "1",
                  "--out"],
    }
    if g.data_dir is not None:
        recipes["train"] = ["train", "reference", "mnist_mlp", "--mode", "software",
                            "--epochs", "1", "--train-limit", "100", "--test-limit", "50",
                            "--val-size", "50", "--data-dir", str(g.data_dir), "--out"]
    for kind, args in recipes.items():
        p = base / kind
        r = runner.invoke(main, [*args, str(p)])
        if r.exit_code == 0:
            made[kind] = p
    writers = {k: v[:-1] for k, v in recipes.items()}
    out: list[Case] = []
    kinds = sorted(made)
    for i in range(n):
        target_kind = kinds[i % len(kinds)]
        target = made[target_kind]
        mode = g.rng.choice(["into", "into", "resume_other", "file", "force", "resume_same"])
        w = g.rng.choice(sorted(writers))
        if mode == "into":
            out.append(Case(f"out {w} into {target_kind}", [*writers[w], "--out", str(target)],
                            False, "--out", guard=[target], timeout=120))
        elif mode == "resume_other" and "train" in made:
            other = base / f"other{i}"
            out.append(Case("out --resume B --out A", [*writers["train"], "--out", str(other),
                                                       "--resume", str(made["train"])],
                            False, "--out", guard=[made["train"]], timeout=120))
        elif mode == "resume_same" and "sweep" in made:
            out.append(Case("out sweep --resume same", [*writers["sweep"], "--out",
                                                        str(made["sweep"]), "--resume"],
                            True, timeout=120))
        elif mode == "file":
            f = g.file("precious\n", ".txt")
            out.append(Case(f"out {w} to a file", [*writers[w], "--out", str(f)], False,
                            "--out", guard=[f.parent / f.name], timeout=120))
        else:
            fresh = base / f"fresh{i}"
            out.append(Case(f"out {w} fresh", [*writers[w], "--out", str(fresh)], True,
                            timeout=180))
    return out


def _resume_cases(g: Gen, runner: CliRunner, n: int) -> list[Case]:
    if g.data_dir is None:
        return []
    args = ["train", "reference", "mnist_mlp", "--mode", "software", "--epochs", "2",
            "--train-limit", "100", "--test-limit", "50", "--val-size", "50", "--data-dir",
            str(g.data_dir)]
    base = g.tmp / "resume_base"
    r = runner.invoke(main, [*args[:5], "--epochs", "1", *args[7:], "--out", str(base)])
    if r.exit_code != 0:
        return []
    with np.load(base / "checkpoint.npz") as f:
        ck = {k: f[k] for k in f.files}
    meta0 = json.loads(ck["trainer.meta"].tobytes())
    muts = [("epoch", -1), ("epoch", 10**12), ("epoch", "1"), ("epoch", 1.5), ("log", None),
            ("log", []), ("wall_s", float("nan")), ("data_rng", {}), ("net_rng", "x"),
            ("settings", []), ("settings", None), (None, None), ("epoch", None), ("run", 5),
            ("log", [{"epoch": "zero"}, {"epoch": 1}])]
    out = []
    for i in range(n):
        key, val = muts[i % len(muts)]
        meta = copy.deepcopy(meta0)
        if key is None:
            raw = b"{not json"
        else:
            if val is None and key in ("epoch", "log", "settings"):
                meta.pop(key, None)
            else:
                meta[key] = val
            raw = json.dumps(meta).encode()
        d = g.tmp / f"resume{i}"
        d.mkdir()
        for f in base.iterdir():
            (d / f.name).write_bytes(f.read_bytes())
        c = dict(ck)
        c["trainer.meta"] = np.frombuffer(raw, dtype=np.uint8).copy()
        np.savez(d / "checkpoint.npz", **c)
        out.append(Case(f"resume meta {key}", [*args, "--resume", str(d)], False,
                        "checkpoint.npz", guard=[], timeout=60))
    return out


def main_fuzz() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--show", type=int, default=3, help="examples shown per bad outcome")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    env_dir = os.environ.get("PNMSIM_DATA_DIR")
    data_dir = Path(env_dir) if env_dir and (Path(env_dir) / "mnist").is_dir() else None
    runner = CliRunner()
    with tempfile.TemporaryDirectory(prefix="pnmsim-fuzz-") as td:
        tmp = Path(td)
        g = Gen(rng, tmp, data_dir)
        t0 = time.perf_counter()
        fixed: list[Case] = []
        fixed += _checkpoint_cases(g, max(17, a.cases // 25))
        fixed += _dataset_cases(g, max(10, a.cases // 50))
        fixed += _out_cases(g, runner, max(12, a.cases // 40))
        fixed += _resume_cases(g, runner, max(15, a.cases // 60))
        weights = [(g.preset_number, 20), (g.preset_valid, 6), (g.set_value, 18),
                   (g.set_valid, 6), (g.set_unknown, 5), (g.yaml_bomb, 12),
                   (g.parts_attack, 8), (g.special_file, 5), (g.workload, 8),
                   (g.options, 10), (g.options_valid, 2), (g.set_extreme, 10), (g.vary, 6),
                   (g.set_bomb, 4), (g.nested_type, 5), (g.train_extreme, 2),
                   (g.compare_case, 2)]
        fns = [f for f, w in weights for _ in range(w)]
        cases = list(fixed)
        while len(cases) < a.cases:
            c = rng.choice(fns)()
            if c is not None:
                cases.append(c)
        rng.shuffle(cases)
        tally: Counter[str] = Counter()
        by_class: dict[str, Counter[str]] = defaultdict(Counter)
        examples: dict[str, list[str]] = defaultdict(list)
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            for c in cases:
                with contextlib.redirect_stderr(io.StringIO()):
                    outcome, detail = run_case(runner, c)
                tally[outcome] += 1
                by_class[c.cls.split(" ")[0]][outcome] += 1
                if len(examples[outcome]) < a.show:
                    examples[outcome].append(f"[{c.cls}] {' '.join(c.args)[:150]} -> {detail}")
        finally:
            os.chdir(cwd)
        wall = time.perf_counter() - t0
    cols = ["clean-refusal", "accepted", "traceback", "hang", "silent-accept", "refused-valid",
            "vague-refusal", "data-loss"]
    print(f"pnmsim fuzz: seed {a.seed}, {len(cases)} cases, {wall:.0f} s"
          + ("" if data_dir else " (no $PNMSIM_DATA_DIR: dataset/train cases skipped)"))
    print(f"{'class':<12}" + "".join(f"{c:>15}" for c in cols))
    for k in sorted(by_class):
        print(f"{k:<12}" + "".join(f"{by_class[k][c]:>15}" for c in cols))
    print(f"{'total':<12}" + "".join(f"{tally[c]:>15}" for c in cols))
    bad = [c for c in cols[2:] if tally[c]]
    for c in bad:
        print(f"\n{c}:")
        for e in examples[c]:
            print("  " + e)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main_fuzz())
