"""The adversarial fuzz script end to end (slow): a seeded batch of hostile and valid inputs
through the CLI must give no traceback, hang, silent accept, refused valid input, vague refusal
or data loss (the script exits 1 and prints the offending cases otherwise)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_fuzz_inputs_finds_nothing() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fuzz_inputs.py"), "--cases",
                        "300", "--seed", "3"], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "total" in r.stdout
