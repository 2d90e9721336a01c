"""The speed benchmarks that check issue targets refuse absurd options and bad names in one line
with exit 2 (before any timing), instead of a traceback or a division by zero mid-run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(script: str, *args: str, data_dir: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PNMSIM_DATA_DIR"}
    if data_dir is not None:
        env["PNMSIM_DATA_DIR"] = data_dir
    return subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.mark.parametrize("script,args,says", [
    ("train_speed.py", ["--batch-size", "0"], "--batch-size"),
    ("train_speed.py", ["--repeats", "0"], "--repeats"),
    ("train_speed.py", ["--threads", "-1"], "--threads"),
    ("train_speed.py", ["--train-limit", "1000"], "--train-limit"),   # one batch of 1000
    ("train_speed.py", ["--lr", "nan"], "--lr"),
    ("train_speed.py", ["--lr", "-0.1"], "--lr"),
    ("torch_baseline.py", ["--repeats", "0"], "--repeats"),
    ("torch_baseline.py", ["--train-limit", "0"], "--train-limit"),
    ("im2col_speed.py", ["--epochs", "0"], "--epochs"),
    ("im2col_speed.py", ["--images", "-5"], "--images"),
    ("im2col_speed.py", ["--images", "100"], "--images"),   # one batch of 100
])
def test_absurd_options_exit_2_in_one_line(script: str, args: list[str], says: str) -> None:
    r = _run(script, *args)
    assert r.returncode == 2, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert says in last and "Traceback" not in r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("script,args", [
    ("train_speed.py", ["--workload", "no_such_workload"]),
    ("train_speed.py", ["--arch", "no_such_preset"]),
    ("im2col_speed.py", ["--workload", "no_such_workload"]),
])
def test_bad_names_exit_2_in_one_line(script: str, args: list[str]) -> None:
    r = _run(script, *args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "no_such_" in r.stderr and r.stdout == ""


@pytest.mark.parametrize("script,args", [
    ("train_speed.py", ["--workload", "tiny_cnn", "--train-limit", "3", "--batch-size", "2"]),
    ("im2col_speed.py", ["--workload", "tiny_cnn", "--images", "200"]),
])
def test_a_workload_that_does_not_take_mnist_exits_2(script: str, args: list[str]) -> None:
    """tiny_cnn takes 8 x 8 inputs: refused in one line before anything is timed."""
    data_dir = os.environ.get("PNMSIM_DATA_DIR")
    if not data_dir:
        pytest.skip("needs MNIST: set PNMSIM_DATA_DIR")
    r = _run(script, *args, data_dir=data_dir)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "tiny_cnn" in r.stderr and r.stdout == ""


@pytest.mark.parametrize("script", ["train_speed.py", "im2col_speed.py"])
def test_missing_dataset_exits_2_before_timing(script: str, tmp_path: Path) -> None:
    r = _run(script, "--repeats", "1", data_dir=str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "dataset files not found" in r.stderr and r.stdout == ""
