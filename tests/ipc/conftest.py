"""Fixtures for the IPC tests: a real ``spikeforge serve`` subprocess.

``ipc_server`` (function scope) yields a :class:`spikeforge.ipc.testing.ServerProcess`
that unpacks as ``(host, port, token_path, proc)``; the server knows the circuit
``probe`` (see :func:`spikeforge.ipc.testing.probe_circuit`). Engine tests elsewhere
can use :func:`spikeforge.ipc.testing.running_server` directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from spikeforge.ipc.testing import ServerProcess, running_server


@pytest.fixture
def ipc_server(tmp_path: Path) -> Iterator[ServerProcess]:
    with running_server(tmp_path, args=["--grace-seconds", "20"]) as srv:
        yield srv
    # no test here provokes a server bug: an internal error or traceback in its log is a failure
    assert "Traceback" not in srv.stderr and "internal error" not in srv.stderr, srv.stderr[-4000:]
