"""Fair resource limits and validation against a real ``spikeforge serve`` on loopback (issue 17
items 4 and 5). Every test is bounded in time (a few seconds) and cleans up its sockets."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spikeforge.ipc import protocol as P
from spikeforge.ipc.client import Client
from spikeforge.ipc.protocol import Err, Msg, RemoteError
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


# ---------------------------------------------------------------------- transport fairness (item 4)
def raw(srv: ServerProcess) -> socket.socket:
    s = socket.create_connection((srv.host, srv.port), timeout=5.0)
    return s


def read_error(s: socket.socket, timeout: float = 5.0) -> tuple[int, str] | None:
    """The fatal ERROR frame the server sends before closing, or None if it just closed."""
    s.settimeout(timeout)
    buf = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    if len(buf) < P.HEADER.size:
        return None
    length, msg, _, seq = P.HEADER.unpack_from(buf)
    assert msg == Msg.ERROR
    err = P.decode_error(buf[P.HEADER.size:4 + length], seq)
    assert err.fatal
    return err.code, err.message


def stats(srv: ServerProcess) -> dict[str, Any]:
    with connect(srv, "stats") as c:
        return c.stats()


def test_handshake_deadline_drops_a_silent_connection(tmp_path: Path) -> None:
    srv = start_server(tmp_path, args=["--hello-timeout", "1"])
    try:
        s = raw(srv)
        t0 = time.monotonic()
        got = read_error(s, timeout=4.0)
        waited = time.monotonic() - t0
        s.close()
        assert got is not None and got[0] == Err.TIMEOUT
        assert 0.8 <= waited <= 2.5
        st = stats(srv)["server"]["limits"]
        assert st["hello_timeouts"] == 1 and st["hello_timeout_s"] == 1.0
    finally:
        srv.stop()


def test_pending_cap_drops_the_oldest_and_a_prompt_client_gets_in(tmp_path: Path) -> None:
    srv = start_server(tmp_path, args=["--max-pending", "4"])
    try:
        silent = [raw(srv) for _ in range(10)]
        time.sleep(0.3)
        with connect(srv, "prompt") as c:  # completes HELLO at once: evicts a silent one, not itself
            c.spawn("probe", 1)
            c.exchange(FRAME)
            lim = c.stats()["server"]["limits"]
        assert lim["max_pending"] == 4 and lim["pending"] <= 4
        assert lim["pending_evicted"] >= 6
        codes = []
        for s in silent[:6]:  # the oldest ones went first
            got = read_error(s, timeout=2.0)
            codes.append(got[0] if got else None)
            s.close()
        assert codes == [Err.LIMIT] * 6
        for s in silent[6:]:
            s.close()
    finally:
        srv.stop()
    assert "Traceback" not in srv.stderr


def test_grace_sessions_count_against_the_client_cap_and_resume_fits(tmp_path: Path) -> None:
    srv = start_server(tmp_path, args=["--max-clients", "2", "--grace-seconds", "20"])
    try:
        a = connect(srv, "a")
        a.spawn("probe", 1)
        a.open_shm(64, 64)
        token = a.resume_token
        a.close(bye=False)  # dropped: its session (brains, shm block) waits out its grace
        b = connect(srv, "b")
        deadline = time.monotonic() + 3.0
        while b.stats()["server"]["limits"]["grace_sessions"] != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(RemoteError) as ei:
            connect(srv, "c")
        assert ei.value.code == Err.LIMIT and "grace" in ei.value.message
        a2 = connect(srv, "a", resume_token=token)  # its own slot
        assert a2.welcome.resumed
        a2.exchange(FRAME)
        lim = a2.stats()["server"]["limits"]
        assert lim["max_clients"] == 2 and lim["grace_sessions"] == 0 and lim["refused_clients"] == 1
        assert a2.stats()["server"]["clients"] == 2
        a2.close()
        b.close()
    finally:
        srv.stop()


def test_session_churn_keeps_descriptors_bounded(tmp_path: Path) -> None:
    """connect / HELLO / SHM_OPEN / drop cycles: sessions in grace are capped, so are their fds."""
    srv = start_server(tmp_path, args=["--max-clients", "4", "--grace-seconds", "30"])
    try:
        fd_dir = Path(f"/proc/{srv.proc.pid}/fd")
        # the upload-parse helper starts once the server listens (its pool's pipes are fds of
        # their own): count from after it is up, not from a moment that races its start
        with connect(srv, "warm") as w:
            deadline = time.monotonic() + 60.0
            while (not (w.stats()["server"]["upload_parse"] or {}).get("helper_warmed")
                   and time.monotonic() < deadline):
                time.sleep(0.1)
        time.sleep(0.2)
        base = len(list(fd_dir.iterdir()))
        refused = 0
        for i in range(40):
            try:
                c = connect(srv, f"churn{i}")
            except RemoteError as exc:
                assert exc.code == Err.LIMIT
                refused += 1
                continue
            c.spawn("probe", 1)
            c.open_shm(64, 64)
            c.close(bye=False)
        assert refused >= 36
        time.sleep(0.2)
        assert len(list(fd_dir.iterdir())) <= base + 2 * 4 + 2
    finally:
        srv.stop()


def test_idle_timeout_drops_a_silent_client_and_spares_a_pinging_one(tmp_path: Path) -> None:
    srv = start_server(tmp_path, args=["--idle-timeout", "1", "--grace-seconds", "0"])
    try:
        idle = connect(srv, "idle")
        busy = connect(srv, "busy")
        t_end = time.monotonic() + 2.2
        while time.monotonic() < t_end:
            busy.ping(b"k")
            time.sleep(0.2)
        with pytest.raises((RemoteError, OSError)) as ei:
            idle.ping(b"x")
        if isinstance(ei.value, RemoteError):
            assert ei.value.code == Err.TIMEOUT and "idle" in ei.value.message
        lim = busy.stats()["server"]["limits"]
        assert lim["idle_timeouts"] == 1 and lim["idle_timeout_s"] == 1.0
        busy.close()
        idle.sock.close()
    finally:
        srv.stop()


def test_keepalive_uses_the_idle_timeout_announced_in_welcome(tmp_path: Path) -> None:
    """A client configured for a 30 s keepalive survives a 5 s pause on a server started with
    ``--idle-timeout 2``: WELCOME (1.1) announced 2 s, so it pinged every second. A 1.0 client
    (HELLO minor 0) gets the 1.0 WELCOME, learns nothing and, idle, is dropped."""
    srv = start_server(tmp_path, args=["--idle-timeout", "2", "--grace-seconds", "0"])
    try:
        kept = connect(srv, "kept", keepalive_interval=30.0)
        assert kept.welcome.minor == P.MINOR == 2
        assert kept.idle_timeout == 2.0 and kept.keepalive_interval == 30.0 and kept.keepalive_period == 1.0
        kept.upload_genome(probe_genome_text())
        ids = kept.spawn("probe", 2)
        kept.exchange(0.01)
        sid = kept.welcome.session_id
        assert not kept.keepalive()  # a frame just went out
        old = socket.create_connection((srv.host, srv.port), timeout=10.0)
        old.sendall(P.frame(Msg.HELLO, 1, P.Hello("old", srv.token, minor=0).encode()))
        head = old.recv(P.HEADER_SIZE, socket.MSG_WAITALL)
        length, msg, _, _ = P.HEADER.unpack(head)
        payload = old.recv(length - P.MIN_LENGTH, socket.MSG_WAITALL)
        w10 = P.Welcome.decode(payload, client_minor=0)  # checks: no bytes after epoch
        assert msg == Msg.WELCOME and w10.minor == P.MINOR and w10.idle_timeout_s is None
        t_end = time.monotonic() + 5.0
        while time.monotonic() < t_end:  # the pause: no exchange, only keepalive() calls
            kept.keepalive()
            time.sleep(0.05)
        assert 4 <= kept.keepalives <= 7, kept.keepalives
        kept.exchange(0.01)  # same connection, session and brains
        assert kept.welcome.session_id == sid and kept.layout.brain_ids == ids
        lim = kept.stats()["server"]["limits"]
        assert lim["idle_timeouts"] == 1 and lim["idle_timeout_s"] == 2.0
        head = old.recv(P.HEADER_SIZE, socket.MSG_WAITALL)  # the server's fatal TIMEOUT, then EOF
        length, msg, _, seq = P.HEADER.unpack(head)
        err = P.decode_error(old.recv(length - P.MIN_LENGTH, socket.MSG_WAITALL), seq)
        assert msg == Msg.ERROR and err.code == Err.TIMEOUT and "idle" in err.message
        old.close()
        kept.close()
    finally:
        srv.stop()


def test_descriptor_exhaustion_backs_off_with_one_log_line(tmp_path: Path) -> None:
    """Under a tiny fd limit a connection storm hits EMFILE: no traceback flood, the server
    sheds stale pre-HELLO connections and a prompt client gets in again."""
    srv = start_server(tmp_path, args=["--max-pending", "500"], nofile=80)
    socks: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 3.0
        while "file descriptor limit 80 is below" not in srv.stderr:  # warned at start (stderr is pumped)
            assert time.monotonic() < deadline, srv.stderr
            time.sleep(0.05)
        for _ in range(150):
            try:
                socks.append(socket.create_connection((srv.host, srv.port), timeout=1.0))
            except OSError:
                break
        time.sleep(2.5)  # asyncio retries accept every second; stale ones are shed meanwhile
        for s in socks:
            s.close()
        deadline = time.monotonic() + 5.0
        while True:
            try:
                with connect(srv, "after") as c:
                    lim = c.stats()["server"]["limits"]
                break
            except (OSError, RemoteError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert lim["accept_errors"] >= 1
        log_lines = [ln for ln in srv.stderr.splitlines() if "accept failed" in ln]
        assert len(log_lines) == 1, srv.stderr[-3000:]
        assert "Traceback" not in srv.stderr, srv.stderr[-3000:]
    finally:
        for s in socks:
            s.close()
        srv.stop()


# ---------------------------------------------------------------------- memory quota (item 4)
def test_spawn_beyond_the_client_memory_quota_is_refused(tmp_path: Path) -> None:
    from spikeforge.ipc.quota import brain_bytes
    from spikeforge.ipc.testing import probe_circuit

    per = brain_bytes(probe_circuit())
    fit = (1 << 20) // per
    srv = start_server(tmp_path, args=["--client-memory-mb", "1"])
    try:
        with connect(srv, "a") as a, connect(srv, "b") as b:
            a.spawn("probe", fit)
            with pytest.raises(RemoteError) as ei:
                a.spawn("probe", 1)
            assert ei.value.code == Err.LIMIT and "--client-memory-mb" in ei.value.message
            st = a.stats()
            mem = st["session"]["memory"]
            assert mem["brains"] == fit * per and mem["total"] <= mem["quota"] == 1 << 20
            assert st["server"]["limits"]["refused_memory"] == 1
            b.spawn("probe", fit)  # the quota is per client
            a.despawn([min(_owned(a))])
            a.spawn("probe", 1)  # room again
    finally:
        srv.stop()


def _owned(c: Client) -> list[int]:
    return [i for _, ids in c.layout.groups for i in ids]


def _genome(name: str, populations: int) -> str:
    """A genome of ``populations`` one-neuron populations (built as JSON: fast)."""
    from spikeforge.model.circuit import Circuit
    from spikeforge.model.genome import dumps
    from spikeforge.model.neurons import LIF

    doc = json.loads(dumps(Circuit(name).add_population("p0", 1, LIF())))
    first = doc["circuit"]["populations"][0]
    doc["circuit"]["populations"] = [{**first, "name": f"p{i}"} for i in range(populations)]
    return json.dumps(doc)


def _upload_bytes(text: str) -> int:
    from spikeforge.ipc.quota import circuit_bytes
    from spikeforge.model.genome import loads

    return circuit_bytes(loads(text), len(text.encode("utf-8")))


def test_uploads_are_charged_evicted_lru_and_dropped_with_their_session(tmp_path: Path) -> None:
    srv = start_server(tmp_path, args=["--client-memory-mb", "1"])
    try:
        other = connect(srv, "other")
        with connect(srv, "up") as c:
            with pytest.raises(RemoteError) as ei:  # one circuit alone above the quota
                c.upload_genome(_genome("huge", 1000))
            assert ei.value.code == Err.LIMIT and "--client-memory-mb" in ei.value.message
            texts = [_genome(f"mid{k}", 225) for k in range(4)]
            each = _upload_bytes(texts[0])
            assert 3 * each <= 1 << 20 < 4 * each  # three fit the quota, the fourth does not
            for text in texts:  # the fourth upload evicts the least recently used unused one
                c.upload_genome(text)
            names = {x.name for x in c.list_circuits()}
            assert "mid0" not in names and {"mid1", "mid2", "mid3", "probe"} <= names
            st = c.stats()
            lim = st["server"]["limits"]
            assert lim["circuits_evicted"] == 1 and lim["uploaded_circuits"] == 3
            assert st["session"]["memory"]["circuits"] == lim["uploaded_circuit_bytes"] == 3 * each
            with pytest.raises(RemoteError) as ei:
                c.spawn("mid0", 1)
            assert ei.value.code == Err.NOT_FOUND
            c.upload_genome(probe_genome_text("small"))  # evicts mid1 (quota)
            other.spawn("small", 1)  # in use by another client: kept after its uploader leaves
        names = {x.name for x in other.list_circuits()}
        assert not ({"mid1", "mid2", "mid3"} & names)  # unused uploads went with their session
        assert {"small", "probe"} <= names  # in use, and a --genome circuit (never evicted)
        lim = other.stats()["server"]["limits"]
        assert lim["uploaded_circuits"] == 1 and lim["circuits_evicted"] == 4
        other.close()
    finally:
        srv.stop()


def _deep_genome(name: str, delay: int) -> str:
    from spikeforge.model.circuit import Circuit
    from spikeforge.model.genome import dumps
    from spikeforge.model.neurons import LIF

    c = Circuit(name).add_population("n", 2, LIF())
    c.connect("n", "n", weight=1.0, delay=delay)
    return dumps(c)


def test_a_long_delay_is_charged_for_the_ring_it_deepens_under_the_whole_world(tmp_path: Path) -> None:
    """One brain with delay 1,024 deepens the World's delay ring under every neuron: its SPAWN
    is charged that, and brains spawned into a deep World are charged the deep ring."""
    srv = start_server(tmp_path / "big", args=["--client-memory-mb", "4"])
    try:
        with connect(srv, "crowd") as crowd, connect(srv, "deep") as deep:
            crowd.spawn("probe", 100)  # 2,000 neurons: deepening them by 1,023 steps is ~24 MB
            deep.upload_genome(_deep_genome("deep", 1024))
            with pytest.raises(RemoteError) as ei:
                deep.spawn("deep", 1)
            assert ei.value.code == Err.LIMIT and "--client-memory-mb" in ei.value.message
            assert deep.stats()["world"]["bytes"]["ring"] < 12 * 2 * crowd.stats()["world"]["neurons"]  # unchanged
    finally:
        srv.stop()
    srv = start_server(tmp_path / "small", args=["--client-memory-mb", "4"])
    try:
        with connect(srv, "crowd") as crowd, connect(srv, "deep") as deep:
            crowd.spawn("probe", 5)  # 100 neurons: deepening them is ~1.2 MB, within the quota
            deep.upload_genome(_deep_genome("deep", 1024))
            deep.spawn("deep", 1)
            assert deep.stats()["world"]["bytes"]["ring"] >= 12 * 1024 * 100
            assert crowd.stats()["session"]["memory"]["brains"] >= 5 * 20 * 12 * 1024  # on the deep ring now
            with pytest.raises(RemoteError) as ei:  # 100 more brains on a 1,024-step ring: ~24 MB
                crowd.spawn("probe", 100)
            assert ei.value.code == Err.LIMIT
    finally:
        srv.stop()


def test_world_memory_stays_within_the_sum_of_client_quotas(tmp_path: Path) -> None:
    """Every client spawns until its quota refuses: the World's arrays stay below
    --max-clients x --client-memory-mb (the estimate is conservative)."""
    srv = start_server(tmp_path, args=["--client-memory-mb", "2", "--max-clients", "3"])
    try:
        clients = [connect(srv, f"c{i}") for i in range(3)]
        for c in clients:
            batch = 64
            while batch:
                try:
                    c.spawn("probe", batch)
                except RemoteError as exc:
                    assert exc.code == Err.LIMIT
                    batch //= 2
            assert c.stats()["session"]["memory"]["total"] <= 2 << 20
        world = clients[0].stats()["world"]
        assert world["brains"] > 3 * 100
        assert sum(world["bytes"].values()) <= 3 * (2 << 20)
        for c in clients:
            c.close()
    finally:
        srv.stop()


def test_reward_beyond_the_bound_is_invalid_not_nan_weights(server: ServerProcess) -> None:
    with connect(server) as c:
        ids = c.spawn("probe", 2)
        with pytest.raises(RemoteError) as ei:
            c.reward(ids, [3e38, 1.0])
        assert ei.value.code == Err.INVALID and "REWARD.rewards[0]" in ei.value.message
        c.reward(ids, [1e6, -1e6])
        c.exchange(FRAME)
