"""Test helper: run the CLI in-process and check the one-line user-error contract."""

from __future__ import annotations

from click.testing import CliRunner, Result

from pnmsim.cli import main


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env=env)


def assert_user_error(res: Result, *needles: str) -> str:
    """Exit code 2, no traceback, exactly one stderr line, starting with 'error:'."""
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error:"), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert res.stdout == ""
    return lines[0]
