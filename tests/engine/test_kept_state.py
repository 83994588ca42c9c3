"""Which state a population keeps (issue 14, item 3): a layout stores ``w theta mod consec burst``
only for the neurons of the populations that keep them (``layout.STATE_KEPT_WHEN``,
``PER_POPULATION_STATE``; the learning state when some circuit of the world learns), and leaving
state out changes nothing: the same world with every population keeping every array (as before the
elision) gives the same spikes and state on every CPU backend, and what it stores beyond the kept
state stays +0. The circuits cover every loop the C kernel picks (lean, lean-w with and
without background input, fast with gap junctions, the per-neuron loop under homeostasis) with
some of the five arrays absent."""

from __future__ import annotations

import numpy as np
import pytest
from tests.engine.native_nets import background_net, lif_net, reward_net, static_net, stdp_net

import spikeforge.engine.layout as layout_mod
import spikeforge.engine.native_backend as native
from spikeforge.engine.layout import NEURON_STATE, PER_POPULATION_STATE, STATE_KEPT_WHEN, STORED_WHEN_KEPT
from spikeforge.model import (
    LIF,
    AdaptiveLIF,
    Background,
    Circuit,
    FixedProbability,
    Izhikevich,
    ModulatedLIF,
    Uniform,
)
from spikeforge.model.neurons import QuadraticIF
from spikeforge.model.plasticity import Homeostasis, ModulatedHebbian, RewardSTDP
from spikeforge.runtime.world import World

CPU = ["numpy", "native"]
if native.unavailable() is not None:  # pragma: no cover - built at install: a missing one must fail
    pytest.fail(f"the native backend is not built: {native.unavailable()}", pytrace=False)


def gap_net() -> Circuit:
    """Plain LIF with gap junctions: the fast loop, with every one of the five arrays absent."""
    c = lif_net()
    c.name = "lif_gap"
    c.connect("e", "e", FixedProbability(0.1), weight=0.05, kind="electrical", name="e-gap")
    return c


def homeo_net() -> Circuit:
    """Homeostasis on plain LIF: theta kept, w mod consec burst absent, the per-neuron loop."""
    c = Circuit("homeo")
    c.add_population("inp", 16, LIF(bias=0.0, t_ref=1.0))
    c.add_population("hid", 24, LIF(bias=14.0), v_init=(-65.0, -50.0))
    c.connect("inp", "hid", FixedProbability(0.5), weight=Uniform(0.5, 2.0), delay=(1, 3),
              plasticity=Homeostasis(target_rate=5.0, eta=0.3))
    c.connect("hid", "hid", FixedProbability(0.2), weight=Uniform(0.5, 2.5), delay=2)
    c.add_sensor("eyes", "inp", channels=4, kind="poisson", max_rate=300.0)
    return c


