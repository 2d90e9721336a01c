"""``pnmsim compare`` and ``pnmsim sweep``: thin shells over :mod:`pnmsim.explore`.

Registered on the main group by ``pnmsim.cli`` (``main.add_command(compare)``,
``main.add_command(sweep)``), whose error handling turns :class:`PnmsimError` into one
``error:`` line and exit code 2.
"""

from __future__ import annotations

import os
import sys

import click

from pnmsim.cliopts import FiniteFloat
from pnmsim.errors import ConfigError

WORKLOAD_HELP = "workload name or YAML (default mnist_cnn)"

SET = click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                   help="override a preset value (validated like the file); repeatable")
DATASET_CHOICES = ["mnist", "fashion-mnist", "cifar10", "svhn", "synthetic"]
FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]),
                      default="table", show_default=True)


def _plot_path(plot: str | None) -> None:
    if plot is not None and not plot.lower().endswith(".png"):
        raise ConfigError("--plot", "file", plot, "a .png file name")


# ----------------------------------------------------------------------------- compare
@click.command()
@click.argument("archs", nargs=-1, required=True, metavar="ARCH...")
@click.option("--workload", default=None, help=WORKLOAD_HELP, metavar="NAME|YAML")
@click.option("--samples", type=click.IntRange(1), default=None,
              help="samples to simulate (default: the embedded MNIST sample, 512)")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True)
@SET
@click.option("--dataset", type=click.Choice(DATASET_CHOICES), default=None,
              help="take inputs from a dataset's test split "
              "(mnist, fashion-mnist, cifar10, svhn, synthetic) instead of the embedded sample")
@click.option("--data-dir", default=None, help="dataset folder (else $PNMSIM_DATA_DIR)")
@FORMAT
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="write compare.csv, compare.json and each architecture's simulate outputs")
@click.option("--force", is_flag=True, help="write into --out even when it holds another run")
@click.option("--plot", default=None, metavar="FILE.png",
              help="energy by component class per phase and TOPs/W vs throughput (PNG)")
def compare(archs: tuple[str, ...], workload: str | None, samples: int | None, seed: int,
            overrides: tuple[str, ...], dataset: str | None, data_dir: str | None, fmt: str,
            out_dir: str | None, force: bool, plot: str | None) -> None:
    """Run the same workload, inputs and seed on each ARCH (preset name or YAML path) and
    print one row per architecture: tiles, area proxy, per-phase cycles, seconds and energy
    per sample, TOPs/W (array and system), throughput, and ratios to the first ARCH."""
    from pnmsim import explore
    from pnmsim.cliopts import emit_json
    from pnmsim.outdir import check_out

    _plot_path(plot)
    if out_dir is not None:
        check_out(out_dir, "--out", "compare", force=force)

    from pnmsim.progress import bar

    with bar(len(archs), "arch", "compare") as pb:
        def _note(label: str) -> None:
            pb.set_postfix_str(label)
            pb.update(1)

        cmp = explore.compare(archs, workload, overrides=overrides, samples=samples,
                              seed=seed, dataset=dataset, data_dir=data_dir, progress=_note)
    if out_dir:
        explore.write_comparison(cmp, out_dir, {"command": " ".join(sys.argv)})
    if plot:
        explore.plot_comparison(cmp, plot)
    if fmt == "json":
        emit_json(cmp.to_json())
    elif fmt == "csv":
        click.echo(cmp.table.to_csv(index=False), nl=False)
    else:
        click.echo(explore.compare_text(cmp))


# ----------------------------------------------------------------------------- sweep
@click.command()
@click.argument("arch")
@click.option("--vary", "vary", multiple=True, required=True, metavar="KEY.PATH=V1,V2,...",
              help="values of one preset key (cross product over several --vary); "
                   "KEY1+KEY2=V1,V2 varies both keys together")
@click.option("--workload", default=None, help=WORKLOAD_HELP, metavar="NAME|YAML")
@click.option("--samples", type=click.IntRange(1), default=None,
              help="samples per point (default: the embedded MNIST sample, 512)")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True,
              help="the same for every point")
@SET
@click.option("--jobs", type=click.IntRange(1, 1024), default=None,
              help="local worker processes (default: CPU count; 1 = in this process)")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="run the points on this Dask distributed scheduler (tcp://host:port)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="sweep.csv (+ sweep.parquet), timings.csv, points/<id>.json (a new folder)")
@click.option("--resume", is_flag=True, help="continue the sweep in --out: reuse the points "
              "it finished (same settings), compute the rest")
@click.option("--force", is_flag=True, help="write into --out even when it holds another run "
              "(or a sweep with other settings)")
