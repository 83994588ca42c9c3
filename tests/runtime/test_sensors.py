"""Sensor writes: validation on the checked path, NaN tolerance on the zero-copy path,
and the encoders' effect on the neurons."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from spikeforge import LIF, Circuit, World


def _world(kind: str = "current", **spec: float) -> tuple[World, Circuit, list]:
    c = Circuit(f"s_{kind}").add_population("n", 8, LIF(v_thresh=0.0, v_reset=-70.0))
    c.add_sensor("s", "n", channels=4, kind=kind, low=-2.0, high=2.0, **spec)
    world = World(dt=0.001, backend="numpy", seed=0)
    return world, c, world.spawn(c, count=2)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_set_sensor_rejects_non_finite_and_writes_nothing(bad: float) -> None:
    world, c, brains = _world()
    brains[0].set_sensor("s", [0.5, 0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"sensor 's': channel 2 .*finite"):
        brains[0].set_sensor("s", [1.0, 1.0, bad, 1.0])
    assert brains[0].sensor("s").tolist() == [0.5] * 4
    group = world.group(c)
    before = group.sensor("s").copy()
    vals = np.ones((2, 4))
    vals[1, 3] = bad
    with pytest.raises(ValueError, match=r"brain row 1, channel 3"):
        group.set_sensor("s", vals)
    np.testing.assert_array_equal(group.sensor("s"), before)


def test_set_sensor_rejects_wrong_shapes() -> None:
    world, c, brains = _world()
    with pytest.raises(ValueError, match="expected 4 values, got 3"):
        brains[0].set_sensor("s", [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="expected shape"):
        world.group(c).set_sensor("s", np.ones((3, 4)))
    brains[1].set_sensor("s", 1.5)  # a scalar fills every channel
    assert brains[1].sensor("s").tolist() == [1.5] * 4


def test_nan_written_into_a_view_is_read_as_low_and_the_world_keeps_running(
        caplog: pytest.LogCaptureFixture) -> None:
    world, _, brains = _world(gain=3.0)
    brains[0].sensor("s")[:] = [np.nan, 1.0, np.nan, -1.0]
    with caplog.at_level(logging.WARNING, logger="spikeforge.world"):
        world.advance(1 / 60)
    assert world.sensor_nan_frames == 1
    assert any("NaN" in r.getMessage() for r in caplog.records)
    iext = brains[0]["n"].iext
    np.testing.assert_array_equal(iext, np.float32(3.0) * np.array([-2, -2, 1, 1, -2, -2, -1, -1], np.float32))
    assert np.all(np.isfinite(brains[0]["n"].v))
    world.advance(1 / 60)  # still fine
    assert world.step_count > 16


def test_nan_in_poisson_sensor_means_no_forced_spikes() -> None:
    world, _, brains = _world("poisson", max_rate=1000.0)
    brains[0].sensor("s")[:] = np.nan
    brains[1].sensor("s")[:] = 2.0
    rec = world.step(50)
    first = (rec.neurons >= brains[0].neurons.start) & (rec.neurons < brains[0].neurons.stop)
    assert not first.any()
    assert np.count_nonzero(~first) > 100


def test_poisson_rate_matches_value() -> None:
    c = Circuit("p").add_population("n", 400, LIF(v_thresh=0.0, v_reset=-70.0, t_ref=0.0))
    c.add_sensor("s", "n", channels=2, kind="poisson", max_rate=100.0, low=0.0, high=1.0)
    world = World(dt=0.001, backend="numpy", seed=5)
    (b,) = world.spawn(c)
    b.set_sensor("s", [0.25, 1.0])
    rec = world.step(500)
    rate = np.bincount(rec.neurons // 200, minlength=2) / (200 * 0.5)
    assert rate[0] == pytest.approx(25.0, rel=0.1)
    assert rate[1] == pytest.approx(100.0, rel=0.1)


def test_gaussian_population_code_peaks_at_preferred_value() -> None:
    c = Circuit("g").add_population("n", 11, LIF(v_thresh=0.0, v_reset=-70.0, t_ref=0.0))
    c.add_sensor("s", "n", channels=1, kind="gaussian", max_rate=500.0, low=0.0, high=10.0, sigma=0.1)
    world = World(dt=0.001, backend="numpy", seed=5)
    (b,) = world.spawn(c)
    b.set_sensor("s", [7.0])  # neuron k prefers k * 1.0
    rec = world.step(400)
    counts = np.bincount(rec.neurons, minlength=11)
    assert counts.argmax() == 7
    assert counts[7] > counts[5] > counts[3]
    assert counts[0] == 0
