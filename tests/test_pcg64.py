"""The in-kernel PCG64 stream (:mod:`pnmsim.kernels.pcg64`) against NumPy's own generator: the
same doubles, and the generator left where NumPy's fills leave it."""

from __future__ import annotations

import numpy as np
import pytest

from pnmsim.kernels.pcg64 import advance, draw_rows, pcg64_chains, set_state


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**63 + 7])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (64, 33)])
def test_two_chains_give_the_two_fills(seed: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    rng.random(5)                       # somewhere inside the stream
    ref = np.random.default_rng(seed)
    ref.random(5)
    n = shape[0] * shape[1]
    chains = pcg64_chains(rng, n)
    assert chains is not None
    got1 = np.empty(shape)
    got2 = np.empty(shape)
    for r in range(shape[0]):
        draw_rows(chains, got1[r], got2[r])
    set_state(rng, chains)
    want1 = ref.random(shape)
    want2 = ref.random(shape)
    np.testing.assert_array_equal(got1.view(np.int64), want1.view(np.int64))
    np.testing.assert_array_equal(got2.view(np.int64), want2.view(np.int64))
    # the stream goes on where the fills left it, for every kind of draw
    np.testing.assert_array_equal(rng.random(9), ref.random(9))
    np.testing.assert_array_equal(rng.integers(0, 2**62, 5), ref.integers(0, 2**62, 5))
    np.testing.assert_array_equal(rng.standard_normal(4), ref.standard_normal(4))


def test_buffered_uint32_is_kept() -> None:
    """A pending 32-bit half (``has_uint32``) is not touched by ``random``; nor here."""
    rng = np.random.default_rng(3)
    ref = np.random.default_rng(3)
    rng.integers(0, 2**31, 3, dtype=np.uint32)
    ref.integers(0, 2**31, 3, dtype=np.uint32)
    assert rng.bit_generator.state["has_uint32"] == 1
    chains = pcg64_chains(rng, 10)
    a, b = np.empty(10), np.empty(10)
    draw_rows(chains, a, b)
    set_state(rng, chains)
    ref.random(20)
    assert rng.bit_generator.state == ref.bit_generator.state
    np.testing.assert_array_equal(rng.integers(0, 2**31, 3, dtype=np.uint32),
                                  ref.integers(0, 2**31, 3, dtype=np.uint32))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 1000, 2**40 + 12345])
def test_advance_equals_numpy(n: int) -> None:
    bg = np.random.PCG64(99)
    st = bg.state["state"]
    bg.advance(n)
    assert advance(int(st["state"]), int(st["inc"]), n) == bg.state["state"]["state"]


def test_other_generators_are_not_taken() -> None:
    assert pcg64_chains(np.random.Generator(np.random.Philox(1)), 4) is None
    assert pcg64_chains(np.random.Generator(np.random.PCG64DXSM(1)), 4) is None
    assert pcg64_chains(np.random.Generator(np.random.MT19937(1)), 4) is None
