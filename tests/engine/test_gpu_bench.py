"""The GPU benchmark command runs, names the adapter and agrees with numpy."""

from __future__ import annotations

import json

import pytest
from tests.engine.test_gpu_common import require_lavapipe

from spikeforge.bench import gpu_kernels

pytestmark = pytest.mark.gpu


def test_bench_reports_adapter_and_matches_numpy(capsys: pytest.CaptureFixture[str]) -> None:
    require_lavapipe()
    assert gpu_kernels.main(["--backend", "gpu", "--sizes", "300", "--steps", "40", "--substeps", "15",
                           "--check", "40", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(rows) == 1
    r = rows[0]
    assert "Vulkan" in r["adapter"] and r["backend"] == "gpu"
    assert r["matches_numpy"] is True and r["checked_steps"] == 40
    assert r["spikes"] > 0 and r["ms_per_step"] > 0


def test_bench_rejects_bad_sizes() -> None:
    with pytest.raises(SystemExit):
        gpu_kernels.main(["--sizes", "a,b"])
