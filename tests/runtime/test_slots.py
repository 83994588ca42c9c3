"""Spawn and despawn touch only their own slots: other brains continue bit for bit, the
layout stays valid, free slots are reused in place (no rebuild), and numpy and native
agree bit for bit through the same churn."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from tests.conftest import drive, rich_circuit

from spikeforge import LIF, Circuit, World
from spikeforge.engine.layout import validate_layout
from spikeforge.model import FixedInDegree, FixedProbability, Uniform


def _crowdish() -> Circuit:
    c = Circuit("crowdish")
    c.add_population("in", 8, LIF(t_ref=2.0), v_init=(-65.0, -55.0))
    c.add_population("hid", 20, LIF(bias=8.0), v_init=(-65.0, -52.0))
    c.connect("in", "hid", FixedInDegree(3), weight=Uniform(1.0, 3.0), delay=(1, 3))
    c.connect("hid", "hid", FixedProbability(0.2), weight=Uniform(0.2, 1.2), delay=(1, 4))
    c.add_sensor("eyes", "in", channels=4, kind="poisson", max_rate=200.0)
    c.add_actuator("legs", "hid", channels=2, kind="rate")
    return c


def _state(world: World, serial: int) -> dict[str, np.ndarray]:
    b = world.brain(serial)
    sl = b.neurons
    L = world.layout
    world.backend.pull_state()
    out = {k: a[sl].copy() for k, a in L.neuron.items()}
    out["ring"] = np.roll(L.ring[:, :, sl], -int(L.brain_step[b.index]) % L.depth, axis=0)
    out["step"] = np.array([L.brain_step[b.index]])
    return out


def _run(world: World, frames: int, serials: list[int]) -> None:
    for f in range(frames):
        for s in serials:
            world.brain(s).sensor("eyes")[:] = (f * 0.13 + s * 0.21) % 1.0
        world.advance(1 / 60)


@pytest.mark.parametrize("backend", ["numpy", "native"])
def test_churn_leaves_other_brains_bit_exact(backend: str) -> None:
    c, other = _crowdish(), rich_circuit()
    calm = World(backend=backend, seed=5)
    busy = World(backend=backend, seed=5)
    for w in (calm, busy):
        w.spawn(c, count=4)  # serials 0..3 in both worlds
    keep = [0, 1, 2, 3]
    _run(calm, 3, keep)
    _run(busy, 3, keep)
    rebuilds = busy.stats()["rebuilds"]
    busy.despawn(1)
    keep.remove(1)
    calm.despawn(1)
    extra = busy.spawn(c, count=1)             # into the free slot, in place
    assert busy.stats()["rebuilds"] == rebuilds and extra[0].index == 1
    validate_layout(busy.layout)
    busy.spawn(other, count=2)                 # a new prototype: rebuild, brains keep their slots
    busy.spawn(c, count=3)                     # more than free: capacity doubles
    assert len(busy.group(c).slots) == 8 and busy.stats()["rebuilds"] == rebuilds + 2
    validate_layout(busy.layout)
    for f in range(3):
        busy.despawn(busy.group(c).brains[-1])   # despawn the newest, spawn again: in place
        busy.spawn(c)
        for b in busy.group(other).brains:
            drive(b, f)
        _run(busy, 1, keep)
        _run(calm, 1, keep)
        validate_layout(busy.layout)
    assert busy.stats()["backend_rebuilds"] == 0
    _run(calm, 4, keep)
    _run(busy, 4, keep)
    for s in keep:
        a, b = _state(calm, s), _state(busy, s)
        d = min(a["ring"].shape[0], b["ring"].shape[0])  # the busy world's ring is deeper
        assert not b["ring"][d:].any()
        a["ring"], b["ring"] = a["ring"][:d], b["ring"][:d]
        for k in a:
            assert a[k].tobytes() == b[k].tobytes(), (s, k)


def test_numpy_and_native_agree_through_churn() -> None:
    from spikeforge.engine.native_backend import unavailable

    assert unavailable() is None, unavailable()
    worlds = [World(backend=b, seed=9) for b in ("numpy", "native")]
    for w in worlds:
        c = _crowdish()
        w.spawn(c, count=3)
        for f in range(8):
            if f % 2:
                w.despawn(w.group(c).brains[0])
            w.spawn(c, count=1 + f % 2)
            g = w.group(c)
            g.sensor("eyes")[:] = ((np.arange(g.sensor("eyes").size) * 0.37 + f * 0.1) % 1.0).reshape(
                g.sensor("eyes").shape)
            w.advance(1 / 60)
    a, b = worlds
    assert a.layout.brain_serial.tolist() == b.layout.brain_serial.tolist()
    for k in a.layout.neuron:
        assert a.layout.neuron[k].tobytes() == b.layout.neuron[k].tobytes(), k
    assert a.layout.act_out.tobytes() == b.layout.act_out.tobytes()
    assert a.stats()["backend_rebuilds"] == b.stats()["backend_rebuilds"] == 0


def test_spawn_into_a_free_slot_keeps_the_arrays() -> None:
    world = World(backend="native", seed=1)
    c = _crowdish()
    brains = world.spawn(c, count=10)
    L = world.layout
    held = {k: a for k, a in L.neuron.items()}
    eyes = world.group(c).sensor("eyes")
    raw = eyes.current()
    world.despawn(brains[3])
    (b,) = world.spawn(c)
    assert world.layout is L and all(world.layout.neuron[k] is a for k, a in held.items())
    assert np.shares_memory(raw, eyes) and b.index == 3 and world.stats()["rebuilds"] == 1
    # the freed slot now holds the new brain, drawn from its own seed and serial only
    fresh = World(backend="numpy", seed=1)
    twin = fresh.spawn(c, count=11)[10]
    assert twin.id == b.id == 10
    for pr in ("in->hid", "hid->hid"):
        names = [p.name for p in world.layout.prototypes[0].circuit.projections]
        name = pr if pr in names else names[("in->hid", "hid->hid").index(pr)]
        mine, theirs = b.weights(name), twin.weights(name)
        assert mine.w.tobytes() == theirs.w.tobytes()
        assert np.array_equal(mine.pre, theirs.pre) and np.array_equal(mine.post, theirs.post)
    assert _state(world, 10)["v"].tobytes() == _state(fresh, 10)["v"].tobytes()


def test_close_joins_the_draw_thread_and_the_world_goes_on() -> None:
    """``World.close`` leaves no spikeforge thread behind (an embedding host such as Unity
    through pythonnet ends Python right after) and the world keeps stepping and spawning
    the same brains as a world that never drew ahead."""
    def draws() -> set[threading.Thread]:  # this test's worlds' draw threads, not earlier tests'
        return {t for t in threading.enumerate() if t.name.startswith("spikeforge-draw")} - earlier

    earlier: set[threading.Thread] = set()
    earlier = draws()
    c = _crowdish()
    closed, plain = World(backend="numpy", seed=4), World(backend="numpy", seed=4)
    plain.draw_ahead = False
    for w in (closed, plain):
        w.spawn(c, count=2)
        w.advance(1 / 60)
        w.spawn(c)
        w.advance(1 / 60)  # closed: the next brain is being drawn ahead now
    assert len(draws()) == 1
    closed.close()
    assert not draws()
    closed.close()  # again: nothing to do
    for w in (closed, plain):
        w.spawn(c)
        w.advance(1 / 60)
    assert [b.id for b in closed.brains] == [b.id for b in plain.brains] == [0, 1, 2, 3]
    for b in plain.brains:
        a, s = _state(closed, b.id), _state(plain, b.id)
        for k in s:
            np.testing.assert_array_equal(a[k], s[k], err_msg=f"brain {b.id}: {k}")
    assert not draws()


@pytest.mark.parametrize("backend", ["numpy", "native"])
def test_draw_ahead_gives_the_same_brains_as_a_synchronous_draw(backend: str) -> None:
    """Single spawns take the brain drawn ahead on the worker thread (during the previous
    kernel step); interleaving another circuit and multi-brain spawns discard it. Every
    brain's wiring and state must be bit for bit those of a world that never draws ahead."""
    c, other = _crowdish(), rich_circuit()
    worlds = [World(backend=backend, seed=9), World(backend=backend, seed=9)]
    worlds[1].draw_ahead = False
    for w in worlds:
        w.spawn(c, count=3)
        for plan in (c, c, other, c, c, c, other, other, c):
            w.advance(1 / 60)
            w.spawn(plan)
        w.spawn(c, count=2)
        w.advance(1 / 60)
    ahead, sync = worlds
    assert ahead.stats()["spawns_drawn_ahead"] == 5  # c after c (x4) and other after other
    assert sync.stats()["spawns_drawn_ahead"] == 0
    assert [b.id for b in ahead.brains] == [b.id for b in sync.brains]
    for b in sync.brains:
        a, s = _state(ahead, b.id), _state(sync, b.id)
        for k in s:
            np.testing.assert_array_equal(a[k], s[k], err_msg=f"brain {b.id}: {k}")
    La, Ls = ahead.layout, sync.layout
    for k in ("row_ptr", "row_syn", "row_delay", "row_proj", "brain_serial"):
        np.testing.assert_array_equal(getattr(La, k), getattr(Ls, k), err_msg=k)
    for k in Ls.synapse:
        np.testing.assert_array_equal(La.synapse[k], Ls.synapse[k], err_msg=k)
    _run(ahead, 5, [b.id for b in ahead.brains if b.prototype == "crowdish"])
    _run(sync, 5, [b.id for b in sync.brains if b.prototype == "crowdish"])
    np.testing.assert_array_equal(ahead.layout.act_out, sync.layout.act_out)


def test_a_big_circuit_is_not_drawn_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """A brain over DRAW_AHEAD_MAX_NEURONS is drawn when spawned, never ahead beside the steps."""
    import spikeforge.runtime.world as world_module

    c = _crowdish()  # 28 neurons
    drawn_ahead = {}
    for limit in (27, 28):
        monkeypatch.setattr(world_module, "DRAW_AHEAD_MAX_NEURONS", limit)
        w = World(backend="numpy", seed=9)
        w.spawn(c)
        w.advance(1 / 60)
        w.spawn(c)
        drawn_ahead[limit] = w.stats()["spawns_drawn_ahead"]
        w.close()
    assert drawn_ahead == {27: 0, 28: 1}
