"""The WGSL step on lavapipe gives the numpy step's answers, bit for bit, on the test networks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.engine.test_gpu_common import (
    assert_same,
    drive,
    feature_net,
    host_state,
    lif_net,
    make_world,
    require_lavapipe,
)

from spikeforge import World

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def adapter() -> dict[str, Any]:
    return require_lavapipe()


def run_frames(world: World, frames: int, steps: int, sleepers: bool = False) -> list[tuple[np.ndarray, ...]]:
    out = []
    for f in range(frames):
        drive(world, f)
        if sleepers and f == 3:
            world.brains[1].sleep()
            world.brains[3].lod_every = 2
        if sleepers and f == 9:
            world.brains[1].wake()
        rec = world.advance(steps * world.dt + 1e-9) if sleepers else world.step(steps)
        r = rec.spikes if sleepers else rec
        out.append((r.steps.copy(), r.neurons.copy(), world.layout.act_out.copy(),
                    world.layout.act_counts.copy(), world.layout.sensor_values.copy()))
    return out


def test_adapter_is_vulkan(adapter: dict[str, Any]) -> None:
    assert adapter["backend_type"] == "Vulkan"
    world = World(backend="gpu")
    assert world.backend.name == "gpu"


def test_same_spikes_and_state_as_numpy(adapter: dict[str, Any]) -> None:
    ref, gpu = make_world("numpy"), make_world("gpu")
    assert gpu.backend.name == "gpu"
    a = run_frames(ref, 16, 6)
    b = run_frames(gpu, 16, 6)
    total = 0
    for f, (x, y) in enumerate(zip(a, b, strict=True)):
        for i, (p, q) in enumerate(zip(x, y, strict=True)):
            assert p.dtype == q.dtype and p.tobytes() == q.tobytes(), f"frame {f}, item {i}"
        total += x[1].size
    assert total > 500  # the networks are busy enough to mean something
    assert_same(host_state(ref), host_state(gpu))


def test_sleeping_and_lod_brains(adapter: dict[str, Any]) -> None:
    ref, gpu = make_world("numpy"), make_world("gpu")
    a = run_frames(ref, 14, 4, sleepers=True)
    b = run_frames(gpu, 14, 4, sleepers=True)
    for f, (x, y) in enumerate(zip(a, b, strict=True)):
        for i, (p, q) in enumerate(zip(x, y, strict=True)):
            assert p.tobytes() == q.tobytes(), f"frame {f}, item {i}"
    assert_same(host_state(ref), host_state(gpu))
    assert not np.array_equal(gpu.layout.brain_step, np.full(gpu.layout.n_brains, gpu.layout.brain_step[0]))


@pytest.mark.parametrize("wg_per_spike", [False, True])
def test_chunked_buffers_give_the_same_answers(adapter: dict[str, Any], wg_per_spike: bool) -> None:
    from spikeforge.engine.wgpu_backend import GpuBackend

    ref = make_world("numpy")
    gpu = make_world("numpy")
    gpu.backend.close()
    # force several synapse and ring chunks, and both propagation strategies
    gpu.backend = GpuBackend(gpu.layout, chunk_bytes=8192, wg_per_spike=wg_per_spike)
    assert len(gpu.backend._bufs["syn"]) > 2 and len(gpu.backend._bufs["ring"]) > 2
    assert len(gpu.backend._bufs["fstate"]) > 1
    assert "syn_2" in gpu.backend.kernel_source("propagate") and "fstate_1" in gpu.backend.kernel_source("neuron")
    a = run_frames(ref, 6, 5)
    b = run_frames(gpu, 6, 5)
    for x, y in zip(a, b, strict=True):
        assert all(p.tobytes() == q.tobytes() for p, q in zip(x, y, strict=True))
    assert_same(host_state(ref), host_state(gpu))


def test_host_writes_after_pull_reach_the_device(adapter: dict[str, Any]) -> None:
    ref, gpu = make_world("numpy"), make_world("gpu")
    for w in (ref, gpu):
        run_frames(w, 3, 4)
        view = w.brains[0]["izh"].iext      # pull_state, then a zero-copy host view
        view[...] = np.float32(12.5)        # the game writes it
        w.brains[2]["adapt"].state("v")[:3] = np.float32(-40.0)
        run_frames(w, 3, 4)
        view[:2] = np.float32(-3.0)         # a held view written again, without re-fetching
        run_frames(w, 3, 4)
    assert_same(host_state(ref), host_state(gpu))


def test_pull_state_is_cheap_when_nothing_changed(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = make_world("gpu")
    run_frames(gpu, 2, 3)
    calls: list[str] = []
    orig = gpu.backend._download

    def counting(name: str, *a: Any) -> Any:
        calls.append(name)
        return orig(name, *a)

    monkeypatch.setattr(gpu.backend, "_download", counting)
    gpu.backend.pull_state()
    first = len(calls)
    assert first > 0
    gpu.backend.pull_state()
    _ = gpu.brains[0]["out"].v
    assert len(calls) == first  # nothing ran since: no transfer


def test_snapshot_round_trip_resumes_exactly(adapter: dict[str, Any], tmp_path: Any) -> None:
    ref, gpu = make_world("numpy"), make_world("gpu")
    run_frames(ref, 4, 5)
    run_frames(gpu, 4, 5)
    gpu.save(tmp_path / "snap")
    back = World.load(tmp_path / "snap", backend="gpu")
    assert back.backend.name == "gpu"
    a = run_frames(ref, 4, 5)
    b = run_frames(back, 4, 5)
    for x, y in zip(a, b, strict=True):
        assert all(p.tobytes() == q.tobytes() for p, q in zip(x, y, strict=True))
    assert_same(host_state(ref), host_state(back))


def test_spawn_and_despawn_keep_going_on_the_gpu(adapter: dict[str, Any]) -> None:
    ref, gpu = make_world("numpy"), make_world("gpu")
    for w in (ref, gpu):
        run_frames(w, 3, 3)
        w.despawn(w.brains[1])
        w.spawn(lif_net(), 1)
    assert gpu.backend.name == "gpu"
    a = run_frames(ref, 3, 3)
    b = run_frames(gpu, 3, 3)
    for x, y in zip(a, b, strict=True):
        assert all(p.tobytes() == q.tobytes() for p, q in zip(x, y, strict=True))
    assert_same(host_state(ref), host_state(gpu))


def test_generated_constants_follow_the_param_table(adapter: dict[str, Any]) -> None:
    from spikeforge.engine import params as P

    gpu = World(backend="gpu")
    gpu.spawn(feature_net(), 1)
    src = gpu.backend.kernel_source("neuron")
    for name in ("F_VTHRESH", "F_PVV", "F_BURST_INV", "F_IZH_H", "I_MODEL", "I_SNOOZE_STEPS"):
        assert f"const {name} = {getattr(P, name)}u;" in src
    from spikeforge.engine import plasticity as PL

    assert f"const PRM_STRIDE = {P.NF + P.NI + PL.NPP + 1}u;" in src  # + the keep mask
    assert f"const PRM_KEEPS = {P.NF + P.NI + PL.NPP}u;" in src
    assert gpu.backend.prm.size == gpu.layout.fparams.shape[0] * (P.NF + P.NI + PL.NPP + 1)
    for name in ("PF_AMINUS", "PF_CDECAY", "PI_SOFT", "PP_HDROP"):
        assert f"const {name} = {getattr(PL, name)}u;" in src


def test_empty_world_and_zero_steps(adapter: dict[str, Any]) -> None:
    w = World(backend="gpu")
    assert w.step(3).neurons.size == 0
    w.spawn(lif_net(), 1)
    assert w.step(0).neurons.size == 0
    assert int(w.layout.brain_step[0]) == 0


def test_shaders_are_found_in_the_repo() -> None:
    """Every kernel's file is in <repo>/shaders (the wheel's copy: tests/test_packaging.py)."""
    from spikeforge.engine.wgpu_backend import KERNELS, LEARN_KERNELS, shader_dir

    for k in (*KERNELS, *LEARN_KERNELS, "brain", "brain_learn", "common", "tables", "models", "params", "trace_inc"):
        assert (shader_dir() / f"{k}.wgsl").is_file(), k


def test_push_after_pull_uploads_only_what_changed(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    ref, gpu = make_world("numpy"), make_world("gpu")
    for w in (ref, gpu):
        run_frames(w, 2, 3)
    writes: list[str] = []
    orig = gpu.backend._write

    def spy(name: str, data: np.ndarray) -> None:
        writes.append(name)
        orig(name, data)

    monkeypatch.setattr(gpu.backend, "_write", spy)
    for w in (ref, gpu):
        w.backend.pull_state()
        w.layout.neuron["v"][5] = np.float32(-52.0)
        w.backend.push_state()
    assert "fstate" in writes and "ring" not in writes and "istate" not in writes
    a, b = run_frames(ref, 3, 3), run_frames(gpu, 3, 3)
    for x, y in zip(a, b, strict=True):
        assert all(p.tobytes() == q.tobytes() for p, q in zip(x, y, strict=True))
    assert_same(host_state(ref), host_state(gpu))


@pytest.mark.parametrize("seed", [11, 12])
def test_varied_substeps_and_seeds(adapter: dict[str, Any], seed: int) -> None:
    """Frames of 1..64 steps (rate decoders rescale per advance), other worlds' RNG keys."""
    ref, gpu = make_world("numpy", brains=2, seed=seed), make_world("gpu", brains=2, seed=seed)
    for f, steps in enumerate((1, 9, 3, 64, 2, 1, 17)):
        for w in (ref, gpu):
            drive(w, f + seed)
        a, b = ref.step(steps), gpu.step(steps)
        assert a.steps.tobytes() == b.steps.tobytes() and a.neurons.tobytes() == b.neurons.tobytes(), f
        assert ref.layout.act_out.tobytes() == gpu.layout.act_out.tobytes(), f
    assert_same(host_state(ref), host_state(gpu))


