"""`pnmsim timeline` and the trace reader: a synthetic Chrome trace built here is read back
event for event, drawn to a PNG (whole trace and a window), and every malformed trace gives one
``error:`` line naming the file and the event."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import pytest

from pnmsim.tracefmt import POWER_COUNTER, TRACE_EVENTS, TraceError, parse_trace, read_trace
from tests._cli import assert_user_error, invoke

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def synthetic_trace() -> dict:
    """Two tiles' ADCs and the bus; tile 0 busy 0-4 and 6-9 us, tile 1 busy 2-5 us, the bus
    4-6 us; power changes at 0, 5 and 9 us."""
    m = [{"ph": "M", "name": "process_name", "pid": 1, "tid": 0, "args": {"name": "chip"}}]
    names = {1: "chip.tile[00].adc", 2: "chip.tile[01].adc", 3: "chip.bus"}
    m += [{"ph": "M", "name": "thread_name", "pid": 1, "tid": t, "args": {"name": n}}
          for t, n in names.items()]

    def x(tid: int, ts: float, dur: float, phase: str) -> dict:
        return {"ph": "X", "name": f"op{tid}", "pid": 1, "tid": tid, "ts": ts, "dur": dur,
                "args": {"phase": phase, "layer": "fc1", "group": 0}}

    xs = [x(1, 0.0, 4.0, "feedforward"), x(1, 6.0, 3.0, "update"),
          x(2, 2.0, 3.0, "backprop"), x(3, 4.0, 2.0, "feedforward")]
    cs = [{"ph": "C", "name": POWER_COUNTER, "pid": 1, "ts": ts, "args": v}
          for ts, v in ((0.0, {"adc": 0.1, "bus": 0.0}), (5.0, {"adc": 0.05, "bus": 0.02}),
                        (9.0, {"adc": 0.0, "bus": 0.0}))]
    return {TRACE_EVENTS: m + xs + cs}


def write(tmp_path: Path, doc: object, name: str = "t.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def test_reader_returns_every_event(tmp_path: Path) -> None:
    tr = read_trace(write(tmp_path, synthetic_trace()))
    assert [tr.track_name(t) for t in tr.tracks()] == ["chip.tile[00].adc",
                                                       "chip.tile[01].adc", "chip.bus"]
    busy = {tr.track_name(t): sum(s.dur for s in tr.spans if s.track == t)
            for t in tr.tracks()}
    assert busy == {"chip.tile[00].adc": 4.0 + 3.0, "chip.tile[01].adc": 3.0, "chip.bus": 2.0}
    assert [s.phase for s in tr.spans] == ["feedforward", "update", "backprop", "feedforward"]
    assert tr.spans[0].layer == "fc1" and tr.spans[0].group == 0
    assert [ts for ts, _ in tr.counters[POWER_COUNTER]] == [0.0, 5.0, 9.0]
    assert tr.extent() == (0.0, 9.0)


def test_timeline_draws_png(tmp_path: Path) -> None:
    out = tmp_path / "t.png"
    res = invoke(["timeline", str(write(tmp_path, synthetic_trace())), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert "4 events on 3 tracks" in res.stdout
    assert "power series: adc, bus" in res.stdout


def test_timeline_window_keeps_overlapping_events_only(tmp_path: Path) -> None:
    out = tmp_path / "w.png"
    # window [4.5, 5.5]: tile0 [0,4) no; tile0 [6,9) no; tile1 [2,5) yes; bus [4,6) yes
    res = invoke(["timeline", str(write(tmp_path, synthetic_trace())), "--out", str(out),
                  "--start", "4.5", "--end", "5.5"])
    assert res.exit_code == 0, res.output
    assert "2 events on 2 tracks, 4.5-5.5 us" in res.stdout
    assert "backprop, feedforward" in res.stdout
    assert out.read_bytes()[:8] == PNG_MAGIC


def _mutate(path: str, value: object) -> dict:
    doc = synthetic_trace()
    ev = doc[TRACE_EVENTS]
    i, key = path.split(".", 1)
    target = ev[int(i)]
    *head, last = key.split(".")
    for h in head:
        target = target[h]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return doc


@pytest.mark.parametrize("doc,needles", [
    ([1, 2], ("(top level)", "traceEvents")),
    ({"events": []}, ("(top level)", "traceEvents")),
    ({TRACE_EVENTS: {}}, ("traceEvents", "a list")),
    (_mutate("4.dur", -1), ("traceEvents[4].dur", ">= 0")),
    (_mutate("4.ts", "soon"), ("traceEvents[4].ts", "finite number")),
    (_mutate("4.args.phase", KeyError), ("traceEvents[4].args.phase", "non-empty string")),
    (_mutate("4.tid", "x"), ("traceEvents[4].tid", "integer")),
    (_mutate("4.ph", "B"), ("traceEvents[4].ph", "M, X, C")),
    (_mutate("1.args.name", ""), ("traceEvents[1].args.name", "non-empty")),
    (_mutate("1.name", "thread_label"), ("traceEvents[1].name", "thread_name")),
    (_mutate("8.args.adc", float("nan")), ("traceEvents[8].args.adc", "finite")),
    (_mutate("5.ts", 2.0), ("chip.tile[00].adc", "overlap")),
])
def test_malformed_traces_refused(tmp_path: Path, doc: object,
                                  needles: tuple[str, ...]) -> None:
    f = write(tmp_path, doc)
    assert_user_error(invoke(["timeline", str(f), "--out", str(tmp_path / "x.png")]),
                      str(f), *needles)
    assert not (tmp_path / "x.png").exists()


def test_not_json_and_missing_file(tmp_path: Path) -> None:
    f = tmp_path / "t.json"
    f.write_text("{not json")
    assert_user_error(invoke(["timeline", str(f), "--out", str(tmp_path / "x.png")]),
                      str(f), "line 1", "well-formed JSON")
    assert_user_error(invoke(["timeline", str(tmp_path / "none.json"), "--out",
                              str(tmp_path / "x.png")]), "none.json", "existing")


@pytest.mark.parametrize("extra,needles", [
    (["--start", "5", "--end", "5"], ("--end", "after --start")),
    (["--start", "20", "--end", "30"], ("window", "at least one X event")),
    (["--start", "-1"], ("--start", ">= 0")),
])
def test_bad_window_refused(tmp_path: Path, extra: list[str], needles: tuple[str, ...]) -> None:
    f = write(tmp_path, synthetic_trace())
    assert_user_error(invoke(["timeline", str(f), "--out", str(tmp_path / "x.png"), *extra]),
                      *needles)


def test_out_must_be_png(tmp_path: Path) -> None:
    f = write(tmp_path, synthetic_trace())
    assert_user_error(invoke(["timeline", str(f), "--out", str(tmp_path / "x.pdf")]),
                      "--out", ".png")


def test_missing_matplotlib_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *a: object, **k: object) -> object:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    f = write(tmp_path, synthetic_trace())
    assert_user_error(invoke(["timeline", str(f), "--out", str(tmp_path / "x.png")]),
                      "matplotlib", "pnmsim[plot]")


def test_parse_trace_names_the_source() -> None:
    with pytest.raises(TraceError, match=r"^mem: traceEvents\[0\]: "):
        parse_trace({TRACE_EVENTS: [3]}, "mem")
