"""A sharded world on a real 3-node Ray cluster is bit-for-bit the single-process World."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.cluster.cluster_nets import learner_circuit, npc_circuit, spike_triples

from spikeforge import World
from spikeforge.cluster import ClusterWorld
from spikeforge.runtime.handles import StaleHandleError
from spikeforge.runtime.world import FrameResult

pytestmark = pytest.mark.native


def drive(worlds: list[Any], frames: int, rng: np.random.Generator, compare: Any) -> None:
    """Same sensors and rewards into every world, ``compare`` after every frame."""
    for f in range(frames):
        for name, organ in (("npc", "eyes"), ("forager", "eye"), ("forager", "explore")):
            shape = worlds[0].group(name).sensor(organ).shape
            vals = rng.random(shape, dtype=np.float32)
            for w in worlds:
                w.group(name).sensor(organ)[...] = vals
        if f % 3 == 2:
            r = rng.normal(size=worlds[0].layout.n_brains)
            for w in worlds:
                w.reward(r)
        results = [w.advance(1 / 60) for w in worlds]
        compare(results)


def assert_same(ref: World, cw: ClusterWorld, results: list[Any]) -> None:
    a, b = results
    assert a.steps == b.steps
    np.testing.assert_array_equal(spike_triples(ref.layout, a.spikes.steps, a.spikes.neurons),
                                  spike_triples(cw.layout, b.spikes.steps, b.spikes.neurons))
    np.testing.assert_array_equal(ref.layout.brain_serial, cw.layout.brain_serial)
    for name, organ in (("npc", "legs"), ("forager", "motor")):
        np.testing.assert_array_equal(ref.group(name).actuator(organ), cw.group(name).actuator(organ))
    np.testing.assert_array_equal(ref.layout.brain_step, cw.layout.brain_step)


def test_sharded_equals_single_process(ray_cluster: Any, tmp_path: Path) -> None:
    ref = World(dt=0.001, backend="native", seed=7, compact=True)  # row for row like the cluster mirror
    cw = ClusterWorld(shards=3, dt=0.001, seed=7, checkpoint_every=50)
    try:
        nodes = {p["node"] for p in cw.nodes}
        assert len(nodes) >= 2, f"shards should spread over the nodes, got {cw.nodes}"
        for w in (ref, cw):
            w.spawn(npc_circuit(), 7)
            w.spawn(learner_circuit(), 5)
        assert sorted(cw.stats()["shards"][k]["brains"] for k in range(3))[0] >= 3  # balanced
        events: list[list[Any]] = [[], []]
        for w, ev in zip((ref, cw), events, strict=True):  # SpikeBus: same batched events
            w.bus.subscribe(lambda e, ev=ev: ev.append((e.steps.copy(), e.brains.copy(), e.neurons.copy())),
                            brains=[2, 8, 9], population="motor")
        rng = np.random.default_rng(3)
        drive([ref, cw], 12, rng, lambda r: assert_same(ref, cw, r))
        assert len(events[0]) == len(events[1]) > 0
        for a, b in zip(*events, strict=True):
            for x, y in zip(a, b, strict=True):
                np.testing.assert_array_equal(x, y)
        # churn: despawn across shards, spawn more, sleep / LOD / freeze flags
        held = cw.group("npc").actuator("legs")  # a handle held across spawn/despawn follows them
        gone = cw.brain(1).sensor("eyes")
        for w in (ref, cw):
            w.despawn([1, 8, 10])
            w.spawn(npc_circuit(), 4)
            w.brain(2).sleep()
            w.brain(3).lod_every = 2
            w.brain(9).freeze()
        assert held.shape == (10, 4)
        with pytest.raises(StaleHandleError, match="brain 1"):
            gone[0] = 1.0
        drive([ref, cw], 12, rng, lambda r: assert_same(ref, cw, r))
        for w in (ref, cw):
            w.learning(False)
        drive([ref, cw], 3, rng, lambda r: assert_same(ref, cw, r))
        for w in (ref, cw):
            w.learning(True)
        drive([ref, cw], 6, rng, lambda r: assert_same(ref, cw, r))
        assert ref.step(5).neurons.size == cw.step(5).neurons.size
        # the server core's calls: step only some brains, freeze some by id
        rows = cw.rows([0, 3, 9, 11])
        np.testing.assert_array_equal(rows, [ref.brain(i).index for i in (0, 3, 9, 11)])
        only = np.zeros(cw.layout.n_brains, bool)
        only[rows] = True
        cw.set_learning([9], False)
        ref.brain(9).freeze()
        saved = ref.layout.sleeping.copy()
        ref.layout.sleeping[~only] = True
        a = ref.step(7)
        ref.layout.sleeping[:] = saved
        b = cw.step(7, only=only)
        assert_same(ref, cw, [FrameResult(7, 0.0, a), FrameResult(7, 0.0, b)])
        moved_steps = cw.layout.brain_step - ref.layout.brain_step
        assert not moved_steps.any()
        # learning really happened, and the learned weights are the same bits
        moved = 0
        for b in ref.group("forager").brains:
            wr = b.weights("eye->motor").w
            wc = cw.brain(b.id).weights("eye->motor")["w"]
            np.testing.assert_array_equal(wr, wc)
            np.testing.assert_array_equal(b["motor"].v, cw.brain(b.id).state("motor", "v"))
            moved += int((wr != ref.brain(b.id).weights("eye->motor").w).sum())
        init = World(dt=0.001, backend="native", seed=7)
        init.spawn(npc_circuit(), 7)
        fb = init.spawn(learner_circuit(), 5)
        assert any(not np.array_equal(init.brain(b.id).weights("eye->motor").w,
                                      ref.brain(b.id).weights("eye->motor").w) for b in fb if ref.brain(b.id).alive)
        # save / load of the cluster resumes bit-exactly
        path = tmp_path / "crowd.cluster"
        cw.save(path)
        cw.close()
        cw = ClusterWorld.load(path)
        drive([ref, cw], 6, rng, lambda r: assert_same(ref, cw, r))
    finally:
        cw.close()