@click.option("--plot", default=None, metavar="FILE.png", help="the metrics vs the first key")
@click.option("--metric", type=click.Choice(["energy", "accuracy"]), default="energy",
              show_default=True, help="energy: simulate each point; accuracy: train each "
              "point on the hardware model and report test accuracy next to its energy")
@FORMAT
@click.option("--dataset", type=click.Choice(DATASET_CHOICES), default=None,
              help="energy: inputs from this dataset's test split "
              "(default the embedded sample); accuracy: training data (default mnist)")
@click.option("--data-dir", default=None, help="dataset folder (else $PNMSIM_DATA_DIR)")
@click.option("--epochs", type=click.IntRange(1, 100_000), default=1, show_default=True,
              help="--metric accuracy: training epochs per point")
@click.option("--train-limit", type=click.IntRange(1), default=None,
              help="--metric accuracy: training examples per point")
@click.option("--test-limit", type=click.IntRange(1), default=None,
              help="--metric accuracy: test examples per point")
@click.option("--val-size", type=click.IntRange(0), default=5000, show_default=True,
              help="--metric accuracy: validation examples split off the training set")
@click.option("--batch-size", type=click.IntRange(1), default=100, show_default=True,
              help="--metric accuracy: mini-batch size")
@click.option("--lr", type=FiniteFloat(0.0, 1e6), default=0.01, show_default=True,
              help="--metric accuracy: learning rate of epoch 1 (decays to lr/100)")
@click.option("--no-replay", is_flag=True, help="simulate every point even when the varied "
              "keys are cost/timing only (default: record once, replay each point)")
def sweep(arch: str, vary: tuple[str, ...], workload: str | None, samples: int | None,
          seed: int, overrides: tuple[str, ...], jobs: int | None, scheduler: str | None,
          out_dir: str | None, resume: bool, force: bool, plot: str | None, metric: str, fmt: str,
          dataset: str | None,
          data_dir: str | None, epochs: int, train_limit: int | None, test_limit: int | None,
          val_size: int, batch_size: int, lr: float, no_replay: bool = False) -> None:
    """Run WORKLOAD on ARCH at every point of the cross product of the --vary values and
    print one row per point. Every point is validated before anything runs."""
    from pnmsim import api, explore
    from pnmsim.cliopts import emit_json

    _plot_path(plot)
    if metric == "energy":
        for name, value in (("--train-limit", train_limit), ("--test-limit", test_limit)):
            if value is not None:
                raise click.UsageError(f"{name} applies to --metric accuracy only")
    axes = [explore.parse_vary(v) for v in vary]
    spec = explore.SweepSpec(
        arch=arch, workload=workload or api.DEFAULT_WORKLOAD, overrides=tuple(overrides),
        samples=samples, seed=seed, dataset=dataset, data_dir=data_dir, metric=metric,
        epochs=epochs, train_limit=train_limit, test_limit=test_limit, val_size=val_size,
        batch_size=batch_size, lr=lr)
    points = explore.plan_sweep(spec, axes)
    if resume and out_dir is None:
        raise click.BadParameter("needs --out DIR, the sweep to continue", param_hint="--resume")
    if out_dir is not None:
        explore.check_sweep_out(spec, out_dir, force, resume)
    n_jobs = jobs if jobs is not None else min(os.cpu_count() or 1, len(points))
    try:
        outcome = explore.run_sweep(spec, points, out_dir, jobs=n_jobs, scheduler=scheduler,
                                    progress=True, extra_meta={"command": " ".join(sys.argv)},
                                    use_replay=not no_replay)
    except KeyboardInterrupt:
        hint = (f"; the finished points are in {out_dir}/points: rerun with --resume and the "
                "same --out to continue" if out_dir else "")
        click.echo(f"interrupted{hint}", err=True)
        sys.exit(130)
    click.echo(f"sweep: {len(points)} points, {len(outcome.computed)} computed, "
               f"{len(outcome.reused)} reused" + (f"; table in {out_dir}/sweep.csv"
                                                  if out_dir else ""), err=True)
    if outcome.replayed:
        click.echo("sweep: the varied keys are cost/timing only: one point simulated and "
                   f"recorded, {len(outcome.computed) - 1} replayed from its activity record "
                   "(pnmsim replay; --no-replay simulates each)", err=True)
    keys = [k for ax in axes for k in ax.keys]
    if plot:
        explore.plot_sweep(outcome.table, [ax.keys for ax in axes], metric, plot)
    if fmt == "json":
        emit_json(explore.table_records(outcome.table))
    elif fmt == "csv":
        click.echo(outcome.table.to_csv(index=False), nl=False)
    else:
        cols = explore.sweep_columns(outcome.table, keys, metric)
        click.echo(outcome.table[cols].to_string(index=False,
                                                 float_format=lambda v: f"{v:.4g}"))
