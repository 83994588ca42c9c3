"""The native backend is bit-exact with the numpy specification: spikes and ALL state."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.engine.native_nets import (
    all_nets,
    background_net,
    feature_net,
    learning_net,
    lif_net,
    reward_net,
    static_net,
    stdp_net,
)

import spikeforge.engine.native_backend as native  # built at install: a missing one must fail
from spikeforge import World
from spikeforge.engine.backend import available_backends, resolve_backend
from spikeforge.model import (
    LIF,
    AdaptiveLIF,
    Background,
    Circuit,
    FixedInDegree,
    FixedProbability,
    Izhikevich,
    ModulatedLIF,
    Uniform,
)

pytestmark = pytest.mark.native
if native.unavailable() is not None:  # pragma: no cover
    pytest.fail(f"the native backend is not built: {native.unavailable()}", pytrace=False)


def drive(world: World, frames: int, seed: int, threads: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Run ``frames`` frames with random sensors, rewards, sleeping and freezing; return the spikes."""
    if threads is not None:
        world.backend.set_threads(threads, 1)  # type: ignore[attr-defined]
    rng = np.random.default_rng(seed)
    out = []
    for f in range(frames):
        L = world.layout
        L.sensor_values[:] = rng.uniform(-1.3, 1.3, L.sensor_values.size).astype(np.float32)
        if f % 3 == 0 and L.n_brains:
            world.reward(rng.uniform(-1.0, 1.0, L.n_brains))
        if f == frames // 3 and L.n_brains > 2:
            world.brains[2].freeze()
        world.learning(f < frames // 2 or f > 2 * frames // 3)
        if L.n_brains > 1:
            L.sleeping[1] = f % 4 == 0
        r = world.advance(1 / 60)
        out.append((r.spikes.steps, r.spikes.neurons))
    return out


def assert_same_state(a: World, b: World) -> None:
    La, Lb = a.layout, b.layout
    for k in La.neuron:
        assert np.array_equal(La.neuron[k].view(np.uint8), Lb.neuron[k].view(np.uint8)), f"neuron.{k}"
    for k in La.synapse:
        assert np.array_equal(La.synapse[k].view(np.uint8), Lb.synapse[k].view(np.uint8)), f"synapse.{k}"
    for k in ("ring", "brain_step", "act_counts", "act_out", "sensor_values", "dopamine", "dopamine_sum"):
        assert np.array_equal(np.asarray(getattr(La, k)).view(np.uint8),
                              np.asarray(getattr(Lb, k)).view(np.uint8)), k


def pair(circuits: list[Circuit], count: int, seed: int = 3, dt: float = 0.001) -> tuple[World, World]:
    worlds = []
    for backend in ("numpy", "native"):
        w = World(dt=dt, backend=backend, seed=seed)
        for c in circuits:
            w.spawn(c, count=count)
        worlds.append(w)
    return worlds[0], worlds[1]


def test_registered_and_preferred_by_auto() -> None:
    assert available_backends()["native"] is None
    assert resolve_backend("auto")[0] == "native"


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("make", [lif_net, feature_net, learning_net, static_net, background_net, reward_net, stdp_net],
                         ids=["lif", "features", "learning", "static", "background", "reward", "stdp"])
def test_every_test_net_bit_exact(make: object, threads: int) -> None:
    assert callable(make)
    a, b = pair([make()], count=3)
    sa, sb = drive(a, 24, 7), drive(b, 24, 7, threads)
    assert sum(s[1].size for s in sa) > 50  # the nets are active
    for (ta, na), (tb, nb) in zip(sa, sb, strict=True):
        assert np.array_equal(ta, tb) and np.array_equal(na, nb)
    assert_same_state(a, b)


def test_stdp_net_reaches_the_bounds() -> None:
    """The pair-STDP net takes weights onto its projections' bounds (no initial weight is on
    one): exc->exc onto w_max 4 and inh->inh onto w_max 0 by potentiation, inh->exc onto w_min
    -6 by depression; the native backend ends bit for bit where numpy does."""
    a, b = pair([stdp_net()], count=3)
    drive(a, 24, 7), drive(b, 24, 7, 1)
    assert_same_state(a, b)
    L = b.layout
    w, proj = L.synapse["w"], np.repeat(L.row_proj, np.diff(L.row_syn))  # projections in connect order
    assert (w[proj == 0] == 4.0).any() and (w[proj == 3] == 0.0).any() and (w[proj == 2] == -6.0).any()


def test_stdp_inputs_beyond_the_packed_pair_table() -> None:
    """The engine's packed copy of the incoming-synapse table holds a pre neuron's index within
    its brain in 16 bits. In a brain whose STDP inputs come from 65,536 or more neurons into it,
    the table cannot be built and P5b goes entry by entry: the same bits as numpy (a packed
    index that wrapped would potentiate with another neuron's trace). A second, small brain of
    the same world learns through the same step."""
    from spikeforge.model.plasticity import STDP

    wide = Circuit("wide")
    wide.add_population("far", 70_000, LIF(bias=16.0), v_init=(-65.0, -50.0))
    wide.add_population("post", 6, LIF(bias=15.5), v_init=(-65.0, -50.0))
    wide.connect("far", "post", FixedInDegree(400), weight=Uniform(0.2, 0.6), plasticity=STDP())
    a, b = pair([wide, stdp_net()], count=1)
    L = b.layout
    pre = np.repeat(np.arange(L.n_neurons), np.diff(L.row_syn[L.row_ptr]))
    assert (pre[L.row_syn[L.row_ptr[0]]:L.row_syn[L.row_ptr[L.brain_start[1]]]] >= 65_536).any()
    far = slice(0, int(L.row_syn[L.row_ptr[L.brain_start[1]]]))  # the wide brain's synapses
    w0 = L.synapse["w"][far].copy()
    for w in (a, b):
        w.step(30)
    assert_same_state(a, b)
    assert (L.synapse["w"][far] != w0).any()  # it learned


@pytest.mark.parametrize("threads", [1, 2])
def test_learning_without_the_int32_tables_bit_exact(threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the engine's int32 copies of the synapse tables do not fit (2^31 ring slots, rows or
    synapses), propagation and every learning phase walk the layout's int64 rows, post array and
    incoming tables: forced here on every learning net (pair STDP at emission and delivery,
    reward-STDP, modulated Hebbian, homeostasis), brain-major and step-major, the same bits as
    numpy. Then the copies come back on a running world, which goes on with the same bits."""
    monkeypatch.setenv("SPIKEFORGE_NATIVE_INT32_TABLES", "0")
    nets = [stdp_net(), reward_net(), learning_net(), feature_net()]
    a, b = pair(nets, count=2)
    sa, sb = drive(a, 16, 5), drive(b, 16, 5, threads)
    assert sum(s[1].size for s in sa) > 50
    for (ta, na), (tb, nb) in zip(sa, sb, strict=True):
        assert np.array_equal(ta, tb) and np.array_equal(na, nb)
    assert_same_state(a, b)
    b.backend.set_int32_tables(True)  # type: ignore[attr-defined]
    for (ta, na), (tb, nb) in zip(drive(a, 6, 9), drive(b, 6, 9, threads), strict=True):
        assert np.array_equal(ta, tb) and np.array_equal(na, nb)
    assert_same_state(a, b)
    monkeypatch.setenv("SPIKEFORGE_NATIVE_INT32_TABLES", "yes")
    with pytest.raises(ValueError, match="SPIKEFORGE_NATIVE_INT32_TABLES"):
        World(dt=0.001, backend="native").spawn(lif_net())


def test_mixed_world_threads_identical() -> None:
    a, b = pair(all_nets(), count=4)
    c = World(dt=0.001, backend="native", seed=3)
    for circ in all_nets():
        c.spawn(circ, count=4)
    sa, sb, sc = drive(a, 15, 1), drive(b, 15, 1, threads=1), drive(c, 15, 1, threads=2)
    assert sa and all(np.array_equal(x[1], y[1]) and np.array_equal(x[1], z[1])
                      for x, y, z in zip(sa, sb, sc, strict=True))
    assert_same_state(a, b)
    assert_same_state(a, c)


def test_brain_major_threads_count_neuron_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """A brain-major advance meets its threads once, so the per-thread minimum counts the
    advance's neuron-steps: 64 brains of 100 neurons (6,400 < 32,768 neurons) run a 16-step
    frame on several threads, with the bits of one thread."""
    from spikeforge.bench.learning import crowd_circuit

    monkeypatch.setenv("SPIKEFORGE_THREADS", "4")  # four workers on any machine (results never depend on it)
    worlds = []
    for threads in (1, 4):
        w = World(dt=0.001, backend="native", seed=7)
        w.spawn(crowd_circuit(False), count=64)
        w.backend.set_threads(threads)  # type: ignore[attr-defined]
        worlds.append(w)
    runs = [drive(w, 6, 3) for w in worlds]
    b1, b4 = worlds[0].backend, worlds[1].backend
    assert b1.last_threads == 1  # type: ignore[attr-defined]
    assert b4.last_threads == 3  # type: ignore[attr-defined]  # 6,400 neurons x 16-17 steps // 32,768
    assert sum(n.size for _, n in runs[0]) > 1000
    for (ta, na), (tb, nb) in zip(*runs, strict=True):
        assert np.array_equal(ta, tb) and np.array_equal(na, nb)
    assert_same_state(*worlds)


def test_every_instruction_set_bit_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loops built for the baseline, AVX2 and AVX-512F give the same spikes and state."""
    nets = [*all_nets(), learning_net(), background_net(), lif_net()]
    worlds, spikes, used = [], [], []
    for isa in native.ISAS:
        w = World(dt=0.001, backend="native", seed=5)
        for c in nets:
            w.spawn(c, count=3)
        used.append(w.backend.set_isa(isa))  # type: ignore[attr-defined]
        worlds.append(w)
        spikes.append(drive(w, 24, 11))
    assert used[0] == "baseline" and set(used) <= set(native.ISAS)
    for w, s in zip(worlds[1:], spikes[1:], strict=True):
        for (ta, na), (tb, nb) in zip(spikes[0], s, strict=True):
            assert np.array_equal(ta, tb) and np.array_equal(na, nb)
        assert_same_state(worlds[0], w)
    with pytest.raises(ValueError, match="isa: expected"):
        worlds[0].backend.set_isa("sse9")  # type: ignore[attr-defined]
    monkeypatch.setenv("SPIKEFORGE_NATIVE_ISA", "baseline")
    assert World(dt=0.001, backend="native").backend.isa == "baseline"  # type: ignore[attr-defined]
    monkeypatch.setenv("SPIKEFORGE_NATIVE_ISA", "avx3")
    with pytest.raises(ValueError, match="SPIKEFORGE_NATIVE_ISA"):
        w = World(dt=0.001, backend="native")
        w.spawn(lif_net(), count=1)


def test_zero_copy_state_and_validation() -> None:
    w = World(dt=0.001, backend="native", seed=1)
    brain = w.spawn(lif_net(), count=1)[0]
    v = w.layout.neuron["v"]
    w.step(5)
    assert w.layout.neuron["v"] is v  # the kernel wrote into the layout's own array
    assert np.shares_memory(brain.state("v") if hasattr(brain, "state") else v, v)
    w.layout.synapse["post"][0] = w.layout.n_neurons + 7
    with pytest.raises(ValueError, match=r"synapse\.post"):
        native.NativeBackend(w.layout)


_models = st.sampled_from([
    LIF(bias=15.0), LIF(tau_m=10.0, bias=20.0, t_ref=0.0, excitability=0.6),
    AdaptiveLIF(bias=18.0, b=1.0), ModulatedLIF(bias=17.0, burst_overshoot=0.3, burst_max=2, consec_limit=2,
                                                snooze=3.0),
    Izhikevich(bias=10.0), Izhikevich.preset("CH") if hasattr(Izhikevich, "preset") else Izhikevich(c=-50.0),
])


_backgrounds = st.sampled_from([
    None, None, Background(noise="uniform", low=-3.0, high=9.0), Background(noise="gaussian", mean=1.0, std=5.0),
    Background(rate=80.0, weight=4.0), Background(noise="gaussian", std=2.0, rate=30.0, weight=-3.0),
])


@st.composite
def circuits(draw: st.DrawFn) -> Circuit:
    c = Circuit("rand")
    npop = draw(st.integers(1, 4))
    sizes = [draw(st.integers(1, 12)) for _ in range(npop)]
    for i, size in enumerate(sizes):
        c.add_population(f"p{i}", size, draw(_models), v_init=(-70.0, -50.0), background=draw(_backgrounds))
    for j in range(draw(st.integers(0, 5))):
        a, b = draw(st.integers(0, npop - 1)), draw(st.integers(0, npop - 1))
        kind = draw(st.sampled_from(["chemical", "chemical", "modulatory", "electrical"]))
        lo = draw(st.floats(0.0, 6.0))
        hi = lo + draw(st.floats(0.0, 3.0))
        w = Uniform(lo, hi) if draw(st.booleans()) else Uniform(-hi, -lo)
        if kind == "electrical":
            w = Uniform(0.0, 0.2)
        delay = draw(st.sampled_from([1, 2, (1, 4)]))
        c.connect(f"p{a}", f"p{b}", FixedProbability(draw(st.floats(0.0, 1.0))), weight=w,
                  delay=delay if kind != "electrical" else 1, kind=kind, name=f"j{j}")
    if draw(st.booleans()):
        c.add_sensor("s", "p0", channels=1, kind=draw(st.sampled_from(["current", "poisson", "gaussian", "event"])),
                     low=-1.0, high=1.0, gain=20.0, max_rate=300.0)
    if draw(st.booleans()):
        c.add_actuator("a", f"p{npop - 1}", channels=1,
                       kind=draw(st.sampled_from(["rate", "population_vector", "wta"])))
    return c


@settings(max_examples=25)
@given(circ=circuits(), count=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_random_circuits_bit_exact(circ: Circuit, count: int, seed: int) -> None:
    a, b = pair([circ], count=count, seed=seed % 1000)
    sa, sb = drive(a, 6, seed), drive(b, 6, seed, threads=2)
    for (ta, na), (tb, nb) in zip(sa, sb, strict=True):
        assert np.array_equal(ta, tb) and np.array_equal(na, nb)
    assert_same_state(a, b)


@pytest.mark.parametrize("make", [feature_net, learning_net, background_net, reward_net],
                         ids=["features", "learning", "background", "reward"])
def test_one_brain_step_major_threads_bit_exact(make: object) -> None:
    """A single brain runs step by step across threads (barriers, atomics): same bits as numpy."""
    assert callable(make)
    a, b = pair([make()], count=1)
    sa, sb = drive(a, 20, 11), drive(b, 20, 11, threads=2)
    assert sum(s[1].size for s in sa) > 20
    for (ta, na), (tb, nb) in zip(sa, sb, strict=True):
        assert np.array_equal(ta, tb) and np.array_equal(na, nb)
    assert_same_state(a, b)


def test_close_frees_engine_and_relayout_keeps_state() -> None:
    w = World(dt=0.001, backend="native", seed=2)
    w.spawn(lif_net(), count=2)
    w.step(30)
    old = w.backend
    v_before = w.layout.neuron["v"].copy()
    w.spawn(lif_net(), count=1)  # relayout: a new backend, the old one closed
    assert old.threads == 0  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="after close"):
        old.advance(1, 0, None)
    assert np.array_equal(w.layout.neuron["v"][: v_before.size], v_before)
    w.step(5)


def keeper_net(mod: bool = True) -> Circuit:
    """Keeps w, theta, burst and (with ``mod``, through a modulated Hebbian rule, so it learns) mod:
    a world with it stores them for every neuron (layout.stored_state). No gap junctions or
    modulator channel (either keeps every segment of the world off the lean path)."""
    from spikeforge.model.plasticity import ModulatedHebbian

    c = Circuit("keeper" if mod else "keeper_nomod")
    c.add_population("adapt", 8, AdaptiveLIF(bias=18.0, b=1.5, tau_w=50.0))
    c.add_population("modl", 8, ModulatedLIF(bias=16.0, habituation=0.5, burst_overshoot=0.5, burst_max=2))
    c.connect("adapt", "modl", FixedProbability(0.5), weight=Uniform(0.5, 2.0), delay=1,
              plasticity=ModulatedHebbian(lr=0.01, w_min=0.0, w_max=3.0) if mod else None)
    return c


def test_inert_state_shortcut_respects_written_state() -> None:
    """Populations take the lean paths that skip the arrays they keep only while those hold +0.0 / 0:
    state written there (-0.0 too) makes them take the full path, still bit-exact with numpy (the
    arrays hold only the keeper populations' neurons: the plain LIF brains beside them have none)."""
    a, b = pair([lif_net(), keeper_net()], count=2)
    for w in (a, b):
        S = w.layout.neuron
        assert all(S[k].size == 8 * 2 for k in ("w", "theta", "mod", "burst"))  # 2 keepers x 8 neurons
        S["theta"][3] = np.float32(0.5)
        S["w"][6] = np.float32(-0.0)
        S["mod"][9] = np.float32(0.25)
        S["burst"][10] = 2
    sa, sb = drive(a, 10, 5), drive(b, 10, 5)
    for (ta, na), (tb, nb) in zip(sa, sb, strict=True):
        assert np.array_equal(ta, tb) and np.array_equal(na, nb)
    assert_same_state(a, b)


def test_lean_shortcuts_respect_written_state() -> None:
    """Lean populations skip the modulator sum (msum + 0) only while no msum is -0.0 or NaN,
    the refractory bookkeeping only while every hold is 0 and the external current only while
    every iext is +0: written -0.0, NaN, a hold and a current make them take the full work,
    still bit-exact with numpy."""
    a, b = pair([reward_net()], count=2)
    for w in (a, b):
        S = w.layout.neuron
        S["msum"][2] = np.float32(-0.0)
        S["msum"][45] = np.float32(np.nan)
        S["hold"][50] = 3
        S["iext"][66] = np.float32(1.5)
    sa, sb = drive(a, 10, 5), drive(b, 10, 5)
    for (ta, na), (tb, nb) in zip(sa, sb, strict=True):
        assert np.array_equal(ta, tb) and np.array_equal(na, nb)
    assert_same_state(a, b)


def test_lean_lif_dense_spikes_and_written_iext() -> None:
    """The lean LIF loop's spike flags and their collection: most neurons of a 203-neuron
    population (not a multiple of 64) spike in the same steps, so whole 64-flag blocks are set;
    a current written into one brain's iext makes that segment read iext, the other skips it;
    spikes and all state stay bit-exact with numpy."""
    c = Circuit("dense")
    c.add_population("e", 203, LIF(bias=40.0, t_ref=1.0), v_init=(-65.0, -50.0))
    c.add_population("i", 77, LIF(tau_m=10.0, bias=30.0), v_init=(-65.0, -50.0))
    c.connect("e", "i", FixedProbability(0.1), weight=1.0, delay=1)
    c.connect("i", "e", FixedProbability(0.1), weight=-2.0, delay=2)
    a, b = World(dt=0.001, backend="numpy", seed=5), World(dt=0.001, backend="native", seed=5)
    for w in (a, b):
        w.spawn(c, count=2)
        w.layout.neuron["iext"][7] = np.float32(2.5)
    ra, rb = a.step(40), b.step(40)
    assert ra.neurons.size > 203 * 4  # dense: many full flag words
    assert np.array_equal(ra.steps, rb.steps) and np.array_equal(ra.neurons, rb.neurons)
    assert_same_state(a, b)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("excitability", [1.0, 0.9], ids=["sure", "drawn"])
def test_crowd_brain_bit_exact(threads: int, excitability: float) -> None:
    """The crowd bench's brain (npc256: 64 Poisson sensor neurons, 160 + 32 LIF) in brain-major
    order: the sensor population's lean loop draws only the forced-spike uniforms when its
    excitability is 1 and both draws otherwise, a brain's spikes are collected once per step
    across its three segments, its hid and out populations (the same parameters) run in one
    loop call, joined, and its synapse ranges come from the per-neuron table. In brain 1 a
    written current in out and a refractory count in hid make the joined run take the lean
    variant both need (reading iext and hold), in brain 2 only the current; a brain of a circuit
    that keeps theta, spawned beside them, stores theta for its own populations only. Spikes and
    all state bit for bit numpy's, for 1 and 2 threads."""
    from spikeforge.bench.crowd import npc_circuit

    c = npc_circuit()
    c.populations[0] = dataclasses.replace(c.populations[0], model=LIF(t_ref=2.0, excitability=excitability))
    a, b = pair([c, keeper_net(mod=False)], count=5, seed=11)
    for w in (a, b):
        S = w.layout.neuron
        S["iext"][256 + 230] = np.float32(1.5)
        S["hold"][256 + 100] = 3
        S["iext"][512 + 240] = np.float32(2.0)
    sa, sb = drive(a, 12, 3), drive(b, 12, 3, threads)
    assert sum(s[1].size for s in sa) > 200
    for (ta, na), (tb, nb) in zip(sa, sb, strict=True):
        assert np.array_equal(ta, tb) and np.array_equal(na, nb)
    assert_same_state(a, b)


@pytest.mark.parametrize("threads", [1, 2])
def test_lean_lif_step_major_collects_its_spikes(threads: int) -> None:
    """One brain runs step-major, where the lean LIF step without draws collects its own spikes
    (the AVX-512F loop: spike masks, a masked last vector; the AVX2 loop: movemask, a scalar
    tail): populations of 203, 77, 5, 37 and 11 neurons (no multiple of 16 or 8), dense spiking,
    a refractory period, consecutive-spike limits with snooze (no refractory period, so the limit
    is hit; 11 neurons: over a whole AVX2 vector too), a written iext in one population; with 2
    threads the pieces split the populations anywhere. Spikes and all state bit-exact."""
    c = Circuit("lean1")
    c.add_population("e", 203, LIF(bias=40.0, t_ref=1.0), v_init=(-65.0, -50.0))
    c.add_population("i", 77, LIF(tau_m=10.0, bias=30.0), v_init=(-65.0, -50.0))
    c.add_population("lim", 5, LIF(bias=5000.0, t_ref=0.0, consec_limit=3, snooze=2.0), v_init=(-65.0, -50.0))
    c.add_population("x", 37, LIF(bias=12.0, t_ref=2.0), v_init=(-65.0, -50.0))
    # a limit over whole vectors too (AVX2: 8 + 3, AVX-512F: a masked 11), another limit and snooze
    c.add_population("lim2", 11, LIF(bias=5000.0, t_ref=0.0, consec_limit=2, snooze=3.0), v_init=(-65.0, -50.0))
    c.connect("e", "i", FixedProbability(0.1), weight=1.0, delay=1)
    c.connect("i", "e", FixedProbability(0.1), weight=-2.0, delay=2)
    c.connect("e", "x", FixedProbability(0.3), weight=3.0, delay=1)
    c.connect("lim", "x", FixedProbability(0.5), weight=-1.5, delay=1)
    a, b = World(dt=0.001, backend="numpy", seed=7), World(dt=0.001, backend="native", seed=7)
    for w in (a, b):
        w.spawn(c, count=1)
        w.layout.neuron["iext"][203 + 77 + 5 + 11] = np.float32(4.5)
    b.backend.set_threads(threads, 1)  # type: ignore[attr-defined]
    ra, rb = a.step(60), b.step(60)
    assert ra.neurons.size > 203 * 6
    lim = (ra.neurons >= 280) & (ra.neurons < 285)
    assert 0 < lim.sum() < 5 * 60  # the limit and snooze silence the population driven to spike every step
    assert np.array_equal(ra.steps, rb.steps) and np.array_equal(ra.neurons, rb.neurons)
    assert_same_state(a, b)


@pytest.mark.parametrize(("brains", "cap", "per_thread"), [(1, 4, 1000), (1, 4, 10**6), (6, 4, 1000), (6, 16, 10),
                                                           (3, 8, 500), (40, 3, 10**5)])
def test_planned_threads_is_what_an_advance_uses(brains: int, cap: int, per_thread: int) -> None:
    # the GPU cost model predicts the CPU by the threads an advance will use (gpu_cost.cpu_threads)
    from spikeforge.engine.native_backend import NativeBackend, planned_threads

    w = World(dt=0.001, backend="numpy", seed=3)
    c = Circuit("pt")
    c.add_population("a", 300, LIF())
    c.connect("a", "a", FixedInDegree(4), weight=0.5)
    w.spawn(c, brains)
    be = NativeBackend(w.layout, threads=cap, min_neurons_per_thread=per_thread)
    try:
        for steps in (1, 16):
            be.advance(steps, 0, None)
            want = planned_threads(w.layout.n_neurons, brains, steps, cap, per_thread)
            assert be.last_threads == want, (steps, be.last_threads, want)
    finally:
        be.close()
