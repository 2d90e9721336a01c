"""``pnmsim fit-device`` and ``pnmsim timeline``: thin shells over :mod:`pnmsim.device.fit`
and :mod:`pnmsim.timeline`.

Registered on the main group by ``pnmsim.cli``, whose error handling turns
:class:`~pnmsim.errors.PnmsimError` into one ``error:`` line and exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from pnmsim.errors import ConfigError

SPREAD_CHOICES = ("none", "ic0", "delta", "ic0,delta")


# ----------------------------------------------------------------------------- fit-device
@click.command("fit-device")
@click.argument("data", metavar="DATA.csv")
@click.option("--out", "out", default=None, metavar="PART.yaml",
              help="write the fitted device part (mtj: and variation: keys) here")
@click.option("--force", is_flag=True, help="overwrite an existing --out file")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--direction", type=click.Choice(["pooled", "P->AP", "AP->P"]),
              default="pooled", show_default=True,
              help="fit both write directions with one parameter set (the simulator's model) "
                   "or only the rows of one direction")
@click.option("--spread", type=click.Choice(SPREAD_CHOICES), default="ic0", show_default=True,
              help="device-to-device spreads to fit when the data name >= 3 devices")
@click.option("--tau0-ns", type=float, default=1.0, show_default=True,
              help="thermal attempt time held fixed (science.md §3: ~1 ns)")
@click.option("--fit-tau0", is_flag=True, help="fit tau0_ns too (needs thermal-regime rows)")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.001, show_default=True,
              help="refuse the fit when the deviance goodness-of-fit p-value is below this")
@click.option("--allow-misfit", is_flag=True,
              help="warn instead of refusing when the goodness-of-fit test rejects the model")
def fit_device(data: str, out: str | None, force: bool, fmt: str, direction: str, spread: str,
               tau0_ns: float, fit_tau0: bool, alpha: float, allow_misfit: bool) -> None:
    """Fit the MTJ model (Delta, I_c0, tau_D, spreads) to measured switching counts.

    DATA.csv has columns pulse_ns,current_ua,trials,switched (optional: direction = P->AP or
    AP->P, device = a label). Maximum likelihood on the binomial counts; prints estimates with
    95 % intervals and goodness of fit, and writes a preset part with --out.
    """
    from pnmsim.device.fit import fit_device as fit
    from pnmsim.device.fit_data import read_switching_csv
    from pnmsim.device.fit_report import to_json, to_part_yaml, to_table, write_atomic

    if not (tau0_ns > 0 and tau0_ns < float("inf")):
        raise ConfigError("--tau0-ns", "value", tau0_ns, "a finite time in ns > 0")
    if out is not None:
        if not out.endswith((".yaml", ".yml")):
            raise ConfigError("--out", "file", out, "a .yaml file name")
        if Path(out).exists() and not force:
            raise ConfigError("--out", "file", out, "a file that does not exist yet (or --force)")
        if not Path(out).resolve().parent.is_dir():
            raise ConfigError("--out", "file", out, "a path in an existing folder")
    spreads = () if spread == "none" else tuple(spread.split(","))
    res = fit(read_switching_csv(data), tau0_ns=tau0_ns, fit_tau0=fit_tau0, spreads=spreads,
              direction=direction, alpha=alpha, allow_misfit=allow_misfit)
    for w in res.warnings:
        click.echo(f"warning: {w}", err=True)
    if out is not None:
        write_atomic(out, to_part_yaml(res))
    if fmt == "json":
        click.echo(json.dumps(to_json(res), indent=2))
    else:
        click.echo(to_table(res))
        if out is not None:
            click.echo(f"device part written to {out}")


# ----------------------------------------------------------------------------- timeline
@click.command("timeline")
@click.argument("trace_file", metavar="FILE.json")
@click.option("--out", "out", required=True, metavar="FILE.png", help="the picture to write")
@click.option("--start", "start", type=float, default=None, help="window start (us)")
@click.option("--end", "end", type=float, default=None, help="window end (us)")
@click.option("--title", default=None, help="figure title (default: file, events, window)")
def timeline(trace_file: str, out: str, start: float | None, end: float | None,
             title: str | None) -> None:
    """Draw a timeline trace (simulate --trace) as a Gantt chart of one time window:
    components as rows, coloured by phase, with power over time below."""
    from pnmsim.timeline import draw
    from pnmsim.tracefmt import read_trace

    if not out.lower().endswith(".png"):
        raise ConfigError("--out", "file", out, "a .png file name")
    if not Path(out).resolve().parent.is_dir():
        raise ConfigError("--out", "file", out, "a path in an existing folder")
    info = draw(read_trace(trace_file), out, start, end, title)
    click.echo(f"timeline: {info['spans']} events on {info['rows']} tracks, "
               f"{info['window_us'][0]:g}-{info['window_us'][1]:g} us, phases "
               f"{', '.join(info['phases'])}; power series: "
               f"{', '.join(info['power_series']) or 'none'} -> {out}")
