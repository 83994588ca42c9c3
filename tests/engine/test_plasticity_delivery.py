"""Depression at delivery vs emission (issue 16 item 1): ``STDP(depress_at="delivery")`` depresses
when the pre spike reaches the synapse, ``delay`` steps after it was emitted, with the post trace
of that step; hand-computed cases, the default unchanged, genome round trip, limits, numpy/native
bit-exact (brain-major and step-major threads)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.engine.test_native_exact import assert_same_state, drive, pair
from tests.engine.test_plasticity_options import _window

from spikeforge import LIF, Circuit, World
from spikeforge.model import FixedProbability, GenomeError, loads
from spikeforge.model.genome import dumps
from spikeforge.model.plasticity import STDP, RewardSTDP


def _circuit(rule: STDP, delay: int) -> Circuit:
    c = Circuit("pair").add_population("pre", 1, LIF()).add_population("post", 1, LIF())
    c.add_sensor("fire_pre", "pre", channels=1, kind="event")
    c.add_sensor("fire_post", "post", channels=1, kind="event")
    c.connect("pre", "post", weight=0.5, delay=delay, name="syn", plasticity=rule)
    return c


def _train(rule: STDP, delay: int, pre: list[int], post: list[int], backend: str = "numpy") -> float:
    c = _circuit(rule, delay)
    world = World(dt=0.001, backend=backend, seed=3)
    (b,) = world.spawn(c, 1)
    g = world.group(c)
    for s in range(max(pre + post) + delay + 2):
        g.sensor("fire_pre")[0, 0] = float(s in pre)
        g.sensor("fire_post")[0, 0] = float(s in post)
        world.step(1)
    return float(b.weights("syn").w[0]) - 0.5


@pytest.mark.parametrize("backend", ["numpy", "native"])
def test_post_spike_in_flight_depresses_only_at_delivery(backend: str) -> None:
    """Pre at 10, delay 3 (arrives at 13), post at 11: at emission the post trace is 0 (no
    depression); at delivery it is DPOST^2 after the post spike: -a_minus * DPOST^2."""
    kw = dict(a_plus=0.01, a_minus=0.012, w_max=1.0)
    emit = _train(STDP(**kw), 3, [10], [11], backend)  # type: ignore[arg-type]
    deliv = _train(STDP(depress_at="delivery", **kw), 3, [10], [11], backend)  # type: ignore[arg-type]
    assert abs(emit - 0.01 * _window(1)) < 1e-7
    assert abs(deliv - (0.01 * _window(1) - 0.012 * _window(2))) < 1e-7


@pytest.mark.parametrize("delay", [1, 4, 32])
def test_delivery_reads_the_post_trace_delay_steps_later(delay: int) -> None:
    """Post at 5, pre at 20: emission depresses by a_minus * DPOST^15, delivery by
    a_minus * DPOST^(15 + delay)."""
    kw = dict(a_plus=0.0, a_minus=0.01, w_max=1.0)
    emit = _train(STDP(**kw), delay, [20], [5])  # type: ignore[arg-type]
    deliv = _train(STDP(depress_at="delivery", **kw), delay, [20], [5])  # type: ignore[arg-type]
    assert abs(emit + 0.01 * _window(15)) < 1e-7
    assert abs(deliv + 0.01 * _window(15 + delay)) < 1e-7


def test_two_spikes_in_flight_each_depress_once() -> None:
    """Pre at 10 and 13, delay 5 (arrive 15 and 18), post at 12: -a_minus (DPOST^3 + DPOST^6)."""
    rule = STDP(a_plus=0.0, a_minus=0.01, w_max=1.0, depress_at="delivery")
    got = _train(rule, 5, [10, 13], [12])
    assert abs(got + 0.01 * (_window(3) + _window(6))) < 1e-7


def test_reward_stdp_delivery_goes_into_the_eligibility() -> None:
    rule = RewardSTDP(a_plus=0.0, a_minus=1.0, update_every=1000, depress_at="delivery")
    c = _circuit(rule, 2)
    world = World(dt=0.001, backend="numpy", seed=3)
    world.spawn(c, 1)
    g = world.group(c)
    for s in range(8):
        g.sensor("fire_pre")[0, 0] = float(s == 4)
        g.sensor("fire_post")[0, 0] = float(s == 3)
        world.step(1)
    assert abs(world.layout.synapse["elig"][0] + _window(3)) < 1e-7


def test_depress_at_round_trip_validation_and_delay_limit() -> None:
    assert "depress_at" not in dumps(_circuit(STDP(), 1))
    c = _circuit(RewardSTDP(depress_at="delivery"), 2)
    back = loads(dumps(c))
    assert back.projections[0].plasticity == c.projections[0].plasticity
    with pytest.raises(GenomeError, match=r"plasticity\.depress_at"):
        _circuit(STDP(depress_at="arrival"), 1).validate()
    with pytest.raises(ValueError, match=r"depress_at.*<= 32"):
        World(dt=0.001, backend="numpy").spawn(_circuit(STDP(depress_at="delivery"), 33))


def delivery_net() -> Circuit:
    """Delivery and emission depression side by side, with delays 1..6, soft bounds, reward-STDP
    and equal-time pairing."""
    c = Circuit("dl")
    c.add_population("a", 30, LIF(bias=16.0), v_init=(-65.0, -50.0))
    c.add_population("b", 20, LIF(bias=15.5), v_init=(-65.0, -50.0))
    c.add_population("r", 20, LIF(bias=15.5), v_init=(-65.0, -50.0))
    c.add_sensor("drive", "a", channels=3, kind="poisson")
    c.connect("a", "b", FixedProbability(0.4), weight=0.5, delay=(1, 6),
              plasticity=STDP(depress_at="delivery", soft_bound=True, equal_time="depress"))
    c.connect("b", "a", FixedProbability(0.3), weight=0.3, delay=(2, 4), plasticity=STDP())
    c.connect("b", "r", FixedProbability(0.4), weight=0.4, delay=(1, 3),
              plasticity=RewardSTDP(update_every=3, depress_at="delivery"))
    return c


@pytest.mark.native
@pytest.mark.parametrize("count,threads", [(3, 1), (3, 2), (1, 2)], ids=["bm1", "bm2", "step-major"])
def test_delivery_native_bit_exact(count: int, threads: int) -> None:
    a, b = pair([delivery_net()], count=count)
    w0 = a.layout.synapse["w"].copy()
    sa, sb = drive(a, 20, 5), drive(b, 20, 5, threads)
    assert sum(s[1].size for s in sa) > 50
    for (ta, na), (tb, nb) in zip(sa, sb, strict=True):
        assert np.array_equal(ta, tb) and np.array_equal(na, nb)
    assert_same_state(a, b)
    assert (a.layout.synapse["w"] != w0).sum() > 50
    assert np.any(a.layout.neuron["shist"] != 0)


def test_delivery_differs_from_emission() -> None:
    def run(at: str) -> np.ndarray:
        c = Circuit("x").add_population("a", 30, LIF(bias=16.0), v_init=(-65.0, -50.0))
        c.add_population("b", 20, LIF(bias=15.5), v_init=(-65.0, -50.0))
        c.connect("a", "b", FixedProbability(0.4), weight=0.5, delay=(1, 6), plasticity=STDP(depress_at=at))
        w = World(dt=0.001, backend="numpy", seed=2)
        w.spawn(c, 1)
        w.step(200)
        return w.layout.synapse["w"].copy()

    assert not np.array_equal(run("emission"), run("delivery"))
