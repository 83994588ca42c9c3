"""Fixed-timestep accounting: the clock, substeps, held sensors, accumulated actuators, LOD, sleep."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import drive, layout_state, rich_circuit

from spikeforge import LIF, Circuit, World
from spikeforge.runtime.clock import FixedClock


def test_sixty_frames_of_a_sixtieth_are_exactly_1000_steps() -> None:
    clock = FixedClock(0.001)
    steps = [clock.accumulate(1 / 60) for _ in range(60)]
    assert sum(steps) == 1000
    assert set(steps) == {16, 17}
    world = World(dt=0.001, backend="numpy", seed=0)
    (brain,) = world.spawn(Circuit("c").add_population("n", 3, LIF(bias=20.0)))
    frames = [world.advance(1 / 60) for _ in range(60)]
    assert sum(f.steps for f in frames) == 1000
    assert world.step_count == 1000 and brain.steps == 1000
    assert world.time == pytest.approx(1.0)
    assert all(0.0 <= f.alpha < 1.0 for f in frames)


@given(st.lists(st.floats(0.0, 0.05, allow_nan=False), min_size=1, max_size=60),
       st.sampled_from([0.001, 0.0005, 0.002, 1 / 120]))
def test_alpha_in_unit_interval_and_time_conserved(frames: list[float], dt: float) -> None:
    clock = FixedClock(dt, max_substeps=1000)
    total = 0
    for f in frames:
        total += clock.accumulate(f)
        assert 0.0 <= clock.alpha < 1.0
    assert clock.dropped_steps == 0
    # nothing lost: steps run plus the leftover equal the time handed in (to rounding)
    assert (total + clock.alpha) * dt == pytest.approx(sum(frames), abs=1e-9 * len(frames) + 1e-12)


@given(st.lists(st.floats(0.0, 0.08, allow_nan=False), min_size=1, max_size=40),
       st.sampled_from([0.001, 0.0005, 1 / 120]), st.integers(1, 64))
def test_peek_is_the_next_accumulate_and_changes_nothing(frames: list[float], dt: float, cap: int) -> None:
    """``peek(frame_dt)`` returns what ``accumulate(frame_dt)`` returns next (clamp included),
    bit for bit the same arithmetic, and leaves the clock as it was."""
    clock = FixedClock(dt, max_substeps=cap)
    for f in frames:
        before = (clock.accumulator, clock.dropped_steps, clock.frames)
        n = clock.peek(f)
        assert (clock.accumulator, clock.dropped_steps, clock.frames) == before
        assert clock.accumulate(f) == n
    with pytest.raises(ValueError, match="frame_dt"):
        clock.peek(-1.0)


def test_world_hints_the_next_frames_steps() -> None:
    """``World.advance`` tells the backend (``expect_steps``) how many steps the next frame runs
    if it lasts as long as this one: at 60 Hz and 1 ms (16, 17, 17, ...) every hint is right;
    frames of other lengths make the hints before them and their own wrong."""
    world = World(dt=0.001, backend="numpy", seed=0)
    world.spawn(Circuit("c").add_population("n", 2, LIF()))
    hints: list[int] = []
    world.backend.expect_steps = hints.append  # type: ignore[method-assign]
    dts = [1 / 60] * 30 + [0.005, 0.04] + [1 / 60] * 5
    steps = [world.advance(dt).steps for dt in dts]
    assert set(steps[:30]) == {16, 17} and sum(steps[:30]) == 500
    assert len(hints) == len(steps)
    right = [h == s for h, s in zip(hints, steps[1:], strict=False)]
    # wrong: the hints of the last 1/60 s frame, of the 0.005 s frame and of the 0.04 s frame
    assert all(right[:29]) and not any(right[29:32]) and all(right[32:])
    assert hints[31] == 40  # (the hint of the 0.04 s frame: another 0.04 s frame)
    assert world.advance(0.0).steps == 0 and len(hints) == len(steps)  # no step: the backend is not called


def test_max_substeps_clamps_and_counts_dropped() -> None:
    world = World(dt=0.001, backend="numpy", seed=0, max_substeps=10)
    world.spawn(Circuit("c").add_population("n", 2, LIF()))
    frame = world.advance(0.0505)  # a hitch: 50 steps due
    assert frame.steps == 10
    assert world.clock.dropped_steps == 40
    assert world.stats()["dropped_steps"] == 40
    assert frame.alpha == 0.0  # the backlog is dropped, not carried
    assert world.advance(0.001).steps == 1


@pytest.mark.parametrize("bad", [-0.01, math.nan, math.inf, "0.1"])
def test_bad_frame_dt_is_rejected(bad: object) -> None:
    world = World(dt=0.001, backend="numpy")
    with pytest.raises(ValueError, match="frame_dt"):
        world.advance(bad)  # type: ignore[arg-type]
    assert world.step_count == 0


@pytest.mark.parametrize(("dt", "max_substeps"), [(0.0, 4), (-1.0, 4), (math.nan, 4), (0.001, 0)])
def test_bad_clock_settings_are_rejected(dt: float, max_substeps: int) -> None:
    with pytest.raises(ValueError, match=r"dt|max_substeps"):
        World(dt=dt, max_substeps=max_substeps, backend="numpy")


def test_sensors_hold_across_substeps() -> None:
    """A current sensor's drive applies on every substep: v follows the closed form for
    a constant current over the whole frame."""
    tau_m, gain, x = 20.0, 4.0, 3.0
    c = Circuit("hold").add_population("n", 2, LIF(tau_m=tau_m, v_thresh=0.0, v_reset=-70.0))
    c.add_sensor("s", "n", channels=2, kind="current", gain=gain, low=-10.0, high=10.0)
    world = World(dt=0.001, backend="numpy", seed=0)
    (brain,) = world.spawn(c)
    brain.set_sensor("s", [x, -x])
    n = world.advance(1 / 60).steps
    expected = -65.0 + gain * x * (1 - math.exp(-n / tau_m))
    assert brain["n"].v[0] == pytest.approx(expected, abs=1e-4)
    assert brain["n"].v[1] == pytest.approx(-65.0 - (expected + 65.0), abs=1e-4)


def test_event_sensor_fires_once_per_advance_then_is_consumed() -> None:
    c = Circuit("ev").add_population("n", 4, LIF(t_ref=0.0)).add_sensor("e", "n", channels=2, kind="event")
    world = World(dt=0.001, backend="numpy", seed=0)
    (brain,) = world.spawn(c)
    brain.set_sensor("e", [1.0, 0.0])
    rec = world.advance(1 / 60).spikes
    assert rec.steps.tolist() == [0, 0] and rec.neurons.tolist() == [0, 1]
    assert brain.sensor("e").tolist() == [0.0, 0.0]
    assert world.advance(1 / 60).spikes.steps.size == 0


def _actuator_world() -> tuple[World, list]:
    c = Circuit("act").add_population("o", 12, LIF(t_ref=1.0), v_init=(-65.0, -50.0))
    c.add_sensor("d", "o", channels=12, kind="current", gain=30.0, low=0.0, high=1.0)
    c.add_actuator("rate", "o", channels=3, kind="rate")
    world = World(dt=0.001, backend="numpy", seed=4)
    brains = world.spawn(c, count=2)
    return world, brains


def test_rate_decoder_equals_count_over_m_n_dt() -> None:
    world, brains = _actuator_world()
    brains[0].set_sensor("d", np.linspace(0.3, 1.0, 12))
    brains[1].set_sensor("d", np.linspace(1.0, 0.4, 12))
    for _ in range(3):
        frame = world.advance(1 / 60)
        n = frame.steps
        for b in brains:
            local = frame.spikes.neurons[(frame.spikes.neurons >= b.neurons.start)
                                         & (frame.spikes.neurons < b.neurons.stop)] - b.neurons.start
            counts = np.bincount(local // 4, minlength=3)
            assert counts.sum() > 0
            expected = counts.astype(np.float32) * np.float32(1.0 / (4 * n * 0.001))
            np.testing.assert_array_equal(b.actuator("rate"), expected)
            np.testing.assert_allclose(b.actuator("rate"), counts / (4 * n * 0.001), rtol=1e-6)


def test_population_vector_and_wta_decoders() -> None:
    c = Circuit("dec").add_population("o", 8, LIF(t_ref=0.0)).add_sensor("e", "o", channels=8, kind="event")
    c.add_actuator("pv", "o", channels=4, kind="population_vector", low=-3.0, high=3.0)
    c2 = Circuit("dec2").add_population("o", 8, LIF(t_ref=0.0)).add_sensor("e", "o", channels=8, kind="event")
    c2.add_actuator("win", "o", channels=4, kind="wta")
    world = World(dt=0.001, backend="numpy", seed=0)
    (a,) = world.spawn(c)
    (b,) = world.spawn(c2)
    # channel 0 (pref -3) gets 1 spike, channel 3 (pref +3) gets 2 spikes
    a.set_sensor("e", [1, 0, 0, 0, 0, 0, 1, 1])
    b.set_sensor("e", [0, 0, 1, 0, 1, 1, 0, 0])  # channel 1: 1 spike, channel 2: 2 spikes
    world.step(1)
    assert a.actuator("pv")[0] == pytest.approx((1 * -3.0 + 2 * 3.0) / 3)
    assert b.actuator("win")[0] == 2.0
    world.step(1)  # nothing spiked in this advance
    assert a.actuator("pv")[0] == 0.0  # midpoint of the range
    assert b.actuator("win")[0] == -1.0


def test_lod_every_k_ticks_every_kth_frame() -> None:
    c = Circuit("lod").add_population("n", 2, LIF(bias=20.0))
    world = World(dt=0.001, backend="numpy", seed=0)
    brains = world.spawn(c, count=4)
    for b, k in zip(brains, (1, 2, 3, 4), strict=True):
        b.lod_every = k
    steps_per_frame = 4
    for _ in range(12):
        assert world.advance(steps_per_frame * 0.001).steps == steps_per_frame
    for b, k in zip(brains, (1, 2, 3, 4), strict=True):
        frames_run = sum(1 for f in range(1, 13) if (f + b.id) % k == 0)
        assert frames_run == 12 // k
        assert b.steps == frames_run * steps_per_frame
    # World.step ignores LOD
    world.step(3)
    assert [b.steps for b in brains] == [48 + 3, 24 + 3, 16 + 3, 12 + 3]
    with pytest.raises(ValueError, match="lod_every"):
        brains[0].lod_every = 0


def test_sleeping_brain_does_not_change_at_all() -> None:
    world = World(dt=0.001, backend="numpy", seed=2)
    awake, asleep = world.spawn(rich_circuit(), count=2)
    for f in range(5):
        drive(awake, f)
        drive(asleep, f)
        world.advance(1 / 60)
    asleep.sleep()
    before = layout_state(world, asleep)
    organs = {k: v.copy() for k, v in {**asleep.sensors, **asleep.actuators}.items()}
    spikes = 0
    for f in range(5, 15):
        drive(awake, f)
        rec = world.advance(1 / 60).spikes
        spikes += int(np.count_nonzero((rec.neurons >= asleep.neurons.start) & (rec.neurons < asleep.neurons.stop)))
    world.step(10)
    assert spikes == 0
    after = layout_state(world, asleep)
    for k in before:
        assert before[k].tobytes() == after[k].tobytes(), k
    for k, v in {**asleep.sensors, **asleep.actuators}.items():
        assert v.tobytes() == organs[k].tobytes(), k
    assert asleep.sleeping and asleep.steps == before["brain_step"][0]
    asleep.wake()
    world.advance(1 / 60)
    assert asleep.steps > before["brain_step"][0]


def test_lod_and_sleep_survive_relayout() -> None:
    world = World(dt=0.001, backend="numpy", seed=0)
    a, b, c = world.spawn(Circuit("r").add_population("n", 3, LIF(bias=20.0)), count=3)
    b.lod_every = 4
    c.sleep()
    world.step(5)
    world.despawn(a)
    world.spawn(rich_circuit())
    assert (b.lod_every, c.sleeping, b.steps, c.steps) == (4, True, 5, 0)
