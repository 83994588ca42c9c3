"""Counter-based RNG (engine/rng.py) against an independent pure-Python implementation."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from spikeforge.engine import rng

M32 = 0xFFFFFFFF


def lowbias32(x: int) -> int:
    x &= M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & M32
    x ^= x >> 16
    return x


@given(st.lists(st.integers(0, M32), min_size=1, max_size=50))
def test_mix32_is_lowbias32(xs: list[int]) -> None:
    got = rng.mix32(np.array(xs, dtype=np.uint32))
    assert got.dtype == np.uint32
    assert got.tolist() == [lowbias32(x) for x in xs]


def test_mix32_known_values_and_bijection_sample() -> None:
    assert int(rng.mix32(np.array([0], np.uint32))[0]) == 0
    xs = np.arange(1 << 16, dtype=np.uint32) * np.uint32(65521)
    assert np.unique(rng.mix32(xs)).size == xs.size


@given(st.integers(0, M32), st.integers(0, 2**40), st.sampled_from([1, 2, 3]), st.integers(0, 10**6))
def test_uniform_matches_the_documented_formula(key: int, step: int, purpose: int, local: int) -> None:
    prefix = rng.brain_stream(np.array([key], np.uint32), np.array([step], np.int64), purpose)
    u = rng.uniform(prefix, np.array([local], np.uint32))
    p = lowbias32(lowbias32(lowbias32(key ^ ((purpose * 0x9E3779B9) & M32)) ^ (step & M32)) ^ (step >> 32))
    assert int(prefix[0]) == p
    expected = np.float32(lowbias32(p ^ local) >> 8) * np.float32(1.0 / 16777216.0)
    assert u.dtype == np.float32 and u[0] == expected
    assert 0.0 <= float(u[0]) < 1.0


def test_uniform_is_uniform_and_streams_are_independent() -> None:
    prefix = rng.brain_stream(np.full(100000, 12345, np.uint32), np.arange(100000, dtype=np.int64), 1)
    u = rng.uniform(prefix, np.zeros(100000, np.uint32))
    hist = np.histogram(u, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(hist - 10000) < 500)
    other = rng.uniform(rng.brain_stream(np.full(100000, 12345, np.uint32), np.arange(100000, dtype=np.int64), 2),
                        np.zeros(100000, np.uint32))
    assert abs(np.corrcoef(u, other)[0, 1]) < 0.02


def test_brain_keys_are_distinct_and_seed_dependent() -> None:
    keys = {rng.brain_key(7, s) for s in range(5000)}
    assert len(keys) == 5000
    assert rng.brain_key(7, 0) != rng.brain_key(8, 0)
    assert rng.brain_key(2**40 + 7, 0) != rng.brain_key(7, 0)  # high seed bits matter
    assert rng.brain_key(7, 3) == rng.brain_key(7, 3)
