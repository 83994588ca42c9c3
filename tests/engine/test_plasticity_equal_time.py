"""Pre/post ordering at equal times (issue 16 item 1): ``STDP(equal_time=...)`` says how a pre
and a post spike of the same step pair; hand-computed cases, the default unchanged, genome
round trip, conflicts, and numpy/native bit-exact (brain-major and step-major threads)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.engine.test_native_exact import assert_same_state, drive, pair
from tests.engine.test_plasticity_options import _pair_circuit, _run_train, _window

from spikeforge import LIF, Circuit, World
from spikeforge.model import FixedProbability, GenomeError, loads
from spikeforge.model.genome import dumps
from spikeforge.model.plasticity import STDP, RewardSTDP

F = np.float32


def _rule(equal_time: str, a_plus: float = 0.01, a_minus: float = 0.012, **kw: object) -> STDP:
    return STDP(a_plus=a_plus, a_minus=a_minus, w_max=1.0, equal_time=equal_time, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["numpy", "native"])
def test_same_step_pair_by_equal_time(backend: str) -> None:
    """Pre and post spike in step 10 only. The trace read is this step's increment (1, no decay):
    none: 0; potentiate: +a_plus; depress: -a_minus; both: depression then potentiation."""
    w0 = F(0.5)
    got = {e: _run_train(_rule(e), [10], [10], backend) for e in ("none", "potentiate", "depress", "both")}
    assert got["none"] == 0.0
    assert got["potentiate"] == float((w0 + F(0.01)) - w0)
    assert got["depress"] == float((w0 - F(0.012)) - w0)
    assert got["both"] == float(((w0 - F(0.012)) + F(0.01)) - w0)


def test_equal_time_leaves_other_pairs_and_trace_values_alone() -> None:
    """Pairs of different steps change by the same bits whatever equal_time says (the trace
    after a step is the same; only what P5 reads in the spike's own step differs)."""
    pre, post = [10, 25], [20, 30]
    ref = _run_train(_rule("none"), pre, post)
    for e in ("potentiate", "depress", "both"):
        assert _run_train(_rule(e), pre, post) == ref
    # post 20 <- pre 10; pre 25 <- post 20; post 30 <- pre 10 and pre 25
    want = 0.01 * _window(10) - 0.012 * _window(5) + 0.01 * (_window(20) + _window(5))
    assert abs(ref - want) < 1e-6


def test_nearest_pairing_with_equal_time_pairs_the_same_step_spike_as_nearest() -> None:
    """Nearest-spike with potentiate: a pre spike 4 steps before and one in the post's own step;
    the trace is set to 1 by the later one, so the pairing is with it (lag 0): +a_plus exactly."""
    got = _run_train(_rule("potentiate", a_minus=0.0, pairing="nearest"), [6, 10], [10])
    assert got == float((F(0.5) + F(0.01)) - F(0.5))
    a2a = _run_train(_rule("potentiate", a_minus=0.0), [6, 10], [10])
    assert abs(a2a - 0.01 * (1.0 + _window(4))) < 1e-6


def test_reward_stdp_same_step_goes_into_the_eligibility() -> None:
    rule = RewardSTDP(a_plus=1.0, a_minus=1.5, update_every=1000, equal_time="both")
    c = _pair_circuit(rule)
    world = World(dt=0.001, backend="numpy", seed=3)
    world.spawn(c, 1)
    g = world.group(c)
    for s in range(6):
        g.sensor("fire_pre")[0, 0] = float(s == 3)
        g.sensor("fire_post")[0, 0] = float(s == 3)
        world.step(1)
    # no update in 6 steps (update_every=1000): the eligibility is what P5 wrote
    assert world.layout.synapse["elig"][0] == (F(0.0) - F(1.5)) + F(1.0)


def test_equal_time_round_trip_validation_and_conflicts() -> None:
    assert "equal_time" not in dumps(_pair_circuit(STDP()))
    c = _pair_circuit(RewardSTDP(equal_time="depress", pairing="nearest"))
    back = loads(dumps(c))
    assert back.projections[0].plasticity == c.projections[0].plasticity
    assert '"equal_time": "depress"' in dumps(c)
    with pytest.raises(GenomeError, match=r"plasticity\.equal_time"):
        _pair_circuit(STDP(equal_time="same")).validate()
    # projections leaving one population share its pre trace: they must agree on its ordering
    c = Circuit("x").add_population("a", 2, LIF()).add_population("b", 2, LIF()).add_population("d", 2, LIF())
    c.connect("a", "b", plasticity=STDP(equal_time="potentiate"))
    c.connect("a", "d", plasticity=STDP(equal_time="depress"))
    with pytest.raises(ValueError, match=r"equal_time \(pre trace\)"):
        World(dt=0.001, backend="numpy").spawn(c)
    # ... while the post-trace half of those two rules lives on different populations: fine
    c = Circuit("y").add_population("a", 2, LIF()).add_population("b", 2, LIF()).add_population("d", 2, LIF())
    c.connect("a", "b", plasticity=STDP(equal_time="both"))
    c.connect("d", "b", plasticity=STDP(equal_time="potentiate"))
    with pytest.raises(ValueError, match=r"equal_time \(post trace\)"):
        World(dt=0.001, backend="numpy").spawn(c)


def equal_time_net() -> Circuit:
    """Every equal_time value on recurrent, delayed STDP and reward-STDP projections."""
    c = Circuit("eq")
    c.add_population("a", 30, LIF(bias=16.0), v_init=(-65.0, -50.0))
    c.add_population("b", 20, LIF(bias=15.5), v_init=(-65.0, -50.0))
    c.add_population("r", 20, LIF(bias=15.5), v_init=(-65.0, -50.0))
    c.add_population("s", 10, LIF(bias=16.0), v_init=(-65.0, -50.0))
    c.add_sensor("drive", "a", channels=3, kind="poisson")
    c.connect("a", "b", FixedProbability(0.4), weight=0.5, delay=(1, 3),
              plasticity=STDP(equal_time="both", soft_bound=True))
    c.connect("b", "r", FixedProbability(0.4), weight=0.4, delay=1,
              plasticity=RewardSTDP(update_every=3, equal_time="depress", pairing="nearest"))
    c.connect("s", "a", FixedProbability(0.4), weight=0.4, delay=2,
              plasticity=STDP(equal_time="potentiate", a_plus=0.05, a_minus=0.05))
    c.connect("s", "s", FixedProbability(0.3), weight=0.3, delay=1,
              plasticity=STDP(equal_time="potentiate"))
    return c


@pytest.mark.native
@pytest.mark.parametrize("count,threads", [(3, 1), (3, 2), (1, 2)], ids=["bm1", "bm2", "step-major"])
def test_equal_time_native_bit_exact(count: int, threads: int) -> None:
    a, b = pair([equal_time_net()], count=count)
    w0 = a.layout.synapse["w"].copy()
    sa, sb = drive(a, 20, 5), drive(b, 20, 5, threads)
    assert sum(s[1].size for s in sa) > 50
    for (ta, na), (tb, nb) in zip(sa, sb, strict=True):
        assert np.array_equal(ta, tb) and np.array_equal(na, nb)
    assert_same_state(a, b)
    assert (a.layout.synapse["w"] != w0).sum() > 50
