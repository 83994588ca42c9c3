"""Pre-recording (``GpuBackend(prerecord=...)``, ``SPIKEFORGE_GPU_PRERECORD``): right after an
advance is submitted, the next advance's command buffer is recorded and kept; the next advance
submits it when it was recorded for exactly that advance, else drops it and records as before.

A kept buffer recorded for other commands (another step count, read-back guess, spike-list
capacity, brain-table upload, or buffers / bind groups re-made since) would silently corrupt the
state, so the World-level test runs a crowd through every way the prediction can go wrong --
16/17-step frames, frames of other lengths, ``World.step`` between frames, sleep / wake / LOD,
despawn and spawn into freed slots, a spike list longer than the read-back guess, state read
and written between frames -- and compares spikes, actuators and state with numpy byte for byte,
with pre-recording on and off; the counters show each path was taken."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.engine.test_gpu_common import assert_same, drive, host_state, lif_net, make_world, require_lavapipe
from tests.engine.test_gpu_learning import learner
from tests.engine.test_gpu_slots import small_net, with_free_slots

from spikeforge import World
from spikeforge.bench.crowd import npc_circuit
from spikeforge.engine import wgpu_backend as G
from spikeforge.model import Circuit

pytestmark = pytest.mark.gpu

FRAMES = 36


@pytest.fixture(scope="module")
def adapter() -> dict[str, Any]:
    return require_lavapipe()


def crowd(backend: str, circuits: list[Circuit], prerecord: bool | None = None) -> World:
    """Brains of each circuit with free slots (spawns write slots in place); ``backend`` "gpu":
    a GpuBackend with ``prerecord`` on the numpy world's layout."""
    w = with_free_slots("numpy", circuits, count=3, seed=5)
    if backend == "gpu":
        w.backend.close()
        w.backend = G.GpuBackend(w.layout, prerecord=prerecord)
        w.backend_name = "gpu"
    return w


def frame_dt(f: int) -> float | None:
    """The frame's time (None: ``World.step(3)`` instead of a frame): 1/60 s (16 or 17 steps of
    1 ms) except a short frame, a long one (more spikes than the read-back guess, a longer spike
    list) and a direct step, each a frame the hint did not predict."""
    return {15: 0.0042, 16: 0.045, 21: None}.get(f, 1.0 / 60.0)


def run(w: World, circuits: list[Circuit]) -> tuple[list[tuple[bytes, ...]], list[dict[str, np.ndarray]]]:
    """Every frame's spikes, actuators and step counts; the state pulled at a few frames."""
    out: list[tuple[bytes, ...]] = []
    pulled: list[dict[str, np.ndarray]] = []
    c0 = circuits[0]
    for f in range(FRAMES):
        drive(w, f)
        if f == 2:  # every free slot taken: every brain runs (the brain table can stay on the device)
            for c in circuits:
                w.spawn(c, 3)
        if f == 8:
            w.group(c0).brains[1].sleep()
        if f == 10:
            w.group(c0).brains[1].wake()
        if f == 12:
            w.despawn(w.group(circuits[1]).brains[0])
        if f == 13:
            w.spawn(circuits[1])
        if f == 24:
            w.group(c0).brains[2].lod_every = 2
        if f == 30:
            w.group(c0).brains[2].lod_every = 1
        if f in (18, 27):  # read a state view between frames (a pull), then write one (a host patch)
            pulled.append(host_state(w))
            v = w.group(c0).brains[0][{"npc256": "hid", "learner": "a"}[c0.name]].v
            v[3] = np.float32(-51.0)
        dt = frame_dt(f)
        if dt is None:
            r = w.step(3)
            n = 3
        else:
            res = w.advance(dt)
            r, n = res.spikes, res.steps
        L = w.layout
        out.append((r.steps.tobytes(), r.neurons.tobytes(), L.act_out.tobytes(), L.act_counts.tobytes(),
                    str(n).encode()))
    pulled.append(host_state(w))
    return out, pulled


