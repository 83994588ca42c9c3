"""``spikeforge serve --cluster``: a real server process whose world is sharded over the test's
multi-node Ray cluster answers a protocol client exactly as a single-process server does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spikeforge.ipc.client import Client
from spikeforge.ipc.testing import running_server

pytestmark = pytest.mark.native


def session(srv: Any, frames: int = 12) -> tuple[list[tuple[np.ndarray, list[tuple[np.ndarray, ...]]]], Any]:
    """Spawn, subscribe, exchange ``frames`` frames of seeded sensors, reward; the replies."""
    host, port, token_path, _ = srv
    out = []
    with Client.connect(host, port, token_file=token_path) as c:
        ids = c.spawn("probe", 7)
        c.subscribe()
        c.subscribe("out", ids[2:5])
        rng = np.random.default_rng(9)
        for f in range(frames):
            if f == 6:
                c.despawn(ids[:2])
                c.spawn("probe", 3)
            c.sensors[:] = rng.random(c.sensors.size, dtype=np.float32)
            res = c.exchange(1 / 60)
            out.append((c.actuators.copy(), [(b.steps, b.brains, b.neurons) for b in res.batches]))
        c.save("after")
        stats = c.stats()
    return out, stats["world"]


def test_serve_cluster_is_the_single_process_server(ray_cluster: Any, tmp_path: Path) -> None:
    with running_server(tmp_path / "one", backend="native", seed=4) as one:
        ref, st_ref = session(one)
    args = ["--cluster", ray_cluster.address, "--shards", "2", "--checkpoint-every", "100"]
    with running_server(tmp_path / "many", backend="native", seed=4, args=args) as many:
        assert many.ready["backend"] == "cluster"
        got, st = session(many)
        assert st["backend"] == "cluster" and len(st["shards"]) == 2
        assert st["brains"] == st_ref["brains"] == 8 and all(s["brains"] >= 3 for s in st["shards"])
    assert "Traceback" not in many.stderr, many.stderr[-3000:]
    assert (tmp_path / "many" / "snapshots" / "after").is_file()
    spikes = 0
    for (a_ref, b_ref), (a_got, b_got) in zip(ref, got, strict=True):
        np.testing.assert_array_equal(a_ref, a_got)
        assert len(b_ref) == len(b_got)
        for x, y in zip(b_ref, b_got, strict=True):
            # the same (brain step, brain, neuron) spikes; their order follows each world's row
            # order (a single World reuses free slots, the cluster mirror is compact)
            tx, ty = (np.stack([np.asarray(a, np.int64) for a in t], 1) for t in (x, y))
            np.testing.assert_array_equal(tx[np.lexsort(tx.T[::-1])], ty[np.lexsort(ty.T[::-1])])
            spikes += len(x[0])
    assert spikes > 100


def test_cluster_option_parsing_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from spikeforge.cluster.serve import parse_cluster
    from spikeforge.ipc import serve

    assert parse_cluster("local:3") == (None, 3)
    assert parse_cluster("local") == (None, 2)
    assert parse_cluster("10.0.0.7:6379") == ("10.0.0.7:6379", 0)
    for bad, msg in (("local:x", "whole number"), ("local:0", "N must be >= 1")):
        with pytest.raises(ValueError, match=msg):
            parse_cluster(bad)
        rc = serve.main(["--cluster", bad, "--port", "0", "--token-file", str(tmp_path / "t"),
                         "--snapshot-dir", str(tmp_path / "s")])
        assert rc == 2 and "--cluster" in capsys.readouterr().err
    rc = serve.main(["--cluster", "local:2", "--backend", "gpu", "--port", "0", "--token-file", str(tmp_path / "t"),
                     "--snapshot-dir", str(tmp_path / "s")])
    assert rc == 2 and "native" in capsys.readouterr().err
