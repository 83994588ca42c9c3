"""``spikeforge bench cluster`` runs end to end (tiny sizes) and its sharded rows are bit-equal
to the single-process row."""

from __future__ import annotations

import json
from typing import Any

import pytest

from spikeforge.bench import cluster as bench_cluster

pytestmark = pytest.mark.native


def test_bench_cluster_rows(ray_cluster: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_cluster.main(["--brains", "6", "--frames", "4", "--warmup", "1", "--shards", "1,2", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(r["mode"], r["shards"]) for r in rows] == [("single", 0), ("single", 0), ("cluster", 1), ("cluster", 2)]
    assert all(r["bit_equal"] for r in rows)
    cl = [r for r in rows if r["mode"] == "cluster"]
    assert all(r["ray_overhead_ms_median"] is not None and r["ray_overhead_ms_median"] > 0 for r in cl)
    assert cl[0]["scaling"] == 1.0 and cl[1]["scaling"] > 0


def test_bench_cluster_json_rows_are_printed_as_measured(ray_cluster: Any, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # a run stopped part-way (a time limit on the device) keeps the rows it finished
    real = bench_cluster._cluster_row
    calls = []

    def stop_after_first(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("stopped")
        return real(*args, **kwargs)

    monkeypatch.setattr(bench_cluster, "_cluster_row", stop_after_first)
    with pytest.raises(RuntimeError, match="stopped"):
        bench_cluster.main(["--brains", "6", "--frames", "3", "--warmup", "1", "--shards", "1,2", "--json"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(r["mode"], r["shards"]) for r in rows] == [("single", 0), ("single", 0), ("cluster", 1)]
    assert rows[2]["scaling"] == 1.0 and rows[2]["bit_equal"]
