"""Spawn and despawn in a learning world on the CPU backends: the learning tables are spliced
(``plasticity.update_cache``), never re-derived, and numpy and native stay bit for bit
(spikes, weights, eligibility, traces) through churn of two prototypes. With fixed-count
wiring a spawned brain's segments have the lengths of the brain its slot held, so the tables
are written in place (the native engine keeps its pointers)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.engine.test_gpu_learning import learner
from tests.engine.test_gpu_slots import assert_cache_equal, churn, full_state, small_net, with_free_slots

from spikeforge import World
from spikeforge.engine.plasticity import PlasticityCache, build_cache, update_cache
from spikeforge.model import LIF, AllToAll, Circuit, ModulatedLIF, Uniform
from spikeforge.model.plasticity import STDP, Homeostasis, ModulatedHebbian, RewardSTDP

INDEX_TABLES = ("row_kind", "row_deliver", "in_ptr", "in_syn", "in_pre", "in_proj",
                "rs_ptr", "rs_syn", "rs_post", "rs_proj")


def fixed_learner() -> Circuit:
    """Every rule (STDP depressing at emission and at delivery, reward-STDP, modulated
    Hebbian, homeostasis) on all-to-all wiring with fixed delays: every brain has the same
    rows and synapses (so a spawn never outgrows its slot), with its own random weights."""
    c = Circuit("fixed_learner")
    c.add_population("a", 12, LIF(bias=16.0), v_init=(-65.0, -50.0))
    c.add_population("b", 8, LIF(bias=15.0), v_init=(-65.0, -50.0))
    c.add_population("m", 5, ModulatedLIF(bias=15.5), v_init=(-65.0, -50.0))
    c.add_population("r", 8, LIF(bias=15.5), v_init=(-65.0, -50.0))
    c.connect("a", "b", AllToAll(), weight=Uniform(0.2, 0.6), delay=2,
              plasticity=STDP(soft_bound=True, homeostasis=Homeostasis()))
    c.connect("b", "a", AllToAll(), weight=Uniform(0.1, 0.4), delay=3, plasticity=STDP(depress_at="delivery"))
    c.connect("a", "r", AllToAll(), weight=Uniform(0.2, 0.5), delay=1,
              plasticity=RewardSTDP(update_every=5, modulator_weight=0.1))
    c.connect("a", "m", AllToAll(), weight=Uniform(0.2, 0.5), delay=1, plasticity=ModulatedHebbian())
    c.connect("m", "m", AllToAll(allow_self=False), weight=0.3, kind="modulatory", delay=1)
    c.connect("r", "m", AllToAll(), weight=0.3, delay=1)
    c.add_sensor("eyes", "a", channels=3, kind="poisson", max_rate=300.0)
    c.add_actuator("legs", "b", channels=2, kind="rate")
    return c


def reused_slots(backend: str, circuits: list[Circuit], count: int = 4, seed: int = 3) -> World:
    """A world whose prototypes have free slots that held a brain (every circuit spawned
    before any despawn: a layout rebuild leaves free slots empty, and a spawn into an empty
    slot changes its segments' lengths)."""
    w = World(dt=0.001, backend=backend, seed=seed)
    for c in circuits:
        w.spawn(c, 2 * count)
    for c in circuits:
        w.despawn(w.group(c).brains[1::2])
    return w


def mean_capacity(L: object, kinds: object) -> tuple[np.ndarray, np.ndarray]:
    """Slot capacities at learner()'s mean plastic (630) and reward-STDP (180) synapse counts."""
    n = len(L.prototypes)  # type: ignore[attr-defined]
    return np.full(n, 630, np.int64), np.full(n, 180, np.int64)


def test_churn_beyond_slot_capacity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Capacities at the mean counts: some slots padded, some brains beyond (their segments
    change length and the tables are spliced); numpy and native stay bit for bit."""
    from spikeforge.engine import plasticity as PL

    _native_or_skip()
    monkeypatch.setattr(PL, "_slot_capacity", mean_capacity)
    cs = [learner(), small_net()]
    worlds = [with_free_slots(b, cs, count=3) for b in ("numpy", "native")]
    pc = _cache(worlds[0])
    assert pc.in_syn.size > int(np.count_nonzero(pc.tables.proj_i[pc.in_proj, 0] != 0))  # some padding
    a, b = (churn(w, cs, 12) for w in worlds)
    assert a == b
    sa, sb = (full_state(w) for w in worlds)
    for k in sa:
        assert sa[k].tobytes() == sb[k].tobytes(), k
    for w in worlds:
        assert_cache_equal(_cache(w), build_cache(w.layout))


def _cache(w: World) -> PlasticityCache:
    pc = w.backend.cache.plast if w.backend.name == "numpy" else w.backend._pc
    assert pc is not None
    return pc


def _native_or_skip() -> None:
    from spikeforge.engine.native_backend import unavailable

    if unavailable():
        pytest.skip(unavailable())


def test_numpy_and_native_agree_through_learning_churn() -> None:
    _native_or_skip()
    cs = [learner(), small_net()]
    worlds = [with_free_slots(b, cs, count=3) for b in ("numpy", "native")]
    for w in worlds:
        w.brains[0].reward(1.5)
    w0 = worlds[0].layout.synapse["w"].copy()
    ids = [{k: id(getattr(_cache(w), k)) for k in INDEX_TABLES} for w in worlds]
    a, b = (churn(w, cs, 14) for w in worlds)
    assert a == b
    sa, sb = (full_state(w) for w in worlds)
    for k in sa:
        assert sa[k].tobytes() == sb[k].tobytes(), k
    assert int((worlds[0].layout.synapse["w"] != w0).sum()) > 100  # learned through the churn
    for w, before in zip(worlds, ids, strict=True):
        assert w.stats()["backend_rebuilds"] == 0
        # random wiring too: every slot's segments are padded to its prototype's capacity
        assert {k: id(getattr(_cache(w), k)) for k in INDEX_TABLES} == before
    assert_cache_equal(worlds[0].backend.cache.plast, build_cache(worlds[0].layout))
    assert_cache_equal(worlds[1].backend._pc, build_cache(worlds[1].layout))


def test_fixed_degree_churn_writes_the_tables_in_place() -> None:
    """Numpy and native bit for bit through churn of a fixed-count learner (and a random
    net beside it), the index tables never replaced (so never re-pointed) and equal to a fresh
    build_cache at every frame."""
    _native_or_skip()
    cs = [fixed_learner(), small_net()]
    worlds = [reused_slots(b, cs, count=3) for b in ("numpy", "native")]
    for w in worlds:
        w.brains[0].reward(1.5)
    w0 = worlds[0].layout.synapse["w"].copy()
    ids = [{k: id(getattr(_cache(w), k)) for k in INDEX_TABLES} for w in worlds]
    # churn only the fixed learner: the random net's segments change length (a new table)
    a, b = (churn(w, cs[:1], 10) for w in worlds)
    assert a == b
    for w, before in zip(worlds, ids, strict=True):
        assert {k: id(getattr(_cache(w), k)) for k in INDEX_TABLES} == before
        assert_cache_equal(_cache(w), build_cache(w.layout))
        assert w.stats()["backend_rebuilds"] == 0
    sa, sb = (full_state(w) for w in worlds)
    for k in sa:
        assert sa[k].tobytes() == sb[k].tobytes(), k
    assert int((worlds[0].layout.synapse["w"] != w0).sum()) > 100
    # both prototypes: a spawn of the random net moves the segments after its slot
    a, b = (churn(w, cs, 8) for w in worlds)
    assert a == b
    sa, sb = (full_state(w) for w in worlds)
    for k in sa:
        assert sa[k].tobytes() == sb[k].tobytes(), k
    for w in worlds:
        assert_cache_equal(_cache(w), build_cache(w.layout))


@pytest.mark.parametrize("circuit,tight", [(fixed_learner, False), (learner, False), (learner, True)],
                         ids=["fixed-degree", "random", "random-beyond-capacity"])
def test_update_cache_in_place_equals_build_cache(circuit: object, tight: bool, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    """update_cache(in_place=True) = build_cache, several slots at once; in place (the same
    cache object) exactly when every slot's segments kept their lengths; in_place=False
    leaves the cache before untouched. ``tight``: capacities at the brains' mean synapse
    counts, so some segments are padded and some change length (the splice)."""
    from spikeforge.engine import plasticity as PL

    assert callable(circuit)
    if tight:
        monkeypatch.setattr(PL, "_slot_capacity", mean_capacity)
    cs = [circuit(), small_net()]
    w = with_free_slots("numpy", cs, count=4, seed=8)
    for f in range(4):
        pc = build_cache(w.layout)
        assert pc is not None
        copy = {k: getattr(pc, k).copy() for k in INDEX_TABLES}
        before = w.layout.brain_serial.copy()
        w.despawn(w.group(cs[0]).brains[f % 2])
        w.spawn(cs[0], 2)
        changed = np.flatnonzero(w.layout.brain_serial != before).tolist()
        assert len(changed) >= 2
        fresh = build_cache(w.layout)
        assert fresh is not None
        assert_cache_equal(update_cache(w.layout, pc, changed), fresh)
        for k in INDEX_TABLES:
            assert np.array_equal(getattr(pc, k), copy[k]), k
        got = update_cache(w.layout, pc, changed, in_place=True)
        assert_cache_equal(got, fresh)
        same = all(getattr(fresh, k).size == copy[k].size for k in INDEX_TABLES)
        assert (got is pc) == same
        if circuit is learner and not tight:
            assert same
    # fixed counts: a reused slot (not one never used, which held nothing) keeps its lengths
    if circuit is fixed_learner:
        pc = build_cache(w.layout)
        assert pc is not None
        brains = w.group(cs[0]).brains[:2]
        slots = sorted(w._index[b.id] for b in brains)
        before = w.layout.brain_serial.copy()
        w.despawn(brains)
        w.spawn(cs[0], 2)
        assert np.flatnonzero(w.layout.brain_serial != before).tolist() == slots
        fresh = build_cache(w.layout)
        assert fresh is not None
        got = update_cache(w.layout, pc, slots, in_place=True)
        assert got is pc
        assert_cache_equal(got, fresh)


def test_empty_free_slots_hold_placeholder_segments() -> None:
    """After a layout rebuild the free slots are empty; build_cache gives them placeholder
    segments of the lengths the prototype's brains have, so the first spawn into one writes
    in place too; numpy and native stay bit for bit and the cache equals a fresh build_cache."""
    _native_or_skip()
    cs = [fixed_learner(), small_net()]
    worlds = [with_free_slots(b, cs, count=3) for b in ("numpy", "native")]  # the rebuild empties slots 1, 3, 5
    L = worlds[0].layout
    pc = _cache(worlds[0])
    live = [i for i in range(L.n_brains) if L.brain_serial[i] >= 0 and L.brain_proto[i] == 0]
    free = [i for i in range(L.n_brains) if L.brain_serial[i] < 0 and L.brain_proto[i] == 0]
    s, e = int(L.brain_start[free[0]]), int(L.brain_start[free[0] + 1])
    y0 = int(L.row_syn[L.row_ptr[s]])
    assert not (L.row_proj[L.row_ptr[s]:L.row_ptr[e]] != L.row_proj[L.row_ptr[s]]).any()  # pad rows only
    for i in free:
        a, b = int(pc.in_ptr[L.brain_start[i]]), int(pc.in_ptr[L.brain_start[i + 1]])
        la = int(pc.in_ptr[L.brain_start[live[0] + 1]] - pc.in_ptr[L.brain_start[live[0]]])
        assert b - a == la > 0
        assert int(pc.rs_ptr[i + 1] - pc.rs_ptr[i]) == int(pc.rs_ptr[live[0] + 1] - pc.rs_ptr[live[0]]) > 0
    assert int(pc.in_syn[pc.in_ptr[s]]) == y0 and int(pc.in_pre[pc.in_ptr[s]]) == s
    assert pc.n_rstdp == int(np.count_nonzero(pc.tables.proj_i[pc.rs_proj, 0] == 2)) < pc.rs_syn.size
    ids = [{k: id(getattr(_cache(w), k)) for k in INDEX_TABLES} for w in worlds]
    for w in worlds:
        w.brains[0].reward(1.5)
    for w in worlds:  # into the empty slots: in place
        w.spawn(cs[0], len(free))
        assert w.stats()["rebuilds"] == 2 and w.stats()["backend_rebuilds"] == 0
    for w, before in zip(worlds, ids, strict=True):
        assert {k: id(getattr(_cache(w), k)) for k in INDEX_TABLES} == before
        assert_cache_equal(_cache(w), build_cache(w.layout))
    a, b = (churn(w, cs, 10) for w in worlds)
    assert a == b
    sa, sb = (full_state(w) for w in worlds)
    for k in sa:
        assert sa[k].tobytes() == sb[k].tobytes(), k
    for w in worlds:
        assert_cache_equal(_cache(w), build_cache(w.layout))


@pytest.mark.gpu
def test_gpu_takes_spawns_into_placeholder_segments() -> None:
    """The GPU backend (update_cache in place, the slot's rows of its tables uploaded) through
    churn of the fixed-count learner whose empty free slots hold placeholders: bit for bit with
    numpy, and the device's learning tables equal the ones derived from scratch."""
    from tests.engine.test_gpu_common import require_lavapipe
    from tests.engine.test_gpu_slots import check_churn, gpu_world

    require_lavapipe()
    cs = [fixed_learner(), small_net()]
    ref = with_free_slots("numpy", cs, count=3)
    gpu = gpu_world(lambda b: with_free_slots(b, cs, count=3))
    for w in (ref, gpu):
        w.spawn(cs[0], 2)  # two of the three empty slots
    check_churn(ref, gpu, cs, frames=10)
    be = gpu.backend
    assert_cache_equal(be.plast, build_cache(gpu.layout))
    assert be.in_ptr.tobytes() == be.plast.in_ptr.astype(np.uint32).tobytes()
    for k in ("in_ptr", "in_tab", "rs_tab"):
        assert be._download(k, np.uint32, getattr(be, k).size).tobytes() == getattr(be, k).tobytes(), k
