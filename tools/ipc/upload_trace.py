"""Where in an upload the player's slow exchanges fall (issue 17, the upload flood of ``bench flood``).

A real server with 1,000 probe brains, a player exchanging flat out, and a flooder process uploading
new 64-population genomes for 5 s; both record their request times (``time.perf_counter`` is
CLOCK_MONOTONIC, shared by the processes). For every player exchange slower than 3 ms: where its start
and end fall within the upload in flight (0 = the upload was sent, 1 = its reply arrived).

    PYTHONPATH=sdk:. python tools/ipc/upload_trace.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from spikeforge.ipc.client import Client
from spikeforge.ipc.testing import running_server

FLOODER = r"""
import json, sys, time
from spikeforge.ipc.client import Client
from spikeforge.bench.flood import _upload_genome
host, port, token, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
doc, sent = _upload_genome(0), []
with Client.connect(host, port, token_file=token, name="flood-upload") as c:
    end, k = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        doc["circuit"]["name"] = f"trace{k}"
        text = json.dumps(doc)
        t0 = time.perf_counter()
        c.upload_genome(text)
        sent.append((t0, time.perf_counter()))
        k += 1
print(json.dumps(sent))
"""


def main() -> None:
    """Run the trace and print the phases (see the module docstring)."""
    sys.setswitchinterval(1e-4)  # as the benches: the player's thread is not held up in this process
    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp), backend="native", seed=1) as srv, \
            Client.connect(srv.host, srv.port, token_file=srv.token_path, name="player") as player, \
            Client.connect(srv.host, srv.port, token_file=srv.token_path, name="holder") as holder:
        player.spawn("probe", 20)
        holder.spawn("probe", 1000)
        done: list[tuple[float, float]] = []
        stop = threading.Event()

        def play() -> None:
            while not stop.is_set():
                t = time.perf_counter()
                player.exchange(1 / 60)
                done.append((t, time.perf_counter()))

        th = threading.Thread(target=play, daemon=True)
        th.start()
        time.sleep(0.5)
        out = subprocess.run([sys.executable, "-c", FLOODER, srv.host, str(srv.port), str(srv.token_path), "5"],
                             capture_output=True, text=True, check=True).stdout
        stop.set()
        th.join()
    uploads = np.array(json.loads(out.strip().splitlines()[-1]))
    ex = np.array(done)
    ex = ex[(ex[:, 1] >= uploads[0, 0]) & (ex[:, 1] <= uploads[-1, 1])]
    ms = (ex[:, 1] - ex[:, 0]) * 1e3
    print(f"exchanges {len(ms)}: median {np.median(ms):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms; uploads "
          f"{len(uploads)}: median {np.median(uploads[:, 1] - uploads[:, 0]) * 1e3:.2f} ms")
    phases = []
    for s, e in ex[ms > 3.0]:
        i = int(np.searchsorted(uploads[:, 0], s)) - 1
        if i >= 0:
            u0, u1 = uploads[i]
            phases.append(((s - u0) / (u1 - u0), (e - u0) / (u1 - u0), (e - s) * 1e3, (u1 - u0) * 1e3))
    print(f"exchanges over 3 ms: {len(phases)}")
    if phases:
        ph = np.array(phases)
        q = [10, 25, 50, 75, 90]
        print("start within the upload, percentiles 10/25/50/75/90:", np.percentile(ph[:, 0], q).round(2))
        print("end within the upload, percentiles 10/25/50/75/90:", np.percentile(ph[:, 1], q).round(2))
        print("their ms (10/50/90):", np.percentile(ph[:, 2], [10, 50, 90]).round(2),
              "their upload's ms:", np.percentile(ph[:, 3], [10, 50, 90]).round(2))
    worst = int(np.argmax(ms))
    print(f"worst exchange {ms[worst]:.1f} ms, {(ex[worst, 0] - uploads[0, 0]) * 1e3:.0f} ms after the first "
          f"upload was sent (which took {(uploads[0, 1] - uploads[0, 0]) * 1e3:.0f} ms)")
    edges = [0, 0.5, 1, 2, 3, 4, 5, 6, 8, 12, 50]
    print("exchanges per ms bin", list(zip(edges, np.histogram(ms, bins=edges)[0].tolist(), strict=False)))


if __name__ == "__main__":
    main()
