"""Plots of comparisons and sweeps (matplotlib, optional)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pnmsim.errors import ConfigError, PnmsimError
from pnmsim.explore.compare import Comparison
from pnmsim.explore.rows import PHASES

# ----------------------------------------------------------------------------- plots


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PnmsimError("--plot needs matplotlib, which is not installed: "
                          "pip install pnmsim[plot]") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    from pnmsim.results import atomic_write

    p = Path(path)
    if p.suffix.lower() != ".png":
        raise ConfigError("--plot", "file", str(path), "a .png file name")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    atomic_write(p, buf.getvalue())
    return p


def _eng(v: float, unit: str) -> str:
    if v == 0:
        return f"0 {unit}"
    exp = int(math.floor(math.log10(abs(v)) / 3) * 3)
    exp = max(-15, min(12, exp))
    prefix = {-15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G",
              12: "T"}[exp]
    return f"{v / 10 ** exp:.3g} {prefix}{unit}"


def plot_comparison(cmp: Comparison, path: str | Path) -> Path:
    """Energy per sample by component class (one panel per phase, stacked bars per
    architecture) and array-level TOPs/W vs throughput per phase."""
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter

    labels = list(cmp.results)
    bds = {lab: r.breakdown() / r.samples for lab, r in cmp.results.items()}
    classes = sorted({c for b in bds.values() for c in b.index},
                     key=lambda c: -max(float(b.loc[c].sum()) if c in b.index else 0.0
                                        for b in bds.values()))
    cmap = plt.get_cmap("tab20")
    colours = {c: cmap(i % 20) for i, c in enumerate(classes)}
    fig = plt.figure(figsize=(15, 9.5))
    gs = fig.add_gridspec(2, 3, height_ratios=[1, 1.15], hspace=0.38, wspace=0.3,
                          left=0.06, right=0.98, bottom=0.09, top=0.86)
    for j, phase in enumerate(PHASES):
        ax = fig.add_subplot(gs[0, j])
        bottom = [0.0] * len(labels)
        for c in classes:
            vals = [float(bds[lab].loc[c, phase]) if (c in bds[lab].index and
                                                       phase in bds[lab].columns) else 0.0
                    for lab in labels]
            ax.bar(labels, vals, bottom=bottom, color=colours[c],
                   label=c if j == 0 else None, edgecolor="white", linewidth=0.4)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        top = max(bottom) or 1.0
        for x, b in enumerate(bottom):
            ax.text(x, b + 0.01 * top, _eng(b, "J"), ha="center", va="bottom", fontsize=8)
        ax.set_ylim(0, top * 1.12)
        ax.set_title(f"{phase}: energy per sample by component class", fontsize=10)
        ax.set_ylabel("energy per sample (J)")
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    fig.legend(loc="upper center", ncol=min(len(classes), 12), fontsize=8,
               bbox_to_anchor=(0.5, 0.995), frameon=False)
    ax = fig.add_subplot(gs[1, :2])
    markers = {"feedforward": "o", "backprop": "s", "update": "^"}
    acmap = plt.get_cmap("tab10")
    t = cmp.table.set_index("label")
    short = {"feedforward": "ff", "backprop": "bp", "update": "upd"}
    clusters: list[tuple[float, float, dict[str, list[str]]]] = []   # nearby points
    xs: list[float] = []
    for i, lab in enumerate(labels):
        for phase in PHASES:
            x = float(t.loc[lab, f"samples_per_s_{phase}"])
            y = float(t.loc[lab, f"tops_per_w_array_{phase}"])
            if x <= 0 or y <= 0:
                continue
            xs.append(x)
            ax.scatter(x, y, color=acmap(i % 10), marker=markers[phase], s=70,
                       edgecolor="black", linewidth=0.5, zorder=3, alpha=0.85)
            for cx, cy, names in clusters:
                if abs(math.log10(x / cx)) < 0.12 and abs(math.log10(y / cy)) < 0.12:
                    names.setdefault(phase, []).append(lab)
                    break
            else:
                clusters.append((x, y, {phase: [lab]}))
    if xs:
        ax.set_xlim(min(xs) / 8, max(xs) * 8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ys = [c[1] for c in clusters]
    if ys:
        ax.set_ylim(min(ys) / 2, max(ys) * 2)
    _place_labels(fig, ax, [(x, y, "\n".join(f"{short[ph]}: {', '.join(n)}"
                                             for ph, n in names.items()))
                            for x, y, names in clusters])
    ax.set_xlabel("phase throughput (samples/s)")
    ax.set_ylabel("TOPs/W (array level)")
    ax.set_title("array-level TOPs/W vs throughput, per phase", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    handles = [plt.Line2D([], [], marker=m, linestyle="", color="grey", markeredgecolor="black",
                          label=p) for p, m in markers.items()]
    handles += [plt.Line2D([], [], marker="o", linestyle="", color=acmap(i % 10), label=lab)
                for i, lab in enumerate(labels)]
    ax.legend(handles=handles, fontsize=8, loc="best")
    ax = fig.add_subplot(gs[1, 2])
    x = range(len(labels))
    tp = [float(t.loc[lab, "throughput_samples_per_s"]) for lab in labels]
    en = [float(t.loc[lab, "energy_per_sample_j_total"]) for lab in labels]
    ax.bar([i - 0.2 for i in x], [v / tp[0] if tp[0] else 0 for v in tp], width=0.4,
           label="throughput", color="tab:blue")
    ax.bar([i + 0.2 for i in x], [v / en[0] if en[0] else 0 for v in en], width=0.4,
           label="energy / sample", color="tab:orange")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(list(x), labels, rotation=20, fontsize=8)
    ax.set_yscale("log")
    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(fmt)
    ax.yaxis.set_minor_formatter(fmt)
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_title(f"total, relative to {labels[0]}", fontsize=10)
    ax.set_ylabel("ratio")
    ax.legend(fontsize=8)
    r = next(iter(cmp.results.values()))
    fig.suptitle(f"pnmsim compare: {r.workload.name}, {r.samples} samples, seed {r.seed}",
                 y=0.945, fontsize=12)
    p = _save(fig, path)
    plt.close(fig)
    return p


def _place_labels(fig: Any, ax: Any, items: Sequence[tuple[float, float, str]]) -> None:
    """Annotate points, each label at the first of a few offsets where it overlaps neither an
    earlier label nor a point, and stays inside the axes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    pts = [ax.transData.transform((x, y)) for x, y, _ in items]
    r = 7.0
    from matplotlib.transforms import Bbox

    taken = [Bbox.from_extents(px - r, py - r, px + r, py + r) for px, py in pts]
    options = [((9, 0), "left", "center"), ((-9, 0), "right", "center"),
               ((0, 9), "center", "bottom"), ((0, -9), "center", "top"),
               ((9, 9), "left", "bottom"), ((9, -9), "left", "top"),
               ((-9, 9), "right", "bottom"), ((-9, -9), "right", "top")]
    for x, y, text in items:
        chosen = None
        for off, ha, va in options:
            ann = ax.annotate(text, (x, y), textcoords="offset points", xytext=off,
                              fontsize=8, ha=ha, va=va)
            bb = ann.get_window_extent(renderer)
            inside = (bb.x0 >= frame.x0 and bb.x1 <= frame.x1 and bb.y0 >= frame.y0
                      and bb.y1 <= frame.y1)
            if inside and not any(bb.overlaps(t) for t in taken):
                chosen = bb
                break
            ann.remove()
        if chosen is None:
            off, ha, va = options[0]
            ann = ax.annotate(text, (x, y), textcoords="offset points", xytext=off,
                              fontsize=8, ha=ha, va=va)
            chosen = ann.get_window_extent(renderer)
        taken.append(chosen)


