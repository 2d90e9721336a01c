"""Running a sweep's points: in-process, in local worker processes (single-threaded BLAS
each) or on a Dask cluster; each point written atomically as it completes, reruns skip points
already there, one tidy table in point order."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pnmsim.config import load_arch
from pnmsim.errors import PnmsimError
from pnmsim.explore.plan import Point, SweepSpec
from pnmsim.explore.rows import DASK_HINT, results_row, training_row

# ----------------------------------------------------------------------------- sweep run


_BLAS_THREAD_FUNCS = (   # (set, get) of the BLAS builds numpy/scipy wheels ship with
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
    ("MKL_Set_Num_Threads", "MKL_Get_Max_Threads"),
    ("bli_thread_set_num_threads", "bli_thread_get_num_threads"),
)


def _blas_controls() -> list[tuple[Any, Any]]:
    """(set, get) functions of every BLAS library loaded in this process (Linux only)."""
    import ctypes

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    libs = sorted({ln.split()[-1] for ln in maps.splitlines()
                   if ln.split()[-1].startswith("/") and
                   any(t in Path(ln.split()[-1]).name.lower() for t in ("blas", "mkl_rt"))})
    out = []
    for lib in libs:
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        for set_name, get_name in _BLAS_THREAD_FUNCS:
            if hasattr(handle, set_name) and hasattr(handle, get_name):
                out.append((getattr(handle, set_name), getattr(handle, get_name)))
                break
    return out


@contextlib.contextmanager
def single_thread_blas() -> Iterator[None]:
    """Run the block with one BLAS thread. Multi-threaded BLAS sums in a thread-count dependent
    order, so without this a point's figures would differ in the last digits between this
    process, local workers and Dask workers (which start with one BLAS thread)."""
    import numpy  # noqa: F401  (loads the BLAS library)

    ctl = _blas_controls()
    saved = [int(get()) for _, get in ctl]
    for st, _ in ctl:
        st(1)
    try:
        yield
    finally:
        for (st, _), n in zip(ctl, saved, strict=True):
            st(max(1, n))


def run_point(spec: SweepSpec, point: Point) -> dict[str, Any]:
    """Compute one point (in any process, with one BLAS thread); returns the record saved in
    points/<id>.json."""
    try:
        with single_thread_blas():
            return _run_point(spec, point)
    except PnmsimError as e:     # ConfigError(4 args) does not unpickle across processes
        raise PnmsimError(str(e)) from None


def _run_point(spec: SweepSpec, point: Point) -> dict[str, Any]:
    from pnmsim import api
    from pnmsim.workload import load_workload

    t0 = time.perf_counter()
    cfg = load_arch(spec.arch, (*spec.overrides, *point.overrides))
    wl = load_workload(spec.workload)
    if spec.metric == "accuracy":
        summary = api.train(cfg, wl, dataset=spec.dataset or "mnist", data_dir=spec.data_dir,
                            mode="hardware", epochs=spec.epochs, batch_size=spec.batch_size,
                            lr=spec.lr, lr_end=spec.lr / 100, train_limit=spec.train_limit,
                            test_limit=spec.test_limit, val_size=spec.val_size,
                            seed=spec.seed)
        row = training_row(cfg, wl, summary)
    else:
        res = api.simulate(cfg, wl, samples=spec.samples, seed=spec.seed,
                           dataset=spec.dataset, data_dir=spec.data_dir)
        row = results_row(res)
    return {"row": row, "wall_s": time.perf_counter() - t0,
            "host": socket.gethostname(), "pid": os.getpid()}


def replayable(spec: SweepSpec, points: Sequence[Point]) -> bool:
    """Whether every varied key is cost/timing only (:mod:`pnmsim.replay.keys`), so one
    recorded functional run can be re-timed and re-priced for every point."""
    from pnmsim.replay.keys import key_class

    return (spec.metric == "energy" and len(points) > 1
            and all(key_class(k) == "cost" for p in points for k, _ in p.values))


def _iter_replay(spec: SweepSpec, todo: Sequence[Point],
                 ) -> Iterator[tuple[Point, dict[str, Any]]]:
    """Record the first point's full simulation once, replay it for every other point (equal
    to simulating each: the points differ in cost/timing keys only)."""
    import tempfile

    from pnmsim import api
    from pnmsim.replay import load_record, replay
    from pnmsim.workload import load_workload

    wl = load_workload(spec.workload)
    with tempfile.TemporaryDirectory(prefix="pnmsim-sweep-") as tmp:
        first = todo[0]
        t0 = time.perf_counter()
        cfg = load_arch(spec.arch, (*spec.overrides, *first.overrides))
        rec_dir = Path(tmp) / "record"
        with single_thread_blas():
            res = _guard(first, lambda: {"res": api.simulate(
                cfg, wl, samples=spec.samples, seed=spec.seed, dataset=spec.dataset,
                data_dir=spec.data_dir, record=rec_dir)})["res"]
        yield first, {"row": results_row(res), "wall_s": time.perf_counter() - t0,
                      "host": socket.gethostname(), "pid": os.getpid(), "via": "simulate+record"}
        rec = load_record(rec_dir)
        for p in todo[1:]:
            t0 = time.perf_counter()
            cfg = load_arch(spec.arch, (*spec.overrides, *p.overrides))
            res = _guard(p, lambda cfg=cfg: {"res": replay(rec, cfg)})["res"]
            yield p, {"row": results_row(res), "wall_s": time.perf_counter() - t0,
                      "host": socket.gethostname(), "pid": os.getpid(), "via": "replay"}


def _record(spec: SweepSpec, point: Point, computed: dict[str, Any]) -> dict[str, Any]:
    from pnmsim import __version__

    return {"point_id": point.id, "values": dict(point.values),
            "overrides": list(point.overrides), "config_sha": point.config_sha,
            "spec": spec.fingerprint(), "pnmsim_version": __version__, **computed}


def _load_record(path: Path, spec: SweepSpec, point: Point) -> dict[str, Any] | None:
    """A saved point when it was computed with the same settings and config, else None."""
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    fp = json.loads(json.dumps(spec.fingerprint()))
    if (not isinstance(rec, dict) or rec.get("spec") != fp
            or rec.get("config_sha") != point.config_sha or "row" not in rec):
        return None
    return rec


@dataclasses.dataclass
class SweepOutcome:
    table: pd.DataFrame
    computed: list[str]             # ids of the points computed in this run
    reused: list[str]               # ids of the points taken from OUT/points
    timings: pd.DataFrame
    replayed: bool = False          # computed by one recorded run + replays


def _table(points: Sequence[Point], records: dict[str, dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for p in points:
        rec = json.loads(json.dumps(records[p.id]))   # the same values as a saved point
        row: dict[str, Any] = {"point": p.index, "point_id": p.id}
        row.update({k: v for k, v in p.values})
        row.update(rec["row"])
        rows.append(row)
    df = pd.DataFrame(rows)
    return df.sort_values("point", kind="stable").reset_index(drop=True)


def _parquet_engine() -> str | None:
    for mod in ("pyarrow", "fastparquet"):
        if importlib.util.find_spec(mod) is not None:
            return mod
    return None


def _iter_local(spec: SweepSpec, todo: Sequence[Point],
                jobs: int) -> Iterator[tuple[Point, dict[str, Any]]]:
    if jobs <= 1 or len(todo) <= 1:
        for p in todo:
            yield p, _guard(p, lambda p=p: run_point(spec, p))
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    # numba and threads do not survive fork(); forkserver (else spawn) starts clean workers.
    # The forkserver preloads the simulator once, so each worker starts without importing it.
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["pnmsim.explore", "pnmsim.api"])
    else:
        ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx)
    failed: tuple[Point, BaseException] | None = None
    try:
        futs = {pool.submit(run_point, spec, p): p for p in todo}
        for fut in as_completed(futs):
            p = futs[fut]
            if fut.cancelled():
                continue
            try:
                res = fut.result()
            except BrokenProcessPool:
                raise PnmsimError(f"sweep point {p.label}: a worker process died (out of "
                                  "memory?); finished points are saved, rerun with --resume "
                                  "and the same --out") from None
            except Exception as e:
                # stop starting points, but keep (and save) those already running
                if failed is None:
                    failed = (p, e)
                    for f in futs:
                        f.cancel()
                continue
            yield p, res
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if failed is not None:
        _raise_point_error(*failed)


def _iter_dask(spec: SweepSpec, todo: Sequence[Point],
               address: str) -> Iterator[tuple[Point, dict[str, Any]]]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise PnmsimError(f"--scheduler needs dask.distributed, which is not installed: "
                          f"{DASK_HINT}") from None
    try:
        client = Client(address, timeout="15s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise PnmsimError(f"--scheduler {address}: cannot connect to a Dask scheduler "
                          f"({type(e).__name__}: {e})") from None
    try:
        futs = {client.submit(run_point, spec, p, pure=False,
                              key=f"pnmsim-sweep-{p.id}-{os.getpid()}-{time.time_ns()}"): p
                for p in todo}
        by_key = {f.key: p for f, p in futs.items()}
        for fut in as_completed(list(futs), loop=client.loop):
            p = by_key[fut.key]
            try:
                res = fut.result()
            except Exception as e:
                client.cancel([f for f in futs if not f.done()])
                _raise_point_error(p, e)
            yield p, res
    finally:
        client.close()


def _raise_point_error(p: Point, e: BaseException) -> None:
    if isinstance(e, PnmsimError):
        raise PnmsimError(f"sweep point {p.label}: {e}") from None
    raise e


def _guard(p: Point, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return fn()
    except PnmsimError as e:
        raise PnmsimError(f"sweep point {p.label}: {e}") from None


def check_sweep_out(spec: SweepSpec, out_dir: str | Path, force: bool = False,
                    resume: bool = False) -> None:
    """Refuse an --out that holds another run unless ``force``; a sweep folder is continued
    only with ``resume`` and the same settings."""
    from pnmsim.outdir import _only_marker, check_out, read_marker, run_kind

    out = check_out(out_dir, "--out", "sweep", force=force, same_kind_ok=resume)
    if force or not out.is_dir() or run_kind(out) != "sweep" or _only_marker(out):
        return
    mark = read_marker(out)
    mine = json.loads(json.dumps(spec.fingerprint(), default=str))
    saved = mark.get("spec") if mark else None
    if saved is None:         # a sweep folder written before run markers: its sweep.json
        try:
            full = json.loads((out / "sweep.json").read_text())["spec"]
            saved = {k: full[k] for k in mine}
        except (OSError, ValueError, KeyError, TypeError):
            raise PnmsimError(f"--out {out_dir}: holds a pnmsim sweep run whose settings "
                              "cannot be read; allowed: a new folder, or --force") from None
    if saved != mine:
        diff = next((k for k in mine if saved.get(k) != mine[k]), "settings") \
            if isinstance(saved, dict) else "settings"
        raise PnmsimError(f"--out {out_dir}: holds a sweep with a different {diff}; allowed: "
                          "the same settings (to resume it), a new folder, or --force")


def run_sweep(spec: SweepSpec, points: Sequence[Point], out_dir: str | Path | None = None, *,
              jobs: int = 1, scheduler: str | None = None, progress: bool = False,
              extra_meta: dict[str, Any] | None = None, use_replay: bool = True,
              ) -> SweepOutcome:
    """Run the points (reusing those saved in ``out_dir``/points with the same settings) and
    write ``sweep.csv`` (and ``sweep.parquet`` when a Parquet engine is installed)."""
    from pnmsim.progress import bar as progress_bar
    from pnmsim.results import atomic_write

    out = Path(out_dir) if out_dir is not None else None
    pdir = out / "points" if out is not None else None
    records: dict[str, dict[str, Any]] = {}
    reused: list[str] = []
    if out is not None:
        from pnmsim.outdir import write_marker

        write_marker(out, "sweep", spec=json.loads(json.dumps(spec.fingerprint(), default=str)))
    if pdir is not None:
        for tmp in pdir.glob(".*.tmp"):      # left by a sweep killed in mid-write
            tmp.unlink(missing_ok=True)
        for p in points:
            rec = _load_record(pdir / f"{p.id}.json", spec, p)
            if rec is not None:
                records[p.id] = rec
                reused.append(p.id)
    todo = [p for p in points if p.id not in records]
    computed: list[str] = []
    bar = progress_bar(len(points), "point", "sweep", enabled=progress)
    bar.update(len(reused))
    replayed = use_replay and replayable(spec, todo)
    try:
        it = (_iter_replay(spec, todo) if replayed
              else _iter_dask(spec, todo, scheduler) if scheduler and todo
              else _iter_local(spec, todo, jobs))
        for p, res in it:
            rec = _record(spec, p, res)
            if pdir is not None:
                atomic_write(pdir / f"{p.id}.json", json.dumps(rec, indent=1, default=str))
            records[p.id] = rec
            computed.append(p.id)
            bar.update(1)
    finally:
        bar.close()
    table = _table(points, records)
    timings = pd.DataFrame([{"point": p.index, "point_id": p.id,
                             "status": "reused" if p.id in reused else "computed",
                             "wall_s": records[p.id].get("wall_s"),
                             "host": records[p.id].get("host")} for p in points])
    if out is not None:
        atomic_write(out / "sweep.csv", table.to_csv(index=False))
        atomic_write(out / "timings.csv", timings.to_csv(index=False))
        meta = {"spec": dataclasses.asdict(spec),
                "points": [{"point": p.index, "point_id": p.id, "overrides": list(p.overrides)}
                           for p in points], **(extra_meta or {})}
        atomic_write(out / "sweep.json", json.dumps(meta, indent=2, default=str))
        engine = _parquet_engine()
        pq = out / "sweep.parquet"
        if engine is not None:
            buf = io.BytesIO()
            table.to_parquet(buf, engine=engine, index=False)  # type: ignore[arg-type]
            atomic_write(pq, buf.getvalue())
        else:
            pq.unlink(missing_ok=True)     # never leave a stale table next to the new one
    return SweepOutcome(table=table, computed=computed, reused=reused, timings=timings,
                        replayed=replayed)


def sweep_columns(table: pd.DataFrame, keys: Sequence[str], metric: str) -> list[str]:
    """The columns shown by the sweep command's table format."""
    cols = [*keys, "tiles", "array_utilisation", "energy_per_sample_j_total",
            "energy_per_sample_j_backprop", "cycles_per_sample_backprop",
            "adc_convert_pj", "adc_convert_cycles", "dac_convert_pj",
            "tops_per_w_array_feedforward", "tops_per_w_array_update",
            "throughput_samples_per_s"]
    if metric == "accuracy":
        cols += ["final_test_accuracy", "best_test_accuracy"]
    # the backprop and converter columns only where the sweep moves them
    varying = {"energy_per_sample_j_backprop", "cycles_per_sample_backprop", "adc_convert_pj",
               "adc_convert_cycles", "dac_convert_pj"}
    return [c for c in cols if c in table.columns
            and (c not in varying or table[c].nunique() > 1)]
