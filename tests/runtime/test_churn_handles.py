"""Held handles across churn: the README Quickstart pattern (take the organ arrays once, use
them every frame) with spawns and despawns every frame, on numpy, native and GPU (lavapipe).

Every write through a held sensor handle must reach the brains (checked on the encoded
``iext`` of the channel neurons, read through held population handles), every read
through a held actuator handle must be fresh (equal to a handle taken right now and to
the decode of the brain's own drive), and a handle on a despawned brain must raise.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from spikeforge import LIF, Circuit, World
from spikeforge.model import FixedInDegree
from spikeforge.runtime.handles import LiveArray, StaleHandleError

GAIN = 30.0


def _npc() -> Circuit:
    c = Circuit("npc")
    c.add_population("eye", 4, LIF(tau_m=10.0, t_ref=2.0))
    c.add_population("m", 2, LIF())
    c.connect("eye", "m", FixedInDegree(1), weight=1.0)
    c.add_sensor("sight", "eye", channels=4, kind="current", gain=GAIN, low=0.0, high=1.0)
    c.add_actuator("move", "eye", channels=2, kind="rate")
    return c


def _other() -> Circuit:
    c = Circuit("other")
    c.add_population("x", 3, LIF(bias=30.0))
    c.add_sensor("s", "x", channels=3, kind="current", gain=1.0)
    c.add_actuator("a", "x", channels=1, kind="rate")
    return c


def _backend(name: str) -> str:
    if name == "gpu":
        from tests.engine.test_gpu_common import require_lavapipe

        require_lavapipe()
    if name == "native":
        from spikeforge.engine.native_backend import unavailable

        why = unavailable()
        if why is not None:
            pytest.fail(why)
    return name


@pytest.mark.parametrize("backend", ["numpy", "native", "gpu"])
def test_quickstart_loop_with_churn_every_frame(backend: str) -> None:
    world = World(dt=0.001, seed=42, backend=_backend(backend))
    npc, other = _npc(), _other()
    brains = world.spawn(npc, count=6)
    world.spawn(other, count=2)
    group = world.group(npc)
    sight, move = group.sensor("sight"), group.actuator("move")  # taken once
    held_iext = {b.id: b["eye"].iext for b in brains}             # per-brain held state handles
    rng = np.random.default_rng(0)
    for frame in range(24):
        # churn: spawn and despawn every frame, of this prototype and of the other one
        if frame % 2 == 0:
            new = world.spawn(npc, count=1 + frame % 3)
            held_iext.update({b.id: b["eye"].iext for b in new})
        else:
            world.spawn(other)
        live = group.brains
        victim = live[int(rng.integers(len(live)))]
        if len(live) > 3:
            world.despawn(victim)
            with pytest.raises(StaleHandleError, match=f"brain {victim.id}"):
                held_iext.pop(victim.id)[0]
        if frame % 3 == 0:
            world.despawn(world.group(other).brains[0])
        # the Quickstart body
        x = rng.random((len(sight), 4)).astype(np.float32)
        x[::2] = 0.0  # every other NPC sees nothing: its actuator must read 0
        sight[:] = x
        world.advance(1 / 60)
        fresh = world.group(npc).actuator("move")
        assert move.shape == (len(group.slots), 2)
        assert np.array_equal(np.asarray(move), np.asarray(fresh))
        assert np.shares_memory(move, world.layout.act_out)
        assert np.shares_memory(sight, world.layout.sensor_values)
        for row, b in enumerate(group.slots):
            if b is None:
                continue
            # the write reached this brain: its channel neurons' drive is gain * value
            want = np.repeat(GAIN * x[row], 1).astype(np.float32)
            assert np.array_equal(np.asarray(held_iext[b.id]), want), (frame, row, b.id)
            assert np.array_equal(np.asarray(b.sensor("sight")), x[row])
        assert np.all(move[::2] == 0.0), "an NPC that saw nothing reports a rate"
        assert np.all(np.asarray(move)[~group.live] == 0.0)
    assert float(np.abs(np.asarray(move)).sum()) > 0.0, "no NPC ever moved"


def test_live_array_behaves_like_the_array() -> None:
    world = World(backend="numpy", seed=1)
    brains = world.spawn(_npc(), count=3)
    sight = world.group("npc").sensor("sight")
    assert isinstance(sight, LiveArray)
    sight[...] = 0.25
    sight += 0.25                       # in place through a ufunc with out=
    assert np.all(world.layout.sensor_values == 0.5)
    assert (sight * 2).sum() == pytest.approx(12.0)
    assert sight.sum() == pytest.approx(6.0) and sight.shape == (3, 4) and len(sight) == 3
    assert sight.dtype == np.float32 and sight.ndim == 2 and sight.size == 12
    with pytest.raises(ValueError, match=r"sensor 'sight' of prototype 'npc'.*shape \(3, 4\)"):
        sight[:] = np.zeros((7, 4))
    mine = brains[2].sensor("sight")
    world.despawn(brains[1])
    group = world.group("npc")
    assert sight.shape == (3, 4) and group.live.tolist() == [True, False, True]  # the row is free
    assert np.all(sight[1] == 0.0)
    gone = brains[1].sensor
    with pytest.raises(StaleHandleError, match="brain 1"):
        gone("sight")
    new = world.spawn("npc", count=2)  # by name; one fills the free row, one grows the rows (x2)
    assert sight.shape == (6, 4) and group.slots[:3] == [brains[0], new[0], brains[2]]
    assert world.stats()["rebuilds"] == 2 and world.stats()["brains"] == 4
    mine[:] = 1.0
    assert np.array_equal(np.asarray(sight)[2], np.ones(4, np.float32))
    assert "stale" not in repr(mine)


def test_spawn_by_unknown_name_names_the_known_circuits() -> None:
    world = World(backend="numpy", seed=1)
    with pytest.raises(KeyError, match=r"'nosuch'.*known circuits: \[\]"):
        world.spawn("nosuch")
    world.spawn(_npc())
    with pytest.raises(KeyError, match=r"'nosuch'.*known circuits: \['npc'\]"):
        world.spawn("nosuch")
    with pytest.raises(TypeError, match="Circuit or the name"):
        world.spawn(3)  # type: ignore[arg-type]
    assert world.stats()["brains"] == 1  # nothing spawned by the failures


def test_weights_view_is_an_honest_copy_with_write_back() -> None:
    world = World(backend="numpy", seed=1)
    (b,) = world.spawn(_npc())
    view = b.weights(world.layout.prototypes[0].circuit.projections[0].name)
    w = view.w
    with pytest.raises(ValueError, match="read-only"):
        w[:] = 9.0
    view.set(2.5)
    assert np.all(view.w == 2.5)
    world.spawn(_npc(), count=2)  # the view follows its brain into the new layout
    assert np.all(world.layout.synapse["w"][view.index] == 2.5)
    world.despawn(b)
    with pytest.raises(StaleHandleError):
        view.w  # noqa: B018


def test_dropped_steps_are_counted_and_warned_once_per_burst(caplog: pytest.LogCaptureFixture) -> None:
    world = World(backend="numpy", seed=1, max_substeps=10)
    world.spawn(_npc())
    with caplog.at_level(logging.WARNING, logger="spikeforge.world"):
        world.advance(0.1)   # 100 steps due, 10 run
        world.advance(0.1)   # same burst: no second warning
        world.advance(0.005)
        world.advance(1e9)   # a new burst
    warnings = [r for r in caplog.records if "max_substeps" in r.getMessage()]
    assert len(warnings) == 2
    s = world.stats()
    assert s["dropped_steps"] == 90 + 90 + (10 ** 12 - 10) and s["drop_bursts"] == 2
    world.max_substeps = 200
    world.advance(0.1)
    assert world.stats()["dropped_steps"] == s["dropped_steps"] and world.step_count == 10 + 10 + 5 + 10 + 100
    with pytest.raises(ValueError, match="max_substeps"):
        world.max_substeps = 0
