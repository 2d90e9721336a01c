"""The ``pnmsim`` command line: a thin shell over the library API.

User mistakes (bad configs, unknown keys, missing data, a bad option value, an output folder
holding another run) print one ``error:`` line naming the file or option and exit 2; they are
raised as :class:`~pnmsim.errors.PnmsimError` where they are detected. Anything else is a bug:
it prints ``internal error, please report`` with the exception type and the pnmsim version and
exits 1 -- never disguised as a user mistake, never a traceback (``PNMSIM_TRACEBACK=1`` shows it).
``--format json`` output is strict JSON (non-finite values become null, with a warning).
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import click
import numpy as np

from pnmsim import __version__
from pnmsim.cli_explore import WORKLOAD_HELP
from pnmsim.cliopts import FiniteFloat, emit_json
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
        except click.exceptions.Abort:
            raise
        except click.ClickException as e:   # bad option values: one line, not a usage block
            click.echo(f"error: {' '.join(e.format_message().split())}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:    # the reader of stdout went away (e.g. `| head`): stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())   # no second error when Python flushes stdout
            ctx.exit(141)                           # 128 + SIGPIPE, as a shell reports it
        except Exception as e:     # a bug, not a user mistake
            if os.environ.get("PNMSIM_TRACEBACK"):
                traceback.print_exc()
            msg = " ".join(str(e).split())[:200]
            click.echo(f"internal error, please report: pnmsim {__version__}: "
                       f"{type(e).__name__}: {msg}", err=True)
            ctx.exit(1)


DATASET_CHOICES = ["mnist", "fashion-mnist", "cifar10", "svhn", "synthetic"]
SEED = click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True)

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
@click.option("--dump", is_flag=True, help="print the fully resolved config (or workload) as "
              "YAML")
def validate(file: str, overrides: tuple[str, ...], dump: bool) -> None:
    """Check an architecture preset or a workload (a file, or a shipped name) and summarise it.

    The kind is decided from the document: a mapping with a ``layers`` key is a workload."""
    import yaml

    from pnmsim.config import builtin_archs, dump_yaml, load_arch
    from pnmsim.safeload import load_yaml
    from pnmsim.workload import builtin_workloads, load_workload

    is_workload = False
    if Path(file).exists() or Path(file).is_symlink() or "/" in file or file.endswith(
            (".yaml", ".yml")):
        doc = load_yaml(file, file, "YAML file")
        is_workload = isinstance(doc, dict) and "layers" in doc
    elif file not in builtin_archs() and file in builtin_workloads():
        is_workload = True
    if is_workload:
        if overrides:
            raise click.BadParameter(f"{file} is a workload; --set overrides preset keys only",
                                     param_hint="--set")
        from pnmsim.resources import check_fit

        w = load_workload(file)
        check_fit(w, 1, 1, True, "network (one sample)")
        if dump:
            click.echo(yaml.safe_dump(w.to_dict(), sort_keys=False), nl=False)
            return
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
               f"{cfg.update.scheme}/{cfg.update.pulse_mapping}"
               + (f", I_c0 P->AP/AP->P {cfg.mtj.ic0_asymmetry:g}"
                  if cfg.mtj.ic0_asymmetry != 1.0 else "")
               + (f", TMR(V) V_h {cfg.mtj.tmr_v_half_v:g} V"
                  if cfg.mtj.tmr_v_half_v is not None else ""))


# ----------------------------------------------------------------------------- device
@main.command()
@ARCH
@SET
@click.option("--current-ua", type=FiniteFloat(0.0, 1e9), default=None,
              help="write current (default: the preset's nominal current of a +-1 cell)")
@click.option("--pulse-ns-max", type=FiniteFloat(0.0, 1e9), default=10.0, show_default=True)
@click.option("--points", type=click.IntRange(2, 100000), default=51, show_default=True)
def device(arch: str | None, overrides: tuple[str, ...], current_ua: float | None,
           pulse_ns_max: float, points: int) -> None:
    """Print the preset MTJ's switching curve as CSV: pulse_ns,current_ua,p_switch.

    The model uses one I_c0 for both switching directions (P->AP and AP->P), so one curve
    describes both.
    """
    from pnmsim.config import load_arch
    from pnmsim.device import mtj
    from pnmsim.pulses import PulseMapper

    cfg = load_arch(arch, overrides)
    if current_ua is None:
        current_ua = PulseMapper(cfg).i_ref_ua
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
@SEED
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="write tables, resolved config and run metadata here (a new folder)")
@click.option("--dataset", type=click.Choice(DATASET_CHOICES), default=None,
              help="take inputs from a dataset's test split "
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
    from pnmsim.outdir import check_out

    if out_dir is not None:
        check_out(out_dir, "--out", "simulate", force=force)
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
        emit_json(res.summary())
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
@click.option("--epochs", type=click.IntRange(1, 100_000), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=100, show_default=True)
@click.option("--lr", "lr", type=FiniteFloat(0.0, 1e6), default=0.01, show_default=True,
              help="learning rate of epoch 1")
@click.option("--lr-end", type=FiniteFloat(0.0, 1e6), default=None,
              help="learning rate of the last epoch (exponential decay; default lr/100)")
@click.option("--train-limit", type=click.IntRange(1), default=None)
@click.option("--test-limit", type=click.IntRange(1), default=None)
@click.option("--val-size", type=click.IntRange(0), default=5000, show_default=True)
@SEED
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
    from pnmsim.outdir import check_out, run_kind

    batches = parse_batches(trace_batches, trace)
    tracer = start_trace(trace, trace_limit, force)

    if resume_dir is not None:
        if out_dir is not None and Path(out_dir).absolute().resolve() != \
                Path(resume_dir).absolute().resolve():
            raise click.BadParameter(f"{out_dir} differs from --resume {resume_dir}; a resumed "
                                     "run continues in its own folder (omit --out)",
                                     param_hint="--out")
        if not Path(resume_dir).is_dir() or run_kind(Path(resume_dir)) != "train":
            raise click.BadParameter(f"{resume_dir} holds no pnmsim training run; allowed: "
                                     "a folder written by pnmsim train --out",
                                     param_hint="--resume")
        out_dir = None
    elif out_dir is not None:
        check_out(out_dir, "--out", "train", force=force)
    summary = api.train(arch, _workload(workload, workload_opt), overrides=overrides,
                        dataset=dataset, data_dir=data_dir, mode=mode, epochs=epochs,
                        batch_size=batch_size,
                        lr=lr, lr_end=lr_end if lr_end is not None else lr / 100,
                        train_limit=train_limit, test_limit=test_limit, val_size=val_size,
                        seed=seed, out_dir=out_dir, resume_dir=resume_dir, progress=True,
                        tracer=tracer, trace_batches=batches, force=force)
    finish_train_trace(tracer, trace, force, arch, overrides, _workload(workload, workload_opt),
                       seed, batches)
    if fmt == "json":
        emit_json(summary)
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
