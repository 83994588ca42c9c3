"""SpikeBus: batched events, filters, callback isolation, no re-entry."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from spikeforge import LIF, Circuit, SpikeEvent, World


def _world() -> tuple[World, list]:
    c = Circuit("bus").add_population("a", 5, LIF(bias=30.0, t_ref=2.0), v_init=(-65.0, -50.0))
    c.add_population("b", 3, LIF(bias=25.0, t_ref=2.0), v_init=(-65.0, -50.0))
    other = Circuit("other").add_population("b", 4, LIF(bias=30.0), v_init=(-65.0, -50.0))
    world = World(dt=0.001, backend="numpy", seed=1)
    brains = world.spawn(c, count=2) + world.spawn(other)
    return world, brains


def test_one_batched_event_per_subscription_per_advance() -> None:
    world, _brains = _world()
    events: list[SpikeEvent] = []
    world.bus.subscribe(events.append)
    for _ in range(5):
        frame = world.advance(1 / 30)
        assert len(events) == 1
        ev = events.pop()
        assert len(ev) == frame.spikes.neurons.size > 1
        assert ev.steps.dtype == np.int64 and ev.brains.dtype == np.int64 and ev.neurons.dtype == np.int32
        np.testing.assert_array_equal(ev.steps, frame.spikes.steps)
        # brain ids and brain-local neurons reconstruct the global indices
        starts = np.array([world.brain(int(i)).neurons.start for i in ev.brains])
        np.testing.assert_array_equal(starts + ev.neurons, frame.spikes.neurons)
        assert ev.population is None
        assert np.all(np.diff(ev.steps) >= 0)


def test_filters_by_brain_and_population() -> None:
    world, (b0, b1, b2) = _world()
    by_brain: list[SpikeEvent] = []
    by_pop: list[SpikeEvent] = []
    both: list[SpikeEvent] = []
    world.bus.subscribe(by_brain.append, brains=[b1])
    world.bus.subscribe(by_pop.append, population="b")
    world.bus.subscribe(both.append, brains=[b0.id, b2], population="b")
    frame = world.advance(0.05)
    allspk = frame.spikes
    (e1,), (ep,), (eb,) = by_brain, by_pop, both
    assert set(e1.brains.tolist()) == {b1.id}
    assert len(e1) == np.count_nonzero((allspk.neurons >= b1.neurons.start) & (allspk.neurons < b1.neurons.stop))
    # population "b" exists in both prototypes (at different offsets); indices are within it
    assert set(ep.brains.tolist()) == {b0.id, b1.id, b2.id}
    assert ep.population == "b"
    sizes = {b0.id: 3, b1.id: 3, b2.id: 4}
    assert all(0 <= n < sizes[int(i)] for i, n in zip(ep.brains, ep.neurons, strict=True))
    expected_b = sum(np.count_nonzero((allspk.neurons >= br.neurons.start + off)
                                      & (allspk.neurons < br.neurons.start + off + sizes[br.id]))
                     for br, off in ((b0, 5), (b1, 5), (b2, 0)))
    assert len(ep) == expected_b
    assert set(eb.brains.tolist()) == {b0.id, b2.id}


def test_no_event_when_nothing_matched() -> None:
    world, _brains = _world()
    got: list[SpikeEvent] = []
    world.bus.subscribe(got.append, brains=[10_000])  # no such brain: nothing ever matches
    world.advance(0.05)
    assert got == []


def test_mistyped_population_raises_naming_the_known_ones() -> None:
    world, _brains = _world()
    with pytest.raises(KeyError, match=r"'nonexistent'.*known populations: \['a', 'b'\]"):
        world.bus.subscribe(lambda ev: None, population="nonexistent")
    assert world.bus.subscriptions == ()


def test_population_subscribed_before_spawn_is_checked_on_first_publish() -> None:
    from spikeforge import LIF, Circuit, World

    world = World(backend="numpy", seed=1)
    bad = world.bus.subscribe(lambda ev: None, population="typo")
    good: list[SpikeEvent] = []
    world.bus.subscribe(good.append, population="n")
    world.spawn(Circuit("c").add_population("n", 5, LIF(bias=30.0)), count=2)
    world.advance(0.05)
    assert not bad.active and isinstance(bad.last_error, KeyError) and "typo" in str(bad.last_error)
    assert world.stats()["bus_errors"] == 1 and len(good) == 1


def test_raising_callback_is_isolated_counted_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    world, _ = _world()
    good: list[SpikeEvent] = []
    calls = 0

    def bad(ev: SpikeEvent) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("game bug")

    sub = world.bus.subscribe(bad, max_failures=3)
    world.bus.subscribe(good.append)
    with caplog.at_level(logging.ERROR, logger="spikeforge.bus"):
        for _ in range(5):
            frame = world.advance(1 / 60)  # never raises
            assert frame.steps > 0
    assert calls == 3  # dropped after 3 consecutive failures
    assert len(good) == 5  # the other subscriber saw every advance
    assert world.bus.errors == 3 and world.stats()["bus_errors"] == 3
    assert sub.total_failures == 3 and not sub.active and isinstance(sub.last_error, RuntimeError)
    assert sub not in world.bus.subscriptions
    assert sum("game bug" in r.getMessage() for r in caplog.records) == 3
    assert any("dropping" in r.getMessage() for r in caplog.records)


def test_a_success_resets_the_consecutive_failure_count() -> None:
    world, _ = _world()
    n = 0

    def flaky(ev: SpikeEvent) -> None:
        nonlocal n
        n += 1
        if n % 2:
            raise ValueError("odd")

    sub = world.bus.subscribe(flaky, max_failures=2)
    for _ in range(6):
        world.advance(1 / 60)
    assert sub.active and sub.total_failures == 3 and n == 6


@pytest.mark.parametrize("reenter", ["advance", "step", "spawn", "despawn", "save"])
def test_reentering_the_world_from_a_callback_is_refused(reenter: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    world, brains = _world()
    errors: list[BaseException] = []

    def cb(ev: SpikeEvent) -> None:
        try:
            if reenter == "advance":
                world.advance(1 / 60)
            elif reenter == "step":
                world.step(1)
            elif reenter == "spawn":
                world.spawn(Circuit("x").add_population("n", 1))
            elif reenter == "despawn":
                world.despawn(brains[0])
            else:
                world.save(tmp_path / "w.sfs")
        except RuntimeError as exc:
            errors.append(exc)
            raise

    world.bus.subscribe(cb)
    steps_before = world.step_count
    frame = world.advance(1 / 60)
    assert world.step_count == steps_before + frame.steps  # exactly one advance ran
    assert len(errors) == 1
    assert "inside" in str(errors[0]) and reenter in str(errors[0])
    assert world.layout.n_brains == 3
    world.advance(1 / 60)  # the world is usable afterwards


def test_unsubscribe_and_bad_callback() -> None:
    world, _ = _world()
    got: list[SpikeEvent] = []
    sub = world.bus.subscribe(got.append)
    world.advance(1 / 60)
    world.bus.unsubscribe(sub)
    world.advance(1 / 60)
    assert len(got) == 1
    with pytest.raises(TypeError, match="callback"):
        world.bus.subscribe(42)  # type: ignore[arg-type]
