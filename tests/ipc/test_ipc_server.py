"""End-to-end: a real ``spikeforge serve`` subprocess and real clients.

Determinism against in-process Worlds, several concurrent clients, shared memory, Unix
socket, ownership, auth, bad frames, kill/resume, grace expiry, snapshots and SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from ipc_reference import make_frames, reference

from spikeforge.ipc import protocol as P
from spikeforge.ipc.client import Client
from spikeforge.ipc.protocol import Err, Msg, RemoteError
from spikeforge.ipc.serve import main as serve_main
from spikeforge.ipc.testing import ServerProcess, probe_genome_text, running_server
from spikeforge.runtime.clock import FixedClock
from spikeforge.runtime.world import World


def connect(srv: ServerProcess, name: str = "t", resume: str = "") -> Client:
    return Client.connect(srv.host, srv.port, token_file=srv.token_path, name=name, resume_token=resume)


def clock_steps(frames: list[tuple[float, np.ndarray]]) -> int:
    clock = FixedClock(0.001, 64)
    return sum(clock.accumulate(dt) for dt, _ in frames)


def run_frames(c: Client, frames: list[tuple[float, np.ndarray]]) -> list[np.ndarray]:
    out = []
    for dt, sens in frames:
        c.sensor("probe", "input")[...] = sens
        c.exchange(dt)
        out.append(c.actuator("probe", "rate").copy())
    return out


def test_single_client_equals_in_process_world(ipc_server: ServerProcess) -> None:
    frames = make_frames(30, 3, seed=1)
    want, _ = reference(frames, 3)
    with connect(ipc_server) as c:
        assert [ci.name for ci in c.list_circuits()] == ["probe"]
        assert c.spawn("probe", 3) == [0, 1, 2]
        got = run_frames(c, frames)
        st = c.stats()
    assert st["session"]["steps"] == clock_steps(frames) and st["session"]["exchanges"] == 30
    assert any(a.any() for a in want), "the test network must produce some output"
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(a, b, err_msg=f"frame {i}")


def test_concurrent_clients_each_equal_their_own_reference(ipc_server: ServerProcess) -> None:
    clients = [connect(ipc_server, f"c{i}") for i in range(3)]
    ids = [c.spawn("probe", 2) for c in clients]  # spawned one after another: ids 0-1, 2-3, 4-5
    assert ids == [[0, 1], [2, 3], [4, 5]]
    frames = [make_frames(20, 2, seed=10 + i) for i in range(3)]
    results: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = run_frames(clients[i], frames[i])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for i in range(3):
        want, _ = reference(frames[i], 2, first_id=2 * i)
        for k, (a, b) in enumerate(zip(results[i], want, strict=True)):
            np.testing.assert_array_equal(a, b, err_msg=f"client {i} frame {k}")
    # ownership: a client cannot touch another client's brains
    with pytest.raises(RemoteError) as ei:
        clients[1].despawn([0])
    assert ei.value.code == Err.NOT_OWNER and not ei.value.fatal
    with pytest.raises(RemoteError) as ei:
        clients[1].subscribe("", [4])
    assert ei.value.code == Err.NOT_OWNER
    with pytest.raises(RemoteError) as ei:
        clients[2].reward([0], [1.0])
    assert ei.value.code == Err.NOT_OWNER
    with pytest.raises(RemoteError) as ei:
        clients[0].despawn([99])
    assert ei.value.code == Err.NOT_FOUND
    assert clients[0].stats()["world"]["brains"] == 6
    clients[0].despawn([1])
    assert clients[0].layout.brain_ids == [0]
    assert clients[1].get_layout().brain_ids == [2, 3]
    for c in clients:
        c.close()


def test_shared_memory_exchange_equals_reference(ipc_server: ServerProcess) -> None:
    frames = make_frames(20, 4, seed=3)
    want, _ = reference(frames, 4)
    with connect(ipc_server) as c:
        c.spawn("probe", 4)
        block = c.open_shm()
        assert block.path.parent == Path("/dev/shm") and stat.S_IMODE(os.stat(block.path).st_mode) == 0o600
        assert np.shares_memory(c.sensors, block.sensors)
        got = []
        for dt, sens in frames:
            c.sensor("probe", "input")[...] = sens
            res = c.exchange(dt)
            assert res.flags & P.FLAG_SHM and res.actuators.size == 0  # actuators came through the block
            got.append(c.actuator("probe", "rate").copy())
        assert block.counter == len(frames)
        path = block.path
        c.close_shm()
        assert not path.exists()
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


def test_spike_subscription_equals_bus(ipc_server: ServerProcess) -> None:
    frames = make_frames(12, 2, seed=4)
    _, want = reference(frames, 2, population="out")
    got: list[tuple[int, int, int]] = []
    with connect(ipc_server) as c:
        c.spawn("probe", 2)
        sid = c.subscribe("out")
        for dt, sens in frames:
            c.sensor("probe", "input")[...] = sens
            res = c.exchange(dt)
            assert [b.sub_id for b in res.batches] == [sid]
            b = res.batches[0]
            got += list(zip(b.steps.tolist(), b.brains.tolist(), b.neurons.tolist(), strict=True))
        c.unsubscribe(sid)
        assert c.exchange(0.002).batches == ()
    assert want and got == want


def test_bad_requests_get_errors_and_change_nothing(ipc_server: ServerProcess) -> None:
    frames = make_frames(6, 1, seed=6)
    want, _ = reference(frames, 1)
    with connect(ipc_server) as c:
        c.spawn("probe", 1)
        got = []
        for dt, sens in frames:
            bad = sens.copy()
            bad[0, 2] = np.nan
            with pytest.raises(RemoteError, match=r"sensors\[2\]") as ei:
                c.exchange(dt, bad)
            assert ei.value.code == Err.INVALID
            seq = c.next_seq()  # stale epoch
            c.send_raw(P.frame(Msg.EXCHANGE, seq, P.Exchange(c.layout.epoch + 5, dt, 0, sens.reshape(-1)).encode()))
            msg, rseq, payload = c.read_frame()
            assert msg == Msg.ERROR and rseq == seq and P.decode_error(payload, seq).code == Err.STALE_LAYOUT
            c.sensor("probe", "input")[...] = sens
            c.exchange(dt)
            got.append(c.actuator("probe", "rate").copy())
        for a, b in zip(got, want, strict=True):  # the refused requests did not advance anything
            np.testing.assert_array_equal(a, b)
        with pytest.raises(RemoteError) as ei:
            c.spawn("nope", 1)
        assert ei.value.code == Err.NOT_FOUND and "probe" in ei.value.message
        with pytest.raises(RemoteError) as ei:
            c.upload_genome('{"format": "spikeforge-genome", "version": 1, "circuit": {"name": "x", "bogus": 1}}')
        assert ei.value.code == Err.GENOME and "circuit.bogus" in ei.value.message
        with pytest.raises(RemoteError) as ei:
            c.upload_genome(probe_genome_text("probe", sensors=3))
        assert ei.value.code == Err.INVALID
        assert c.upload_genome(probe_genome_text("second")).name == "second"
        assert sorted(x.name for x in c.list_circuits()) == ["probe", "second"]
        seq = c.next_seq()
        c.send_raw(P.frame(0x7777, seq))
        msg, rseq, payload = c.read_frame()
        assert msg == Msg.ERROR and P.decode_error(payload, rseq).code == Err.UNKNOWN_TYPE
        assert c.ping(b"still fine") == b"still fine"


def test_auth_version_and_fatal_frames_drop_only_that_client(ipc_server: ServerProcess) -> None:
    good = connect(ipc_server, "good")
    good.spawn("probe", 1)
    with pytest.raises(RemoteError) as ei:
        Client.connect(ipc_server.host, ipc_server.port, token="0" * 64)
    assert ei.value.code == Err.AUTH and ei.value.fatal

    def raw_hello(payload: bytes) -> tuple[int, bytes, bytes]:
        with socket.create_connection((ipc_server.host, ipc_server.port), timeout=10) as s:
            s.sendall(P.frame(Msg.HELLO, 1, payload))
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        msg = struct.unpack_from("<H", data, 4)[0]
        return msg, data[P.HEADER_SIZE:], data

    msg, payload, _ = raw_hello(P.Hello("v2", ipc_server.token, "", 2, 0).encode())
    assert msg == Msg.ERROR and P.decode_error(payload, 1).code == Err.VERSION
    # a frame before HELLO, an oversized frame, a too-short length: each answered then closed
    for junk in (P.frame(Msg.STATS, 1), struct.pack("<IHHI", 2**31, Msg.PING, 0, 1), struct.pack("<IHHI", 3, 0, 0, 0)):
        with socket.create_connection((ipc_server.host, ipc_server.port), timeout=10) as s:
            s.sendall(junk)
            data = s.recv(4096)
            err = P.decode_error(data[P.HEADER_SIZE:], 0)
            assert err.fatal and err.code in (Err.BAD_STATE, Err.TOO_LARGE, Err.MALFORMED)
            s.settimeout(10)
            assert s.recv(4096) == b""  # closed by the server
    bad = connect(ipc_server, "bad")
    bad.send_raw(struct.pack("<IHHI", P.MAX_FRAME_BYTES + 1, Msg.EXCHANGE, 0, 5))
    msg, _, payload = bad.read_frame()
    assert msg == Msg.ERROR and P.decode_error(payload, 0).code == Err.TOO_LARGE
    bad.sock.close()
    assert good.exchange(1 / 60).steps == 16
    assert good.stats()["world"]["brains"] == 1


def test_kill_client_mid_exchange_then_resume(ipc_server: ServerProcess, tmp_path: Path) -> None:
    """A client process spawns, exchanges, starts an EXCHANGE frame and is SIGKILLed; a new
    process resumes the session with the resume token and continues bit-exactly."""
    frames = make_frames(16, 2, seed=8)
    want, _ = reference(frames, 2)
    np.save(tmp_path / "frames.npy", np.stack([f[1] for f in frames]))
    script = f"""
