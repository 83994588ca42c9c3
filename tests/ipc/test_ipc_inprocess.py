"""``InProcessServer`` is the TCP server without the socket: one scripted session (HELLO,
LIST_CIRCUITS, UPLOAD_GENOME, SPAWN, SUBSCRIBE, many EXCHANGEs with sensor values, REWARD,
SET_LEARNING, errors, SAVE/LOAD, DESPAWN, UNSUBSCRIBE, CLAIM, PING, BYE) sent to a real
``spikeforge serve`` over TCP and to an in-process server on an identically seeded world
gets the same reply bytes, frame for frame.

Two fields are not compared because they cannot be equal: WELCOME's ``resume_token``
(random per session) and EXCHANGE_RESULT's ``sim_us`` (wall time). Every other byte is.
STATS is left out of the script (uptime, rates and timings). The TCP server runs with
``--idle-timeout 0``, the in-process server's (it has no idle timeout), so WELCOME's
``idle_timeout_s`` (1.1) is compared too.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from spikeforge import LIF, Circuit, FixedProbability
from spikeforge.ipc import InProcessServer
from spikeforge.ipc import protocol as P
from spikeforge.ipc.protocol import Msg
from spikeforge.ipc.testing import probe_circuit, running_server
from spikeforge.model.genome import dumps
from spikeforge.model.plasticity import RewardSTDP

SEED = 3


def learner() -> Circuit:
    """A probe-like circuit whose hidden->out synapses learn from reward (so REWARD and
    SET_LEARNING change later actuator values)."""
    c = Circuit("learner")
    c.add_population("in", 8, LIF(tau_m=10.0))
    c.add_population("hidden", 12, LIF(tau_m=10.0, bias=5.0))
    c.add_population("out", 4, LIF(tau_m=10.0))
    c.connect("in", "hidden", rule=FixedProbability(0.5), weight=8.0)
    c.connect("hidden", "out", rule=FixedProbability(0.6), weight=6.0, plasticity=RewardSTDP())
    c.add_sensor("input", "in", 4, kind="poisson", max_rate=300.0, low=0.0, high=1.0)
    c.add_actuator("rate", "out", 2, kind="rate", low=0.0, high=200.0)
    return c


class Script:
    """Builds the scripted session's request frames, reading the replies it needs (layout)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.seq = 0
        self.epoch = 0
        self.sensor_floats = 0
        self.ids: list[int] = []
        self.rng = np.random.default_rng(11)

    def frame(self, msg: int, payload: bytes = b"") -> bytes:
        self.seq += 1
        return P.frame(msg, self.seq, payload)

    def take_layout(self, reply: bytes, spawned: bool = False) -> None:
        """Track epoch, sensor size and owned ids from a SPAWNED/LAYOUT reply."""
        _, msg, _, _ = P.HEADER.unpack_from(reply)
        if msg not in (Msg.SPAWNED, Msg.LAYOUT):
            return
        r = P.Reader(reply[12:], "reply")
        if msg == Msg.SPAWNED:
            n = r.u32("n")
            for _ in range(n):
                r.u32("id")
        lay = P.decode_layout(r)
        self.epoch = lay.epoch
        self.sensor_floats = lay.sensor_floats
        self.ids = sorted(i for _, ids in lay.groups for i in ids)

    def exchange(self, frame_dt: float) -> bytes:
        sens = self.rng.random(self.sensor_floats, dtype=np.float32)
        return self.frame(Msg.EXCHANGE, P.Exchange(self.epoch, frame_dt, 0, sens).encode())


