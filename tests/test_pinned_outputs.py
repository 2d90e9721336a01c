"""Speed work must not change results: short hardware training runs pinned bit-for-bit.

The literals below were produced by running this file as a script
(``python tests/test_pinned_outputs.py``) on commit 0360a0b of ``main`` — the merge point of
the ``speed`` branch, BEFORE any of its optimisations (incremental conductance refresh, fused
kernels, cached tables) were applied. They are therefore an independent reference for the
optimised code: the optimisations reorder and skip work, they must not change a single bit
of the accuracy, loss, weights, MTJ states, action counts, energy or cycles.

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


# produced by `python tests/test_pinned_outputs.py` on main @ 0360a0b (before the speed work)
PINNED: dict[str, dict[str, object]] = {'cnn_reference': {'accuracy': [0.0, 0.0],
                   'counts_sha': '6e1efea294fdc41e',
                   'cycles': {'backprop': 207986, 'feedforward': 435872, 'update': 558708},
                   'energy_j': '0.00014828596152752314',
                   'loss': [2.144696570899945, 1.5838412798278738],
                   'macs': {'backprop': 60899328.0,
                            'feedforward': 68272128.0,
                            'update': 68272128.0},
                   'states_sha': 'c4f0991728d7e0e6',
                   'weights_sha': 'd901526bc7640a92'},
 'mlp_reference': {'accuracy': [0.1, 0.25, 0.1],
                   'counts_sha': 'da3f380fb7a91017',
                   'cycles': {'backprop': 17868, 'feedforward': 16593, 'update': 636508},
                   'energy_j': '0.00025791710617608906',
                   'loss': [1.9339354460615528, 1.4707158884788527, 1.3383711144661998],
                   'macs': {'backprop': 16035840.0,
                            'feedforward': 40120320.0,
                            'update': 40120320.0},
                   'states_sha': 'a079a0f14e14b508',
                   'weights_sha': 'ba6fea38a62332be'},
 'mlp_variation': {'accuracy': [0.05, 0.1],
                   'counts_sha': '4888a686bf283adf',
                   'cycles': {'backprop': 11912, 'feedforward': 11062, 'update': 422623},
                   'energy_j': '0.00017198859872710753',
                   'loss': [2.004488389879375, 1.5977610559724849],
                   'macs': {'backprop': 10690560.0,
                            'feedforward': 26746880.0,
                            'update': 26746880.0},
                   'states_sha': 'a1f9f62070b169cc',
                   'weights_sha': '2d50bd53c506d48e'},
 'tinycnn_outer': {'accuracy': [0.25, 0.25],
                   'counts_sha': '78e82f05c0d949e3',
                   'cycles': {'backprop': 4954, 'feedforward': 14110, 'update': 7628},
                   'energy_j': '2.287944813993128e-07',
                   'loss': [1.5380198717838638, 1.818820164104534],
                   'macs': {'backprop': 23040.0, 'feedforward': 78336.0, 'update': 78336.0},
                   'states_sha': 'ffc8c8e887f5ef0e',
                   'weights_sha': '7f42597ffb4fffad'},
 'tinymlp_digital': {'accuracy': [0.3333333333333333, 0.4166666666666667],
                     'counts_sha': '4edb7e72d16090fb',
                     'cycles': {'backprop': 892, 'feedforward': 1146, 'update': 1658},
                     'energy_j': '5.670204021566269e-07',
                     'loss': [1.9035470994081722, 1.3516576092149888],
                     'macs': {'backprop': 3072.0, 'feedforward': 52224.0, 'update': 52224.0},
                     'states_sha': '6187a7dbbe1f713f',
                     'weights_sha': 'e21bc9ddddf808c9'}}


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
