"""Write docs/timeline_example.json: a SYNTHETIC, hand-made timeline trace in pnmsim's format.

`simulate --trace` (issue 13 item 1) does not exist yet; until it does, this script builds a
plausible-looking trace by hand (not from a simulation): 4 tiles with a crossbar, an ADC pool
and row drivers each, the bus, the controller and the digital unit, going through feedforward,
backprop and update for two sample groups, with power counters per component class. Durations
and powers are illustrative numbers, not simulator output.

    python benchmarks/make_timeline_example.py && \
        pnmsim timeline docs/timeline_example.json --out docs/timeline_example.png
"""

from __future__ import annotations

import json

from pnmsim.tracefmt import POWER_COUNTER, TRACE_EVENTS

COMPONENTS = ([f"chip.tile[{t:02d}].{c}" for t in range(4) for c in ("crossbar", "adc",
                                                                      "row_driver")]
              + ["chip.bus", "chip.controller", "chip.digital"])
POWER_W = {"feedforward": {"synapse": 0.02, "adc": 0.09, "row_driver": 0.01, "bus": 0.01,
                           "controller": 0.002, "digital": 0.03},
           "backprop": {"synapse": 0.02, "adc": 0.12, "row_driver": 0.02, "bus": 0.015,
                        "controller": 0.002, "digital": 0.04},
           "update": {"synapse": 0.06, "adc": 0.0, "row_driver": 0.05, "bus": 0.005,
                      "controller": 0.002, "digital": 0.3}}


def build() -> dict:
    ev: list[dict] = [{"ph": "M", "name": "process_name", "pid": 1, "tid": 0,
                       "args": {"name": "chip"}}]
    tid = {c: i + 1 for i, c in enumerate(COMPONENTS)}
    for c, i in tid.items():
        ev.append({"ph": "M", "name": "thread_name", "pid": 1, "tid": i, "args": {"name": c}})
        ev.append({"ph": "M", "name": "thread_sort_index", "pid": 1, "tid": i,
                   "args": {"sort_index": i}})

    def x(comp: str, name: str, ts: float, dur: float, phase: str, layer: str,
          group: int) -> None:
        ev.append({"ph": "X", "name": name, "pid": 1, "tid": tid[comp], "ts": round(ts, 4),
                   "dur": round(dur, 4), "args": {"phase": phase, "layer": layer,
                                                  "group": group}})

    t = 0.0
    for group in range(2):
        for phase, layers in (("feedforward", ("conv1", "conv2", "fc1", "fc2")),
                              ("backprop", ("fc2", "fc1", "conv2")),
                              ("update", ("conv1", "conv2", "fc1", "fc2"))):
            ev.append({"ph": "C", "name": POWER_COUNTER, "pid": 1, "ts": round(t, 4),
                       "args": POWER_W[phase]})
            for li, layer in enumerate(layers):
                tile = li % 4
                base = f"chip.tile[{tile:02d}]"
                x("chip.controller", f"issue {layer}", t, 0.05, phase, layer, group)
                if phase == "update":
                    x("chip.digital", f"adam {layer}", t + 0.05, 1.2, phase, layer, group)
                    x(f"{base}.row_driver", f"write {layer}", t + 1.25, 0.9, phase, layer, group)
                    x(f"{base}.crossbar", f"switch {layer}", t + 1.25, 0.9, phase, layer, group)
                    t += 2.2
                else:
                    x(f"{base}.row_driver", f"drive {layer}", t + 0.05, 0.6, phase, layer, group)
                    x(f"{base}.crossbar", f"mvm {layer}", t + 0.05, 0.6, phase, layer, group)
                    x(f"{base}.adc", f"convert {layer}", t + 0.15, 0.7, phase, layer, group)
                    x("chip.bus", f"move {layer}", t + 0.85, 0.25, phase, layer, group)
                    x("chip.digital", f"bn {layer}", t + 1.1, 0.3, phase, layer, group)
                    t += 1.45
    ev.append({"ph": "C", "name": POWER_COUNTER, "pid": 1, "ts": round(t, 4),
               "args": {k: 0.0 for k in POWER_W["update"]}})
    return {TRACE_EVENTS: ev, "displayTimeUnit": "ns",
            "otherData": {"synthetic": "hand-made by benchmarks/make_timeline_example.py, "
                          "not simulator output"}}


if __name__ == "__main__":
    with open("docs/timeline_example.json", "w") as fh:
        json.dump(build(), fh, indent=0)
    print("wrote docs/timeline_example.json")
