"""Circuits: sub-circuits with ports, flattening, derive with overrides, organ specs."""

from __future__ import annotations

import numpy as np
import pytest

from spikeforge import (
    LIF,
    ActuatorSpec,
    Circuit,
    Constant,
    GenomeError,
    Izhikevich,
    OneToOne,
    SensorSpec,
    World,
)
from spikeforge.model import dumps, loads


def eye() -> Circuit:
    c = Circuit("eye").add_population("retina", 4, LIF()).add_population("relay", 2, LIF(bias=3.0))
    c.connect("retina", "relay", weight=1.5, name="feed")
    c.add_sensor("cam", "retina", channels=4, kind="current", gain=20.0)
    return c.expose("out", "relay")


def creature() -> Circuit:
    c = Circuit("creature").include("left", eye()).include("right", eye())
    c.add_population("motor", 2, LIF())
    c.connect("left.out", "motor", OneToOne(), weight=2.0, name="l2m")
    c.connect("right.relay", "motor", OneToOne(), weight=-2.0, name="r2m")
    c.add_actuator("go", "motor", channels=2)
    return c.expose("drive", "motor")


def test_flatten_prefixes_and_resolves_ports() -> None:
    flat = creature().flatten()
    assert [p.name for p in flat.populations] == ["motor", "left.retina", "left.relay", "right.retina",
                                                  "right.relay"]
    by_name = {p.name: p for p in flat.projections}
    assert set(by_name) == {"left.feed", "right.feed", "l2m", "r2m"}
    assert (by_name["left.feed"].pre, by_name["left.feed"].post) == ("left.retina", "left.relay")
    assert (by_name["l2m"].pre, by_name["l2m"].post) == ("left.relay", "motor")
    assert [(o.name, o.population) for o in flat.sensors] == [("left.cam", "left.retina"),
                                                             ("right.cam", "right.retina")]
    assert [(o.name, o.population) for o in flat.actuators] == [("go", "motor")]
    assert flat.n_neurons == 14


def test_nested_ports_resolve_through_levels() -> None:
    head = Circuit("head").include("eye", eye()).expose("sight", "eye.out")
    body = Circuit("body").include("head", head).add_population("legs", 2, LIF())
    body.connect("head.sight", "legs", weight=1.0)
    assert body.resolve("head.sight") == "head.eye.relay"
    flat = body.flatten()
    assert flat.projections[-1].pre == "head.eye.relay"
    assert "head.eye.feed" in {p.name for p in flat.projections}


def test_subcircuit_brain_runs_and_exposes_dotted_populations() -> None:
    world = World(dt=0.001, backend="numpy", seed=0)
    (b,) = world.spawn(creature())
    b.set_sensor("left.cam", [1.0] * 4)
    world.step(200)
    assert b["left.relay"].size == 2 and b["motor"].size == 2
    assert np.all(b["left.retina"].iext == 20.0) and np.all(b["right.retina"].iext == 0.0)
    assert np.any(b["left.relay"].ie != 0.0)  # the sub's own projection carried spikes


def test_include_copies_and_validates_instance_names() -> None:
    e = eye()
    c = Circuit("c").include("e", e)
    e.add_population("late", 1, LIF())
    assert [p.name for p in c.subcircuits["e"].populations] == ["retina", "relay"]
    with pytest.raises(GenomeError, match=r"subcircuits\.a\.b"):
        Circuit("c").include("a.b", e)


def test_subcircuit_name_clash_and_port_errors() -> None:
    c = Circuit("c").add_population("left", 1, LIF()).include("left", eye())
    with pytest.raises(GenomeError, match=r"circuit\.subcircuits\.left: clashes"):
        c.validate()
    c = creature().expose("loop", "loop")
    with pytest.raises(GenomeError, match=r"circuit\.ports\.loop: dangling"):
        c.validate()
    c = creature()
    c.connect("left.nothing", "motor", name="bad")
    with pytest.raises(GenomeError, match=r"circuit\.projections\[2\]\.pre: dangling reference 'left\.nothing'"):
        c.validate()


def test_subcircuit_errors_name_the_nested_field() -> None:
    bad_eye = eye()
    bad_eye.populations[0] = bad_eye.populations[0].__class__("retina", -1, LIF())
    c = Circuit("c").include("left", bad_eye)
    with pytest.raises(GenomeError) as info:
        c.validate()
    assert info.value.field == "circuit.subcircuits.left.populations[0].size"


def test_one_population_read_by_two_actuators_across_levels_is_rejected() -> None:
    """An actuator in a sub-circuit and one in the parent on the same population would
    share spike-count slots; validation refuses it like two actuators in one circuit."""
    e = eye().add_actuator("watch", "relay")
    c = Circuit("c").include("left", e).add_actuator("also", "left.relay")
    with pytest.raises(GenomeError, match="already has an actuator") as info:
        c.validate()
    assert info.value.field == "circuit.organs[0].population"