@pytest.mark.parametrize("circuits", ["plain", "learning"])
@pytest.mark.parametrize("prerecord", [True, False], ids=["prerecord", "record-at-advance"])
def test_prerecorded_advances_match_numpy(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                          prerecord: bool, circuits: str) -> None:
    monkeypatch.setattr(G, "SPIKE_GUESS_MIN", 64)  # the read-back guess grows mid-run
    cs = [npc_circuit(), small_net(), lif_net()] if circuits == "plain" else [learner(), small_net()]
    ref, gpu = crowd("numpy", cs), crowd("gpu", cs, prerecord)
    be = gpu.backend
    assert isinstance(be, G.GpuBackend) and be.fused and be.prerecord == prerecord
    assert be.dev_steps == (circuits == "plain") and be.order == (circuits == "plain")
    grown_with_kept: list[bool] = []  # at each growth of the read-back: was a buffer recorded ahead?
    make = be._make_readback

    def grow(guess: int) -> Any:
        grown_with_kept.append(be._kept is not None)
        return make(guess)

    monkeypatch.setattr(be, "_make_readback", grow)
    rebuilds = gpu.stats()["rebuilds"]
    a, pa = run(ref, cs)
    b, pb = run(gpu, cs)
    assert gpu.backend is be and gpu.stats()["rebuilds"] == rebuilds and be._cpu is None
    steps = [int(x[4]) for x in a]
    assert steps[:4] == [16, 17, 17, 16] and len(set(steps) - {16, 17}) == 3
    assert sum(len(x[1]) for x in a) // FRAMES > 50  # busy enough to mean something
    for f, (x, y) in enumerate(zip(a, b, strict=True)):
        for i, (p, q) in enumerate(zip(x, y, strict=True)):
            assert p == q, f"frame {f}, item {i}"
    assert len(pa) == len(pb) == 3
    for sa, sb in zip(pa, pb, strict=True):
        assert_same(sa, sb)  # (under the subnormal contract: a sleeping brain's currents decay into them)
    assert grown_with_kept, "the spike list never outgrew the read-back guess"
    st = be.prerecord_stats
    if prerecord:
        # most frames submit what the last one recorded; the unpredicted frames, a spawn (the brain
        # table is sent again) and the growths (re-made buffers) drop theirs, and nothing leaks
        assert st["used"] >= FRAMES - 14, st
        assert st["missed"] >= 3 and st["dropped"] >= 1 and any(grown_with_kept), st
        assert st["recorded"] == st["used"] + st["missed"] + st["dropped"] + (be._kept is not None), st
        be.close()
        assert be._kept is None and st["recorded"] == st["used"] + st["missed"] + st["dropped"]
    else:
        assert st == {"recorded": 0, "used": 0, "missed": 0, "dropped": 0}
        assert be._kept is None


def pair(brains: int = 6, prerecord: bool | None = True) -> tuple[Any, G.GpuBackend, World, World]:
    """A numpy backend and a GpuBackend on two copies of one crowd (sensors set)."""
    w1, w2 = World(dt=0.001, backend="numpy", seed=9), World(dt=0.001, backend="numpy", seed=9)
    for w in (w1, w2):
        w.spawn(npc_circuit(), brains)
        w.spawn(lif_net(), 2)
        w.layout.sensor_values[...] = 0.8
    return w1.backend, G.GpuBackend(w2.layout, prerecord=prerecord), w1, w2


def test_kept_buffer_used_on_a_right_hint_dropped_on_a_wrong_one(adapter: dict[str, Any]) -> None:
    """Backend level: the hint (``expect_steps``) or, without one, the advance's own step count
    is what the next advance's buffer is recorded for; it is used when the next advance runs that
    many steps and dropped otherwise; every result is numpy's."""
    ref, gpu, w1, w2 = pair()
    assert gpu.fused and gpu.prerecord
    st = gpu.prerecord_stats
    done = 0
    # (steps, hint before the advance, what happens to the buffer the last advance recorded)
    plan = [(17, None, "none"),        # the first advance goes through wgpu-py's checked calls
            (17, 16, "none"),          # raw calls: records now, then 16 ahead (the hint)
            (16, None, "used"),        # records 16 ahead (no hint: its own count)
            (16, 17, "used"),
            (17, 17, "used"),
            (17, None, "used"),
            (16, None, "missed"),      # recorded for 17
            (16, 5, "used"),
            (17, None, "missed"),      # recorded for 5
            (17, None, "used")]
    for i, (n, hint, what) in enumerate(plan):
        before = dict(st)
        if hint is not None:
            gpu.expect_steps(hint)
        r1, r2 = ref.advance(n, done, None), gpu.advance(n, done, None)
        assert np.array_equal(r1.steps, r2.steps) and np.array_equal(r1.neurons, r2.neurons), i
        assert w1.layout.act_out.tobytes() == w2.layout.act_out.tobytes(), i
        done += n
        got = {k: st[k] - before[k] for k in st}
        assert got["used"] == (what == "used") and got["missed"] == (what == "missed"), (i, got)
        assert got["recorded"] == (i > 0) and got["dropped"] == 0, (i, got)
        if i > 0:
            assert gpu._kept is not None and gpu._kept_sig is not None
            assert gpu._kept_sig[0] == (hint if hint is not None else n), i
        assert gpu._hint is None  # a hint serves one advance
    assert r1.neurons.size > 0
    # re-made buffers drop the kept one: a bigger read-back, a longer spike list, the backend closed
    gpu._readback = gpu._make_readback(2 * gpu._spk_guess)
    assert gpu._kept is None and st["dropped"] == 1
    gpu.expect_steps(40)
    r1, r2 = ref.advance(17, done, None), gpu.advance(17, done, None)
    assert np.array_equal(r1.neurons, r2.neurons)
    assert gpu._kept is None, "no buffer is recorded for an advance that must first grow the spike list"
    done += 17
    r1, r2 = ref.advance(40, done, None), gpu.advance(40, done, None)
    assert np.array_equal(r1.steps, r2.steps) and np.array_equal(r1.neurons, r2.neurons)
    assert gpu._kept is not None and gpu._out_cap >= 40 * w2.layout.n_neurons
    gpu.close()
    assert gpu._kept is None and st["dropped"] == 2
    assert st["recorded"] == st["used"] + st["missed"] + st["dropped"]


