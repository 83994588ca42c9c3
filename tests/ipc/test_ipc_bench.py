"""``spikeforge bench ipc`` runs end to end and prints one JSON object per row (no timing asserted)."""

from __future__ import annotations

import json

import pytest

from spikeforge.bench.ipc import main


def test_bench_ipc_smoke_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--backend", "numpy", "--seed", "2", "--json", "--brains", "3", "--frames", "4", "--warmup", "1",
               "--transports", "tcp,shm"])
    assert rc == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["transport"], r["mode"]) for r in rows] == [("tcp", "sim-subtracted"), ("tcp", "no-steps"),
                                                           ("shm", "sim-subtracted"), ("shm", "no-steps"),
                                                           ("plain-socket", "control")]
    for r in rows[:4]:
        assert r["backend"] == "numpy" and r["brains"] == 3 and r["frames"] == 4
        assert r["rtt_median_us"] > 0 and r["ipc_median_us"] <= r["rtt_median_us"]
    assert rows[0]["steps_per_frame"] > 16 and rows[1]["steps_per_frame"] == 0


def test_bench_ipc_rejects_unknown_transport() -> None:
    with pytest.raises(SystemExit):
        main(["--transports", "carrier-pigeon"])
