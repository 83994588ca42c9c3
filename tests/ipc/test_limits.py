"""Fair resource limits and validation against a real ``spikeforge serve`` on loopback (issue 17
items 4 and 5). Every test is bounded in time (a few seconds) and cleans up its sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from spikeforge.ipc.client import Client
from spikeforge.ipc.protocol import Err, RemoteError
from spikeforge.ipc.testing import ServerProcess, probe_genome_text, start_server

FRAME = 1.0 / 60.0


def connect(srv: ServerProcess, name: str = "t", **kw: object) -> Client:
    return Client.connect(srv.host, srv.port, token_file=srv.token_path, name=name, timeout=10.0, **kw)  # type: ignore[arg-type]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path, args=["--grace-seconds", "0"])
    try:
        yield srv
    finally:
        srv.stop()
    assert "Traceback" not in srv.stderr and "internal error" not in srv.stderr, srv.stderr[-3000:]


# ---------------------------------------------------------------------- validation (item 5)
def test_upload_of_unrepresentable_t_ref_is_a_genome_error_naming_the_field(server: ServerProcess) -> None:
    doc = json.loads(probe_genome_text("huge_ref"))
    doc["circuit"]["populations"][0]["model"]["t_ref"] = 1e30
    with connect(server) as c:
        with pytest.raises(RemoteError) as ei:
            c.upload_genome(json.dumps(doc))
        assert ei.value.code == Err.GENOME
        assert "circuit.populations[0].model.t_ref" in ei.value.message
        assert c.ping(b"ok") == b"ok"  # not fatal


def test_genome_file_with_unrepresentable_value_stops_serve_with_the_field(tmp_path: Path) -> None:
    doc = json.loads(probe_genome_text("bad"))
    doc["circuit"]["populations"][1]["model"]["consec_limit"] = 2**40
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"populations\[1\]\.model\.consec_limit"):
        start_server(tmp_path / "s", genomes=[bad], timeout=20.0)
