"""Draw a timeline trace (:mod:`pnmsim.tracefmt`) as a Gantt chart with a power panel.

Rows are the trace's tracks (components), bars are ``X`` events coloured by their phase, and
the lower panel draws every power counter series (``POWER_COUNTER``, one per component class)
as a step function over the same time window. matplotlib is the optional ``plot`` extra; a
missing install is one :class:`~pnmsim.errors.PnmsimError` line.
"""

from __future__ import annotations

import os
from pathlib import Path

from pnmsim.errors import ConfigError, PnmsimError
from pnmsim.tracefmt import PHASES, POWER_COUNTER, TIME_UNIT, Trace

PHASE_COLOURS: dict[str, str] = {"feedforward": "#1f77b4", "backprop": "#ff7f0e",
                                 "update": "#2ca02c"}
_EXTRA_COLOURS = ("#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
MAX_ROWS = 400


def window(trace: Trace, start: float | None, end: float | None) -> tuple[float, float]:
    """The time window to draw (defaults: the trace's extent); refuses an empty window."""
    lo, hi = trace.extent()
    s = lo if start is None else start
    e = hi if end is None else end
    if start is not None and not start >= 0:
        raise ConfigError("--start", "value", start, f"a time >= 0 ({TIME_UNIT})")
    if not e > s:
        raise ConfigError("--end", "value", e, f"a time after --start ({s:g} {TIME_UNIT})")
    if not any(sp.ts < e and sp.ts + sp.dur > s or (sp.dur == 0 and s <= sp.ts <= e)
               for sp in trace.spans):
        raise ConfigError(trace.source, "window", f"[{s:g}, {e:g}] {TIME_UNIT}",
                          f"a window holding at least one X event (the trace spans "
                          f"[{lo:g}, {hi:g}] {TIME_UNIT})")
    return s, e


def phase_colours(trace: Trace) -> dict[str, str]:
    phases = list(PHASES) + sorted({s.phase for s in trace.spans} - set(PHASES))
    out = dict(PHASE_COLOURS)
    extra = iter(_EXTRA_COLOURS * (1 + len(phases) // len(_EXTRA_COLOURS)))
    for p in phases:
        if p not in out:
            out[p] = next(extra)
    return out


def draw(trace: Trace, out: str | Path, start: float | None = None,
         end: float | None = None, title: str | None = None) -> dict:
    """Write the chart to ``out`` (PNG); returns what was drawn (rows, spans, series)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PnmsimError("pnmsim timeline needs matplotlib: pip install 'pnmsim[plot]'") from None
    s, e = window(trace, start, end)
    in_win = [sp for sp in trace.spans if sp.ts < e and sp.ts + sp.dur > s
              or (sp.dur == 0 and s <= sp.ts <= e)]
    tracks = [t for t in trace.tracks() if any(sp.track == t for sp in in_win)]
    if len(tracks) > MAX_ROWS:
        raise ConfigError(trace.source, "tracks", len(tracks),
                          f"at most {MAX_ROWS} tracks with events in the window (narrow it "
                          "with --start/--end)")
    row = {t: i for i, t in enumerate(tracks)}
    colours = phase_colours(trace)
    power = trace.counters.get(POWER_COUNTER, [])
    n = len(tracks)
    fig_h = min(2.0 + 0.28 * n, 60.0) + (2.2 if power else 0.0)
    ratios = [max(n * 0.28, 1.5)] + ([2.0] if power else [])
    fig, axes = plt.subplots(len(ratios), 1, figsize=(11, fig_h), sharex=True,
                             gridspec_kw={"height_ratios": ratios}, squeeze=False)
    ax = axes[0, 0]
    bars: dict[str, dict[int, list[tuple[float, float]]]] = {}
    for sp in in_win:
        a, b = max(sp.ts, s), min(sp.ts + sp.dur, e)
        bars.setdefault(sp.phase, {}).setdefault(row[sp.track], []).append((a, max(b - a, 0.0)))
    for phase, rows in bars.items():
        for r, segs in rows.items():
            ax.broken_barh(segs, (r - 0.4, 0.8), facecolors=colours[phase], linewidth=0)
    ax.set_yticks(range(n))
    ax.set_yticklabels([trace.track_name(t) for t in tracks], fontsize=7 if n > 30 else 8)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(s, e)
    ax.grid(axis="x", alpha=0.3)
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color=colours[p], label=p) for p in colours if p in bars],
              loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, title="phase",
              title_fontsize=8)
    ax.set_title(title or f"{Path(trace.source).name}: {len(in_win)} events on {n} tracks, "
                 f"{s:g}-{e:g} {TIME_UNIT}", fontsize=10)
    series: list[str] = []
    if power:
        pax = axes[1, 0]
        series = sorted({k for _, v in power for k in v})
        pts = sorted(power, key=lambda p: p[0])
        for name in series:
            xs, ys, last = [], [], None
            for t, vals in pts:
                if name in vals:
                    last = vals[name]
                if last is not None:
                    xs.append(t)
                    ys.append(last)
            if xs:
                xs.append(max(e, xs[-1]))
                ys.append(ys[-1])
                pax.step(xs, ys, where="post", label=name, linewidth=1.2)
        pax.set_ylabel("power (W)")
        pax.set_xlim(s, e)
        pax.grid(alpha=0.3)
        pax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7,
                   title="class", title_fontsize=7)
    axes[-1, 0].set_xlabel(f"simulated time ({TIME_UNIT})")
    fig.tight_layout()
    out_p = Path(out)
    tmp = out_p.with_name(f".{out_p.name}.partial.png")
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, out_p)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return {"rows": n, "spans": len(in_win), "phases": sorted(bars), "power_series": series,
            "window_us": [s, e]}
