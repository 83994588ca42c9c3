"""Brains as assets over the wire (issue 12 item 3): EXPORT_BRAIN -> BRAIN_ASSET and
SPAWN_ASSET -> SPAWNED against real ``spikeforge serve`` processes.

A brain exported (with state) from one server and spawned into a second server process
continues bit for bit: the same spikes and actuator values as the first server running on
(numpy and native). Bad files spawn nothing and say why; another client's brain is
``NOT_OWNER``.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from spikeforge import World
from spikeforge.ipc import protocol as P
from spikeforge.ipc.client import Client
from spikeforge.ipc.protocol import Err, Msg, RemoteError
from spikeforge.ipc.testing import ServerProcess, probe_circuit, running_server
from spikeforge.model.circuit import Circuit
from spikeforge.model.neurons import LIF

FRAMES = 25
FRAME_DT = 0.004  # 4 steps of 1 ms: the same steps per frame in every session


def _connect(srv: ServerProcess, name: str = "t") -> Client:
    return Client.connect(srv.host, srv.port, token=srv.token, name=name)


def _pattern(frame: int, rows: int) -> np.ndarray:
    """Sensor values of the probe's 4-channel ``input`` for ``rows`` brains at ``frame``."""
    base = (np.arange(4) * 0.27 + frame * 0.11) % 1.0
    return np.stack([(base + 0.3 * r) % 1.0 for r in range(rows)]).astype(np.float32)


def _run(c: Client, brain: int, frames: range) -> list[tuple[int, bytes, bytes, bytes]]:
    """Drive every brain of ``c``; per frame: (steps, actuators of ``brain``, its spike steps, neurons).

    ``brain`` gets the pattern of row 1 whatever its row, so that it sees the same inputs in
    both servers."""
    out = []
    for f in frames:
        ids = c.layout.groups[0][1]
        sens = _pattern(f, len(ids))
        sens[ids.index(brain)] = _pattern(f, 2)[1]
        c.sensor("probe", "input")[:] = sens
        res = c.exchange(FRAME_DT)
        (batch,) = res.batches
        assert not batch.truncated
        act = c.actuator("probe", "rate")[ids.index(brain)]
        out.append((res.steps, act.tobytes(), np.asarray(batch.steps).tobytes(), np.asarray(batch.neurons).tobytes()))
    return out


def _clean(srv: ServerProcess) -> None:
    assert "Traceback" not in srv.stderr and "internal error" not in srv.stderr, srv.stderr[-4000:]


@pytest.mark.parametrize("backend", ["numpy", "native"])
def test_exported_brain_continues_bit_exactly_in_another_server(tmp_path: Path, backend: str) -> None:
    with running_server(tmp_path / "a", backend=backend, seed=7) as a, \
            running_server(tmp_path / "b", backend=backend, seed=99) as b:
        with _connect(a, "source") as ca:
            ids = ca.spawn("probe", 2)
            assert ids == [0, 1]
            ca.subscribe("", [1])
            _run(ca, 1, range(FRAMES))
            data = ca.export_brain(1)
            want = _run(ca, 1, range(FRAMES, 2 * FRAMES))  # the single-process reference
            assert sum(len(s) for _, _, s, _ in want) > 0, "the probe must spike for the test to mean anything"
        manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
        assert manifest["format"] == "spikeforge-brain" and manifest["version"] == 1 and manifest["state"]
        with _connect(b, "target") as cb:
            cb.spawn("probe", 3)  # other brains first: the asset lands at another id and slot
            (new,) = cb.spawn_asset(data)
            assert new == 3 and cb.layout.groups[0][1] == (0, 1, 2, 3)
            cb.subscribe("", [new])
            got = _run(cb, new, range(FRAMES, 2 * FRAMES))
        assert got == want
        # the exported bytes are a brain file Python spawns too (World.spawn_from), the same way
        w = World(backend=backend, seed=5)
        assert w.spawn_from(data).prototype == "probe"
        _clean(a)
        _clean(b)


def test_without_state_and_round_trip_of_bytes(tmp_path: Path) -> None:
    with running_server(tmp_path) as srv, _connect(srv) as c:
        (bid,) = c.spawn("probe")
        c.exchange(0.01)
        full, bare = c.export_brain(bid), c.export_brain(bid, state=False)
        assert len(bare) < len(full)
        assert not json.loads(zipfile.ZipFile(io.BytesIO(bare)).read("manifest.json"))["state"]
        (fresh,) = c.spawn_asset(full, state=False)
        (clone,) = c.spawn_asset(full)
        assert (fresh, clone) == (1, 2) and c.layout.groups == (("probe", (0, 1, 2)),)
        # what a server exports of a spawned clone is the same brain again (weights, state)
        again = zipfile.ZipFile(io.BytesIO(c.export_brain(clone)))
        orig = zipfile.ZipFile(io.BytesIO(full))
        for name in ("arrays/synapse.w.npy", "arrays/neuron.v.npy", "arrays/syn_pre.npy"):
            assert again.read(name) == orig.read(name)
        assert c.stats()["session"]["brains"] == 3
    _clean(srv)


def _rewrite(data: bytes, edit) -> bytes:  # type: ignore[no-untyped-def]
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            raw = zin.read(item.filename)
            if item.filename == "manifest.json":
                m = json.loads(raw)
                edit(m)
                raw = json.dumps(m).encode()
            zout.writestr(item, raw)
    return out.getvalue()


