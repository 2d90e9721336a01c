"""The ``pnmsim`` command line: a thin shell over the library API.

User mistakes (bad configs, unknown keys, missing data) print one ``error:`` line and exit 2;
nothing a user can type produces a traceback.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click
import numpy as np

from pnmsim import __version__
from pnmsim.cli_explore import WORKLOAD_HELP
from pnmsim.errors import PnmsimError


class _Group(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except PnmsimError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(2)
        except click.exceptions.Exit:
            raise
        except click.ClickException as e:   # bad option values: one line, not a usage block
            click.echo(f"error: {e.format_message()}", err=True)
            ctx.exit(2)
        except (ValueError, OSError) as e:
            click.echo(f"error: {type(e).__name__}: {e}", err=True)
            ctx.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="pnmsim")
def main() -> None:
    """pnmsim: processing-near-memory simulator of two-MTJ synapse arrays (GXNOR training)."""


ARCH = click.argument("arch", required=False)
WORKLOAD = click.option("--workload", "workload_opt", default=None, metavar="NAME|YAML",
                        help=WORKLOAD_HELP + "; the positional WORKLOAD is the same")


def _workload(positional: str | None, option: str | None) -> str | None:
    """The workload of simulate/train: ``--workload`` (as in compare and sweep); the older
    positional WORKLOAD is still accepted when it agrees."""
    if positional is not None and option is not None and positional != option:
        raise click.BadParameter(f"given twice ({positional!r} and {option!r}); use "
                                 "--workload NAME", param_hint="--workload")
    return option if option is not None else positional


def TRACE_OPTS(f):  # noqa: ANN001, ANN201, N802 - a decorator shared by simulate and train
    from pnmsim.cli_trace import trace_options

    return trace_options(f)


SET = click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                   help="override a preset value (validated like the file); repeatable")


# ----------------------------------------------------------------------------- validate
@main.command()
@click.argument("file")
@SET
@click.option("--dump", is_flag=True, help="print the fully resolved config as YAML")
def validate(file: str, overrides: tuple[str, ...], dump: bool) -> None:
    """Check an architecture preset (or a workload under traces/) and summarise it."""
    from pnmsim.config import dump_yaml, load_arch

    text = Path(file).read_text() if Path(file).exists() else ""
    if text and "layers:" in text and "mtj" not in text:
        from pnmsim.workload import load_workload

        w = load_workload(file)
        click.echo(f"ok: workload {w.name}: {len(w.layers)} layers, "
                   f"{len(w.weighted_layers())} weighted, {w.macs_per_sample()} MACs/sample")
        return
    cfg = load_arch(file, overrides)
    if dump:
        click.echo(dump_yaml(cfg), nl=False)
        return
    click.echo(f"ok: {cfg.name}: {cfg.array.tile_rows}x{cfg.array.tile_cols} tiles, "
               f"{cfg.clock_mhz:g} MHz, R_P {cfg.mtj.r_parallel_ohm:g} ohm, TMR "
               f"{cfg.mtj.tmr:g}, Delta {cfg.mtj.delta:g}, I_c0 {cfg.mtj.ic0_ua:g} uA, update "
               f"{cfg.update.scheme}/{cfg.update.pulse_mapping}")


# ----------------------------------------------------------------------------- device
@main.command()
@ARCH
@SET
@click.option("--current-ua", type=float, default=None,
              help="write current (default: the preset's nominal current of a +-1 cell)")
@click.option("--pulse-ns-max", type=float, default=10.0, show_default=True)
@click.option("--points", type=click.IntRange(2, 100000), default=51, show_default=True)
def device(arch: str | None, overrides: tuple[str, ...], current_ua: float | None,
           pulse_ns_max: float, points: int) -> None:
    """Print the preset MTJ's switching curve as CSV: pulse_ns,current_ua,p_switch.

    The model uses one I_c0 for both switching directions (P->AP and AP->P), so one curve
    describes both.
    """
    from pnmsim.config import load_arch
    from pnmsim.crossbar import PulseMapper
    from pnmsim.device import mtj

    cfg = load_arch(arch, overrides)
    if current_ua is None:
        current_ua = PulseMapper(cfg).i_ref_ua
    if current_ua <= 0:
        raise click.BadParameter("must be > 0", param_hint="--current-ua")
    if pulse_ns_max <= 0:
        raise click.BadParameter("must be > 0", param_hint="--pulse-ns-max")
    t = np.linspace(0.0, pulse_ns_max, points)
    d = cfg.mtj
    p = mtj.p_switch(t, current_ua, d.ic0_ua, d.delta, d.tau_d_ns, d.tau0_ns)
    click.echo("pulse_ns,current_ua,p_switch")
    for ti, pi in zip(t, np.broadcast_to(p, t.shape), strict=True):
        click.echo(f"{ti:.6g},{current_ua:.6g},{pi:.10g}")


# ----------------------------------------------------------------------------- simulate
@main.command()
@ARCH
@click.argument("workload", required=False)
@WORKLOAD
@SET
@click.option("--samples", type=click.IntRange(1), default=None,
              help="samples to simulate (default: the embedded MNIST sample, 512)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="write tables, resolved config and run metadata here")
@click.option("--dataset", default=None, help="take inputs from a dataset's test split "
              "(mnist, fashion-mnist, cifar10, svhn) instead of the embedded MNIST sample")
@click.option("--data-dir", default=None, help="dataset folder (else $PNMSIM_DATA_DIR)")
@click.option("--checkpoint", default=None, help="trained weights (.npz from pnmsim train); "
              "default: the embedded trained model when the workload is mnist_cnn")
@click.option("--fine", is_flag=True, help="fine timing mode (one event per MVM; slow)")
@click.option("--phases", "phases", default="feedforward,backprop,update", show_default=True,
              help="phases to run: feedforward (inference only), feedforward,backprop or "
              "feedforward,backprop,update")
@TRACE_OPTS
@click.option("--record", "record_dir", type=click.Path(file_okay=False), default=None,
              help="store the run's activity record here (for pnmsim replay)")
def simulate(arch: str | None, workload: str | None, workload_opt: str | None,
             overrides: tuple[str, ...],
             samples: int | None, seed: int, fmt: str, out_dir: str | None,
             dataset: str | None, data_dir: str | None, checkpoint: str | None,
             fine: bool, phases: str, trace: str | None = None, trace_limit: int | None = None,
             force: bool = False, record_dir: str | None = None) -> None:
    """Simulate WORKLOAD (default mnist_cnn) on ARCH (default reference): feedforward,
    backprop and update phases with cycles, energy, throughput and TOPs/W."""
    from pnmsim import api
    from pnmsim.cli_trace import finish_trace, start_trace

    tracer = start_trace(trace, trace_limit, force)
    res = api.simulate(arch, _workload(workload, workload_opt), overrides=overrides,
                       samples=samples, seed=seed, dataset=dataset, data_dir=data_dir,
                       checkpoint=checkpoint,
                       mode="fine" if fine else "coarse", progress=True,
                       phases=tuple(p.strip() for p in phases.split(",")),
                       tracer=tracer, record=record_dir, force=force)
    finish_trace(tracer, trace, force, res)
    if out_dir:
        res.write(out_dir, {"command": " ".join(sys.argv)})
    if fmt == "json":
        click.echo(json.dumps(res.summary(), indent=2))
    elif fmt == "csv":
        click.echo(res.phase_table().to_csv(), nl=False)
    else:
        click.echo(res.text())


# ----------------------------------------------------------------------------- train
@main.command()
@ARCH
@click.argument("workload", required=False)
@WORKLOAD
@SET
@click.option("--dataset", type=click.Choice(["mnist", "fashion-mnist", "cifar10", "svhn"]),
              default="mnist", show_default=True)
@click.option("--data-dir", default=None, help="dataset folder (else $PNMSIM_DATA_DIR, else "
              "the per-user cache)")
@click.option("--mode", type=click.Choice(["hardware", "software"]), default="hardware",
              show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=100, show_default=True)
@click.option("--lr", "lr", type=float, default=0.01, show_default=True,
              help="learning rate of epoch 1")
@click.option("--lr-end", type=float, default=None,
              help="learning rate of the last epoch (exponential decay; default lr/100)")
@click.option("--train-limit", type=click.IntRange(1), default=None)
@click.option("--test-limit", type=click.IntRange(1), default=None)
@click.option("--val-size", type=click.IntRange(0), default=5000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="log.csv, checkpoint.npz (every epoch), summary.json, config.yaml")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), default=None,
              help="continue the run saved in this folder (same settings)")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@TRACE_OPTS
@click.option("--trace-batches", default=None, metavar="A:B",
              help="with --trace: trace mini-batches A..B-1 only (counted from 0 over the run)")
def train(arch: str | None, workload: str | None, workload_opt: str | None,
          overrides: tuple[str, ...], dataset: str,
          data_dir: str | None, mode: str, epochs: int, batch_size: int, lr: float,
          lr_end: float | None, train_limit: int | None, test_limit: int | None,
          val_size: int, seed: int, out_dir: str | None, resume_dir: str | None,
          fmt: str, trace: str | None = None, trace_limit: int | None = None,
          force: bool = False, trace_batches: str | None = None) -> None:
    """Train WORKLOAD (default mnist_cnn) with GXNOR, in software or on the simulated array."""
    from pnmsim import api
    from pnmsim.cli_trace import finish_train_trace, parse_batches, start_trace

    batches = parse_batches(trace_batches, trace)
    tracer = start_trace(trace, trace_limit, force)

    if not (math.isfinite(lr) and lr > 0) or (lr_end is not None
                                              and not (math.isfinite(lr_end) and lr_end > 0)):
        raise click.BadParameter("learning rates must be > 0", param_hint="--lr/--lr-end")
    summary = api.train(arch, _workload(workload, workload_opt), overrides=overrides,
                        dataset=dataset, data_dir=data_dir, mode=mode, epochs=epochs,
                        batch_size=batch_size,
                        lr=lr, lr_end=lr_end if lr_end is not None else lr / 100,
                        train_limit=train_limit, test_limit=test_limit, val_size=val_size,
                        seed=seed, out_dir=out_dir, resume_dir=resume_dir, progress=True,
                        tracer=tracer, trace_batches=batches)
    finish_train_trace(tracer, trace, force, arch, overrides, _workload(workload, workload_opt),
                       seed, batches)
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2))
    else:
        for k, v in summary.items():
            if k != "phases":
                click.echo(f"{k:>22}: {v}")
        for p, m in summary.get("phases", {}).items():
            click.echo(f"{p:>22}: " + ", ".join(f"{k} {v:.4g}" for k, v in m.items()))


def _register() -> None:
    from pnmsim.cli_costs import costs
    from pnmsim.cli_device_tools import fit_device, timeline
    from pnmsim.cli_explore import compare, sweep
    from pnmsim.cli_trace import replay

    main.add_command(compare)
    main.add_command(sweep)
    main.add_command(costs)
    main.add_command(replay)
    main.add_command(fit_device)
    main.add_command(timeline)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
