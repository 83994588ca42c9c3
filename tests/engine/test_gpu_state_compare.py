"""The GPU tests' state comparison (``test_gpu_common.assert_bytes_equal``) holds docs/semantics.md's
contract and no more: byte for byte on a CPU adapter (lavapipe); on a GPU a float32 value one side
holds below 2^-126 may be +-0 on the other (NVIDIA flushes subnormals), nothing else may differ."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.engine.test_gpu_common import assert_bytes_equal, require_lavapipe

from spikeforge.engine import wgpu_backend as G

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def adapter() -> dict[str, Any]:
    return require_lavapipe()


def test_only_a_flushed_subnormal_passes_and_only_on_a_gpu(adapter: dict[str, Any],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ref = np.array([1.5, -65.0, np.float32(1e-40), -np.float32(3e-39), 0.0], np.float32)
    flushed = ref.copy()
    flushed[2], flushed[3] = 0.0, -0.0
    one_ulp = ref.copy()
    one_ulp[1] = np.nextafter(np.float32(-65.0), np.float32(0.0))
    smaller = ref.copy()
    smaller[2] = np.float32(1e-41)  # a subnormal either way, but not 0: not what flushing gives
    info = G.gpu_device().info
    for kind in ("DiscreteGPU", "CPU"):
        monkeypatch.setitem(info, "adapter_type", kind)
        assert_bytes_equal(ref, ref.copy(), "same")
        if kind == "DiscreteGPU":
            assert_bytes_equal(ref, flushed, "flushed")
            assert_bytes_equal(flushed, ref, "flushed, other side")
        else:
            with pytest.raises(AssertionError):
                assert_bytes_equal(ref, flushed, "flushed")
        for other in (one_ulp, smaller):
            with pytest.raises(AssertionError):
                assert_bytes_equal(ref, other, "differs")
    with pytest.raises(AssertionError):  # integer arrays (rings, counters) are always exact
        assert_bytes_equal(np.array([1, 2], np.int32), np.array([1, 0], np.int32), "ring")
