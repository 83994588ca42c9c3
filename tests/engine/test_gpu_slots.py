"""Spawn and despawn on the GPU backend write the slot in place (``GpuBackend.write_slots``):
no backend is re-made, and the churn stays bit for bit with numpy (spikes, state, weights),
with and without learning, on the per-brain kernel and with chunked buffers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.engine.test_gpu_common import assert_same, drive, feature_net, host_state, lif_net, require_lavapipe
from tests.engine.test_gpu_learning import learner

from spikeforge import World
from spikeforge.engine.plasticity import build_cache
from spikeforge.model import LIF, Circuit, FixedProbability, Uniform

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def adapter() -> dict[str, Any]:
    return require_lavapipe()


def small_net() -> Circuit:
    """Random wiring (slot headroom is used), a sensor and an actuator; no gap junctions."""
    c = Circuit("small")
    c.add_population("in", 6, LIF(t_ref=2.0), v_init=(-65.0, -55.0))
    c.add_population("hid", 14, LIF(bias=14.0), v_init=(-65.0, -50.0))
    c.connect("in", "hid", FixedProbability(0.4), weight=Uniform(1.0, 3.0), delay=(1, 3))
    c.connect("hid", "hid", FixedProbability(0.2), weight=Uniform(0.2, 1.5), delay=(1, 4))
    c.add_sensor("eyes", "in", channels=3, kind="poisson", max_rate=300.0)
    c.add_actuator("legs", "hid", channels=2, kind="rate")
    return c


def churn(world: World, circuits: list[Circuit], frames: int, steps: int = 4) -> list[tuple[bytes, ...]]:
    """Every frame: despawn one brain of a circuit, spawn one (into the freed slot), step."""
    out = []
    for f in range(frames):
        c = circuits[f % len(circuits)]
        live = world.group(c).brains
        if f % 3 != 2:
            world.despawn(live[(7 * f) % len(live)])
        world.spawn(c, 1 if f % 3 != 1 else 0)
        if f % 4 == 3:  # despawn and spawn in one frame, twice
            world.despawn(world.group(c).brains[0])
            world.spawn(c)
        drive(world, f)
        r = world.step(steps)
        out.append((r.steps.tobytes(), r.neurons.tobytes(), world.layout.act_out.tobytes(),
                    world.layout.act_counts.tobytes(), world.layout.brain_serial.tobytes()))
    return out


def full_state(world: World) -> dict[str, np.ndarray]:
    out = host_state(world)
    L = world.layout
    out.update({f"synapse.{k}": a.copy() for k, a in L.synapse.items()})
    out.update(dopamine=L.dopamine.copy(), dopamine_sum=L.dopamine_sum.copy())
    return out


def gpu_world(make: Any, chunk_bytes: int | None = None, fused: bool | None = None) -> World:
    from spikeforge.engine.wgpu_backend import GpuBackend

    w = make("numpy")
    w.backend.close()
    w.backend = GpuBackend(w.layout, chunk_bytes=chunk_bytes, fused=fused)
    w.backend_name = "gpu"
    return w


def with_free_slots(backend: str, circuits: list[Circuit], count: int = 4, seed: int = 3) -> World:
    """A world whose prototypes have free slots (spawn 2x, despawn half): the churn then
    never rebuilds the layout."""
    w = World(dt=0.001, backend=backend, seed=seed)
    for c in circuits:
        w.spawn(c, 2 * count)
        w.despawn(w.group(c).brains[1::2])
    return w


def check_churn(ref: World, gpu: World, circuits: list[Circuit], frames: int = 12) -> None:
    rebuilds = gpu.stats()["rebuilds"]
    backend = gpu.backend
    a = churn(ref, circuits, frames)
    b = churn(gpu, circuits, frames)
    for f, (x, y) in enumerate(zip(a, b, strict=True)):
        for i, (p, q) in enumerate(zip(x, y, strict=True)):
            assert p == q, f"frame {f}, item {i}"
    assert sum(len(x[1]) for x in a) // 4 > 50  # spikes: busy enough to mean something
    assert gpu.backend is backend and gpu.backend.name == "gpu"
    assert gpu.stats()["backend_rebuilds"] == 0 and gpu.stats()["rebuilds"] == rebuilds
    assert_same(full_state(ref), full_state(gpu))


@pytest.mark.parametrize("fused", [False, True], ids=["per-step", "per-brain-kernel"])
def test_churn_is_bit_exact_without_rebuilds(adapter: dict[str, Any], fused: bool) -> None:
    cs = [small_net(), lif_net()]
    ref = with_free_slots("numpy", cs)
    gpu = gpu_world(lambda b: with_free_slots(b, cs), fused=fused)
    assert gpu.backend.fused == fused
    check_churn(ref, gpu, cs)


@pytest.mark.parametrize("direct", [0, 64], ids=["staged-copies", "queue-writes"])
def test_churn_with_chunked_buffers(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch, direct: int) -> None:
    from spikeforge.engine import wgpu_backend as G

    monkeypatch.setattr(G, "DIRECT_WRITES", direct)
    cs = [small_net(), lif_net()]
    ref = with_free_slots("numpy", cs)
    gpu = gpu_world(lambda b: with_free_slots(b, cs), chunk_bytes=4096)
    bufs = gpu.backend._bufs
    assert min(len(bufs[k]) for k in ("syn", "ring", "fstate")) > 2 and len(bufs["istate"]) > 1
    check_churn(ref, gpu, cs)


@pytest.mark.parametrize("chunk_bytes", [None, 8192])
def test_churn_with_learning(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch, chunk_bytes: int | None) -> None:
    from spikeforge.engine import wgpu_backend as G

    monkeypatch.setattr(G, "DIRECT_WRITES", 0 if chunk_bytes else 64)
    cs = [learner(), small_net()]

    def make(b: str) -> World:
        w = with_free_slots(b, cs, count=3)
        w.brains[0].reward(1.5)
        return w

    ref = make("numpy")
    gpu = gpu_world(make, chunk_bytes)
    assert gpu.backend.plast is not None and gpu.backend.rs_tab.shape[0] > 0
    gpu.backend.pull_state()
    w0 = gpu.layout.synapse["w"].copy()
    check_churn(ref, gpu, cs, frames=14)
    assert int((gpu.layout.synapse["w"] != w0).sum()) > 100  # weights learned through the churn
    assert_cache_equal(gpu.backend.plast, build_cache(gpu.layout))  # spliced = derived from scratch


def assert_cache_equal(a: Any, b: Any) -> None:
    import dataclasses

    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), f.name
        elif f.name != "tables":
            assert x == y, f.name


@pytest.mark.parametrize("fused", ["1", "0"], ids=["per-brain-kernel", "per-step"])
def test_learning_tables_outgrow_their_buffers(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                               fused: str) -> None:
    from spikeforge.engine import plasticity as PL
    from spikeforge.engine import wgpu_backend as G

    monkeypatch.setenv("SPIKEFORGE_GPU_LEARN_FUSED", fused)
    monkeypatch.setattr(G, "_headroom", lambda m: 0)  # no spare entries: any growth re-makes the table
    # no slot padding either (plasticity._pad_slots): a brain's own synapse counts size its segments
    monkeypatch.setattr(PL, "_slot_capacity", lambda L, kinds: (np.zeros(len(L.prototypes), np.int64),) * 2)
    cs = [learner()]
    ref, gpu = with_free_slots("numpy", cs, count=3, seed=4), with_free_slots("gpu", cs, count=3, seed=4)
    rs0, tab0 = gpu.backend.rs_tab.shape[0], gpu.backend.in_tab.size
    assert gpu.backend.fused == (fused == "1")
    check_churn(ref, gpu, cs, frames=14)
    assert gpu.backend.rs_tab.shape[0] > rs0 and gpu.backend.in_tab.size > tab0
    assert_cache_equal(gpu.backend.plast, build_cache(gpu.layout))
    dev = device_learning_tables(gpu.backend)  # rs_ptr (the per-brain kernel's) followed the tables
    assert dev["rs_ptr"].tobytes() == gpu.backend.plast.rs_ptr.astype(np.uint32).tobytes()


def device_learning_tables(backend: Any) -> dict[str, np.ndarray]:
    """The backend's learning index tables as the device holds them."""
    return {k: backend._download(k, np.uint32, getattr(backend, k).size)
            for k in ("in_ptr", "in_tab", "rs_tab", "rs_ptr")}


