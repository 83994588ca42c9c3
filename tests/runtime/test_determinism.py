"""Reproducibility (same seed -> same run) and isolation (other brains spawning and
despawning never perturb a brain's trajectory)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import assert_states_equal, drive, layout_state, rich_circuit

from spikeforge import LIF, Brain, Circuit, World
from spikeforge.engine.compiler import max_delay


def _run(world: World, brains: list[Brain], frames: range) -> list[tuple[int, int, int]]:
    """Advance ``frames`` frames driving ``brains``; return (step, brain id, local neuron) spikes of them."""
    out: list[tuple[int, int, int]] = []
    for f in frames:
        for b in brains:
            drive(b, f)
        rec = world.advance(1 / 60).spikes
        for b in brains:
            s = b.neurons
            m = (rec.neurons >= s.start) & (rec.neurons < s.stop)
            out += [(int(t), b.id, int(n) - s.start) for t, n in zip(rec.steps[m], rec.neurons[m], strict=True)]
    return out


def _all_arrays(world: World) -> dict[str, np.ndarray]:
    from spikeforge.runtime.snapshot import layout_arrays

    return {k: v.copy() for k, v in layout_arrays(world.layout).items()}


def test_same_seed_gives_identical_spikes_and_state() -> None:
    worlds = [World(dt=0.001, backend="numpy", seed=42) for _ in range(2)]
    runs, states = [], []
    for w in worlds:
        brains = w.spawn(rich_circuit(), count=3)
        runs.append(_run(w, brains, range(40)))
        states.append(_all_arrays(w))
    assert len(runs[0]) > 500
    assert runs[0] == runs[1]
    assert_states_equal(states[0], states[1])


def test_different_seed_gives_a_different_run() -> None:
    spikes, weights = [], []
    for seed in (1, 2):
        w = World(dt=0.001, backend="numpy", seed=seed)
        brains = w.spawn(rich_circuit(), count=2)
        spikes.append(_run(w, brains, range(20)))
        weights.append(w.layout.synapse["w"].copy())
    assert spikes[0] != spikes[1]
    assert weights[0].shape != weights[1].shape or not np.array_equal(weights[0], weights[1])


def test_brains_of_one_world_get_distinct_streams() -> None:
    """Two brains of one prototype in one world are not copies of each other."""
    w = World(dt=0.001, backend="numpy", seed=0)
    a, b = w.spawn(rich_circuit(), count=2)
    assert w.layout.brain_key[0] != w.layout.brain_key[1]
    assert not np.array_equal(a["exc"].v, b["exc"].v)


def _big_delay() -> Circuit:
    """Another prototype whose long delays grow the world's ring depth."""
    return (Circuit("echo").add_population("p", 15, LIF(bias=16.0), v_init=(-65.0, -50.0))
            .connect("p", "p", weight=0.5, delay=(20, 40)))


def _own_state(world: World, brain: Brain) -> dict[str, np.ndarray]:
    depth = max_delay(world.layout.prototypes[int(world.layout.brain_proto[brain.index])])
    state = layout_state(world, brain, depth)
    # nothing of this brain may be pending beyond its own longest delay
    full = layout_state(world, brain)["ring"]
    assert not np.any(full[depth:])
    return state


def test_spawn_and_despawn_of_others_leave_a_trajectory_bit_identical() -> None:
    """Brain 0 runs 4 x 10 frames while others (same and other prototypes, a deeper ring)
    come and go; a world holding only brain 0 gives the same spikes and state."""
    busy = World(dt=0.001, backend="numpy", seed=3)
    (x,) = busy.spawn(rich_circuit())
    got = _run(busy, [x], range(0, 10))
    others = busy.spawn(rich_circuit(), count=2) + busy.spawn(_big_delay(), count=2)
    assert busy.layout.depth == 40
    got += _run(busy, [x, *others[:2]], range(10, 20))
    busy.despawn([others[0], others[2].id])
    got += _run(busy, [x, others[1]], range(20, 30))
    busy.spawn(_big_delay())
    busy.despawn(others[1])
    got += _run(busy, [x], range(30, 40))
    got = [s for s in got if s[1] == x.id]

    alone = World(dt=0.001, backend="numpy", seed=3)
    (y,) = alone.spawn(rich_circuit())
    ref = _run(alone, [y], range(0, 40))
    assert len(ref) > 200
    assert got == ref
    assert_states_equal(_own_state(busy, x), _own_state(alone, y))
    # actuators too
    for name in ("move", "dir", "pick"):
        assert x.actuator(name).tobytes() == y.actuator(name).tobytes()


