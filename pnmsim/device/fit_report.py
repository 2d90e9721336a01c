"""Presenting a :class:`~pnmsim.device.fit.FitResult`: text table, JSON, and a device part YAML.

The part holds the ``mtj:`` keys (``delta``, ``ic0_ua``, ``tau_d_ns``, ``tau0_ns``) and, when
the data named devices, the ``variation:`` keys ``ic0_sigma`` / ``delta_sigma``; each value
carries a ``# source:`` comment with the file and its 95 % interval. It is meant to be listed in
a preset's ``parts:`` *after* the reference MTJ part, which supplies ``r_parallel_ohm`` and
``tmr`` (switching data do not measure resistances).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from pnmsim import __version__
from pnmsim.device.fit import Estimate, FitResult

UNITS = {"delta": "", "ic0_ua": "uA", "tau_d_ns": "ns", "tau0_ns": "ns", "ic0_sigma": "(CV)",
         "delta_sigma": "(CV)"}


def _ci(e: Estimate) -> str:
    if e.ci_low is None or e.ci_high is None:
        return "-"
    return f"[{e.ci_low:.4g}, {e.ci_high:.4g}]"


def to_table(r: FitResult) -> str:
    lines = [f"fit-device {r.source}: {r.n_rows} rows, {r.n_trials} trials, {r.n_devices} "
             f"device(s), currents {', '.join(f'{c:g}' for c in r.currents_ua)} uA, "
             f"direction {r.direction}",
             f"method: {r.method}; intervals: {r.ci_method}",
             "",
             f"{'parameter':<12} {'estimate':>10} {'unit':<5} {'95% CI':<24} status"]
    for e in list(r.params.values()) + list(r.spreads.values()):
        lines.append(f"{e.name:<12} {e.value:>10.4g} {UNITS[e.name]:<5} {_ci(e):<24} {e.status}"
                     + (f" ({e.note})" if e.note else ""))
    g = r.gof
    lines += ["", f"goodness of fit{' (approximate)' if g.approximate else ''}: deviance "
              f"{g.deviance:.4g} on {g.dof} dof, p = {g.p_deviance:.3g}; Pearson chi2 "
              f"{g.pearson:.4g}, p = {g.p_pearson:.3g}",
              f"log-likelihood {r.log_likelihood:.6g}"]
    if r.spread_test is not None:
        s = r.spread_test
        verdict = "detected" if s["detected"] else "not detected"
        lines.append(f"spread test ({', '.join(s['spreads'])} vs none): LR "
                     f"{s['lr_statistic']:.4g}, p = {s['p_value']:.3g} -> {verdict}")
    if r.symmetry_test is not None:
        s = r.symmetry_test
        if s.get("available"):
            lines.append(f"direction symmetry test (one parameter set for P->AP and AP->P): LR "
                         f"{s['lr_statistic']:.4g} on {s['dof']} dof, p = {s['p_value']:.3g}")
        else:
            lines.append(f"direction symmetry test: not available ({s['reason']})")
    return "\n".join(lines)


def to_json(r: FitResult) -> dict:
    d = asdict(r)
    d["pnmsim_version"] = __version__
    return d


def _fmt(v: float) -> str:
    return f"{v:.6g}" if v != 0 else "0.0"


def to_part_yaml(r: FitResult) -> str:
    src = Path(r.source).name
    g = r.gof
    out = [f"# MTJ device part fitted by `pnmsim fit-device {src}` (pnmsim {__version__}).",
           f"# Method: {r.method} on {r.n_rows} rows / {r.n_trials} trials"
           f" ({r.n_devices} device(s), direction {r.direction}); intervals: {r.ci_method}.",
           f"# Goodness of fit{' (approximate)' if g.approximate else ''}: deviance "
           f"{g.deviance:.4g} on {g.dof} dof (p = {g.p_deviance:.3g}); Pearson chi2 "
           f"{g.pearson:.4g} (p = {g.p_pearson:.3g}).",
           "# Compose it after the reference MTJ part, which supplies r_parallel_ohm and tmr:",
           "#   parts: [parts/mtj_reference.yaml, <this file>, parts/periphery_reference.yaml]"]
    out += [f"# WARNING: {w}" for w in r.warnings]
    out.append("mtj:")
    for e in r.params.values():
        if e.status == "fixed":
            cmt = (f"source: held fixed at {_fmt(e.value)} ns, not fitted (science.md §3 "
                   "thermal attempt time ~1 ns; plausible 0.1-10 ns)")
        else:
            cmt = f"source: fitted from {src}, 95% CI {_ci(e)}"
        out.append(f"  {e.name}: {_fmt(e.value)}  # {cmt}")
    if r.spreads:
        out.append("variation:")
        out.append("  distribution: lognormal  # source: the hierarchical fit's per-device "
                   "lognormal model (the simulator's own)")
        for e in r.spreads.values():
            if e.status == "not detected":
                cmt = f"source: fitted from {src}: spread not detected ({e.note})"
            else:
                cmt = f"source: fitted from {src}, 95% CI {_ci(e)}"
            out.append(f"  {e.name}: {_fmt(e.value)}  # {cmt}")
    return "\n".join(out) + "\n"


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent or Path("."))
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
