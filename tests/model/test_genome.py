"""Genome JSON: exact round trip (hypothesis-generated circuits) and validation that
names the offending field."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge import (
    LIF,
    AdaptiveLIF,
    AllToAll,
    Circuit,
    Constant,
    FixedInDegree,
    FixedProbability,
    GenomeError,
    Izhikevich,
    ModulatedLIF,
    Normal,
    OneToOne,
    Pairs,
    Uniform,
    load_genome,
    save_genome,
)
from spikeforge.model import dumps, loads
from spikeforge.model.neurons import NeuronModel

finite = st.floats(-100.0, 100.0, allow_nan=False, allow_infinity=False)
positive = st.floats(0.05, 500.0, allow_nan=False)
nonneg = st.floats(0.0, 50.0, allow_nan=False)
unit = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def lif_params(draw: st.DrawFn) -> dict[str, Any]:
    v_thresh = draw(st.floats(-60.0, -30.0))
    return {
        "tau_m": draw(positive), "tau_e": draw(positive), "tau_i": draw(positive),
        "v_rest": draw(st.floats(-80.0, -40.0)), "v_reset": v_thresh - draw(st.floats(0.001, 30.0)),
        "v_thresh": v_thresh, "t_ref": draw(nonneg), "bias": draw(finite), "excitability": draw(unit),
        "consec_limit": draw(st.integers(0, 10)), "snooze": draw(nonneg),
    }


@st.composite
def models(draw: st.DrawFn) -> NeuronModel:
    kind = draw(st.sampled_from(["lif", "adaptive", "modulated", "izh", "preset"]))
    if kind == "izh":
        return Izhikevich(a=draw(st.floats(0.001, 0.2)), b=draw(st.floats(0.0, 0.3)), c=draw(st.floats(-70, -40)),
                          d=draw(st.floats(0.0, 10.0)), tau_e=draw(positive), tau_i=draw(positive), bias=draw(finite))
    if kind == "preset":
        return Izhikevich.preset(draw(st.sampled_from(sorted(Izhikevich.PRESETS))), bias=draw(finite))
    p = draw(lif_params())
    if kind == "adaptive":
        return AdaptiveLIF(tau_w=draw(positive), b=draw(nonneg), **p)
    if kind == "modulated":
        return ModulatedLIF(habituation=draw(nonneg), tau_habituation=draw(positive), mod_gain=draw(finite),
                            tau_mod=draw(positive), burst_overshoot=draw(nonneg), burst_max=draw(st.integers(0, 5)),
                            **p)
    return LIF(**p)


@st.composite
def circuits(draw: st.DrawFn, depth: int = 0) -> Circuit:
    c = Circuit(draw(st.sampled_from(["npc", "wolf", "Ω-brain", "a b"])))
    names = draw(st.lists(st.sampled_from(["eye", "hid", "mot", "inh", "x1"]), min_size=1, max_size=4, unique=True))
    sizes = {}
    for n in names:
        sizes[n] = draw(st.sampled_from([1, 2, 4, 6, 12]))
        v_init = draw(st.one_of(st.none(), st.floats(-80, -40), st.tuples(st.floats(-80, -60), st.floats(-60, -40))))
        c.add_population(n, sizes[n], draw(models()), v_init=v_init)
    for j in range(draw(st.integers(0, 4))):
        pre, post = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        kind = draw(st.sampled_from(["chemical", "chemical", "modulatory", "electrical"]))
        rules = [AllToAll(draw(st.booleans())), FixedProbability(draw(unit), draw(st.booleans())),
                 FixedInDegree(draw(st.integers(0, sizes[pre] - (1 if pre == post else 0))), False),
                 Pairs(tuple(range(min(sizes[pre], sizes[post]))), tuple(range(min(sizes[pre], sizes[post]))))]
        if sizes[pre] == sizes[post]:
            rules.append(OneToOne())
        sign = 1.0 if kind == "electrical" else draw(st.sampled_from([1.0, -1.0]))
        lo = draw(st.floats(0.0, 5.0))
        weight = draw(st.sampled_from([Constant(sign * lo), Uniform(*sorted((sign * lo, sign * (lo + 1.5)))),
                                       Normal(sign * lo, draw(st.floats(0.0, 2.0)))]))
        d0 = draw(st.integers(1, 20))
        delay = draw(st.sampled_from([d0, (d0, d0 + draw(st.integers(0, 10)))]))
        c.connect(pre, post, draw(st.sampled_from(rules)), weight=weight, delay=delay, kind=kind, name=f"p{j}")
    organ_pop = draw(st.sampled_from(names))
    if draw(st.booleans()):
        ch = draw(st.sampled_from([k for k in (1, 2, 3, 4) if sizes[organ_pop] % k == 0]))
        c.add_sensor("s", organ_pop, channels=ch, kind=draw(st.sampled_from(["current", "poisson", "gaussian",
                                                                             "event"])),
                     low=-1.5, high=draw(st.floats(0.0, 10.0)), gain=draw(finite), max_rate=draw(st.floats(0, 500)),
                     sigma=draw(st.floats(0.01, 1.0)))
    if draw(st.booleans()):
        c.add_actuator("a", organ_pop, channels=1, kind=draw(st.sampled_from(["rate", "population_vector", "wta"])),
                       low=-2.0, high=2.0)
    if depth == 0 and draw(st.booleans()):
        sub = draw(circuits(depth=1))
        sub.expose("port", sub.populations[0].name)
        c.include("sub", sub)
        c.connect(names[0], "sub.port", weight=1.0, name="into_sub")
    return c


@given(circuits())
def test_genome_round_trip_is_exact(circuit: Circuit) -> None:
    text = dumps(circuit)
    back = loads(text)
    assert back.to_dict() == circuit.to_dict()
    assert dumps(back) == text
    assert back.flatten() == circuit.flatten()
    # floats survive bit for bit (JSON uses repr precision)
    assert json.loads(dumps(back)) == json.loads(text)


def test_genome_file_round_trip(tmp_path: Path) -> None:
    c = Circuit("file").add_population("a", 3, AdaptiveLIF(tau_m=1 / 3, bias=0.1 + 0.2), v_init=(-70.0, -55.5))
    c.connect("a", "a", FixedProbability(0.123456789), weight=Normal(0.3, 0.1), delay=(1, 7))
    path = tmp_path / "brain.genome.json"
    save_genome(c, path)
    assert [p.name for p in tmp_path.iterdir()] == ["brain.genome.json"]
    back = load_genome(path)
    assert back.to_dict() == c.to_dict()
    assert back.populations[0].model.tau_m == 1 / 3  # type: ignore[attr-defined]


def _doc(**circuit: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "c", "populations": [{"name": "a", "size": 4, "model": {"model": "lif"}}],
                            "projections": [], "organs": []}
    base.update(circuit)
    return {"format": "spikeforge-genome", "version": 1, "circuit": base}


def _pop(**model: Any) -> list[dict[str, Any]]:
    return [{"name": "a", "size": 4, "model": {"model": "lif", **model}}]


BAD_DOCS: list[tuple[str, Any, str]] = [
    ("unknown model", _doc(populations=[{"name": "a", "size": 4, "model": {"model": "hodgkin_huxley"}}]),
     "circuit.populations[0].model.model"),
    ("negative tau", _doc(populations=_pop(tau_m=-1.0)), "circuit.populations[0].model.tau_m"),
    ("zero tau", _doc(populations=_pop(tau_e=0)), "circuit.populations[0].model.tau_e"),
    ("excitability > 1", _doc(populations=_pop(excitability=1.5)), "circuit.populations[0].model.excitability"),
    ("reset above threshold", _doc(populations=_pop(v_reset=-40.0)), "circuit.populations[0].model.v_reset"),
    ("fractional consec", _doc(populations=_pop(consec_limit=1.5)), "circuit.populations[0].model.consec_limit"),
    ("string parameter", _doc(populations=_pop(bias="high")), "circuit.populations[0].model.bias"),
    ("unknown parameter", _doc(populations=_pop(colour=3)), "circuit.populations[0].model.colour"),
    ("negative size", _doc(populations=[{"name": "a", "size": -3}]), "circuit.populations[0].size"),
    ("float size", _doc(populations=[{"name": "a", "size": 2.5}]), "circuit.populations[0].size"),
    ("missing size", _doc(populations=[{"name": "a"}]), "circuit.populations[0].size"),
    ("dotted name", _doc(populations=[{"name": "a.b", "size": 1}]), "circuit.populations[0].name"),
    ("duplicate population", _doc(populations=[{"name": "a", "size": 1}, {"name": "a", "size": 2}]),
     "circuit.populations[1].name"),
    ("dangling projection", _doc(projections=[{"pre": "a", "post": "ghost"}]), "circuit.projections[0].post"),
    ("dangling organ", _doc(organs=[{"organ": "sensor", "name": "s", "population": "ghost"}]),
     "circuit.organs[0].population"),
    ("dangling port", _doc(ports={"out": "ghost"}), "circuit.ports.out"),
    ("delay 0", _doc(projections=[{"pre": "a", "post": "a", "delay": 0}]), "circuit.projections[0].delay"),
    ("delay too long", _doc(projections=[{"pre": "a", "post": "a", "delay": [1, 5000]}]),
     "circuit.projections[0].delay"),
    ("p > 1", _doc(projections=[{"pre": "a", "post": "a", "rule": {"rule": "fixed_probability", "p": 1.5}}]),
     "circuit.projections[0].rule.p"),
    ("k > n", _doc(projections=[{"pre": "a", "post": "a", "rule": {"rule": "fixed_in_degree", "k": 9}}]),
     "circuit.projections[0].rule.k"),
    ("unknown rule", _doc(projections=[{"pre": "a", "post": "a", "rule": {"rule": "small_world"}}]),
     "circuit.projections[0].rule.rule"),
    ("pairs out of range", _doc(projections=[{"pre": "a", "post": "a",
                                              "rule": {"rule": "pairs", "pre": [0], "post": [4]}}]),
     "circuit.projections[0].rule.post"),
    ("one_to_one sizes", _doc(populations=[{"name": "a", "size": 4}, {"name": "b", "size": 3}],
                              projections=[{"pre": "a", "post": "b", "rule": {"rule": "one_to_one"}}]),
     "circuit.projections[0].rule"),
    ("unknown weight dist", _doc(projections=[{"pre": "a", "post": "a", "weight": {"dist": "cauchy"}}]),
     "circuit.projections[0].weight.dist"),
    ("negative std", _doc(projections=[{"pre": "a", "post": "a", "weight": {"dist": "normal", "mean": 1,
                                                                               "std": -1}}]),
     "circuit.projections[0].weight.std"),
    ("negative gap", _doc(projections=[{"pre": "a", "post": "a", "kind": "electrical", "weight": -0.5}]),
     "circuit.projections[0].weight"),
    ("unknown synapse kind", _doc(projections=[{"pre": "a", "post": "a", "kind": "quantum"}]),
     "circuit.projections[0].kind"),
    ("duplicate projection", _doc(projections=[{"pre": "a", "post": "a"}, {"pre": "a", "post": "a"}]),
     "circuit.projections[1].name"),
    ("channels do not divide", _doc(organs=[{"organ": "sensor", "name": "s", "population": "a", "channels": 3}]),
     "circuit.organs[0].channels"),
    ("unknown sensor kind", _doc(organs=[{"organ": "sensor", "name": "s", "population": "a", "kind": "smell"}]),
     "circuit.organs[0].kind"),
    ("empty range", _doc(organs=[{"organ": "sensor", "name": "s", "population": "a", "low": 1, "high": 1}]),
     "circuit.organs[0].high"),
    ("two actuators", _doc(organs=[{"organ": "actuator", "name": "x", "population": "a"},
                                   {"organ": "actuator", "name": "y", "population": "a"}]),
     "circuit.organs[1].population"),
    ("unknown organ", _doc(organs=[{"organ": "tail", "name": "t", "population": "a"}]), "circuit.organs[0].organ"),
    ("unknown circuit field", _doc(colour="red"), "circuit.colour"),
    ("non-boolean allow_self", _doc(projections=[{"pre": "a", "post": "a", "rule": {"rule": "all_to_all",
                                                                                    "allow_self": "no"}}]),
     "circuit.projections[0].rule.allow_self"),
    ("non-string projection name", _doc(projections=[{"pre": "a", "post": "a", "name": 5}]),
     "circuit.projections[0].name"),
    ("empty name", _doc(name=""), "circuit.name"),
    ("unsupported version", {**_doc(), "version": 2}, "version"),
    ("boolean version", {**_doc(), "version": True}, "version"),
    ("wrong format", {**_doc(), "format": "brain"}, "format"),
    ("not an object", [1, 2], "genome"),
]


@pytest.mark.parametrize(("doc", "field"), [(d, f) for _, d, f in BAD_DOCS], ids=[n for n, _, _ in BAD_DOCS])
def test_bad_genome_names_the_field(doc: Any, field: str) -> None:
    with pytest.raises(GenomeError) as info:
        loads(json.dumps(doc))
    assert info.value.field == field
    assert str(info.value).startswith(field + ": ")
    assert info.value.problem


@pytest.mark.parametrize("text", ['{"format": ', "not json", "{'single': 1}", "", b"\xff\xfe\xfa",
                                  "[" * 100000 + "]" * 100000])
def test_bad_json_is_a_genome_error(text: str | bytes) -> None:
    with pytest.raises(GenomeError, match="not valid JSON") as info:
        loads(text)
    assert info.value.field == "json"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_numbers_are_rejected(constant: str) -> None:
    text = json.dumps(_doc(populations=_pop(tau_m=1.0))).replace('"tau_m": 1.0', f'"tau_m": {constant}')
    assert constant in text
    with pytest.raises(GenomeError, match="non-finite") as info:
        loads(text)
    assert info.value.field == "json"


@pytest.mark.parametrize(("model", "field"), [
    (LIF(tau_m=math.nan), "p.tau_m"), (LIF(bias=math.inf), "p.bias"), (AdaptiveLIF(tau_w=0.0), "p.tau_w"),
    (ModulatedLIF(burst_max=-1), "p.burst_max"), (Izhikevich(a=math.nan), "p.a"), (LIF(snooze=-1.0), "p.snooze"),
    (ModulatedLIF(tau_mod=-5.0), "p.tau_mod"), (Izhikevich(tau_e=0.0), "p.tau_e"),
])
def test_python_api_models_are_validated(model: NeuronModel, field: str) -> None:
    with pytest.raises(GenomeError) as info:
        model.validate("p")
    assert info.value.field == field


def test_nan_in_a_python_circuit_is_rejected_before_saving() -> None:
    c = Circuit("c").add_population("a", 2, LIF(v_thresh=math.nan))
    with pytest.raises(GenomeError, match=r"populations\[0\]\.model\.v_thresh"):
        dumps(c)
    c = Circuit("c").add_population("a", 2, LIF()).connect("a", "a", weight=math.nan)
    with pytest.raises(GenomeError, match=r"projections\[0\]\.weight\.value"):
        dumps(c)


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(GenomeError, match="unknown Izhikevich preset 'XX'"):
        Izhikevich.preset("XX")


@given(circuits(), st.integers(0, 2**32))
@settings(max_examples=25)
def test_any_valid_genome_spawns_runs_and_reloads(circuit: Circuit, seed: int) -> None:
    """Every circuit the validator accepts compiles, spawns (twice, plus a reloaded
    copy of its genome) and runs; the reloaded genome gives the same trajectory."""
    import numpy as np

    from spikeforge import World

    runs = []
    for c in (circuit, loads(dumps(circuit))):
        world = World(dt=0.001, backend="numpy", seed=seed)
        brains = world.spawn(c, count=2)
        for b in brains:
            for view in b.sensors.values():
                view[:] = 0.75
        rec = world.step(12)
        runs.append((rec.steps, rec.neurons, world.layout.neuron["v"].copy()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][2].tobytes() == runs[1][2].tobytes()


@pytest.mark.parametrize(("doc", "field"), [
    (_doc(populations=_pop(bias=1e39)), "circuit.populations[0].model.bias"),
    (_doc(projections=[{"pre": "a", "post": "a", "weight": -1e300}]), "circuit.projections[0].weight"),
    (_doc(organs=[{"organ": "sensor", "name": "s", "population": "a", "gain": 5e38}]), "circuit.organs[0].gain"),
    (_doc(populations=[{"name": "a", "size": 1, "v_init": 1e40}]), "circuit.populations[0].v_init"),
])
def test_values_beyond_float32_are_rejected(doc: Any, field: str) -> None:
    """Kernels hold parameters as float32: 1e39 would silently become inf."""
    with pytest.raises(GenomeError, match="finite") as info:
        loads(json.dumps(doc))
    assert info.value.field == field


def test_failed_genome_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    c = Circuit("g").add_population("a", 2, LIF())
    path = tmp_path / "g.json"
    save_genome(c, path)
    good = path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_genome(c.derive("g2", {"a.size": 3}), path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["g.json"]