def test_background_input_matches_numpy(adapter: dict[str, Any]) -> None:
    """Noise currents (uniform, gaussian) and Poisson drive inside the step: byte-equal to numpy."""
    from tests.engine.native_nets import background_net

    worlds = []
    for backend in ("numpy", "gpu"):
        w = World(dt=0.001, backend=backend, seed=5)
        w.spawn(background_net(), 3)
        worlds.append(w)
    ref, gpu = worlds
    total = 0
    for _ in range(10):
        a, b = ref.step(20), gpu.step(20)
        assert a.steps.tobytes() == b.steps.tobytes() and a.neurons.tobytes() == b.neurons.tobytes()
        total += a.neurons.size
    assert total > 100
    assert_same(host_state(ref), host_state(gpu))


def test_close_destroys_the_buffers_and_the_read_back(adapter: dict[str, Any]) -> None:
    """``close()`` destroys the device buffers, the read-back included (a World that re-lays out
    closes one backend per growth: a buffer left to the garbage collector holds device memory
    until a collection happens to run). A second close is harmless."""
    import wgpu

    w = make_world("gpu")
    w.step(5)
    be = w.backend
    # probed by a queue write, which says "destroyed" without a submission (a submission naming a
    # destroyed buffer aborts wgpu-native): the buffers a write may reach, the read-back among them
    made = [b for bufs in be._bufs.values() for b in bufs if b.usage & wgpu.BufferUsage.COPY_DST]
    made.append(be._readback)
    assert len(made) > 5
    word = np.zeros(1, np.uint32)
    queue = be.dev.queue
    for b in made:  # every one takes a write while it lives
        queue.write_buffer(b, 0, word)
    be.close()
    for b in made:
        with pytest.raises(wgpu.GPUValidationError, match="destroyed"):
            queue.write_buffer(b, 0, word)
    be.close()
