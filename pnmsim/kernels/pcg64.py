"""NumPy's PCG64 stream inside numba kernels (part of :mod:`pnmsim.kernels`): the same doubles
``numpy.random.Generator(PCG64).random`` returns, drawn where a kernel uses them instead of
filled into an array first.

A kernel that needs one uniform per cell from each of two consecutive fills (``u1 =
rng.random(shape)`` then ``u2 = rng.random(shape)``, N cells each) keeps two chains: the
first from the generator's state, the second from that state advanced N steps. At each row
it holds the chains' states (anchors) and draws cell c's values as jumps of c + 1 steps from
them (:func:`jump_table`, :func:`jump_double`), only for the cells whose draws it reads (a
pulsed cell), then moves the anchors one row on. This saves the two fills' 16 bytes per cell
written and read back, and the draws of cells that get no pulse. The generator is then set to
the state after 2N steps, where the fills would have left it, so the stream continues as
before (tested bit for bit against NumPy).

PCG64 (O'Neill 2014; NumPy ``numpy/random/src/pcg64/pcg64.h``): a 128-bit LCG ``s <- s M +
inc`` with NumPy's default multiplier M; each 64-bit output is XSL-RR of the stepped state,
``rotr64(hi ^ lo, hi >> 58)``; a double is ``(out >> 11) * 2**-53``. The 128-bit state is
kept as two uint64 halves; the high half of a 64 x 64 product comes from LLVM's 128-bit
multiply (:func:`_mulhi`, one instruction on x86-64).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_M128 = (2549297995355413924 << 64) + 4865540595714422341   # NumPy's PCG64 multiplier
_MASK64 = (1 << 64) - 1
_MASK128 = (1 << 128) - 1


@intrinsic
def _mulhi(typingctx, a, b):  # type: ignore[no-untyped-def]
    """High 64 bits of the 128-bit product of two uint64."""
    sig = types.uint64(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i128 = ir.IntType(128)
        p = builder.mul(builder.zext(args[0], i128), builder.zext(args[1], i128))
        return builder.trunc(builder.lshr(p, ir.Constant(i128, 64)), ir.IntType(64))
    return sig, codegen


def pcg64_chains(rng: np.random.Generator, n: int) -> np.ndarray | None:
    """The kernel's view of ``rng`` for two fills of ``n`` doubles: uint64 array
    [hi1, lo1, hi2, lo2, m_hi, m_lo, inc_hi, inc_lo] (chain 1 at the current state, chain 2
    ``n`` steps on), or None where ``rng`` is not a plain NumPy PCG64 generator (the caller
    then fills arrays as before)."""
    bg = rng.bit_generator
    if type(rng) is not np.random.Generator or type(bg) is not np.random.PCG64:
        return None    # (a subclass could override random(); its fills are kept)
    st = bg.state["state"]
    s, inc = int(st["state"]), int(st["inc"])
    s2 = advance(s, inc, n)
    return np.array([s >> 64, s & _MASK64, s2 >> 64, s2 & _MASK64, _M128 >> 64,
                     _M128 & _MASK64, inc >> 64, inc & _MASK64], dtype=np.uint64)


_JUMPS: dict[tuple[int, int], tuple[int, int]] = {}


def advance(s: int, inc: int, n: int) -> int:
    """The LCG state ``n`` steps after ``s`` (Brown's jump-ahead, O(log n) in Python ints;
    the affine map of n steps is kept per (inc, n): a layer jumps the same n every batch)."""
    key = (inc, n)
    hit = _JUMPS.get(key)
    if hit is None:
        if len(_JUMPS) >= 256:
            _JUMPS.clear()
        hit = _JUMPS[key] = _jump_map(inc, n)
    return (hit[0] * s + hit[1]) & _MASK128


def _jump_map(inc: int, n: int) -> tuple[int, int]:
    """(A, C) with the state n steps after s = A s + C (mod 2**128)."""
    acc_mult, acc_plus = 1, 0
    cur_mult, cur_plus = _M128, inc
    while n > 0:
        if n & 1:
            acc_mult = (acc_mult * cur_mult) & _MASK128
            acc_plus = (acc_plus * cur_mult + cur_plus) & _MASK128
        cur_plus = ((cur_mult + 1) * cur_plus) & _MASK128
        cur_mult = (cur_mult * cur_mult) & _MASK128
        n >>= 1
    return acc_mult, acc_plus


def set_state(rng: np.random.Generator, chains: np.ndarray) -> None:
    """Leave ``rng`` where the two fills would have: at chain 2's state after the kernel (its
    buffered 32-bit value, which ``random`` does not touch, is kept)."""
    bg = rng.bit_generator
    st = bg.state
    st["state"]["state"] = (int(chains[2]) << 64) | int(chains[3])
    bg.state = st


@njit(cache=True, inline="always")
def _double(hi: np.uint64, lo: np.uint64) -> float:
    """XSL-RR output of the state (hi, lo) as NumPy's double in [0, 1)."""
    x = hi ^ lo
    rot = hi >> np.uint64(58)
    r = (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))
    return np.float64(r >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def jump_table(chains: np.ndarray, n: int) -> np.ndarray:
    """The maps that advance the LCG k = 0..n steps, s -> A_k s + C_k (mod 2**128), as a
    (n + 1, 4) uint64 array [A_hi, A_lo, C_hi, C_lo] (A_0 = 1, C_0 = 0; A_k = A_{k-1} M,
    C_k = C_{k-1} M + inc) for the multiplier and increment in ``chains``."""
    t = np.empty((n + 1, 4), dtype=np.uint64)
    mh, ml, ih, il = chains[4], chains[5], chains[6], chains[7]
    zero = np.uint64(0)
    ah, al, ch, cl = zero, np.uint64(1), zero, zero
    t[0, 0], t[0, 1], t[0, 2], t[0, 3] = ah, al, ch, cl
    for k in range(1, n + 1):
        ah, al = _muladd(ah, al, mh, ml, zero, zero)
        ch, cl = _muladd(ch, cl, mh, ml, ih, il)
        t[k, 0], t[k, 1], t[k, 2], t[k, 3] = ah, al, ch, cl
    return t


@njit(cache=True, inline="always")
def _muladd(xh: np.uint64, xl: np.uint64, ah: np.uint64, al: np.uint64, ch: np.uint64,
            cl: np.uint64) -> tuple[np.uint64, np.uint64]:
    """x a + c (mod 2**128) of 128-bit numbers held as (high, low) uint64 halves."""
    lo = xl * al
    hi = _mulhi(xl, al) + xl * ah + xh * al
    lo2 = lo + cl
    return hi + ch + (np.uint64(1) if lo2 < lo else np.uint64(0)), lo2


@njit(cache=True, inline="always")
def jump(hi: np.uint64, lo: np.uint64, t: np.ndarray, k: int) -> tuple[np.uint64, np.uint64]:
    """The state ``k`` steps after (hi, lo), from :func:`jump_table` ``t`` (k <= its n)."""
    return _muladd(hi, lo, t[k, 0], t[k, 1], t[k, 2], t[k, 3])


@njit(cache=True, inline="always")
def jump_double(hi: np.uint64, lo: np.uint64, t: np.ndarray, k: int) -> float:
    """The ``k``-th double drawn from the state (hi, lo) (k = 1: the next one): each draw of
    a row is a jump from the row's anchor, independent of the others, so only the draws a
    kernel reads are made."""
    h, lo2 = jump(hi, lo, t, k)
    return _double(h, lo2)
