"""``--trace`` options of simulate/train/replay (the timeline of :mod:`pnmsim.trace`) and the
``pnmsim replay`` command (:mod:`pnmsim.replay`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

DEFAULT_TRACE_LIMIT = 1_000_000


def trace_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--force", is_flag=True,
                     help="replace an existing --trace file / --record folder, and write "
                     "into an --out folder that holds another pnmsim run")(f)
    f = click.option("--trace-limit", type=click.IntRange(1), default=DEFAULT_TRACE_LIMIT,
                     show_default=True, help="most X events kept in the trace (a note in "
                     "the file and on stderr says when it truncates)")(f)
    return click.option("--trace", type=click.Path(dir_okay=False), default=None,
                        metavar="FILE.json", help="write the schedule as a Chrome trace "
                        "(Perfetto / chrome://tracing), times in us of simulated time")(f)


def start_trace(path: str | None, limit: int | None, force: bool) -> Any:
    """A Tracer when ``--trace`` is given (its target checked before anything runs)."""
    if path is None:
        return None
    from pnmsim.trace import Tracer, check_target

    check_target(path, force)
    return Tracer(clock_mhz=1.0, limit=limit)


def finish_trace(tracer: Any, path: str | None, force: bool, res: Any,
                 extra: dict[str, Any] | None = None) -> None:
    """Write the trace of a finished run; say so on stderr (and when it was truncated)."""
    if tracer is None or path is None:
        return
    tracer.clock_mhz = float(res.arch.clock_mhz)     # spans are in cycles until written
    tracer.meta.update({"arch": res.arch.name, "workload": res.workload.name,
                        "samples": res.samples, "seed": res.seed,
                        "command": " ".join(sys.argv), **(extra or {})})
    tracer.write(path, force=force)
    click.echo(f"trace: {path}: {len(tracer.spans)} X events on {len(tracer.tracks)} tracks",
               err=True)
    if tracer.truncated:
        click.echo(f"note: {tracer.note()}", err=True)


@click.command()
@click.argument("record_dir", metavar="DIR")
@click.argument("archs", nargs=-1, required=True, metavar="ARCH...")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="override a value of every ARCH (cost/timing keys only); repeatable")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def replay(record_dir: str, archs: tuple[str, ...], overrides: tuple[str, ...],
           fmt: str) -> None:
    """Re-time and re-price the activity recorded in DIR (pnmsim simulate --record DIR) on
    each ARCH. Presets may differ from the recorded one only in cost and timing keys; any
    other difference is refused, naming the key. The figures equal a full simulate."""
    from pnmsim.config import load_arch
    from pnmsim.replay import load_record, replay_many

    rec = load_record(record_dir)
    cfgs = [load_arch(a, overrides) for a in archs]
    results = replay_many(rec, cfgs)
    if fmt == "json":
        out = [r.summary() for r in results]
        click.echo(json.dumps(out[0] if len(out) == 1 else out, indent=2))
        return
    for r in results:
        click.echo(r.text())
        click.echo("")
    click.echo(f"replayed {len(results)} preset(s) from {record_dir} "
               f"({rec.manifest['samples']} samples, {rec.manifest['batches']} batches)",
               err=True)


def parse_batches(text: str | None, trace: str | None) -> tuple[int, int] | None:
    """``--trace-batches A:B`` -> (A, B): mini-batches A..B-1 (either side may be empty)."""
    if text is None:
        return None
    if trace is None:
        raise click.UsageError("--trace-batches needs --trace FILE.json")
    a, sep, b = text.partition(":")
    try:
        lo = int(a) if a.strip() else 0
        hi = int(b) if b.strip() else 2**62
    except ValueError:
        lo = hi = -1
    if not sep or lo < 0 or hi <= lo:
        raise click.BadParameter(f"got {text!r}; expected A:B with 0 <= A < B (e.g. 0:5)",
                                 param_hint="--trace-batches")
    return lo, hi


def finish_train_trace(tracer: Any, path: str | None, force: bool, arch: str | None,
                       overrides: tuple[str, ...], workload: str | None, seed: int,
                       batches: tuple[int, int] | None) -> None:
    if tracer is None:
        return
    from types import SimpleNamespace

    from pnmsim.api import DEFAULT_WORKLOAD
    from pnmsim.config import load_arch

    cfg = load_arch(arch, overrides)
    res = SimpleNamespace(arch=cfg, workload=SimpleNamespace(name=workload or DEFAULT_WORKLOAD),
                          samples=None, seed=seed)
    finish_trace(tracer, path, force, res,
                 {"batches": list(batches) if batches else "all"})
