"""Handles are views: population state, per-brain sensors and per-prototype organ blocks
share memory with the layout arrays the kernel reads."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import rich_circuit

from spikeforge import LIF, Circuit, World


def _world() -> tuple[World, Circuit, list]:
    c = Circuit("zc").add_population("n", 6, LIF(v_thresh=0.0, v_reset=-70.0))
    c.add_sensor("s", "n", channels=3, kind="current", gain=2.0, low=-5.0, high=5.0)
    c.add_actuator("a", "n", channels=2, kind="rate")
    world = World(dt=0.001, backend="numpy", seed=0)
    brains = world.spawn(c, count=3)
    world.spawn(rich_circuit())  # a second prototype around it
    return world, c, brains


def test_views_share_memory_with_the_layout() -> None:
    world, c, brains = _world()
    L = world.layout
    b = brains[1]
    for key in ("v", "ie", "ii", "iext"):
        assert np.shares_memory(getattr(b["n"], key), L.neuron[key]), key
    rich = world.brains[-1]  # state a population keeps only by its rules (w theta mod) is a view too
    for pop, key in (("exc", "w"), ("izh", "w"), ("mod", "theta"), ("mod", "mod")):
        assert np.shares_memory(getattr(rich[pop], key), L.neuron[key]), (pop, key)
    assert np.shares_memory(rich["inh"].state("consec"), L.neuron["consec"])
    assert np.shares_memory(b["n"].state("hold"), L.neuron["hold"])
    assert np.shares_memory(b.sensor("s"), L.sensor_values)
    assert np.shares_memory(b.actuator("a"), L.act_out)
    group = world.group(c)
    assert np.shares_memory(group.sensor("s"), L.sensor_values)
    assert np.shares_memory(group.sensor("s"), b.sensor("s"))
    assert np.shares_memory(group.actuator("a"), L.act_out)
    assert group.sensor("s").shape == (3, 3) and group.actuator("a").shape == (3, 2)
    assert world.group("zc").brains == brains


def test_view_writes_are_what_the_kernel_reads() -> None:
    world, c, brains = _world()
    b = brains[2]
    b.sensor("s")[:] = [1.0, -2.0, 9.0]  # 9 is clipped to the range's high end, 5
    world.group(c).sensor("s")[0] = [0.5, 0.5, 0.5]
    world.step(1)
    np.testing.assert_array_equal(b["n"].iext, np.float32(2.0) * np.array([1, 1, -2, -2, 5, 5], np.float32))
    np.testing.assert_array_equal(brains[0]["n"].iext, np.full(6, 1.0, np.float32))
    np.testing.assert_array_equal(brains[1]["n"].iext, np.zeros(6, np.float32))
    # writing state through a population view changes the next step's input
    b["n"].v[:] = -60.0
    v_before = b["n"].v.copy()
    world.step(1)
    assert not np.array_equal(b["n"].v, v_before)
    assert b["n"].v[4] > b["n"].v[2]


def test_actuator_view_updates_in_place() -> None:
    world, _, brains = _world()
    out = brains[0].actuator("a")
    brains[0].set_sensor("s", [5.0, 5.0, 5.0])
    brains[0]["n"].v[:] = 5.0  # above threshold now: everyone fires on the next step
    world.step(4)
    assert out.sum() > 0  # the same array object shows the new values


def test_held_views_follow_spawns() -> None:
    """A handle taken before a spawn points into the world's current arrays after it."""
    world, c, brains = _world()
    old = brains[0]["n"].v
    world.spawn(c)
    assert np.shares_memory(old, world.layout.neuron["v"])
    assert np.shares_memory(brains[0]["n"].v, world.layout.neuron["v"])


def test_unknown_names_fail_clearly() -> None:
    world, _c, brains = _world()
    with pytest.raises(KeyError, match="population"):
        brains[0]["nope"]
    with pytest.raises(KeyError, match="sensor 'nope'"):
        brains[0].sensor("nope")
    with pytest.raises(KeyError, match="prototype"):
        world.group("nope")
