"""Stability soak on a tiny network carrying every rule (the 10^6-step run is
``spikeforge bench learning --parts soak``; this bounded version runs in CI)."""

from __future__ import annotations

import pytest

from spikeforge.bench.learning import run_soak


@pytest.mark.slow
def test_random_rewards_never_give_nan_or_out_of_bounds_weights() -> None:
    (row,) = run_soak(8_000, "numpy", seed=3, threads=None)
    assert row["steps"] == 8_000
    assert not row["nan"] and row["outside_bounds"] == 0 and row["met"]
    assert row["spikes"] > 5_000
    lo, hi = row["w_seen"]
    assert lo < hi, "weights actually moved"