def run_script(send: Callable[[bytes], list[bytes]], token: str) -> list[bytes]:
    """Run the scripted session through ``send(frame) -> list of reply frames``."""
    sc = Script(token)
    out: list[bytes] = []

    def do(frame: bytes, expect: int = 1) -> list[bytes]:
        replies = send(frame)
        assert len(replies) == expect, replies
        for r in replies:
            sc.take_layout(r)
        out.extend(replies)
        return replies

    def w(s: P.Writer) -> bytes:
        return bytes(s.buf)

    do(sc.frame(Msg.HELLO, P.Hello("scripted", token).encode()))
    do(sc.frame(Msg.LIST_CIRCUITS))
    do(sc.frame(Msg.UPLOAD_GENOME, w(P.Writer().str32(dumps(learner())))))
    do(sc.frame(Msg.SPAWN, P.Spawn("probe", 5).encode()))
    do(sc.frame(Msg.SPAWN, P.Spawn("learner", 4).encode()))
    do(sc.frame(Msg.SPAWN, P.Spawn("nope", 1).encode()))  # ERROR NOT_FOUND
    do(sc.frame(Msg.SUBSCRIBE, P.Subscribe("", np.zeros(0, np.uint32)).encode()))
    do(sc.frame(Msg.SUBSCRIBE, P.Subscribe("out", np.array(sc.ids[3:7], np.uint32)).encode()))
    do(sc.frame(Msg.SUBSCRIBE, P.Subscribe("nope", np.zeros(0, np.uint32)).encode()))  # ERROR
    for f in range(30):
        do(sc.exchange((1 / 60, 1 / 30, 0.0, 0.004)[f % 4]))
        if f % 10 == 9:
            ids = np.array(sc.ids, np.uint32)
            vals = np.linspace(-1.0, 1.0, ids.size).astype(np.float32)
            do(sc.frame(Msg.REWARD, P.Reward(ids, vals).encode()))
    do(sc.frame(Msg.SET_LEARNING, bytes([0])))
    for _ in range(10):
        do(sc.exchange(1 / 60))
    do(sc.frame(Msg.SET_LEARNING, bytes([1])))
    do(sc.frame(Msg.SET_LEARNING, bytes([2])))  # ERROR INVALID
    do(sc.frame(Msg.EXCHANGE, P.Exchange(sc.epoch + 5, 0.01, 0, np.zeros(0, np.float32)).encode()))  # STALE
    do(sc.frame(Msg.SAVE, w(P.Writer().str16("scripted"))))
    for _ in range(5):
        do(sc.exchange(1 / 60))
    do(sc.frame(Msg.LOAD, w(P.Writer().str16("scripted"))))
    for _ in range(5):
        do(sc.exchange(1 / 60))
    do(sc.frame(Msg.DESPAWN, P.encode_ids(np.array(sc.ids[1:3], np.uint32))))
    do(sc.frame(Msg.DESPAWN, P.encode_ids(np.array([9999], np.uint32))))  # ERROR NOT_FOUND
    do(sc.frame(Msg.GET_LAYOUT))
    for _ in range(5):
        do(sc.exchange(1 / 60))
    do(sc.frame(Msg.UNSUBSCRIBE, struct.pack("<I", 2)))
    do(sc.frame(Msg.SPAWN, P.Spawn("learner", 2).encode()))  # into the freed slots
    do(sc.frame(Msg.CLAIM, P.encode_ids(np.zeros(0, np.uint32))))
    for _ in range(5):
        do(sc.exchange(1 / 60))
    do(sc.frame(Msg.PING, b"ping"))
    do(sc.frame(Msg.BYE, bytes([0])))
    return out


def normalise(frames: list[bytes]) -> list[bytes]:
    """Blank the two fields that are random or timing (see the module docstring)."""
    out = []
    for f in frames:
        _, msg, _, _ = P.HEADER.unpack_from(f)
        b = bytearray(f)
        if msg == Msg.WELCOME:  # header, major, minor, session_id, then str16 resume_token
            off = 12 + 2 + 2 + 4
            (n,) = struct.unpack_from("<H", b, off)
            b[off + 2:off + 2 + n] = b"x" * n
        elif msg == Msg.EXCHANGE_RESULT:  # epoch, steps, alpha, flags, sim_us
            b[12 + 16:12 + 20] = b"\0\0\0\0"
        out.append(bytes(b))
    return out


def _read_frame(sock: socket.socket) -> bytes:
    def exactly(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
        return buf

    head = exactly(4)
    (length,) = struct.unpack("<I", head)
    return head + exactly(length)


def tcp_replies(tmp: Path) -> tuple[list[bytes], str]:
    with running_server(tmp, backend="numpy", seed=SEED, args=["--idle-timeout", "0"]) as srv:
        with socket.create_connection((srv.host, srv.port), timeout=30) as sock:
            def send(frame: bytes) -> list[bytes]:
                sock.sendall(frame)
                return [_read_frame(sock)]

            replies = run_script(send, srv.token)
        log = srv.stderr
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]
    return replies, log


def inprocess_replies(tmp: Path) -> list[bytes]:
    server = InProcessServer(token="in-process-token", genomes={"probe": probe_circuit()},
                             snapshot_dir=tmp / "snapshots", backend="numpy", seed=SEED)
    conn = server.connect("scripted")
    replies = run_script(conn.handle_frame, server.token)
    assert conn.closed  # BYE closed it
    assert conn.handle_frame(P.frame(Msg.PING, 99)) == []
    server.close()
    assert not server.world.draw_ahead  # closing stopped the world's draw thread (World.close)
    return replies


def test_inprocess_replies_are_the_tcp_server_bytes(tmp_path: Path) -> None:
    tcp, _ = tcp_replies(tmp_path / "tcp")
    inproc = inprocess_replies(tmp_path / "inproc")
    assert len(tcp) == len(inproc) > 80
    kinds = {P.HEADER.unpack_from(f)[1] for f in tcp}
    assert {Msg.WELCOME, Msg.CIRCUITS, Msg.SPAWNED, Msg.ERROR, Msg.SUBSCRIBED, Msg.EXCHANGE_RESULT, Msg.OK,
            Msg.LAYOUT, Msg.PONG} <= kinds
    a, b = normalise(tcp), normalise(inproc)
    assert P.Welcome.decode(inproc[0][12:]).idle_timeout_s == 0.0  # in process: no idle timeout
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x == y, f"reply {i} (type 0x{P.HEADER.unpack_from(x)[1]:04X}) differs"
    # the session really ran: spikes were delivered and actuators moved
    results = [P.ExchangeResult.decode(f[12:]) for f in tcp if P.HEADER.unpack_from(f)[1] == Msg.EXCHANGE_RESULT]
    assert sum(len(bt.steps) for r in results for bt in r.batches) > 100
    assert any(np.any(r.actuators > 0) for r in results)