def mixed_net() -> Circuit:
    """One population per rule, beside plain LIF: habituation only (theta), bursts only (burst), a
    modulatory input only (mod), a limit only (consec), adaptation (w), quadratic IF (no w), a
    modulated Hebbian rule (mod of its post) and reward-STDP (msum)."""
    c = Circuit("mixed")
    c.add_population("inp", 12, LIF(bias=0.0, t_ref=1.0))
    c.add_population("plain", 16, LIF(bias=15.0), v_init=(-65.0, -50.0))
    c.add_population("habit", 12, ModulatedLIF(bias=16.0, habituation=0.6, burst_overshoot=0.0), v_init=(-65.0, -50.0))
    c.add_population("bursty", 12, ModulatedLIF(bias=17.0, habituation=0.0, burst_overshoot=0.5, burst_max=3),
                     v_init=(-65.0, -50.0))
    c.add_population("modded", 12, ModulatedLIF(bias=15.0, habituation=0.0, burst_overshoot=0.0, mod_gain=0.8),
                     v_init=(-65.0, -50.0))
    c.add_population("limited", 12, LIF(bias=18.0, consec_limit=2, snooze=3.0), v_init=(-65.0, -50.0))
    c.add_population("adapt", 12, AdaptiveLIF(bias=18.0, b=1.5, tau_w=50.0), v_init=(-70.0, -52.0))
    c.add_population("qif", 12, QuadraticIF(bias=3.5), v_init=(-66.0, -45.0))
    c.add_population("izh", 8, Izhikevich(bias=8.0), v_init=(-70.0, -60.0))
    c.connect("inp", "plain", FixedProbability(0.5), weight=Uniform(1.0, 4.0), delay=(1, 3))
    c.connect("plain", "habit", FixedProbability(0.4), weight=2.0, delay=1)
    c.connect("plain", "bursty", FixedProbability(0.4), weight=2.0, delay=2)
    c.connect("plain", "modded", FixedProbability(0.4), weight=0.5, kind="modulatory", delay=1, name="neuromod")
    c.connect("plain", "modded", FixedProbability(0.4), weight=2.0, delay=1)
    c.connect("habit", "limited", FixedProbability(0.4), weight=2.0, delay=1)
    c.connect("bursty", "adapt", FixedProbability(0.4), weight=2.0, delay=(1, 2))
    c.connect("adapt", "qif", FixedProbability(0.4), weight=2.0, delay=1)
    c.connect("qif", "izh", FixedProbability(0.4), weight=3.0, delay=1)
    c.connect("inp", "limited", FixedProbability(0.5), weight=Uniform(0.5, 2.0), delay=1,
              plasticity=ModulatedHebbian(lr=0.05, w_min=0.0, w_max=3.0))
    c.connect("plain", "izh", FixedProbability(0.5), weight=Uniform(0.5, 3.0), delay=1,
              plasticity=RewardSTDP(w_min=0.0, w_max=5.0, update_every=5, lr=0.05, tau_dopamine=50.0))
    c.add_sensor("eyes", "inp", channels=3, kind="poisson", max_rate=300.0)
    return c


def noisy_plain_net() -> Circuit:
    """Background input on plain LIF only: the lean-w loop with w (and everything else) absent."""
    c = Circuit("noisy_plain")
    c.add_population("uni", 16, LIF(bias=10.0), v_init=(-65.0, -55.0),
                     background=Background(noise="uniform", low=-5.0, high=12.0))
    c.add_population("gau", 16, LIF(bias=12.0), background=Background(noise="gaussian", mean=2.0, std=6.0))
    c.add_population("poi", 12, LIF(bias=5.0), background=Background(rate=60.0, weight=8.0))
    c.connect("uni", "gau", FixedProbability(0.3), weight=Uniform(1.0, 3.0), delay=(1, 3))
    c.connect("gau", "poi", FixedProbability(0.3), weight=-2.0, delay=1)
    return c


NETS = [lif_net, gap_net, homeo_net, mixed_net, noisy_plain_net, background_net, static_net, reward_net, stdp_net]


def run(w: World, frames: int = 6, steps: int = 25) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for f in range(frames):
        w.layout.sensor_values[:] = np.float32(0.3 + 0.1 * (f % 4))
        r = w.step(steps)
        out.append((r.steps.copy(), r.neurons.copy()))
        w.reward(0.5)
    return out


def world(net: Circuit, backend: str, store_all: bool, monkeypatch: pytest.MonkeyPatch | None = None) -> World:
    if store_all:  # every population keeps every array, as every layout stored them before the elision
        assert monkeypatch is not None
        rules = layout_mod.kept_state_by_population
        monkeypatch.setattr(layout_mod, "kept_state_by_population",
                            lambda proto: [k | frozenset(STATE_KEPT_WHEN) for k in rules(proto)])
    try:
        w = World(backend=backend, seed=7)
        w.spawn(net, count=3)
    finally:
        if monkeypatch is not None:
            monkeypatch.undo()
    return w


