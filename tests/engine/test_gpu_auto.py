"""backend="auto" takes the GPU only where the calibrated cost model predicts a gain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.engine.test_gpu_common import feature_net, require_lavapipe

from spikeforge import World
from spikeforge.engine import gpu_cost
from spikeforge.engine.backend import resolve_backend

pytestmark = pytest.mark.gpu


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    require_lavapipe()
    monkeypatch.setenv("SPIKEFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(gpu_cost, "_MODEL", None)
    return tmp_path / "gpu_cost.json"


def write_model(path: Path, gpu: list[float], cpu: list[float]) -> None:
    path.write_text(json.dumps({"key": gpu_cost._key(), "gpu": gpu, "cpu": cpu}), encoding="utf-8")


def test_small_worlds_never_calibrate_nor_use_the_gpu(cache: Path) -> None:
    name, reasons = resolve_backend("auto", (500, 5000))
    assert name != "gpu"
    assert any(r.startswith("gpu: no predicted gain") for r in reasons)
    assert not cache.exists()
    w = World(backend="auto")
    w.spawn(feature_net(), 2)
    assert w.backend.name != "gpu"


def test_a_model_predicting_gain_picks_the_gpu_per_world_size(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_cost, "MIN_NEURONS", 100)
    # GPU: 1 ms + 1 ns per neuron; CPU: 1 us per neuron -> GPU wins above ~1000 neurons
    write_model(cache, [1e-3, 1e-9, 0.0], [0.0, 1e-6, 0.0])
    w = World(backend="auto")
    assert w.backend.name != "gpu"          # empty world
    w.spawn(feature_net(), 3)               # 267 neurons: CPU predicted faster
    assert w.backend.name != "gpu"
    w.spawn(feature_net(), 12)              # 1335 neurons: GPU predicted faster
    assert w.backend.name == "gpu" and w.backend_name == "gpu"
    w.step(3)
    w.despawn(w.brains[:10])                # back to CPU with the current state
    assert w.backend.name != "gpu"
    w.step(2)


def test_no_gain_model_keeps_the_cpu(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_cost, "MIN_NEURONS", 100)
    write_model(cache, [1.0, 0.0, 0.0], [0.0, 1e-9, 0.0])
    assert resolve_backend("auto", (10**6, 10**8))[0] != "gpu"


def test_a_stale_cache_for_another_adapter_is_recalibrated(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache.write_text(json.dumps({"key": "some other GPU", "gpu": [0, 0, 0], "cpu": [1, 1, 1]}), encoding="utf-8")
    calls: list[int] = []

    def fake_calibrate() -> dict[str, Any]:
        calls.append(1)
        return {"key": gpu_cost._key(), "gpu": [1.0, 0.0, 0.0], "cpu": [0.0, 0.0, 0.0]}

    monkeypatch.setattr(gpu_cost, "calibrate", fake_calibrate)
    assert gpu_cost.predict_gain(10**5, 10**6) is False
    assert calls == [1]


@pytest.mark.slow
def test_calibration_measures_and_caches(cache: Path) -> None:
    model = gpu_cost.cost_model(recalibrate=True)
    assert cache.exists()
    on_disk = json.loads(cache.read_text(encoding="utf-8"))
    assert on_disk["key"] == model["key"] == gpu_cost._key()
    assert len(model["samples"]["gpu"]) == len(gpu_cost.CAL_SIZES)
    assert all(t > 0 for _, _, t in model["samples"]["gpu"] + model["samples"]["cpu"])
    assert all(c >= 0 for c in model["gpu"] + model["cpu"])
    g, c = gpu_cost.predicted_seconds(100_000, 8_000_000)
    assert g == pytest.approx(model["gpu"][0] + model["gpu"][1] * 1e5 + model["gpu"][2] * 8e6)
    assert gpu_cost.predict_gain(100_000, 8_000_000) is (g * gpu_cost.GAIN_MARGIN < c)
    # a second process reads the cache instead of measuring again
    gpu_cost._MODEL = None
    assert gpu_cost.cost_model() == on_disk


def test_auto_passes_over_the_gpu_for_layouts_it_does_not_know(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    monkeypatch.setattr(gpu_cost, "MIN_NEURONS", 100)
    write_model(cache, [0.0, 0.0, 0.0], [1.0, 0.0, 0.0])  # the GPU would always win
    w = World(backend="numpy")
    w.spawn(feature_net(), 2)
    assert resolve_backend("auto", layout=w.layout)[0] == "gpu"
    w.layout.extra["future_feature"] = np.zeros(2, np.float32)
    name, reasons = resolve_backend("auto", layout=w.layout)
    assert name != "gpu" and any("future_feature" in r for r in reasons)


def test_a_failing_calibration_means_no_gain_not_a_crash(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_cost, "MIN_NEURONS", 100)
    monkeypatch.setattr(gpu_cost, "_FAILED", None)
    calls: list[int] = []

    def broken() -> dict[str, Any]:
        calls.append(1)
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(gpu_cost, "calibrate", broken)
    assert gpu_cost.predict_gain(10**5, 10**6) is False
    assert gpu_cost.predict_gain(10**5, 10**6) is False
    assert calls == [1]  # tried once per process
    w = World(backend="auto")
    w.spawn(feature_net(), 12)
    assert w.backend.name != "gpu"