def test_inprocess_handshake_errors_and_sessions(tmp_path: Path) -> None:
    server = InProcessServer(token="tok", genomes={"probe": probe_circuit()}, backend="numpy")
    bad = server.connect("intruder")
    (err,) = bad.handle_frame(P.frame(Msg.HELLO, 1, P.Hello("x", "wrong").encode()))
    assert P.HEADER.unpack_from(err)[1] == Msg.ERROR and bad.closed
    assert P.decode_error(err[12:], 1).code == P.Err.AUTH
    first = server.connect("a")
    second = server.connect("b")
    for c in (first, second):
        (welcome,) = c.handle_frame(P.frame(Msg.HELLO, 1, P.Hello("c", "tok").encode()))
        assert P.HEADER.unpack_from(welcome)[1] == Msg.WELCOME
    (spawned,) = first.handle_frame(P.frame(Msg.SPAWN, 2, P.Spawn("probe", 3).encode()))
    ids = np.frombuffer(spawned[16:16 + 12], "<u4")  # u32 count, then the ids
    (err,) = second.handle_frame(P.frame(Msg.DESPAWN, 2, P.encode_ids(ids)))
    assert P.decode_error(err[12:], 2).code == P.Err.NOT_OWNER
    # two frames in one call, and a frame split over two calls
    two = P.frame(Msg.PING, 3, b"a") + P.frame(Msg.PING, 4, b"b")
    assert [P.HEADER.unpack_from(r)[3] for r in first.handle_frame(two)] == [3, 4]
    ping = P.frame(Msg.PING, 5, b"xyz")
    assert first.handle_frame(ping[:7]) == []
    (pong,) = first.handle_frame(ping[7:])
    assert pong == P.frame(Msg.PONG, 5, b"xyz")
    # a dropped connection ends its session (no event loop, no grace): its brains go
    assert server.world.stats()["brains"] == 3
    first.close()
    assert server.world.stats()["brains"] == 0 and len(server.core.sessions) == 1
    server.close()
    assert second.closed and server.core.sessions == {}


def test_inprocess_server_serves_a_given_world(tmp_path: Path) -> None:
    from spikeforge import World

    world = World(backend="numpy", seed=1)
    world.spawn(probe_circuit(), 2)
    server = InProcessServer(world=world, token="t")
    assert server.world is world and "probe" in server.core.genomes
    c = server.connect()
    c.handle_frame(P.frame(Msg.HELLO, 1, P.Hello("c", "t").encode()))
    (layout,) = c.handle_frame(P.frame(Msg.CLAIM, 2, P.encode_ids(np.zeros(0, np.uint32))))
    lay = P.decode_layout(P.Reader(layout[12:], "LAYOUT"))
    assert sorted(i for _, g in lay.groups for i in g) == [0, 1]


@pytest.mark.parametrize("bad", [b"\xff" * 12, P.frame(Msg.PING, 1)])
def test_inprocess_first_frame_must_be_hello(bad: bytes) -> None:
    server = InProcessServer(token="t", backend="numpy")
    c = server.connect()
    replies = c.handle_frame(bad)
    assert replies and P.HEADER.unpack_from(replies[0])[1] == Msg.ERROR and c.closed


def test_handle_frame_at_reads_and_writes_raw_memory() -> None:
    import ctypes

    server = InProcessServer(token="t", backend="numpy")
    c = server.connect()
    req = P.frame(Msg.HELLO, 1, P.Hello("ffi", "t").encode()) + P.frame(Msg.PING, 2, b"abc")
    src = ctypes.create_string_buffer(req, len(req))
    small = ctypes.create_string_buffer(8)
    need = c.handle_frame_at(ctypes.addressof(src), len(req), ctypes.addressof(small), 8)
    assert need < 0
    big = ctypes.create_string_buffer(-need)
    assert c.take_replies_at(ctypes.addressof(big), -need) == -need
    welcome_len = struct.unpack_from("<I", big.raw)[0] + 4
    assert big.raw[welcome_len:] == P.frame(Msg.PONG, 2, b"abc")
    ping = P.frame(Msg.PING, 3)
    src = ctypes.create_string_buffer(ping, len(ping))
    assert c.handle_frame_at(ctypes.addressof(src), len(ping), ctypes.addressof(big), len(big)) == 12
    assert big.raw[:12] == P.frame(Msg.PONG, 3)