@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("make", NETS, ids=lambda f: f.__name__)
def test_absent_state_changes_nothing(make: object, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    net = make()  # type: ignore[operator]
    lean, full = world(net, backend, False), world(make(), backend, True, monkeypatch)  # type: ignore[operator]
    assert set(full.layout.neuron) == set(NEURON_STATE)
    for k in PER_POPULATION_STATE:  # the full world stores these for every neuron
        assert full.layout.neuron[k].shape == (full.layout.n_neurons,)
    a, b = run(lean), run(full)
    for (s1, n1), (s2, n2) in zip(a, b, strict=True):
        assert np.array_equal(s1, s2) and np.array_equal(n1, n2)
    assert sum(n.size for _, n in a) > 0
    lean.backend.pull_state()
    full.backend.pull_state()
    L = lean.layout
    for k in NEURON_STATE:
        got = full.layout.neuron[k]
        if k in L.neuron:  # kept: the same values; stored beyond the kept neurons: +0
            kept = L.kept_mask(k)
            assert np.array_equal(L.neuron[k].view(np.uint8), got[kept].view(np.uint8)), k
            assert not np.any(got[~kept].view(np.uint8)), k
        else:  # what the full world stores beyond the kept arrays never moves off +0
            assert not np.any(got.view(np.uint8)), k
    assert np.array_equal(lean.layout.synapse["w"], full.layout.synapse["w"])


@pytest.mark.gpu
@pytest.mark.parametrize("make", NETS, ids=lambda f: f.__name__)
def test_gpu_with_absent_state_matches_numpy(make: object) -> None:
    """The GPU keeps its own device copy of an array the layout does not store (+0, which no
    population of the world moves): spikes and every stored array as numpy's."""
    from tests.engine.test_gpu_common import require_lavapipe

    require_lavapipe()
    ref, gpu = world(make(), "numpy", False), world(make(), "gpu", False)  # type: ignore[operator]
    assert set(ref.layout.neuron) == set(gpu.layout.neuron) < set(NEURON_STATE)
    for (s1, n1), (s2, n2) in zip(run(ref, 4, 20), run(gpu, 4, 20), strict=True):
        assert np.array_equal(s1, s2) and np.array_equal(n1, n2)
    gpu.backend.pull_state()
    for k, arr in ref.layout.neuron.items():
        assert np.array_equal(arr.view(np.uint8), gpu.layout.neuron[k].view(np.uint8)), k


def test_plain_world_stores_25_bytes_per_neuron() -> None:
    w = World(backend="numpy", seed=1)
    w.spawn(lif_net(), count=2)
    L = w.layout
    assert set(L.neuron) == set(NEURON_STATE) - STORED_WHEN_KEPT
    assert sum(a.nbytes for a in L.neuron.values()) / L.n_neurons == 25  # v ie ii iext pforce hold + force_once


@pytest.mark.gpu
def test_gpu_device_holds_the_stored_planes_and_one_shared_zero_plane() -> None:
    """The device's state arrays hold one plane per variable the layout stores plus one +0 plane
    shared by every variable no population keeps (they stay +0): a plain world's float array has 6
    planes of 11 (v ie ii iext pforce, +0), its int array 3 of 5 (hold force_once, +0); a world
    storing every float variable has no shared plane. Spikes and state as numpy's (the absent-state
    tests above run every circuit on it)."""
    from tests.engine.test_gpu_common import require_lavapipe

    from spikeforge.engine.wgpu_backend import FSTATE, ISTATE, state_planes

    require_lavapipe()
    w = World(backend="gpu", seed=1)
    w.spawn(lif_net(), count=2)
    n = w.layout.n_neurons
    assert sum(b.size for b in w.backend._bufs["fstate"]) == 6 * 4 * n  # type: ignore[attr-defined]
    assert sum(b.size for b in w.backend._bufs["istate"]) == 3 * 4 * n  # type: ignore[attr-defined]
    plane, count = state_planes(FSTATE, w.layout.neuron)
    assert count == 6 and {plane[k] for k in ("w", "theta", "mod", "xpre", "xpost", "msum")} == {5}
    assert state_planes(FSTATE, dict.fromkeys(FSTATE)) == ({k: i for i, k in enumerate(FSTATE)}, len(FSTATE))
    assert state_planes(ISTATE, w.layout.neuron)[1] == 3


def test_each_population_keeps_what_its_rules_say() -> None:
    w = World(backend="numpy", seed=1)
    w.spawn(mixed_net())
    proto = w.layout.prototypes[0]
    extra = {name: set(proto.population_state(name)) & set(STATE_KEPT_WHEN) for name in proto.pop_names}
    learn = {"xpre", "xpost", "msum"}
    assert extra == {"inp": learn, "plain": learn, "habit": {"theta"} | learn, "bursty": {"burst"} | learn,
                     "modded": {"mod"} | learn, "limited": {"consec", "mod"} | learn, "adapt": {"w"} | learn,
                     "qif": learn, "izh": {"w"} | learn}
    assert STORED_WHEN_KEPT <= set(w.layout.neuron) | {"shist"}


def test_view_of_a_variable_the_population_does_not_keep_names_the_rule() -> None:
    w = World(backend="numpy", seed=1)
    b = w.spawn(mixed_net())[0]
    assert b["adapt"].w.shape == (12,)
    with pytest.raises(KeyError, match=r"does not keep 'w'.*its model reads it"):
        _ = b["plain"].w
    with pytest.raises(KeyError, match=r"does not keep 'theta'.*habituates"):
        _ = b["modded"].theta
    with pytest.raises(KeyError, match=r"does not keep 'mod'.*modulatory projection"):
        _ = b["habit"].mod


def test_brain_file_rejects_nonzero_state_a_population_does_not_keep() -> None:
    from spikeforge.runtime.brain_asset import BrainAssetError, brain_bytes, read_brain, spawn_read

    w = World(backend="numpy", seed=1)
    b = w.spawn(mixed_net())[0]
    w.step(20)
    manifest, arrays = read_brain(brain_bytes(b))
    w2 = World(backend="numpy", seed=1)
    twin = spawn_read(w2, manifest, dict(arrays))
    assert np.array_equal(twin["habit"].theta, b["habit"].theta)
    for key, where in (("neuron.theta", "plain"), ("neuron.w", "qif"), ("neuron.burst", "limited")):
        bad = {k: a.copy() for k, a in arrays.items()}
        proto = w.layout.prototypes[0]
        bad[key][proto.pop_slice(where).start] = 1
        with pytest.raises(BrainAssetError, match=rf"{key}: nonzero in population '{where}', which does not keep"):
            spawn_read(w2, manifest, bad)
    assert len(w2.brains) == 1


def test_a_layout_missing_learning_state_it_needs_is_refused_by_name() -> None:
    from spikeforge.engine.plasticity import build_cache

    w = World(backend="numpy", seed=1)
    w.spawn(stdp_net())  # depresses at delivery: keeps shist
    L = w.layout
    build_cache(L)
    for k in ("shist", "xpre"):
        saved = L.neuron.pop(k)
        with pytest.raises(ValueError, match=rf"layout.neuron: {k} missing in a layout that learns"):
            build_cache(L)
        L.neuron[k] = saved


def load(rec: dict[str, np.ndarray]) -> tuple[int, object]:
    """Load brain-file records through the C API: (return code, the sf_world pointer)."""
    import io

    from spikeforge.engine._native_ext import ffi, lib

    from spikeforge.runtime.export import write_records

    buf = io.BytesIO()
    write_records(buf, rec)
    data = buf.getvalue()
    out = ffi.new("sf_world **")
    return lib.sf_world_load_memory(data, len(data), out), out[0]


def test_c_api_runs_absent_state_and_refuses_an_array_some_population_keeps() -> None:
    """A brain file holds the arrays its layout stores and, per optional variable, which parameter
    set keeps it (kept.<name>): the C API runs a file without w theta mod consec burst bit for bit
    as the SDK, reports a state it does not hold by name, and refuses a file missing an array some
    parameter set keeps, or missing it without saying so."""
    from spikeforge.engine._native_ext import ffi, lib

    from spikeforge.runtime.export import layout_records

    w = World(backend="numpy", seed=11)
    w.spawn(gap_net(), count=2)  # gap junctions: the C loops read stand-ins for all five
    rec = layout_records(w.layout)
    assert not {"w", "theta", "mod", "consec", "burst"} & set(rec)
    rc, cw = load(rec)
    assert rc == 0, ffi.string(lib.sf_last_error())
    try:
        assert lib.sf_world_run(cw, 30) == 0
        w.step(30)
        cnt = ffi.new("int64_t *")
        v = lib.sf_world_state_f32(cw, b"v", cnt)
        assert np.array_equal(np.frombuffer(ffi.buffer(v, 4 * cnt[0]), np.float32).view(np.uint32),
                              w.layout.neuron["v"].view(np.uint32))
        assert lib.sf_world_state_f32(cw, b"theta", cnt) == ffi.NULL
        assert b"'theta' is not stored" in ffi.string(lib.sf_last_error())
        assert lib.sf_world_state_i32(cw, b"consec", cnt) == ffi.NULL
    finally:
        lib.sf_world_destroy(cw)
    w2 = World(backend="numpy", seed=11)
    w2.spawn(static_net())  # keeps w and consec
    rec = layout_records(w2.layout)
    for name, why in (("w", "but parameter set"), ("consec", "but parameter set")):
        bad = {k: a for k, a in rec.items() if k != name}
        rc, _ = load(bad)
        assert rc != 0 and f"missing record '{name}', {why}".encode() in ffi.string(lib.sf_last_error())
    bad = {k: a for k, a in rec.items() if k not in ("theta", "kept.theta")}
    rc, _ = load(bad)
    assert rc != 0 and b"no 'kept.theta' saying" in ffi.string(lib.sf_last_error())


def growing(backend: str, tmp: object) -> tuple[list[tuple[np.ndarray, np.ndarray]], World]:
    """Plain brains (nothing optional stored), a free slot, then brains that keep every optional
    array spawned beside them (re-laid out: the arrays appear, +0 for the plain brains), a plain
    brain into the free slot, a save and a load."""
    from pathlib import Path

    w = World(backend=backend, seed=5)
    ps = w.spawn(lif_net(), count=4)
    rec = run(w, 2)
    w.despawn(ps[1])
    assert not STORED_WHEN_KEPT & set(w.layout.neuron)
    rebuilds = w.rebuilds
    w.spawn(mixed_net(), count=2)
    assert w.rebuilds > rebuilds
    assert {"w", "theta", "mod", "consec", "burst"} <= set(w.layout.neuron)
    rec += run(w, 2)
    w.spawn(lif_net())
    rec += run(w, 2)
    path = Path(str(tmp)) / "grown.sfs"
    w.save(path)
    w = World.load(path, backend=backend)
    rec += run(w, 2)
    return rec, w


@pytest.mark.parametrize("backend", [*CPU[1:], pytest.param("gpu", marks=pytest.mark.gpu)])
def test_arrays_appear_when_a_keeping_circuit_is_spawned(backend: str, tmp_path: object) -> None:
    from pathlib import Path

    if backend == "gpu":
        from tests.engine.test_gpu_common import require_lavapipe

        require_lavapipe()
    (Path(str(tmp_path)) / "a").mkdir()
    (Path(str(tmp_path)) / "b").mkdir()
    ref, wr = growing("numpy", Path(str(tmp_path)) / "a")
    got, wg = growing(backend, Path(str(tmp_path)) / "b")
    for (s1, n1), (s2, n2) in zip(ref, got, strict=True):
        assert np.array_equal(s1, s2) and np.array_equal(n1, n2)
    wr.backend.pull_state()
    wg.backend.pull_state()
    assert wr.layout.neuron.keys() == wg.layout.neuron.keys()
    for k, a in wr.layout.neuron.items():
        assert np.array_equal(a.view(np.uint8), wg.layout.neuron[k].view(np.uint8)), k


def test_c_api_gives_per_population_arrays_and_where_a_neuron_is() -> None:
    """A brain file of a world whose populations keep w and consec in part holds only their neurons
    (the compact arrays of the layout): the C API runs it bit for bit as the SDK, gives each such
    array with the count of the neurons that keep it, and says where a neuron's element is (or that
    its population does not keep it); a file whose array is one entry too long is refused by name."""
    from spikeforge.engine._native_ext import ffi, lib

    from spikeforge.runtime.export import layout_records

    w = World(backend="numpy", seed=3)
    w.spawn(static_net(), count=2)
    L = w.layout
    assert 0 < L.neuron["w"].size < L.n_neurons and 0 < L.neuron["consec"].size < L.n_neurons
    rc, cw = load(layout_records(L))
    assert rc == 0, ffi.string(lib.sf_last_error())
    try:
        assert lib.sf_world_run(cw, 40) == 0
        w.step(40)
        cnt = ffi.new("int64_t *")
        for name, get, dt in (("w", lib.sf_world_state_f32, np.float32), ("consec", lib.sf_world_state_i32, np.int32),
                              ("v", lib.sf_world_state_f32, np.float32)):
            p = get(cw, name.encode(), cnt)
            assert cnt[0] == L.neuron[name].size, name
            got = np.frombuffer(ffi.buffer(p, 4 * cnt[0]), dt)
            assert np.array_equal(got.view(np.uint32), L.neuron[name].view(np.uint32)), name
        kept = L.kept_neurons("w")
        for i in (int(kept[0]), int(kept[-1]), int(kept[kept.size // 2])):
            assert lib.sf_world_state_index(cw, b"w", i) == L.kept_pos("w", i)
        plain = int(np.flatnonzero(~L.kept_mask("w"))[0])
        assert lib.sf_world_state_index(cw, b"w", plain) < 0
        assert b"does not keep 'w'" in ffi.string(lib.sf_last_error())
        assert lib.sf_world_state_index(cw, b"v", plain) == plain
    finally:
        lib.sf_world_destroy(cw)
    bad = layout_records(L)
    bad["w"] = np.append(bad["w"], np.float32(0))
    rc, _ = load(bad)
    assert rc != 0 and b"'w'" in ffi.string(lib.sf_last_error())


def test_a_mixed_world_stores_w_only_for_the_populations_that_keep_it() -> None:
    """A crowd of plain LIF brains beside brains with Izhikevich and adaptive populations: w is
    stored for those populations' neurons only (per population, not per world), and a brain's view
    reads and writes its own run of the array."""
    from spikeforge.bench.crowd import npc_circuit

    w = World(backend="native", seed=2)
    crowd = w.spawn(npc_circuit(), count=20)
    bosses = w.spawn(static_net(), count=2)
    L = w.layout
    boss = L.prototypes[int(L.brain_proto[bosses[0].index])]
    keeping = [n for n in boss.pop_names if "w" in boss.population_state(n)]
    assert sorted(keeping) == ["adapt", "fs", "izh"]
    assert L.neuron["w"].size == sum(bosses[0][n].size for n in keeping) * len(bosses)
    w.step(30)
    for b in bosses:
        for name in keeping:
            assert np.asarray(b[name].w).shape == (b[name].size,)
    before = np.array(bosses[1]["izh"].w)
    bosses[0]["izh"].w[:] = np.float32(-3.0)  # a write reaches that population's run only
    assert np.all(np.asarray(bosses[0]["izh"].w) == np.float32(-3.0))
    assert np.array_equal(np.asarray(bosses[1]["izh"].w), before)
    s0 = int(L.brain_start[bosses[0].index])
    sl = boss.pop_slice("izh")
    assert np.array_equal(L.neuron["w"][L.state_slice("w", s0 + sl.start, s0 + sl.stop)], np.full(16, -3.0, np.float32))
    with pytest.raises(KeyError, match="does not keep 'w'"):
        _ = crowd[0][L.prototypes[0].pop_names[0]].w


def test_learning_state_rule_is_the_learning_cache_condition() -> None:
    """``PrototypeInfo.learns`` / ``delivers`` (which decide whether a layout stores the learning
    state) agree with ``plasticity.build_cache`` (which needs it) for every test circuit and for
    circuits whose only rule is Homeostasis, with an eta that is 0 in float32 and one that is not: a
    rule added to one and not the other fails here."""
    from tests.engine.native_nets import all_nets

    from spikeforge.engine.plasticity import build_cache

    def homeo_only(eta: float) -> Circuit:
        c = Circuit(f"homeo_{eta}")
        c.add_population("a", 8, LIF(bias=14.0))
        c.add_population("b", 8, LIF(bias=14.0))
        c.connect("a", "b", FixedProbability(0.5), weight=1.0, plasticity=Homeostasis(target_rate=5.0, eta=eta))
        return c

    nets = [*all_nets(), stdp_net(), homeo_net(), mixed_net(), gap_net(), homeo_only(0.3), homeo_only(1e-50)]
    seen = set()
    for net in nets:
        w = World(backend="numpy", seed=1)
        w.spawn(net)
        proto = w.layout.prototypes[0]
        pc = build_cache(w.layout)
        assert (pc is not None) == proto.learns(), net.name
        assert (pc is not None and pc.any_delivery) == proto.delivers(), net.name
        seen.add((proto.learns(), proto.delivers()))
    assert seen == {(False, False), (True, False), (True, True)}


def test_a_snapshot_holding_every_neuron_of_a_per_population_array_loads() -> None:
    """Snapshots from before per-population storage hold w theta mod consec burst (and, before
    per-brain learning state, xpre xpost msum shist) for every neuron: loading one keeps the values
    of the neurons that keep them (the layout's compact arrays)."""
    from spikeforge.runtime.snapshot import build_layout, layout_arrays

    w = World(backend="numpy", seed=4)
    w.spawn(lif_net(), count=2)
    w.spawn(mixed_net(), count=2)
    w.spawn(stdp_net())  # depresses at delivery: shist is stored, for its neurons only
    w.step(30)
    L = w.layout
    arrays = {k: a.copy() for k, a in layout_arrays(L).items()}
    for k in PER_POPULATION_STATE:  # as an older snapshot stored them
        arrays[f"neuron.{k}"] = L.full_state(k)
    got = build_layout(L.dt_ms, L.depth, L.prototypes, arrays)
    for k in PER_POPULATION_STATE:
        assert got.neuron[k].shape == L.neuron[k].shape and 0 < L.neuron[k].size < L.n_neurons, k
        assert np.array_equal(got.neuron[k].view(np.uint8), L.neuron[k].view(np.uint8)), k
    arrays["neuron.w"] = arrays["neuron.w"][:-1]  # neither every neuron nor the kept ones: refused by name
    with pytest.raises(ValueError, match=r"neuron\.w: expected \d+ values \(the neurons of the populations"):
        build_layout(L.dt_ms, L.depth, L.prototypes, arrays)


def mixed_learning_world(backend: str) -> tuple[World, list[list[object]]]:
    """Frozen brains (plain LIF, every model) between learning ones (pair STDP depressing at emission
    and delivery, reward-STDP): the learning state is kept by some brains, in runs between others."""
    w = World(backend=backend, seed=11)
    groups = [w.spawn(lif_net(), count=2), w.spawn(stdp_net(), count=2), w.spawn(static_net()),
              w.spawn(reward_net(), count=2)]
    return w, groups  # type: ignore[return-value]


@pytest.mark.parametrize("backend", ["native", pytest.param("gpu", marks=pytest.mark.gpu)])
def test_learning_state_is_stored_for_learning_brains_only(backend: str) -> None:
    """xpre xpost msum hold only the neurons of brains whose circuit learns, shist only those of brains
    that depress at delivery; the kernels read each brain's run through its shift (C: sf_lstate), so
    spikes, weights, eligibilities and every state array match numpy's bit for bit, before and after
    a re-layout moves the runs (despawn a learner, spawn a frozen brain and a learner)."""
    if backend == "gpu":
        from tests.engine.test_gpu_common import require_lavapipe

        require_lavapipe()
    (ref, _), (w, groups) = mixed_learning_world("numpy"), mixed_learning_world(backend)
    L = w.layout
    sizes = np.diff(L.brain_start)
    learns = np.array([L.prototypes[int(p)].learns() for p in L.brain_proto])
    delivers = np.array([L.prototypes[int(p)].delivers() for p in L.brain_proto])
    assert learns.sum() == 4 and delivers.sum() == 2
    for k in ("xpre", "xpost", "msum"):
        assert L.neuron[k].size == int(sizes[learns].sum()) < L.n_neurons, k
    assert L.neuron["shist"].size == int(sizes[delivers].sum())
    with pytest.raises(KeyError, match="does not keep 'xpre'"):
        _ = groups[0][0][L.prototypes[0].pop_names[0]].state("xpre")  # type: ignore[index]
    learner = groups[1][0]
    assert np.asarray(learner["exc"].state("xpre")).shape == (24,)  # type: ignore[index]

    def same(frames: int) -> None:
        for (s1, n1), (s2, n2) in zip(run(ref, frames, 20), run(w, frames, 20), strict=True):
            assert np.array_equal(s1, s2) and np.array_equal(n1, n2)
        w.backend.pull_state()
        ref.backend.pull_state()
        for k, arr in ref.layout.neuron.items():
            assert np.array_equal(arr.view(np.uint8), w.layout.neuron[k].view(np.uint8)), k
        for k, arr in ref.layout.synapse.items():
            assert np.array_equal(arr.view(np.uint8), w.layout.synapse[k].view(np.uint8)), k

    same(4)
    assert np.any(w.layout.neuron["xpre"] != 0) and np.any(w.layout.neuron["shist"] != 0)
    for world in (ref, w):
        world.despawn(world.brains[2])  # the first STDP learner
        world.spawn(lif_net())
        world.spawn(stdp_net())
    assert w.layout.neuron["shist"].size == int(np.diff(w.layout.brain_start)[
        [w.layout.prototypes[int(p)].delivers() for p in w.layout.brain_proto]].sum())
    same(3)


def test_a_brain_keeping_learning_state_in_some_populations_only_is_refused() -> None:
    """The C plasticity phases find a brain's learning state by one shift per brain (and both ends of
    a plastic synapse must keep it): a brain file whose kept.xpre leaves a learning population out is
    refused by the C API naming pid_keeps, not misread."""
    from spikeforge.engine._native_ext import ffi, lib

    from spikeforge.runtime.export import layout_records

    w = World(backend="numpy", seed=3)
    w.spawn(lif_net())
    w.spawn(stdp_net())
    L = w.layout
    rec = layout_records(L)
    assert rec["xpre"].size == int(L.brain_start[2] - L.brain_start[1]) and rec["kept.xpre"].sum() == 4
    rc, cw = load(rec)
    assert rc == 0, ffi.string(lib.sf_last_error())
    lib.sf_world_destroy(cw)
    bad = dict(rec)
    first = int(L.pid[int(L.brain_start[1])])  # the STDP brain's first population ("exc": plastic)
    bad["kept.xpre"] = rec["kept.xpre"].copy()
    bad["kept.xpre"][first] = 0
    bad["xpre"] = rec["xpre"][24:]
    rc, _ = load(bad)
    assert rc != 0 and b"pid_keeps" in ffi.string(lib.sf_last_error()), ffi.string(lib.sf_last_error())


def test_learning_state_kept_in_part_of_a_brain_or_plastic_synapses_leaving_it_are_invalid() -> None:
    """What the one shift per brain relies on is checked when a brain file is validated (an invalid
    file, SF_ERR_INVALID, naming the field), before any engine is prepared: a learning brain whose
    population without plastic synapses drops the learning state, and a plastic synapse whose pre
    neuron is in another brain."""
    from spikeforge.engine._native_ext import ffi, lib

    from spikeforge.runtime.export import layout_records

    learner = stdp_net()
    learner.add_population("idle", 4, LIF(bias=0.0))  # no synapse: an end of no plastic pair
    w = World(backend="numpy", seed=3)
    w.spawn(stdp_net())
    w.spawn(learner)
    L = w.layout
    rec = layout_records(L)
    rc, cw = load(rec)
    assert rc == 0, ffi.string(lib.sf_last_error())
    lib.sf_world_destroy(cw)
    idle = int(L.pid[-1])  # the idle population's parameter set: the world's last neurons
    part = dict(rec)
    for name in ("xpre", "xpost", "msum"):
        part[f"kept.{name}"] = rec[f"kept.{name}"].copy()
        part[f"kept.{name}"][idle] = 0
        part[name] = rec[name][:-4]
    rc, _ = load(part)
    err = ffi.string(lib.sf_last_error())
    assert rc == lib.SF_ERR_INVALID and b"pid_keeps: brain 1 keeps the learning state" in err, (rc, err)
    leaving = dict(rec)
    start = int(L.brain_start[1])
    x = int(rec["in_ptr"][start])  # the second brain's first plastic input
    leaving["in_pre"] = rec["in_pre"].copy()
    leaving["in_pre"][x] = 0  # a neuron of the first brain
    rc, _ = load(leaving)
    err = ffi.string(lib.sf_last_error())
    assert rc == lib.SF_ERR_INVALID and b"stay inside one brain" in err and b"plast.in_pre" in err, (rc, err)
