"""Plasticity rules as data: validation naming the field, genome round trip."""

from __future__ import annotations

import json

import pytest

from spikeforge.model import Circuit, GenomeError, loads
from spikeforge.model.genome import dumps
from spikeforge.model.plasticity import (
    STDP,
    Homeostasis,
    ModulatedHebbian,
    RewardSTDP,
    plasticity_from_dict,
)
from spikeforge.model.synapses import projection_from_dict


def _circuit() -> Circuit:
    c = Circuit("learner").add_population("a", 4).add_population("b", 3).add_population("r", 2)
    c.connect("a", "b", weight=0.5, name="stdp", plasticity=STDP(a_plus=0.02, soft_bound=True,
                                                                 homeostasis=Homeostasis(8.0, 0.2)))
    c.connect("b", "a", weight=0.5, name="rstdp", plasticity=RewardSTDP(tau_c=500.0, modulator_weight=0.5))
    c.connect("r", "b", weight=0.3, kind="modulatory", name="da")
    c.connect("a", "a", weight=0.1, name="hebb", plasticity=ModulatedHebbian(lr=0.1, w_max=2.0))
    c.connect("r", "a", weight=0.1, name="homeo", plasticity=Homeostasis(target_rate=3.0, eta=0.5))
    return c


def test_genome_round_trip_keeps_every_rule() -> None:
    c = _circuit()
    text = dumps(c)
    back = loads(text)
    assert back.to_dict() == c.to_dict()
    rules = {pr.name: pr.plasticity for pr in back.projections}
    assert rules["stdp"] == STDP(a_plus=0.02, soft_bound=True, homeostasis=Homeostasis(8.0, 0.2))
    assert isinstance(rules["rstdp"], RewardSTDP) and rules["rstdp"].tau_c == 500.0
    assert rules["hebb"] == ModulatedHebbian(lr=0.1, w_max=2.0)
    assert rules["homeo"] == Homeostasis(target_rate=3.0, eta=0.5)
    assert rules["da"] is None
    assert json.loads(text) == json.loads(dumps(back))


@pytest.mark.parametrize(("d", "field", "words"), [
    ({"rule": "hebb"}, "p.rule", "unknown plasticity rule"),
    ({"rule": "stdp", "tau_plus": 0}, "p.tau_plus", "> 0"),
    ({"rule": "stdp", "a_plus": -1.0}, "p.a_plus", ">= 0"),
    ({"rule": "stdp", "w_min": 2.0, "w_max": 1.0}, "p.w_min", "<= w_max"),
    ({"rule": "stdp", "soft_bound": "yes"}, "p.soft_bound", "true or false"),
    ({"rule": "stdp", "speed": 1}, "p.speed", "unknown parameter"),
    ({"rule": "stdp", "lr": float("nan")}, "p.lr", "finite"),
    ({"rule": "reward_stdp", "update_every": 0}, "p.update_every", "integer"),
    ({"rule": "reward_stdp", "tau_dopamine": -5}, "p.tau_dopamine", "> 0"),
    ({"rule": "homeostasis", "eta": 0}, "p.eta", "> 0"),
    ({"rule": "homeostasis", "target_rate": -1}, "p.target_rate", ">= 0"),
    ({"rule": "stdp", "homeostasis": {"rule": "stdp"}}, "p.homeostasis.rule", "homeostasis"),
    ({"rule": "modulated_hebbian", "tau_pre": "x"}, "p.tau_pre", "number"),
    ([1, 2], "p", "object"),
])
def test_bad_rule_names_field(d: object, field: str, words: str) -> None:
    with pytest.raises(GenomeError) as err:
        plasticity_from_dict(d, "p")
    assert err.value.field == field
    assert words in str(err.value)


def test_plasticity_only_on_chemical_projections() -> None:
    with pytest.raises(GenomeError, match=r"x\.plasticity.*only chemical"):
        projection_from_dict({"pre": "a", "post": "b", "kind": "modulatory",
                              "plasticity": {"rule": "stdp"}}, "x")


def test_init_clips_weights_and_creates_eligibility() -> None:
    import numpy as np

    syn = {"post": np.zeros(4, np.int32), "w": np.array([-1.0, 0.5, 3.0, 9.0], np.float32)}
    mask = np.array([True, True, True, False])
    RewardSTDP(w_min=0.0, w_max=2.0).init_synapse_state(syn, mask)
    assert syn["w"].tolist() == [0.0, 0.5, 2.0, 9.0]
    assert syn["elig"].dtype == np.float32 and syn["elig"].shape == (4,) and not syn["elig"].any()


def test_plasticity_rejects_values_beyond_float32_range() -> None:
    from spikeforge.model import GenomeError
    from spikeforge.model.plasticity import STDP

    with pytest.raises(GenomeError) as err:
        STDP(w_max=1e39).validate("projections[0].plasticity")
    assert err.value.field == "projections[0].plasticity.w_max"
    assert "float32" in err.value.problem