def _flip(data: bytes, member: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            raw = zin.read(item.filename)
            if item.filename == member:
                raw = raw[:-1] + bytes([raw[-1] ^ 0xFF])
            zout.writestr(item, raw)
    return out.getvalue()


BAD = [
    ("truncated", lambda d: d[: len(d) // 2], Err.INVALID, "unreadable brain file"),
    ("empty", lambda d: b"", Err.INVALID, "unreadable brain file"),
    ("not a zip", lambda d: b"hello world" * 10, Err.INVALID, "unreadable brain file"),
    ("corrupt array", lambda d: _flip(d, "arrays/synapse.w.npy"), Err.INVALID, "synapse.w' is corrupt"),
    ("wrong version", lambda d: _rewrite(d, lambda m: m.update(version=2)), Err.INVALID,
     "unsupported brain file version 2"),
    ("wrong format", lambda d: _rewrite(d, lambda m: m.update(format="spikeforge-snapshot")), Err.INVALID,
     "format is not"),
    ("other dt", lambda d: _rewrite(d, lambda m: m.update(dt=0.002)), Err.INVALID, "dt=0.002"),
    ("bad genome", lambda d: _rewrite(d, lambda m: m.update(genome={"nonsense": 1})), Err.GENOME, "genome"),
    ("bad arrays table", lambda d: _rewrite(d, lambda m: m.update(arrays=[])), Err.INVALID, "unreadable"),
]


def test_bad_files_spawn_nothing_and_say_why(tmp_path: Path) -> None:
    with running_server(tmp_path) as srv, _connect(srv) as c:
        (bid,) = c.spawn("probe")
        c.exchange(0.005)
        good = c.export_brain(bid)
        epoch = c.layout.epoch
        for what, make, code, text in BAD:
            with pytest.raises(RemoteError) as ei:
                c.spawn_asset(make(good))
            assert ei.value.code == code and text in ei.value.message, (what, ei.value)
            assert not ei.value.fatal
        # a circuit that differs from the registered one of the same name
        w = World(backend="numpy")
        (other,) = w.spawn(Circuit("probe").add_population("x", 3, LIF()))
        with pytest.raises(RemoteError) as ei:
            c.spawn_asset(other.asset_bytes())
        assert ei.value.code == Err.INVALID and "differs" in ei.value.message
        # nothing was spawned, the layout did not change
        assert c.get_layout().epoch == epoch and c.layout.groups == (("probe", (bid,)),)
        assert c.stats()["world"]["brains"] == 1
        # a new circuit in a file is registered like an upload
        (wolf,) = w.spawn(probe_circuit("wolf"))
        (wid,) = c.spawn_asset(wolf.asset_bytes())
        assert wid == 1 and "wolf" in [ci.name for ci in c.list_circuits()]
    _clean(srv)


def test_limits_and_bad_fields(tmp_path: Path) -> None:
    with running_server(tmp_path, args=["--max-neurons", "40"]) as srv, _connect(srv) as c:
        (bid,) = c.spawn("probe")  # 20 neurons
        data = c.export_brain(bid)
        c.spawn_asset(data)  # 40
        with pytest.raises(RemoteError) as ei:
            c.spawn_asset(data)
        assert ei.value.code == Err.LIMIT and "neurons" in ei.value.message
        # with_state must be 0/1; nbytes is bounded before anything is read
        with pytest.raises(RemoteError) as ei:
            c.request(Msg.SPAWN_ASSET, bytes([2]) + struct.pack("<I", len(data)) + data, Msg.SPAWNED)
        assert ei.value.code == Err.INVALID
        with pytest.raises(RemoteError) as ei:
            c.request(Msg.SPAWN_ASSET, bytes([1]) + struct.pack("<I", P.MAX_ASSET_BYTES + 1), Msg.SPAWNED)
        assert ei.value.code == Err.TOO_LARGE
        with pytest.raises(RemoteError) as ei:
            c.request(Msg.SPAWN_ASSET, bytes([1]) + struct.pack("<I", 100) + b"x", Msg.SPAWNED)
        assert ei.value.code == Err.MALFORMED
        with pytest.raises(RemoteError) as ei:
            c.request(Msg.EXPORT_BRAIN, struct.pack("<IB", bid, 3), Msg.BRAIN_ASSET)
        assert ei.value.code == Err.INVALID
        assert c.stats()["world"]["brains"] == 2
    _clean(srv)


def test_another_clients_brain_is_not_owner(tmp_path: Path) -> None:
    with running_server(tmp_path) as srv, _connect(srv, "one") as one, _connect(srv, "two") as two:
        (mine,) = one.spawn("probe")
        with pytest.raises(RemoteError) as ei:
            two.export_brain(mine)
        assert ei.value.code == Err.NOT_OWNER
        with pytest.raises(RemoteError) as ei:
            two.export_brain(12345)
        assert ei.value.code == Err.NOT_FOUND
        # the owner can; the spawned copy belongs to the session that spawned it
        (copy,) = two.spawn_asset(one.export_brain(mine))
        with pytest.raises(RemoteError) as ei:
            one.export_brain(copy)
        assert ei.value.code == Err.NOT_OWNER
        assert two.layout.groups == (("probe", (copy,)),) and one.layout.groups == (("probe", (mine,)),)
    _clean(srv)


def test_codec_round_trip() -> None:
    e = P.ExportBrain(7, False)
    assert P.ExportBrain.decode(e.encode()) == e and e.encode() == struct.pack("<IB", 7, 0)
    a = P.BrainAsset(7, b"abc")
    assert P.BrainAsset.decode(a.encode()) == a and a.encode() == struct.pack("<II", 7, 3) + b"abc"
    s = P.SpawnAsset(b"xyz", True)
    assert P.SpawnAsset.decode(s.encode()) == s and s.encode() == struct.pack("<BI", 1, 3) + b"xyz"
    with pytest.raises(P.ProtocolError) as ei:
        P.SpawnAsset.decode(struct.pack("<BI", 1, 3) + b"xyzw")
    assert ei.value.code == Err.MALFORMED
