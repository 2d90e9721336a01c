"""Option types and output helpers shared by the CLI modules (no command lives here)."""

from __future__ import annotations

import click


class FiniteFloat(click.ParamType):
    """A finite real number in ``(gt, le]``: nan and inf are refused (``nan <= 0`` is False,
    so a plain float option with a ``<= 0`` check lets nan through)."""

    name = "number"

    def __init__(self, gt: float | None = 0.0, le: float = 1e9) -> None:
        self.gt, self.le = gt, le

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, float):
            v = value
        else:
            try:
                v = float(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a number", param, ctx)
        low = f"> {self.gt:g} and " if self.gt is not None else ""
        if not (v == v and abs(v) != float("inf")) or (self.gt is not None and not v > self.gt) \
                or not v <= self.le:
            self.fail(f"{value!r}; allowed: a finite number {low}<= {self.le:g}", param, ctx)
        return v


def emit_json(obj: object) -> None:
    from pnmsim.jsonsafe import dumps_warn

    click.echo(dumps_warn(obj, what="--format json"))