@pytest.mark.parametrize("chunk_bytes", [None, 8192])
def test_learning_spawns_upload_only_their_slot(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                chunk_bytes: int | None) -> None:
    """A spawn into a learning world writes the slot's segments of the learning index tables in
    place (nothing re-derived for the whole world) and uploads exactly the slot's rows of
    in_ptr, in_tab and rs_tab; the device's tables equal the ones derived from scratch, and
    the churn stays bit for bit with numpy."""
    from spikeforge.engine import wgpu_backend as G

    cs = [learner(), small_net()]

    def make(b: str) -> World:
        w = with_free_slots(b, cs, count=3)
        w.brains[0].reward(1.5)
        return w

    ref = make("numpy")
    gpu = gpu_world(make, chunk_bytes)
    be = gpu.backend
    assert be.plast is not None and be.plast.any_rstdp
    sizes = {k: getattr(be, k).nbytes for k in ("in_ptr", "in_tab", "rs_tab")}
    calls: list[tuple[list[int], dict[str, int]]] = []
    upload, write_slots = be._upload_ranges, be.write_slots

    def counting_upload(pieces: list[tuple[str, int, np.ndarray]]) -> None:
        sent = calls[-1][1]
        for name, _, data in pieces:
            sent[name] = sent.get(name, 0) + np.ascontiguousarray(data).nbytes
        upload(pieces)

    def logged_write_slots(slots: list[int]) -> bool:
        calls.append(([int(i) for i in slots if gpu.layout.brain_serial[int(i)] >= 0], {}))
        return bool(write_slots(slots))

    def no_rederive(*_: Any) -> None:
        raise AssertionError("a learning spawn re-derived the whole tables")

    monkeypatch.setattr(be, "_upload_ranges", counting_upload)
    monkeypatch.setattr(be, "write_slots", logged_write_slots)
    monkeypatch.setattr(be, "_learning_tables", no_rederive)
    monkeypatch.setattr(be, "_rs_table", no_rederive)
    check_churn(ref, gpu, cs, frames=14)
    L, pc = gpu.layout, be.plast
    spawns = [(slots, sent) for slots, sent in calls if slots]
    assert len(spawns) >= 10 and any(sent.get("in_tab") for _, sent in spawns)
    for slots, sent in spawns:  # exactly the slots' rows of each table
        want = {"in_ptr": sum(4 * int(L.brain_start[i + 1] - L.brain_start[i] + 1) for i in slots),
                "in_tab": sum(12 * int(pc.in_ptr[L.brain_start[i + 1]] - pc.in_ptr[L.brain_start[i]])
                              for i in slots),
                "rs_tab": sum(16 * int(pc.rs_ptr[i + 1] - pc.rs_ptr[i]) for i in slots)}
        for k, v in want.items():
            assert sent.get(k, 0) == v, k
            assert v <= sizes[k] // 4, k  # slot-sized: the world holds 6 learner brains
    assert sum(sent.get("in_tab", 0) for _, sent in calls) < sizes["in_tab"] * 3
    assert_cache_equal(pc, build_cache(L))
    fresh = G.GpuBackend.__new__(G.GpuBackend)  # host tables derived from scratch
    fresh.layout = L
    fresh_rs = G.GpuBackend._rs_table(fresh, pc, L.brain_of_neuron(), be.rs_tab.shape[0])
    assert be.in_ptr.tobytes() == pc.in_ptr.astype(np.uint32).tobytes()
    tab = np.stack([pc.in_syn, pc.in_pre, pc.in_proj], axis=1).astype(np.uint32).reshape(-1)
    assert be.in_tab[:tab.size].tobytes() == tab.tobytes()
    assert be.rs_tab.tobytes() == fresh_rs.tobytes()
    assert be.rs_ptr.tobytes() == pc.rs_ptr.astype(np.uint32).tobytes()
    dev = device_learning_tables(be)
    for k in ("in_ptr", "in_tab", "rs_tab", "rs_ptr"):
        assert dev[k].tobytes() == getattr(be, k).tobytes(), k


