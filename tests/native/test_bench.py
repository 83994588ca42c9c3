"""The CPU benchmarks run end to end at small sizes (figures are measured by the commands,
not here): every bench accepts --backend/--seed/--json and prints one JSON object per row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spikeforge.bench import crowd as crowd_bench
from spikeforge.bench import cuba, overhead
from spikeforge.bench import scale as scale_bench

pytestmark = pytest.mark.native


def rows(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_cuba_small_matches_numpy_spikes(capsys: pytest.CaptureFixture[str]) -> None:
    assert cuba.main(["--n", "400", "--duration", "0.02", "--json", "--seed", "3"]) == 0
    assert cuba.main(["--n", "400", "--duration", "0.02", "--json", "--seed", "3", "--backend", "numpy"]) == 0
    native, ref = rows(capsys)
    assert native["backend"] == "native" and ref["backend"] == "numpy"
    assert native["spikes"] == ref["spikes"] and native["steps"] == 200
    assert float(native["loop_s"]) > 0  # type: ignore[arg-type]


def test_cuba_compare_reports_missing_reference(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cuba.main(["--n", "200", "--duration", "0.01", "--json", "--compare", "--anchors", str(tmp_path)]) == 0
    out = rows(capsys)
    assert [r["simulator"] for r in out] == ["spikeforge", "brian2", "nest"]
    assert all("skipped" in r for r in out[1:])


def test_scale_crowd_overhead_small(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPIKEFORGE_THREADS", "2")  # --threads sets it; restored after the test
    assert scale_bench.main(["--n", "3000", "--indegree", "20", "--steps", "3", "--repeats", "2", "--json"]) == 0
    assert crowd_bench.main(["--brains", "6", "--frames", "5", "--warmup", "2", "--json", "--threads", "2"]) == 0
    assert overhead.main(["--calls", "20", "--json"]) == 0
    sc, cr, ov = rows(capsys)
    assert sc["bench"] == "scale" and sc["bytes_per_synapse"] == 8.0 and float(sc["copy_gb_s"]) > 0  # type: ignore[arg-type]
    assert cr["bench"] == "crowd" and cr["brains"] == 6 and float(cr["steps_per_frame"]) >= 16  # type: ignore[arg-type]
    assert ov["bench"] == "overhead" and ov["neurons"] == 100 and float(ov["us_per_call_median"]) > 0  # type: ignore[arg-type]


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(SystemExit):
        cuba.main(["--duration", "0"])
    with pytest.raises(ValueError, match="--n"):
        cuba.main(["--n", "5", "--json"])


def test_models_bench_small(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from spikeforge.bench import models as models_bench

    monkeypatch.setenv("SPIKEFORGE_THREADS", "1")
    assert models_bench.main(["--n", "400", "--indegree", "20", "--steps", "200", "--repeats", "1", "--json",
                              "--threads", "1"]) == 0
    out = rows(capsys)
    assert [r["model"] for r in out] == list(models_bench.MODELS)
    assert all(r["backend"] == "native" and float(r["cpu_us_per_step"]) > 0 for r in out)  # type: ignore[arg-type]
    assert float(out[0]["rate_hz"]) > 0  # type: ignore[arg-type]
    assert out[0]["vs_lif"] == 1.0
    assert models_bench.main(["--model", "nope"]) == 2


@pytest.mark.parametrize("rule", ["rstdp", "stdp", "stdp-delivery"])
def test_learning_cost_small(capsys: pytest.CaptureFixture[str], rule: str) -> None:
    from spikeforge.bench import learning as learning_bench

    assert learning_bench.main(["--parts", "cost", "--crowd-brains", "4", "--frames", "3", "--json",
                                "--threads", "1", "--rule", rule]) == 0
    frozen, plastic, goal = rows(capsys)
    assert frozen["plastic"] is False and plastic["plastic"] is True and plastic["rule"] == rule
    assert frozen["synapses"] == plastic["synapses"] and goal["rule"] == rule
    assert float(plastic["ms_per_step"]) > 0 and float(goal["ratio"]) > 0  # type: ignore[arg-type]