def test_derive_overrides_parameters_without_touching_the_original() -> None:
    base = creature()
    fast = base.derive("creature_fast", {
        "motor.tau_m": 5.0, "motor.size": 2, "left.relay.bias": 9.0, "l2m.weight": 4.0, "r2m.delay": 3,
        "left.feed.weight": 0.25,
    })
    assert fast.name == "creature_fast"
    assert fast.populations[0].model.tau_m == 5.0  # type: ignore[attr-defined]
    assert fast.subcircuits["left"].populations[1].model.bias == 9.0  # type: ignore[attr-defined]
    assert fast.subcircuits["right"].populations[1].model.bias == 3.0  # type: ignore[attr-defined]
    assert fast.projections[0].weight == Constant(4.0)
    assert fast.projections[1].delay == 3
    assert fast.subcircuits["left"].projections[0].weight == Constant(0.25)
    assert base.populations[0].model.tau_m == 20.0  # type: ignore[attr-defined]
    assert base.to_dict() == creature().to_dict()
    assert loads(dumps(fast)).to_dict() == fast.to_dict()
    # a derived circuit is its own prototype in a world
    world = World(dt=0.001, backend="numpy", seed=0)
    world.spawn(base)
    world.spawn(fast)
    world.spawn(base)
    assert len(world.prototypes) == 2


@pytest.mark.parametrize(("overrides", "field"), [
    ({"motor.nope": 1.0}, "overrides.motor.nope"),
    ({"ghost.tau_m": 1.0}, "overrides.ghost.tau_m"),
    ({"tau_m": 1.0}, "overrides.tau_m"),
    ({"l2m.rule": 1.0}, "overrides.l2m.rule"),
])
def test_derive_unknown_targets_name_the_override(overrides: dict[str, float], field: str) -> None:
    with pytest.raises(GenomeError) as info:
        creature().derive("x", overrides)
    assert info.value.field == field


def test_derive_revalidates() -> None:
    with pytest.raises(GenomeError, match=r"model\.tau_m"):
        creature().derive("x", {"motor.tau_m": -1.0})
    with pytest.raises(GenomeError, match=r"rule"):
        creature().derive("x", {"motor.size": 3})  # one-to-one no longer fits


def test_organ_specs_shape_and_order() -> None:
    c = Circuit("o").add_population("p", 6, LIF()).add_population("q", 4, Izhikevich.preset("RS"))
    c.add_sensor("zeta", "p", channels=3).add_sensor("alpha", "q", channels=2, kind="gaussian")
    c.add_actuator("pv", "p", channels=3, kind="population_vector").add_actuator("r", "q", channels=4)
    flat = c.flatten()
    assert [s.name for s in flat.sensors] == ["alpha", "zeta"]  # by name, stable across hosts
    assert SensorSpec("s", "p", channels=3).shape == (3,)
    assert ActuatorSpec("a", "p", channels=3, kind="population_vector").shape == (1,)
    assert ActuatorSpec("a", "p", channels=3, kind="rate").width == 3


def test_derive_reaches_a_projection_whose_default_name_has_a_dot() -> None:
    c = Circuit("p").include("left", eye()).add_population("m", 2, LIF())
    c.connect("left.out", "m")
    assert c.projections[0].name == "left.out->m"
    d = c.derive("q", {"left.out->m.weight": 3.0, "left.feed.delay": 4})
    assert d.projections[0].weight == Constant(3.0)
    assert d.subcircuits["left"].projections[0].delay == 4


def test_dotted_subcircuit_instance_in_a_genome_is_rejected() -> None:
    import json

    doc = json.loads(dumps(creature()))
    doc["circuit"]["subcircuits"]["le.ft"] = doc["circuit"]["subcircuits"].pop("left")
    with pytest.raises(GenomeError) as info:
        loads(json.dumps(doc))
    assert info.value.field == "circuit.subcircuits.le.ft"


def test_fixed_in_degree_without_self_is_checked_before_spawning() -> None:
    from spikeforge import FixedInDegree

    ok = Circuit("k").add_population("a", 5, LIF()).connect("a", "a", FixedInDegree(4, allow_self=False))
    ok.validate()
    World(dt=0.001, backend="numpy").spawn(ok)
    bad = Circuit("k").add_population("a", 5, LIF()).connect("a", "a", FixedInDegree(5, allow_self=False))
    with pytest.raises(GenomeError, match="self-connections excluded") as info:
        bad.validate()
    assert info.value.field == "circuit.projections[0].rule.k"
    world = World(dt=0.001, backend="numpy")
    with pytest.raises(GenomeError):
        world.spawn(bad)
    assert world.prototypes == []  # nothing half-registered