def test_churn_with_electrical_synapses_still_rebuilds(adapter: dict[str, Any]) -> None:
    """feature_net has gap junctions: its spawns rebuild the layout (not the slot path)."""
    ref, gpu = (World(dt=0.001, backend=b, seed=4) for b in ("numpy", "gpu"))
    for w in (ref, gpu):
        w.spawn(feature_net(), 2)
        w.spawn(small_net(), 2)
    a = churn(ref, [small_net(), feature_net()], 6)
    b = churn(gpu, [small_net(), feature_net()], 6)
    assert a == b
    assert gpu.backend.name == "gpu" and gpu.stats()["backend_rebuilds"] == 0
    assert_same(full_state(ref), full_state(gpu))


def lost(*_: Any) -> Any:
    import wgpu

    raise wgpu.GPUError("device lost (injected)")


@pytest.mark.parametrize("learning", [False, True])
def test_device_loss_after_churn_replays_the_slot_writes(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                         learning: bool) -> None:
    """Slot writes while the device is ahead join the replay log: a device loss later replays
    the frames since the last checkpoint with each slot write between the frames it came
    between (slots reused several times in the window included)."""
    cs = [learner(), small_net()] if learning else [small_net()]
    ref, gpu = with_free_slots("numpy", cs, count=3), with_free_slots("gpu", cs, count=3)
    gpu.backend.pull_state()  # the checkpoint: the log starts here
    assert churn(ref, cs, 9) == churn(gpu, cs, 9)
    frames = gpu.backend._ckpt.frames
    assert len(frames) == 9 and sum(len(f.slots) for f in frames) >= 12
    monkeypatch.setattr(gpu.backend, "_map_readback", lost)
    r1, r2 = ref.step(4), gpu.step(4)
    assert r1.neurons.tobytes() == r2.neurons.tobytes()
    assert gpu.backend.name in ("native", "numpy")
    assert_same(full_state(ref), full_state(gpu))
    assert churn(ref, cs, 3) == churn(gpu, cs, 3)  # and the churn goes on on the CPU
    assert_same(full_state(ref), full_state(gpu))


