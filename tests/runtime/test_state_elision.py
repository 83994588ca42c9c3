"""Per-population state (issue 14, item 3): a layout stores the learning state (xpre, xpost, msum,
shist) only when some circuit of the world learns (layout.STATE_KEPT_WHEN / stored_state), and
every backend, the slot paths, snapshots, brain files and PopulationView cope with its absence."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import spikeforge.engine.native_backend as native
from spikeforge.bench.crowd import npc_circuit
from spikeforge.engine.layout import NEURON_STATE, STORED_WHEN_KEPT, stored_state
from spikeforge.engine.slots import write_slot
from spikeforge.engine.wgpu_backend import gpu_unavailable
from spikeforge.model import Circuit
from spikeforge.model.plasticity import STDP, Homeostasis
from spikeforge.runtime.export import layout_records, write_records
from spikeforge.runtime.snapshot import read_snapshot, write_archive
from spikeforge.runtime.world import World

PLAST = ("xpre", "xpost", "msum", "shist")
LEARN = ("xpre", "xpost", "msum")  # shist: only where a projection depresses at delivery
BACKENDS = (["numpy"] + (["native"] if native.unavailable() is None else [])
            + (["gpu"] if gpu_unavailable() is None else []))


def plain() -> Circuit:
    return npc_circuit()


def plastic() -> Circuit:
    c = npc_circuit(plasticity=STDP())
    c.name = "npc256_stdp"
    return c


def run(w: World, frames: int = 4, steps: int = 10) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for _ in range(frames):
        w.layout.sensor_values[:] = np.float32(0.6)
        r = w.step(steps)
        out.append((r.steps.copy(), r.neurons.copy()))
    return out


def same(a: list[tuple[np.ndarray, np.ndarray]], b: list[tuple[np.ndarray, np.ndarray]]) -> None:
    assert len(a) == len(b)
    for (s1, n1), (s2, n2) in zip(a, b, strict=True):
        assert np.array_equal(s1, s2) and np.array_equal(n1, n2)


def state_of(w: World) -> dict[str, np.ndarray]:
    w.backend.pull_state()
    return {k: a.copy() for k, a in w.layout.neuron.items()}


def test_plain_world_stores_no_learning_state() -> None:
    w = World(backend="numpy", seed=1)
    w.spawn(plain(), count=3)
    L = w.layout
    assert not set(PLAST) & set(L.neuron)
    assert set(L.neuron) == set(NEURON_STATE) - STORED_WHEN_KEPT  # the rest: tests/engine/test_kept_state.py
    per = sum(a.nbytes for a in L.neuron.values()) / L.n_neurons
    assert per == 61 - 36  # 9 arrays of 4 bytes fewer
    assert not set(PLAST) & set(L.prototypes[0].population_state("hid"))
    assert not set(stored_state(L.prototypes)) & set(PLAST)
    run(w, 2)


def test_homeostasis_only_world_stores_it_and_a_float32_zero_eta_does_not() -> None:
    for eta, stored in ((0.01, True), (1e-50, False)):  # 1e-50 is 0 as float32: nothing learns
        c = npc_circuit(plasticity=Homeostasis(eta=eta, target_rate=5.0))
        w = World(backend="numpy", seed=1)
        w.spawn(c)
        assert (set(LEARN) <= set(w.layout.neuron)) is stored and "shist" not in w.layout.neuron
        run(w, 1)


def test_mixed_world_keeps_learning_state_for_learners_only() -> None:
    w = World(backend="numpy", seed=2)
    a = w.spawn(plain(), count=2)
    b = w.spawn(plastic(), count=1)
    assert set(PLAST) & set(w.layout.neuron) == set(LEARN)
    L = w.layout
    learner = int(L.brain_start[b[0].index + 1] - L.brain_start[b[0].index])
    assert learner < L.n_neurons // 2
    for k in LEARN:  # per population: the learning brain's neurons only
        assert L.neuron[k].size == learner, k
    run(w, 1)
    assert b[0]["hid"].state("xpre").size == 160
    with pytest.raises(KeyError, match=r"'hid' of circuit 'npc256' does not keep 'xpre'.*circuit learns.*it keeps"):
        a[0]["hid"].state("xpre")


def test_population_view_names_what_it_keeps() -> None:
    w = World(backend="numpy", seed=3)
    br = w.spawn(plain())[0]
    for k in PLAST:
        with pytest.raises(KeyError, match=rf"does not keep '{k}'.*it keeps \['v', 'ie'"):
            br["out"].state(k)
    with pytest.raises(KeyError, match="no per-neuron state 'nope'"):
        br["out"].state("nope")
    assert br["out"].v.size == 32


def scenario(backend: str, tmp: Path | None = None) -> tuple[list[tuple[np.ndarray, np.ndarray]], World]:
    """Plain brains, free slots, then plastic brains spawned into the plain world (and back)."""
    w = World(backend=backend, seed=5)
    ps = w.spawn(plain(), count=4)
    rec = run(w, 2)
    w.despawn(ps[1])  # a free slot of the plain prototype
    assert not set(PLAST) & set(w.layout.neuron)
    rebuilds = w.rebuilds
    w.spawn(plastic(), count=2)  # the layout must grow the learning state: re-laid out
    assert w.rebuilds > rebuilds
    assert set(PLAST) & set(w.layout.neuron) == set(LEARN)
    rec += run(w, 2)
    w.spawn(plain())  # into the free slot, in place: the arrays are stored for it too
    rec += run(w, 2)
    if tmp is not None:
        w.save(tmp / "mixed.sfs")
        w = World.load(tmp / "mixed.sfs", backend=backend)
        rec += run(w, 2)
    return rec, w


@pytest.mark.parametrize("backend", BACKENDS)
def test_plastic_spawn_into_plain_world_matches_numpy(backend: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ref, wr = scenario("numpy", tmp_path / "a")
    got, wg = scenario(backend, tmp_path / "b")
    same(ref, got)
    sr, sg = state_of(wr), state_of(wg)
    assert sr.keys() == sg.keys()
    for k in sr:
        assert np.array_equal(sr[k].view(np.uint8), sg[k].view(np.uint8)), k


@pytest.mark.parametrize("backend", BACKENDS)
def test_snapshot_round_trip_with_absent_arrays(backend: str, tmp_path: Path) -> None:
    w = World(backend=backend, seed=7)
    w.spawn(plain(), count=3)
    run(w, 2)
    w.save(tmp_path / "plain.sfs")
    _, arrays = read_snapshot(tmp_path / "plain.sfs")
    assert not {f"neuron.{k}" for k in PLAST} & set(arrays)
    ref = run(w, 3)
    w2 = World.load(tmp_path / "plain.sfs", backend=backend)
    assert not set(PLAST) & set(w2.layout.neuron)
    same(ref, run(w2, 3))
    assert all(np.array_equal(a, b) for a, b in zip(state_of(w).values(), state_of(w2).values(), strict=True))


def test_older_snapshot_with_every_array_loads(tmp_path: Path) -> None:
    w = World(backend="numpy", seed=8)
    w.spawn(plain(), count=2)
    run(w, 2)
    w.save(tmp_path / "new.sfs")
    ref = run(w, 2)
    manifest, arrays = read_snapshot(tmp_path / "new.sfs")
    manifest.pop("arrays")
    n = w.layout.n_neurons
    for k in PLAST:  # as written before the arrays were elided: every one, all at 0
        arrays[f"neuron.{k}"] = np.zeros(n, NEURON_STATE[k])
    write_archive(tmp_path / "old.sfs", manifest, arrays)
    w2 = World.load(tmp_path / "old.sfs", backend="numpy")
    assert not set(PLAST) & set(w2.layout.neuron)  # inert: dropped
    same(ref, run(w2, 2))
    arrays["neuron.xpre"] = np.ones(n, np.float32)  # not all inert: kept present, still no effect
    del arrays["neuron.shist"]  # from before the spike history
    write_archive(tmp_path / "old2.sfs", manifest, arrays)
    w3 = World.load(tmp_path / "old2.sfs", backend="numpy")
    assert set(w3.layout.neuron) & set(PLAST) == {"xpre"}
    same(ref, run(w3, 2))


def test_write_slot_refuses_a_brain_whose_state_is_not_stored() -> None:
    w = World(backend="numpy", seed=9)
    br = w.spawn(plastic(), count=2)
    L = w.layout
    i = br[1].index
    blk = L.extract(i)
    w.despawn(br[1])
    del L.neuron["xpre"]
    with pytest.raises(ValueError, match=r"does not store \['xpre'\]"):
        write_slot(L, i, blk, w._pad)
    assert L.missing_state(L.prototypes[blk.proto]) == ["xpre"]


def test_blocks_and_brain_files_stay_complete() -> None:
    w = World(backend="numpy", seed=10)
    br = w.spawn(plain(), count=2)
    blk = w.layout.extract(br[0].index)
    assert set(blk.neuron) == set(NEURON_STATE)
    assert all(not np.any(blk.neuron[k]) for k in PLAST)
    rec = layout_records(w.layout)
    assert not set(PLAST) & set(rec) and "plast_flags" not in rec
    buf = io.BytesIO()
    write_records(buf, rec)
    assert buf.getvalue()


@pytest.mark.skipif(native.unavailable() is not None, reason="native backend not built")
def test_c_api_runs_a_brain_file_without_learning_state() -> None:
    from spikeforge.engine._native_ext import ffi, lib

    w = World(backend="numpy", seed=11)
    w.spawn(plain(), count=2)
    buf = io.BytesIO()
    write_records(buf, layout_records(w.layout))
    data = buf.getvalue()
    out = ffi.new("sf_world **")
    assert lib.sf_world_load_memory(data, len(data), out) == 0, ffi.string(lib.sf_last_error())
    cw = out[0]
    try:
        n = ffi.new("int64_t *")
        s = lib.sf_world_sensors(cw, n)
        for i in range(n[0]):
            s[i] = 0.6
        w.layout.sensor_values[:] = np.float32(0.6)
        assert lib.sf_world_run(cw, 20) == 0
        w.step(20)
        cnt = ffi.new("int64_t *")
        v = lib.sf_world_state_f32(cw, b"v", cnt)
        got = np.frombuffer(ffi.buffer(v, 4 * cnt[0]), np.float32)
        assert np.array_equal(got.view(np.uint32), w.layout.neuron["v"].view(np.uint32))
    finally:
        lib.sf_world_destroy(cw)


def test_stored_when_kept_is_every_variable_with_a_rule() -> None:
    from spikeforge.engine.tables import NEURON_VARS

    assert frozenset(s.name for s in NEURON_VARS if s.c_struct == "plast") <= STORED_WHEN_KEPT
    assert STORED_WHEN_KEPT == frozenset(s.name for s in NEURON_VARS if s.kept_when)
    assert STORED_WHEN_KEPT == {"w", "theta", "mod", "consec", "burst", "xpre", "xpost", "msum", "shist"}


def delivering() -> Circuit:
    c = npc_circuit(plasticity=STDP(depress_at="delivery"))
    c.name = "npc256_deliver"
    return c


@pytest.mark.parametrize("backend", BACKENDS)
def test_spike_history_only_where_some_projection_depresses_at_delivery(backend: str) -> None:
    def go(b: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], World]:
        w = World(backend=b, seed=12)
        w.spawn(plastic(), count=2)
        assert set(PLAST) & set(w.layout.neuron) == {"xpre", "xpost", "msum"}
        rec = run(w, 2)
        w.spawn(delivering())  # the history appears with the first brain that needs it
        assert set(PLAST) <= set(w.layout.neuron)
        return rec + run(w, 2), w

    (ref, wr), (got, wg) = go("numpy"), go(backend)
    same(ref, got)
    for k, a in state_of(wr).items():
        assert np.array_equal(a.view(np.uint8), state_of(wg)[k].view(np.uint8)), k


def test_view_of_shist_needs_delivery() -> None:
    w = World(backend="numpy", seed=13)
    a = w.spawn(plastic())[0]
    b = w.spawn(delivering())[0]
    assert b["hid"].state("shist").size == 160
    assert a["hid"].state("xpre").size == 160
    with pytest.raises(KeyError, match=r"does not keep 'shist'.*depress_at='delivery'"):
        a["hid"].state("shist")


@pytest.mark.skipif(native.unavailable() is not None, reason="native backend not built")
def test_c_api_learning_file_without_spike_history() -> None:
    from spikeforge.engine._native_ext import ffi, lib

    for circuit, ok in ((plastic, True), (delivering, False)):
        w = World(backend="numpy", seed=14)
        w.spawn(circuit(), count=2)
        rec = layout_records(w.layout)
        assert "plast_flags" in rec
        rec.pop("shist", None)  # absent from the first by the rule; taken out of the second
        buf = io.BytesIO()
        write_records(buf, rec)
        data = buf.getvalue()
        out = ffi.new("sf_world **")
        rc = lib.sf_world_load_memory(data, len(data), out)
        if not ok:
            assert rc != 0 and b"'shist' missing" in ffi.string(lib.sf_last_error())
            continue
        assert rc == 0, ffi.string(lib.sf_last_error())
        try:
            assert lib.sf_world_run(out[0], 30) == 0
            w.step(30)
            cnt = ffi.new("int64_t *")
            v = lib.sf_world_state_f32(out[0], b"v", cnt)
            got = np.frombuffer(ffi.buffer(v, 4 * cnt[0]), np.float32)
            assert np.array_equal(got.view(np.uint32), w.layout.neuron["v"].view(np.uint32))
            wt = lib.sf_world_state_f32(out[0], b"weight", cnt)
            got = np.frombuffer(ffi.buffer(wt, 4 * cnt[0]), np.float32)
            assert np.array_equal(got.view(np.uint32), w.layout.synapse["w"].view(np.uint32))  # it learned alike
        finally:
            lib.sf_world_destroy(out[0])