def _xvalues(table: pd.DataFrame, key: str) -> tuple[list[Any], bool]:
    vals = list(dict.fromkeys(table[key].tolist()))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
    return vals, numeric


def plot_sweep(table: pd.DataFrame, axes: Sequence[Sequence[str]], metric: str,
               path: str | Path) -> Path:
    """Four panels against the first ``--vary`` (``axes``: the key groups of each --vary, in
    order), one line colour per combination of the other --vary values, one line style per
    series (e.g. per phase)."""
    plt = _pyplot()
    xkey = axes[0][0]
    others = [ks[0] for ks in axes[1:]]
    xs, numeric = _xvalues(table, xkey)
    groups = ([("", table)] if not others else
              [(", ".join(f"{k}={v}" for k, v in zip(others, g if isinstance(g, tuple)
                                                     else (g,), strict=True)), sub)
               for g, sub in table.groupby(others, sort=False)])
    panels: list[tuple[str, list[tuple[str, str]]]] = [
        ("energy per sample (J)", [("energy_per_sample_j_total", "")]),
        ("TOPs/W (array level)", [(f"tops_per_w_array_{p}", p) for p in PHASES]),
        ("throughput (samples/s)", [("throughput_samples_per_s", "")]),
    ]
    if metric == "accuracy":
        panels.append(("test accuracy", [("final_test_accuracy", "final"),
                                         ("best_test_accuracy", "best")]))
    else:
        panels.append(("tiles used", [("tiles", "")]))
    fig, axs = plt.subplots(2, 2, figsize=(12, 8.5))
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D"]
    cmap = plt.get_cmap("tab10")
    for ax, (ylabel, cols) in zip(axs.flat, panels, strict=True):
        for gi, (_, sub) in enumerate(groups):
            sub = sub.set_index(xkey).reindex(xs)
            pos = xs if numeric else list(range(len(xs)))
            for si, (col, _) in enumerate(cols):
                ax.plot(pos, sub[col].astype(float).tolist(), marker=markers[si % 4],
                        linestyle=styles[si % 4], color=cmap(gi % 10))
        if not numeric:
            ax.set_xticks(list(range(len(xs))), [str(v) for v in xs])
        elif all(v > 0 for v in xs) and max(xs) / min(xs) >= 8:
            ax.set_xscale("log", base=2 if all(float(v).is_integer() for v in xs) else 10)
            ax.set_xticks(xs, [f"{v:g}" for v in xs])
            ax.minorticks_off()
        vals = table[[c for c, _ in cols]].to_numpy(dtype=float)
        if (vals > 0).all() and vals.max() / vals.min() >= 20:
            ax.set_yscale("log")
        ax.set_xlabel("+".join(axes[0]))
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        handles = [plt.Line2D([], [], color=cmap(gi % 10), marker="o", label=g)
                   for gi, (g, _) in enumerate(groups) if g]
        if len(cols) > 1:
            handles += [plt.Line2D([], [], color="black", linestyle=styles[si % 4],
                                   marker=markers[si % 4], label=name)
                        for si, (_, name) in enumerate(cols)]
        if handles:
            ax.legend(handles=handles, fontsize=7, loc="best")
    r = table.iloc[0]
    if "train_samples" in table.columns:
        what = (f"hardware training on {r['train_samples']} samples x "
                f"{int(r['samples']) // max(1, int(r['train_samples']))} epochs, "
                f"tested on {r['test_samples']}")
    else:
        what = f"{r['samples']} samples"
    fig.suptitle(f"pnmsim sweep: {r['arch']} / {r['workload']}, {what}, seed {r['seed']}",
                 fontsize=12)
    fig.tight_layout()
    p = _save(fig, path)
    plt.close(fig)
    return p
