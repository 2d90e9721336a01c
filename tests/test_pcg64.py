"""The in-kernel PCG64 stream (:mod:`pnmsim.kernels.pcg64`) against NumPy's own generator: the
same doubles, and the generator left where NumPy's fills leave it."""

from __future__ import annotations

import numpy as np
import pytest

from pnmsim.kernels.pcg64 import advance, jump, jump_double, jump_table, pcg64_chains, set_state


def _draw_like_the_kernel(chains: np.ndarray, shape: tuple[int, int]
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Every cell's u1 and u2 as the per-cell kernel draws them: jumps of c + 1 steps from the
    row's anchors (in a scrambled column order: each draw is independent of the others), then
    the anchors move one row on; ``chains`` is left at the two chains' end states."""
    rows, cols = shape
    t = jump_table(chains, cols)
    h1, l1, h2, l2 = chains[0], chains[1], chains[2], chains[3]
    got1 = np.empty(shape)
    got2 = np.empty(shape)
    order = np.random.default_rng(0).permutation(cols)
    for r in range(rows):
        for c in order:
            got1[r, c] = jump_double(h1, l1, t, int(c) + 1)
            got2[r, c] = jump_double(h2, l2, t, int(c) + 1)
        h1, l1 = map(np.uint64, jump(h1, l1, t, cols))   # (numba returns Python ints)
        h2, l2 = map(np.uint64, jump(h2, l2, t, cols))
    chains[0], chains[1], chains[2], chains[3] = h1, l1, h2, l2
    return got1, got2


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
    got1, got2 = _draw_like_the_kernel(chains, shape)
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
    _draw_like_the_kernel(chains, (2, 5))
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
    st = bg.state["state"]       # the same jump again, from another state (the kept map)
    bg.advance(n)
    assert advance(int(st["state"]), int(st["inc"]), n) == bg.state["state"]["state"]


@pytest.mark.parametrize("n", [1, 7, 300])
def test_jump_table_against_plain_steps(n: int) -> None:
    """Entry k of the table advances a state exactly k steps (Python integers, the LCG
    written out)."""
    chains = pcg64_chains(np.random.default_rng(2), 1)
    m = (int(chains[4]) << 64) | int(chains[5])
    inc = (int(chains[6]) << 64) | int(chains[7])
    s0 = (int(chains[0]) << 64) | int(chains[1])
    t = jump_table(chains, n)
    s = s0
    for k in range(n + 1):
        h, lo = jump(chains[0], chains[1], t, k)
        assert (int(h) << 64) | int(lo) == s, k
        s = (s * m + inc) % (1 << 128)


def test_other_generators_are_not_taken() -> None:
    assert pcg64_chains(np.random.Generator(np.random.Philox(1)), 4) is None
    assert pcg64_chains(np.random.Generator(np.random.PCG64DXSM(1)), 4) is None
    assert pcg64_chains(np.random.Generator(np.random.MT19937(1)), 4) is None


def test_generator_subclasses_keep_the_fills() -> None:
    """A Generator subclass may override random(); the kernel must not bypass it."""

    class Mine(np.random.Generator):
        pass

    assert pcg64_chains(Mine(np.random.PCG64(1)), 4) is None
    assert pcg64_chains(np.random.Generator(np.random.PCG64(1)), 4) is not None
