"""Spawn and despawn in a learning world on the CPU backends: the learning tables are spliced
(``plasticity.update_cache``), never re-derived, and numpy and native stay bit for bit
(spikes, weights, eligibility, traces) through churn of two prototypes."""

from __future__ import annotations

import pytest
from tests.engine.test_gpu_learning import learner
from tests.engine.test_gpu_slots import assert_cache_equal, churn, full_state, small_net, with_free_slots

from spikeforge.engine.plasticity import build_cache


def test_numpy_and_native_agree_through_learning_churn() -> None:
    from spikeforge.engine.native_backend import unavailable

    if unavailable():
        pytest.skip(unavailable())
    cs = [learner(), small_net()]
    worlds = [with_free_slots(b, cs, count=3) for b in ("numpy", "native")]
    for w in worlds:
        w.brains[0].reward(1.5)
    w0 = worlds[0].layout.synapse["w"].copy()
    a, b = (churn(w, cs, 14) for w in worlds)
    assert a == b
    sa, sb = (full_state(w) for w in worlds)
    for k in sa:
        assert sa[k].tobytes() == sb[k].tobytes(), k
    assert int((worlds[0].layout.synapse["w"] != w0).sum()) > 100  # learned through the churn
    for w in worlds:
        assert w.stats()["backend_rebuilds"] == 0
    assert_cache_equal(worlds[0].backend.cache.plast, build_cache(worlds[0].layout))
    assert_cache_equal(worlds[1].backend._pc, build_cache(worlds[1].layout))
