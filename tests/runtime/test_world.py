"""World API: batching independence, argument checks, stats."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import rich_circuit

from spikeforge import LIF, Circuit, World


def _constant_sensors(world: World) -> None:
    for b in world.brains:
        b.set_sensor("eye", [0.2, 0.4, 0.6, 0.8])
        b.set_sensor("push", [0.5, -0.5, 0.25, 0.0])
        b.set_sensor("tone", [3.0, 7.0])


def test_steps_per_call_do_not_change_the_dynamics() -> None:
    """With sensors held constant, one call of 48 steps, 48 calls of 1 step and frames
    of varying length give the same spikes and state (actuators are per advance)."""
    runs = []
    for chunks in ([48], [1] * 48, [16, 17, 15]):
        world = World(dt=0.001, backend="numpy", seed=6)
        world.spawn(rich_circuit(), count=2)
        _constant_sensors(world)
        steps, neurons = [], []
        for n in chunks:
            rec = world.step(n)
            steps.append(rec.steps)
            neurons.append(rec.neurons)
        runs.append((np.concatenate(steps), np.concatenate(neurons),
                     {k: a.copy() for k, a in world.layout.neuron.items()}))
    for s, n, state in runs[1:]:
        np.testing.assert_array_equal(s, runs[0][0])
        np.testing.assert_array_equal(n, runs[0][1])
        for k in state:
            assert state[k].tobytes() == runs[0][2][k].tobytes(), k
    assert runs[0][0].size > 50


def test_spike_stamps_are_world_steps_in_order() -> None:
    world = World(dt=0.001, backend="numpy", seed=1)
    world.spawn(Circuit("c").add_population("n", 10, LIF(bias=30.0), v_init=(-65.0, -50.0)), count=2)
    world.step(5)
    frame = world.advance(1 / 60)
    assert frame.spikes.steps.min() >= 5 and frame.spikes.steps.max() < 5 + frame.steps
    order = np.lexsort((frame.spikes.neurons, frame.spikes.steps))
    np.testing.assert_array_equal(order, np.arange(order.size))


def test_argument_checks_name_the_argument() -> None:
    with pytest.raises(ValueError, match="seed"):
        World(seed=-1, backend="numpy")
    with pytest.raises(ValueError, match="backend"):
        World(backend="quantum")
    world = World(backend="numpy")
    with pytest.raises(ValueError, match="count"):
        world.spawn(rich_circuit(), count=-1)
    with pytest.raises(ValueError, match="n:"):
        world.step(-2)
    with pytest.raises(LookupError, match="despawn"):
        world.despawn(99)
    with pytest.raises(LookupError, match="brain"):
        world.brain(99)


def test_stats_count_what_ran() -> None:
    world = World(dt=0.001, backend="numpy", seed=1)
    world.spawn(Circuit("c").add_population("n", 10, LIF(bias=30.0)), count=3)
    rec = world.step(100)
    s = world.stats()
    assert (s["brains"], s["neurons"], s["steps"], s["spikes"]) == (3, 30, 100, rec.neurons.size)
    assert s["mean_rate_hz"] == pytest.approx(rec.neurons.size / (30 * 0.1))
    assert s["backend"] == "numpy" and s["time_s"] == pytest.approx(0.1)


def test_empty_world_advances() -> None:
    world = World(dt=0.001, backend="numpy")
    frame = world.advance(1 / 60)
    assert frame.steps == 16 and frame.spikes.neurons.size == 0
    assert world.brains == []


def test_group_by_name_is_an_error_when_two_circuits_share_it() -> None:
    from spikeforge import LIF, Circuit, World

    a = Circuit("npc").add_population("n", 2, LIF())
    b = Circuit("npc").add_population("n", 3, LIF())
    world = World(backend="numpy")
    world.spawn(a, 1)
    world.spawn(b, 2)
    assert len(world.group(a).brains) == 1
    assert len(world.group(b).brains) == 2
    with pytest.raises(KeyError, match="pass the Circuit"):
        world.group("npc")
