"""The ``pnmsim costs`` command: the resolved cost table of a preset."""

from __future__ import annotations

import csv
import io
import json

import click

ARCH = click.argument("arch", required=False)


@click.command()
@ARCH
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="override a preset value (validated like the file); repeatable")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
def costs(arch: str | None, overrides: tuple[str, ...], fmt: str) -> None:
    """Print every (component, action) price the cost model derives from the preset's circuit
    parameters: energy_pj, latency_cycles, the formula and its inputs."""
    from pnmsim.config import load_arch
    from pnmsim.costs import cost_table

    cfg = load_arch(arch, overrides)
    rows = cost_table(cfg).rows()
    if fmt == "json":
        from pnmsim.cliopts import emit_json

        emit_json({"arch": cfg.name, "clock_mhz": cfg.clock_mhz, "costs": rows})
        return
    cols = ["component", "action", "scope", "energy_pj", "latency_cycles", "latency_ns",
            "formula", "inputs"]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([*(r[c] for c in cols[:-1]), json.dumps(r["inputs"], sort_keys=True)])
        click.echo(buf.getvalue(), nl=False)
        return
    click.echo(f"{cfg.name}: cost table at {cfg.clock_mhz:g} MHz "
               "(energy per action; latency in cycles of the clock)")
    head = f"{'component':<17}{'action':<14}{'scope':<8}{'energy_pj':>12}{'cycles':>7}  formula"
    click.echo(head)
    for r in rows:
        click.echo(f"{r['component']:<17}{r['action']:<14}{r['scope']:<8}"
                   f"{r['energy_pj']:>12.5g}{r['latency_cycles']:>7}  {r['formula']}")
        if r["inputs"]:
            click.echo(" " * 58 + ", ".join(f"{k}={_fmt(v)}" for k, v in r["inputs"].items()))


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
