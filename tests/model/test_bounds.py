"""Numeric bounds shared by genome files, the Python API and the protocol (issue 17 item 5):
every value the engine turns into a step count or a propagator is representable."""

from __future__ import annotations

import json
import math

import pytest

from spikeforge.engine.params import param_row
from spikeforge.model.circuit import Circuit
from spikeforge.model.errors import (
    INT32_MAX,
    MAX_PERIOD_MS,
    MIN_DT_MS,
    GenomeError,
)
from spikeforge.model.genome import dumps, loads
from spikeforge.model.neurons import LIF, ModulatedLIF, QuadraticIF
from spikeforge.runtime.clock import FixedClock
from spikeforge.runtime.world import World


def _genome(model: dict[str, object]) -> str:
    c = Circuit("b").add_population("n", 2, LIF())
    doc = json.loads(dumps(c))
    doc["circuit"]["populations"][0]["model"].update(model)
    return json.dumps(doc)


@pytest.mark.parametrize(("field", "value"), [
    ("t_ref", 1e30), ("t_ref", MAX_PERIOD_MS * 1.0001), ("snooze", 1e7), ("t_ref", -1.0),
    ("consec_limit", 2**31), ("consec_limit", 2**40), ("tau_m", 1e-320), ("tau_e", 1e13), ("tau_i", 0.0),
])
def test_genome_rejects_unrepresentable_values_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(GenomeError) as ei:
        loads(_genome({field: value}))
    assert ei.value.field == f"circuit.populations[0].model.{field}"


def test_bounds_themselves_are_accepted_and_fit_int32() -> None:
    loads(_genome({"t_ref": MAX_PERIOD_MS, "snooze": MAX_PERIOD_MS, "consec_limit": INT32_MAX}))
    model = LIF(t_ref=MAX_PERIOD_MS, snooze=MAX_PERIOD_MS, consec_limit=INT32_MAX)
    model.validate("m")
    f, i = param_row(model, MIN_DT_MS)  # the smallest step: the largest step counts
    assert int(i.max()) <= INT32_MAX and math.isfinite(float(abs(f).max()))


def test_other_models_share_the_rules() -> None:
    with pytest.raises(GenomeError, match="burst_max"):
        ModulatedLIF(burst_max=2**31).validate("m")
    with pytest.raises(GenomeError, match="t_ref"):
        QuadraticIF(t_ref=1e30).validate("m")


def test_spawn_of_a_huge_t_ref_fails_as_a_genome_error_not_overflow() -> None:
    w = World(dt=0.001, backend="numpy")
    with pytest.raises(GenomeError, match="t_ref"):
        w.spawn(Circuit("x").add_population("n", 2, LIF(t_ref=1e30)))


@pytest.mark.parametrize("dt", [MIN_DT_MS / 1000 / 2, 2.0, math.inf])
def test_world_step_is_bounded(dt: float) -> None:
    with pytest.raises(ValueError, match="dt"):
        FixedClock(dt)


def test_max_substeps_fits_int32() -> None:
    with pytest.raises(ValueError, match="max_substeps"):
        FixedClock(0.001, 2**31)


def test_rewards_and_dopamine_baseline_are_bounded_so_weights_stay_finite() -> None:
    from spikeforge.model.errors import MAX_REWARD
    from spikeforge.model.plasticity import RewardSTDP

    with pytest.raises(GenomeError, match="dopamine_baseline"):
        RewardSTDP(dopamine_baseline=1e30).validate("p")
    w = World(dt=0.001, backend="numpy", seed=1)
    w.spawn(Circuit("r").add_population("a", 2, LIF()), 2)
    with pytest.raises(ValueError, match=r"\|reward\|"):
        w.reward([3e38, 0.0])
    w.reward([MAX_REWARD, -MAX_REWARD])  # the bound itself is fine


def test_brain_reward_shares_the_bound() -> None:
    w = World(dt=0.001, backend="numpy", seed=1)
    (b,) = w.spawn(Circuit("r").add_population("a", 2, LIF()), 1)
    with pytest.raises(ValueError, match=r"\|reward\|"):
        b.reward(1e30)
    b.reward(1.0)