import json, sys, time, numpy as np
from spikeforge.ipc.client import Client
from spikeforge.ipc import protocol as P
dts = {[f[0] for f in frames]!r}
sens = np.load({str(tmp_path / "frames.npy")!r})
c = Client.connect({ipc_server.host!r}, {ipc_server.port}, token_file={str(ipc_server.token_path)!r}, name="victim")
c.spawn("probe", 2)
outs = []
for i in range(8):
    c.sensor("probe", "input")[...] = sens[i]
    c.exchange(dts[i])
    outs.append(c.actuator("probe", "rate").tolist())
frame = P.frame(P.Msg.EXCHANGE, 99, P.Exchange(c.layout.epoch, dts[8], 0, sens[8].reshape(-1)).encode())
c.send_raw(frame[:len(frame) // 2])
print(json.dumps({{"resume": c.resume_token, "outs": outs}}), flush=True)
time.sleep(60)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    got = [np.array(o, np.float32) for o in info["outs"]]
    time.sleep(0.2)
    with connect(ipc_server, "resumer", resume=info["resume"]) as c:
        assert c.welcome.resumed and c.layout.brain_ids == [0, 1]
        assert c.stats()["session"]["steps"] == clock_steps(frames[:8])  # the half frame ran nothing
        got += run_frames(c, frames[8:])
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(a, b, err_msg=f"frame {i}")


def test_resume_replaces_a_live_connection(ipc_server: ServerProcess) -> None:
    a = connect(ipc_server, "a")
    a.spawn("probe", 1)
    b = connect(ipc_server, "b", resume=a.resume_token)
    assert b.welcome.resumed and b.layout.brain_ids == [0]
    msg, _, payload = a.read_frame()
    assert msg == Msg.ERROR and P.decode_error(payload, 0).fatal
    assert b.exchange(0.01).steps == 10
    b.close()
    with pytest.raises(RemoteError) as ei:
        connect(ipc_server, "c", resume=a.resume_token)  # BYE ended the session
    assert ei.value.code == Err.NOT_FOUND


def test_grace_period_expiry_despawns(tmp_path: Path) -> None:
    with running_server(tmp_path, args=["--grace-seconds", "0.5"]) as srv:
        c = connect(srv)
        c.spawn("probe", 3)
        token = c.resume_token
        c.close(bye=False)  # vanish without BYE
        watcher = connect(srv, "watcher")
        assert watcher.stats()["world"]["brains"] == 3  # kept during the grace period
        time.sleep(1.5)
        assert watcher.stats()["world"]["brains"] == 0
        with pytest.raises(RemoteError) as ei:
            connect(srv, resume=token)
        assert ei.value.code == Err.NOT_FOUND
        watcher.close()


def test_snapshots_paths_sigterm_and_load(tmp_path: Path) -> None:
    frames = make_frames(10, 2, seed=9)
    want, _ = reference(frames, 2)
    srv_dir = tmp_path / "one"
    with running_server(srv_dir) as srv:
        assert stat.S_IMODE(os.stat(srv.token_path).st_mode) == 0o600
        c = connect(srv)
        c.spawn("probe", 2)
        run_frames(c, frames[:5])
        for bad in ("../evil", "/etc/passwd", ".hidden", "a/b", "", "x" * 65):
            with pytest.raises(RemoteError) as ei:
                c.save(bad)
            assert ei.value.code == Err.INVALID, bad
        assert not (srv_dir / "evil").exists()
        c.save("mid.snap")
        assert (srv.snapshot_dir / "mid.snap").is_file()
        other = connect(srv, "other")
        with pytest.raises(RemoteError) as ei:
            c.load("mid.snap")
        assert ei.value.code == Err.BUSY
        other.close()
        with pytest.raises(RemoteError) as ei:
            c.load("missing.snap")
        assert ei.value.code == Err.NOT_FOUND
        c.set_learning(False)
        c.reward([0, 1], [0.5, -0.25])
        run_frames(c, frames[5:7])
        rc = srv.stop()
        assert rc == 0
        final = srv.snapshot_dir / "final.snapshot"
        assert final.is_file()
        assert World.load(final, backend="numpy").stats()["brains"] == 2
    # a new server restarts from the final snapshot; a client claims the brains and goes on
    with running_server(tmp_path / "two", args=["--load", str(final)]) as srv2:
        c2 = connect(srv2)
        assert c2.layout.brain_ids == []
        assert c2.claim().brain_ids == [0, 1]
        assert c2.stats()["session"]["brains"] == 2
        c2.close()
    # LOAD by the only session restores the mid snapshot and continues like the reference
    with running_server(tmp_path / "three") as srv3:
        (srv3.snapshot_dir / "mid.snap").write_bytes((srv.snapshot_dir / "mid.snap").read_bytes())
        c3 = connect(srv3)
        assert c3.load("mid.snap").brain_ids == [0, 1]
        got = run_frames(c3, frames[5:])
        c3.close()
    for a, b in zip(got, want[5:], strict=True):
        np.testing.assert_array_equal(a, b)


def test_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "sf.sock"
    with running_server(tmp_path, args=["--unix", str(path)]) as srv:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        c = Client.connect(unix=path, token_file=srv.token_path)
        c.spawn("probe", 1)
        assert c.exchange(0.005).steps == 5
        c.close()
    assert not path.exists()


def test_non_loopback_needs_allow_remote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert serve_main(["--host", "0.0.0.0", "--port", "0", "--token-file", str(tmp_path / "t")]) == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()
    with running_server(tmp_path, args=["--host", "0.0.0.0", "--allow-remote"]) as srv:
        time.sleep(0.2)
        assert "WARNING" in srv.stderr
        with Client.connect("127.0.0.1", srv.port, token_file=srv.token_path) as c:
            assert c.ping(b"x") == b"x"


def test_other_clients_relayouts_do_not_disturb_a_running_client(ipc_server: ServerProcess) -> None:
    frames = make_frames(12, 2, seed=12)
    want, _ = reference(frames, 2)
    a = connect(ipc_server, "a")
    b = connect(ipc_server, "b")
    a.spawn("probe", 2)
    got = []
    extra: list[int] = []
    for i, (dt, sens) in enumerate(frames):
        if i % 3 == 0:
            extra += b.spawn("probe", 1 + i % 2)  # world re-laid out between a's frames
        elif i % 3 == 1 and extra:
            b.despawn([extra.pop(0)])
        b.exchange(0.003)
        a.sensor("probe", "input")[...] = sens
        a.exchange(dt)
        got.append(a.actuator("probe", "rate").copy())
    assert a.layout.epoch == 1  # b's spawns never changed a's layout
    for k, (x, y) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(x, y, err_msg=f"frame {k}")
    a.close()
    b.close()


def test_pipelined_frames_then_bad_length_are_all_answered(ipc_server: ServerProcess) -> None:
    with socket.create_connection((ipc_server.host, ipc_server.port), timeout=10) as s:
        big = P.frame(Msg.PING, 3, b"y" * 2000)  # PING payload above 1024 bytes: non-fatal error
        s.sendall(P.frame(Msg.HELLO, 1, P.Hello("pipe", ipc_server.token).encode()) + P.frame(Msg.PING, 2, b"x")
                  + big + P.frame(Msg.PING, 4, b"z" * 5000) + struct.pack("<IHHI", 2**31, Msg.PING, 0, 5))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    frames = P.FrameDecoder().feed(data)
    assert [(f.msg, f.seq) for f in frames] == [(Msg.WELCOME, 1), (Msg.PONG, 2), (Msg.ERROR, 3), (Msg.ERROR, 4),
                                                (Msg.ERROR, 0)]
    # seq 4 (5000 bytes) is above the 4096-byte pre-HELLO limit but was sent in the same chunk as
    # HELLO: it is parsed with the post-handshake limit and answered like seq 3
    assert P.decode_error(frames[2].payload, 3).code == Err.TOO_LARGE
    assert P.decode_error(frames[3].payload, 4).code == Err.TOO_LARGE and not P.decode_error(frames[3].payload, 4).fatal
    assert P.decode_error(frames[4].payload, 0).fatal