def test_isolation_of_a_brain_spawned_later() -> None:
    """Keys depend on the spawn serial: compare against a world where serial 0 was
    spawned and despawned before anything ran, so the brain under test is serial 1."""
    busy = World(dt=0.001, backend="numpy", seed=9)
    (first,) = busy.spawn(_big_delay())
    (x,) = busy.spawn(rich_circuit())
    got = _run(busy, [x], range(0, 15))
    busy.despawn(first)
    got += _run(busy, [x], range(15, 30))
    got = [s for s in got if s[1] == x.id]

    alone = World(dt=0.001, backend="numpy", seed=9)
    alone.despawn(alone.spawn(_big_delay()))
    (y,) = alone.spawn(rich_circuit())
    assert (x.id, y.id) == (1, 1)
    ref = _run(alone, [y], range(0, 30))
    assert got == ref
    assert_states_equal(_own_state(busy, x), _own_state(alone, y))


def test_despawned_handles_fail_clearly() -> None:
    w = World(dt=0.001, backend="numpy", seed=0)
    a, b = w.spawn(rich_circuit(), count=2)
    w.despawn(a)
    assert not a.alive and b.alive
    with pytest.raises(LookupError, match="despawned"):
        _ = a["exc"]
    with pytest.raises(LookupError, match=str(a.id)):
        w.despawn(a)
    assert w.brains == [b]


def test_partial_advance_path_matches_the_all_brains_path() -> None:
    """When some brains sleep or skip a frame (LOD), the others run through the
    per-brain selection path of the step; their trajectory must equal a run where
    every brain is active (the whole-array path)."""
    mixed = World(dt=0.001, backend="numpy", seed=17)
    x, sleeper, slow = mixed.spawn(rich_circuit(), count=3)
    sleeper.sleep()
    slow.lod_every = 3
    got = [s for s in _run(mixed, [x, sleeper, slow], range(20)) if s[1] == x.id]

    alone = World(dt=0.001, backend="numpy", seed=17)
    (y,) = alone.spawn(rich_circuit())
    alone.despawn(alone.spawn(rich_circuit(), count=2))
    ref = _run(alone, [y], range(20))
    assert got == ref and len(ref) > 100
    assert_states_equal(_own_state(mixed, x), _own_state(alone, y))
    assert 0 < slow.steps < x.steps and sleeper.steps == 0


_OPS = st.lists(st.tuples(st.sampled_from(["spawn_small", "spawn_echo", "despawn", "sleep", "wake", "lod", "frame"]),
                          st.integers(0, 7)), min_size=1, max_size=12)


@given(_OPS)
@settings(max_examples=15)
def test_random_world_histories_never_perturb_a_brain(ops: list[tuple[str, int]]) -> None:
    """Brain 0 runs through random spawns, despawns, sleeps and LOD changes of others;
    its trajectory equals the same brain alone in a world (same seed, same serial)."""
    small = Circuit("small").add_population("p", 6, LIF(bias=15.0, excitability=0.6), v_init=(-65.0, -50.0))
    small.connect("p", "p", weight=1.0, delay=(1, 3))
    busy = World(dt=0.001, backend="numpy", seed=4)
    (x,) = busy.spawn(rich_circuit())
    others: list[Brain] = []
    got = []
    frame = 0
    for op, k in [*ops, ("frame", 0)]:
        if op == "spawn_small":
            others += busy.spawn(small, count=k % 3 + 1)
        elif op == "spawn_echo":
            others += busy.spawn(_big_delay())
        elif others and op == "despawn":
            busy.despawn(others.pop(k % len(others)))
        elif others and op == "sleep":
            others[k % len(others)].sleep()
        elif others and op == "wake":
            others[k % len(others)].wake()
        elif others and op == "lod":
            others[k % len(others)].lod_every = k % 4 + 1
        elif op == "frame":
            got += [s for s in _run(busy, [x], range(frame, frame + 2)) if s[1] == x.id]
            frame += 2
    alone = World(dt=0.001, backend="numpy", seed=4)
    (y,) = alone.spawn(rich_circuit())
    ref = _run(alone, [y], range(frame))
    assert got == ref
    assert_states_equal(_own_state(busy, x), _own_state(alone, y))
