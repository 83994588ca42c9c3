"""Soak: 100,000 exchanges against a real server; its memory stays flat.

Tiny brains and mostly zero-step frames keep it bounded in time (the protocol path is
what is soaked; every 50th frame runs a step, with a spike subscription attached).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikeforge.ipc.client import Client
from spikeforge.ipc.testing import running_server

TOTAL = 100_000


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_soak_100k_exchanges_memory_flat(tmp_path: Path) -> None:
    with running_server(tmp_path) as srv:
        c = Client.connect(srv.host, srv.port, token_file=srv.token_path, name="soak")
        c.spawn("probe", 2)
        c.subscribe("out")
        rng = np.random.default_rng(0)
        inputs = rng.random((64, c.layout.sensor_floats)).astype(np.float32)
        steps = 0
        samples = []
        for i in range(TOTAL):
            if i == TOTAL // 2:
                c.open_shm()  # second half through shared memory
            c.sensors[:] = inputs[i % 64]
            res = c.exchange(0.001 if i % 50 == 0 else 0.0)
            steps += res.steps
            if i % 10_000 == 9_999:
                samples.append(rss_kib(srv.proc.pid))
                assert c.stats()["session"]["exchanges"] == i + 1
        c.close()
        assert steps == TOTAL // 50
        assert srv.proc.poll() is None
    # after warm-up (first sample), growth over 90,000 exchanges stays under 4 MiB
    growth = max(samples[1:]) - samples[0]
    print("server RSS KiB every 10,000 exchanges:", samples)
    assert growth < 4096, f"server RSS grew by {growth} KiB: {samples}"