@pytest.mark.parametrize("ahead", [False, True])
def test_device_loss_during_a_slot_upload(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                          ahead: bool) -> None:
    cs = [small_net()]
    ref, gpu = with_free_slots("numpy", cs), with_free_slots("gpu", cs)
    assert churn(ref, cs, 4) == churn(gpu, cs, 4)
    if not ahead:
        gpu.backend.pull_state()
    monkeypatch.setattr(gpu.backend, "_upload_ranges", lost)
    for w in (ref, gpu):
        w.despawn(w.group(cs[0]).brains[1])
        w.spawn(cs[0])
    assert gpu.backend.name in ("native", "numpy") and gpu.stats()["backend_rebuilds"] == 0
    assert churn(ref, cs, 3) == churn(gpu, cs, 3)
    assert_same(full_state(ref), full_state(gpu))


def test_spliced_learning_cache_equals_a_fresh_one() -> None:
    """plasticity.update_cache (what write_slots uses) = build_cache, several slots at once."""
    from spikeforge.engine.plasticity import update_cache

    cs = [learner(), small_net()]
    w = with_free_slots("numpy", cs, count=4, seed=8)
    for f in range(4):
        pc = build_cache(w.layout)
        assert pc is not None
        before = w.layout.brain_serial.copy()
        w.despawn(w.group(cs[0]).brains[f % 2])
        w.spawn(cs[0], 2)
        changed = np.flatnonzero(w.layout.brain_serial != before).tolist()
        assert len(changed) >= 2
        assert_cache_equal(update_cache(w.layout, pc, changed), build_cache(w.layout))
