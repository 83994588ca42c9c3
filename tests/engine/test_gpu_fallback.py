"""A failing GPU hands the world to the CPU with its last good state and re-runs the frame."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
from tests.engine.test_gpu_common import assert_same, drive, host_state, lif_net, make_world, require_lavapipe

from spikeforge import World

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def adapter() -> dict[str, Any]:
    return require_lavapipe()


def frame(world: World, f: int, steps: int = 4) -> tuple[bytes, bytes, bytes]:
    drive(world, f)
    if f == 2:  # the game reads a view (state pull) and writes through it
        world.brains[0]["cur"].iext[...] = np.float32(7.0)
    if f == 5:
        world.brains[2]["izh"].state("v")[:4] = np.float32(-45.0)
    r = world.step(steps)
    return r.steps.tobytes(), r.neurons.tobytes(), world.layout.act_out.tobytes()


def injected(*_: Any) -> Any:
    import wgpu

    raise wgpu.GPUError("device lost (injected by the test)")


@pytest.mark.parametrize("where", ["_submit", "_map_readback"])
def test_failure_moves_the_world_to_the_cpu(adapter: dict[str, Any], where: str, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    ref, gpu = make_world("numpy"), make_world("gpu")
    assert gpu.backend.name == "gpu"
    for f in range(8):
        assert frame(ref, f) == frame(gpu, f), f"frame {f}"
    # the device dies in the middle of frame 8: before the submission, or after it ran
    monkeypatch.setattr(gpu.backend, where, injected)
    if where == "_submit":  # (a buffer recorded ahead goes through _submit_kept)
        monkeypatch.setattr(gpu.backend, "_submit_kept", injected)
    with caplog.at_level(logging.WARNING):
        assert frame(ref, 8) == frame(gpu, 8)
    assert gpu.backend.name in ("native", "numpy")
    assert gpu.backend_name == gpu.backend.name
    assert any("GPU backend failed" in r.message and "injected" in r.message for r in caplog.records)
    for f in range(9, 13):
        assert frame(ref, f) == frame(gpu, f), f"frame {f}"
    assert_same(host_state(ref), host_state(gpu))
    gpu.spawn(lif_net(), 1)
    assert gpu.backend.name in ("native", "numpy")  # a relayout does not go back to the dead GPU


def test_replay_log_is_bounded_by_checkpoints(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from spikeforge.engine.wgpu_backend import GpuBackend

    ref = make_world("numpy")
    gpu = make_world("numpy")
    gpu.backend.close()
    gpu.backend = GpuBackend(gpu.layout, checkpoint_frames=3)
    for f in range(7):
        assert frame(ref, f) == frame(gpu, f)
        assert len(gpu.backend._ckpt.frames) < 3
    monkeypatch.setattr(gpu.backend, "_map_readback", injected)
    assert frame(ref, 7) == frame(gpu, 7)
    assert gpu.backend.name in ("native", "numpy")
    assert_same(host_state(ref), host_state(gpu))


def test_errors_of_the_caller_are_not_swallowed(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = make_world("gpu")

    def bug(*_: Any) -> Any:
        raise KeyError("a bug, not a device failure")

    monkeypatch.setattr(gpu.backend, "_submit", bug)
    with pytest.raises(KeyError):
        gpu.step(2)
    assert gpu.backend.name == "gpu"


def test_a_new_world_after_a_failure_gets_a_fresh_device(adapter: dict[str, Any],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from spikeforge.engine import wgpu_backend as G

    gpu = make_world("gpu")
    old = gpu.backend.gpu
    monkeypatch.setattr(gpu.backend, "_submit", injected)
    gpu.step(2)
    assert gpu.backend.name in ("native", "numpy")
    again = make_world("gpu")
    assert again.backend.name == "gpu" and again.backend.gpu is not old and G.gpu_device() is again.backend.gpu
    again.step(2)
