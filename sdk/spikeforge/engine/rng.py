"""Counter-based random numbers shared by every backend (numpy, C, WGSL).

A draw is a pure function of (brain key, brain step, purpose, local neuron index), so
there is no generator state beyond the brain's step counter: runs are reproducible
across backends, thread counts and save/load. Only 32-bit unsigned integer operations
are used so that WGSL computes the same bits.

``mix32`` is Chris Wellons' "lowbias32" integer hash (a bijection on uint32).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U32 = npt.NDArray[np.uint32]

PURPOSE_EXCITABILITY = 1
PURPOSE_FORCE = 2
PURPOSE_NOISE = 3  # background noise current (model/background.py)
PURPOSE_POISSON = 4  # background Poisson drive
GOLDEN = np.uint32(0x9E3779B9)
INV_2_24 = np.float32(1.0 / 16777216.0)


def mix32(x: U32) -> U32:
    """lowbias32: x ^= x>>16; x *= 0x7feb352d; x ^= x>>15; x *= 0x846ca68b; x ^= x>>16."""
    x = np.asarray(x, dtype=np.uint32)
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    x = x ^ (x >> np.uint32(16))
    return x


def brain_stream(keys: U32, steps: npt.NDArray[np.int64], purpose: int) -> U32:
    """Per-brain prefix hash for one step: mix(mix(mix(key ^ purpose*GOLDEN) ^ lo) ^ hi)."""
    keys = np.asarray(keys, dtype=np.uint32)
    steps_u = np.asarray(steps, dtype=np.int64).astype(np.uint64)
    lo = (steps_u & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    hi = (steps_u >> np.uint64(32)).astype(np.uint32)
    p = np.uint32((purpose * 0x9E3779B9) & 0xFFFFFFFF)
    return mix32(mix32(mix32(keys ^ p) ^ lo) ^ hi)


def uniform(prefix: U32, local_index: U32) -> npt.NDArray[np.float32]:
    """Uniform float32 in [0, 1) with 24 random bits: (mix(prefix ^ i) >> 8) * 2^-24."""
    h = mix32(np.asarray(prefix, dtype=np.uint32) ^ np.asarray(local_index, dtype=np.uint32))
    return (h >> np.uint32(8)).astype(np.float32) * INV_2_24


def _mix32_int(x: int) -> int:
    """:func:`mix32` of one value in Python integers (same bits, no array overhead)."""
    x &= 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x


def brain_key(world_seed: int, serial: int) -> int:
    """The RNG key of the ``serial``-th brain spawned in a world seeded with ``world_seed``:
    ``mix32(mix32(lo32(seed) ^ mix32(hi32(seed))) ^ mix32(lo32(serial) + GOLDEN))`` (uint32)."""
    s, hi = world_seed & 0xFFFFFFFF, (world_seed >> 32) & 0xFFFFFFFF
    t = _mix32_int(((serial & 0xFFFFFFFF) + 0x9E3779B9) & 0xFFFFFFFF)
    return _mix32_int(_mix32_int(s ^ _mix32_int(hi)) ^ t)
