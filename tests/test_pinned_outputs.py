"""Speed work must not change results: short hardware training runs pinned bit-for-bit.

The literals below were produced by running this file as a script
(``python tests/test_pinned_outputs.py``) on commit 05b8f10 of ``main`` — the ``speed``
branch's latest merge point, which has the ``physics`` branch's changes (mid-pulse current,
pulse quantisation, fixed converter ranges) and the review fixes of the counts (backprop
row-line sensing) but NONE of the speed work (fused update kernel,
incremental conductances, one-pass line statistics, numba pooling and col2im). (The first pins,
from main @ 0360a0b before the physics landed, were reproduced by the speed branch before that
merge; the physics changes and the review fixes moved them by design, and each time the
speed branch reproduced the new pins.) They are therefore an independent reference
for the optimised code: the optimisations reorder and skip work, they must not change a single
bit of the accuracy, loss, weights, MTJ states, action counts, energy or cycles.

Regenerating: a legitimate change of the *physics* or of the counting (for instance the
``physics`` branch's current recomputed after the first MTJ flips, pulse quantisation or fixed
converter ranges) moves these outputs by design. After merging such a change, regenerate the
pins on a commit that has the change but NOT the speed work (e.g. the commit of ``main`` that
brought it), paste them here and say which commit produced them; then check that the speed
branch reproduces them — that shows the speed work itself did not move them.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pytest

from pnmsim.config import load_arch
from pnmsim.simulation import Simulation
from pnmsim.workload import load_workload

# (workload, preset, overrides, images, batch) — hardware mode, the trainer's step
# (train_step with batch statistics, lr 0.1), synthetic images from a fixed seed
CASES: dict[str, tuple[str, str, tuple[str, ...], int, int]] = {
    "mlp_reference": ("mnist_mlp", "reference", (), 60, 20),
    "mlp_variation": ("mnist_mlp", "variation", (), 40, 20),
    "cnn_reference": ("mnist_cnn", "reference", (), 16, 8),
    "tinycnn_outer": ("tiny_cnn", "outer_product", (), 24, 12),
    "tinymlp_digital": ("tiny_mlp", "digital_psum", ("array.tile_rows=16",
                                                      "array.tile_cols=16"), 24, 12),
}


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()[:16]


def run_case(name: str) -> dict[str, object]:
    """Train a few mini-batches in hardware mode and return what is pinned."""
    wl_name, preset, over, n, batch = CASES[name]
    arch = load_arch(preset, over)
    wl = load_workload(wl_name)
    rng = np.random.default_rng(11)
    x = rng.uniform(-1, 1, (n, *wl.input_shape)).astype(np.float32)
    y = rng.integers(0, wl.classes, n)
    sim = Simulation(arch, wl, seed=4)
    sim.calibrate(x[:batch])
    acc, loss = [], []
    for s in range(0, n, batch):
        st = sim.train_step(x[s:s + batch], y[s:s + batch], 0.1, bn="batch")
        acc.append(float(st["accuracy"]))
        loss.append(float(st["loss"]))
    sd = sim.network.state_dict()
    weights = b"".join(np.ascontiguousarray(sd[f"w{i}"]).tobytes()
                       for i in range(len(sim.network.layers)))
    states = b"".join(np.ascontiguousarray(sd[k]).tobytes() for k in sorted(sd)
                      if k.startswith("backend.s"))
    rows = sorted(sim.tally.rows())
    res = sim.results(samples=n)
    pm = res.phase_metrics()
    return {
        "accuracy": acc,
        "loss": loss,
        "weights_sha": _sha(weights),
        "states_sha": _sha(states),
        "counts_sha": _sha(json.dumps([[*r[:4], repr(float(r[4]))] for r in rows]).encode()),
        "macs": {k: float(v) for k, v in sorted(sim.tally.macs.items())},
        "energy_j": repr(pm["total"]["energy_j"]),
        "cycles": {p: int(c) for p, c in sorted(res.cycles.items())},
    }


# produced by `python tests/test_pinned_outputs.py` on main @ 05b8f10 (physics and review fixes
# merged, none of the speed work); regenerated when those landed (0360a0b -> f58d93c -> 05b8f10)
PINNED: dict[str, dict[str, object]] = {'cnn_reference': {'accuracy': [0.0, 0.0],
                   'counts_sha': 'd62a786f0b0b74e7',
                   'cycles': {'backprop': 207986, 'feedforward': 435872, 'update': 557338},
                   'energy_j': '0.000660115175571266',
                   'loss': [2.144696570899945, 1.6666041513062972],
                   'macs': {'backprop': 60899328.0,
                            'feedforward': 68272128.0,
                            'update': 68272128.0},
                   'states_sha': 'ed83e23946dd349d',
                   'weights_sha': 'd552d65059cfca30'},
 'mlp_reference': {'accuracy': [0.1, 0.1, 0.0],
                   'counts_sha': '98423de9600264df',
                   'cycles': {'backprop': 17868, 'feedforward': 16593, 'update': 636630},
                   'energy_j': '0.001141250260287646',
                   'loss': [1.9339354460615528, 1.4372947479308238, 1.3801288021809381],
                   'macs': {'backprop': 16035840.0,
                            'feedforward': 40120320.0,
                            'update': 40120320.0},
                   'states_sha': '0b59dcc229c2dee2',
                   'weights_sha': 'b67a077d2d0204d0'},
 'mlp_variation': {'accuracy': [0.05, 0.15],
                   'counts_sha': 'a12adfc3af2931e1',
                   'cycles': {'backprop': 11912, 'feedforward': 11062, 'update': 423221},
                   'energy_j': '0.0007609036798883763',
                   'loss': [2.004488389879375, 1.5951484429100606],
                   'macs': {'backprop': 10690560.0,
                            'feedforward': 26746880.0,
                            'update': 26746880.0},
                   'states_sha': '4acc59f0e88d5b14',
                   'weights_sha': 'a4c2b91a25c9b0c4'},
 'tinycnn_outer': {'accuracy': [0.25, 0.25],
                   'counts_sha': '21b89ca9061e9f9e',
                   'cycles': {'backprop': 4954, 'feedforward': 14110, 'update': 7594},
                   'energy_j': '2.34939122681598e-07',
                   'loss': [1.5380198717838638, 1.6796099353698468],
                   'macs': {'backprop': 23040.0, 'feedforward': 78336.0, 'update': 78336.0},
                   'states_sha': '9e979e630c1491f2',
                   'weights_sha': 'bc47b319d5755775'},
 'tinymlp_digital': {'accuracy': [0.3333333333333333, 0.25],
                     'counts_sha': 'b75286c671317ecb',
                     'cycles': {'backprop': 892, 'feedforward': 1146, 'update': 1663},
                     'energy_j': '2.4977535008450017e-06',
                     'loss': [1.9035470994081722, 1.4219802994300477],
                     'macs': {'backprop': 3072.0, 'feedforward': 52224.0, 'update': 52224.0},
                     'states_sha': '7d87fe89addbcb10',
                     'weights_sha': '07cea8a015905440'}}


@pytest.mark.parametrize("name", sorted(CASES))
def test_short_hardware_run_is_pinned(name: str) -> None:
    got = run_case(name)
    want = PINNED[name]
    for k in want:
        assert got[k] == want[k], f"{name}: {k} changed: {got[k]!r} != {want[k]!r}"


if __name__ == "__main__":
    names = sys.argv[1:] or sorted(CASES)
    for nm in names:
        print(f"    {nm!r}: {run_case(nm)!r},")  # pasted into PINNED, pprint-formatted