def test_a_wrong_buffer_would_be_seen(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison can fail: submitting the kept buffer whatever it was recorded for (here one
    recorded for 17 steps in a 16-step advance: a rate decoder's 1/17, the device-sorted list's
    17 step totals) gives other actuator outputs than numpy's."""
    ref, gpu, w1, w2 = pair(prerecord=True)

    def any_kept(sig: tuple[int, bool, int, int, bool, int]) -> Any:
        kept, gpu._kept = gpu._kept, None
        return kept

    monkeypatch.setattr(gpu, "_take_kept", any_kept)
    done = 0
    differs = False
    for n in (17, 17, 16, 17, 16):
        r1, r2 = ref.advance(n, done, None), gpu.advance(n, done, None)
        done += n
        differs |= (w1.layout.act_out.tobytes() != w2.layout.act_out.tobytes()
                    or not np.array_equal(r1.steps, r2.steps))
    assert differs
    gpu.close()


def test_switches(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """``SPIKEFORGE_GPU_PRERECORD=0`` turns it off, the constructor's flag wins over it; the
    per-step kernels of a layout that learns and other backends ignore the hint."""
    monkeypatch.delenv("SPIKEFORGE_GPU_PRERECORD", raising=False)
    _, gpu, _, w2 = pair(brains=1, prerecord=None)
    assert gpu.prerecord
    gpu.close()
    monkeypatch.setenv("SPIKEFORGE_GPU_PRERECORD", "0")
    off = G.GpuBackend(w2.layout)
    assert not off.prerecord
    on = G.GpuBackend(w2.layout, prerecord=True)
    assert on.prerecord
    for be in (off, on):
        for i in range(3):
            be.expect_steps(5)
            be.advance(5, 5 * i, None)
    assert off.prerecord_stats["recorded"] == 0 and off._kept is None
    assert on.prerecord_stats["used"] == 1 and on._kept is not None
    off.close()
    on.close()
    learning = World(dt=0.001, backend="numpy", seed=3)
    learning.spawn(learner(), 2)
    per_step = G.GpuBackend(learning.layout, fused=False, prerecord=True)
    assert per_step.plast is not None
    for i in range(3):
        per_step.advance(5, 5 * i, None)
    assert per_step.prerecord_stats["recorded"] == 0 and per_step._kept is None  # learning: not recorded ahead
    per_step.close()
    ref = World(dt=0.001, backend="numpy").backend
    ref.expect_steps(17)  # the base class's default: ignored


@pytest.mark.parametrize("fold", [False, True], ids=["prep", "fold"])
def test_per_step_path_prerecorded_matches_numpy(adapter: dict[str, Any], fold: bool) -> None:
    """The per-step kernels (gap junctions: no per-brain kernel), with prep or FOLD's even/odd
    programs: advances of varying length, hinted right, wrong and not at all, each byte for byte
    numpy's (spikes, actuators, then the whole state)."""
    w1, w2 = make_world("numpy"), make_world("numpy")
    ref = w1.backend
    gpu = G.GpuBackend(w2.layout, prerecord=True, fold_prep=fold)
    assert not gpu.fused and gpu.fold == fold and gpu.layout.gap_a.size
    st = gpu.prerecord_stats
    done = 0
    # (steps, hint): the hint is the count of the advance after this one; the longest advance first
    # (the spike list never grows: no buffer is re-made). The first goes through wgpu-py's calls;
    # then used at 2, 3, 4, 6, 7, 9 and missed at 5 (recorded for 3) and 8 (for 2)
    plan = [(6, None), (6, None), (6, 3), (3, None), (3, None), (4, None), (4, 2), (2, None), (5, 1), (1, None)]
    for i, (n, hint) in enumerate(plan):
        drive(w1, i)
        drive(w2, i)
        if hint is not None:
            gpu.expect_steps(hint)
        r1, r2 = ref.advance(n, done, None), gpu.advance(n, done, None)
        done += n
        assert np.array_equal(r1.steps, r2.steps) and np.array_equal(r1.neurons, r2.neurons), i
        assert w1.layout.act_out.tobytes() == w2.layout.act_out.tobytes(), i
    assert st == {"recorded": 9, "used": 6, "missed": 2, "dropped": 0}, st
    gpu.pull_state()  # (w2's own backend is not the one that ran: pull from the GPU backend)
    assert_same({**w1.layout.neuron, "ring": w1.layout.ring}, {**w2.layout.neuron, "ring": w2.layout.ring})
    gpu.close()
    assert gpu._kept is None and st["recorded"] == st["used"] + st["missed"] + st["dropped"]
