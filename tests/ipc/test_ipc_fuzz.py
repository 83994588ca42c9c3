"""Hypothesis fuzzing of the server's decoder and dispatcher: >= 10,000 generated frames.

Each example opens a connection (real :class:`Connection` and :class:`ServerCore` over a
real World, with an in-memory transport), authenticates, and sends 3 generated frames in
random chunks. Invariants: nothing raises, every frame is answered with exactly one reply
carrying its seq, or the connection is dropped after a fatal ERROR frame. A final check
sends the same kind of garbage to a real server subprocess and verifies that it serves a
well-behaved client afterwards.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge.ipc import protocol as P
from spikeforge.ipc.client import Client
from spikeforge.ipc.protocol import Msg
from spikeforge.ipc.server import Connection, Server, ServerCore
from spikeforge.ipc.testing import ServerProcess, probe_circuit, probe_genome_text
from spikeforge.runtime.world import World

TOKEN = "fuzz-token"
FRAMES_PER_EXAMPLE = 3
EXAMPLES = 3400  # x 3 frames = 10,200 generated frames


class MemTransport(asyncio.Transport):
    """An in-memory transport: the part of asyncio.Transport that Connection uses."""

    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.out += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def make_server(tmp: Path) -> Server:
    world = World(dt=0.001, backend="numpy", seed=3, max_substeps=2)
    (tmp / "snaps").mkdir(exist_ok=True)
    core = ServerCore(world, TOKEN, {"probe": probe_circuit()}, tmp / "snaps", grace_seconds=0,
                      max_world_neurons=400)
    return Server(core, port=None)


def frames_of(data: bytes) -> list[tuple[int, int, bytes]]:
    out = []
    dec = P.FrameDecoder()
    for f in dec.feed(data):
        out.append((f.msg, f.seq, f.payload))
    assert dec.pending == 0, "server wrote a partial frame"
    return out


# ------------------------------------------------------------------ frame generator
# Hypothesis draws few values per frame (type, shape, seed); a seeded RNG fills in the rest,
# which keeps generation cheap enough for 10,000 frames in a few seconds.
NAMES = ["probe", "", "nope", "in", "out", "../x", "a.snap", "\u00e9", "x" * 70, "/etc/passwd", ".hidden"]
FLOATS = [0.0, 0.5, 1.0, -3.0, 1e30, float("nan"), float("inf"), -float("inf")]
GENOMES = [probe_genome_text(), "{}", "[", '{"format": "spikeforge-genome"}', probe_genome_text("other"), "null",
           '{"a": NaN}', "\u00ff" * 10]


def s16(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<H", len(b)) + b


def build_payload(msg: int, kind: int, r: random.Random) -> bytes:
    def num() -> int:
        return r.choice([0, 1, 2, 3, 5, r.randrange(2**32)])

    if kind == 0:  # random bytes
        return r.randbytes(r.randrange(65))
    if msg == Msg.SPAWN:
        p = s16(r.choice(NAMES)) + struct.pack("<I", num())
    elif msg == Msg.EXCHANGE:
        n = r.randrange(11)
        p = struct.pack("<IdII", num(), r.choice([0.0, 0.001, 0.0017, -1.0, 5.0, float("nan")]), r.choice([0, 1, 2]),
                        n if r.random() < 0.8 else num())
        p += struct.pack(f"<{n}f", *(r.choice(FLOATS) if r.random() < 0.2 else r.random() for _ in range(n)))
    elif msg in (Msg.DESPAWN, Msg.CLAIM, Msg.REWARD, Msg.SUBSCRIBE):
        n = r.randrange(6)
        ids = struct.pack("<I", n if r.random() < 0.8 else num()) + struct.pack(f"<{n}I", *(num() for _ in range(n)))
        if msg == Msg.REWARD:
            p = ids + struct.pack(f"<{n}f", *(r.choice(FLOATS) for _ in range(n)))
        elif msg == Msg.SUBSCRIBE:
            p = s16(r.choice(NAMES)) + ids
        else:
            p = ids
    elif msg in (Msg.SAVE, Msg.LOAD):
        p = s16(r.choice(NAMES))
    elif msg == Msg.UPLOAD_GENOME:
        b = r.choice(GENOMES).encode()
        p = struct.pack("<I", len(b)) + b
    elif msg == Msg.SHM_OPEN:
        p = struct.pack("<II", num(), num())
    elif msg in (Msg.SET_LEARNING, Msg.BYE):
        p = bytes([r.randrange(4)])
    elif msg == Msg.UNSUBSCRIBE:
        p = struct.pack("<I", num())
    elif msg == Msg.HELLO:
        p = P.Hello("x", r.choice([TOKEN, "bad"]), r.choice(["", "zzz"])).encode()
    else:
        p = b""
    if kind == 2 and p:  # truncate or extend a well-formed payload
        p = p[:r.randrange(len(p) + 1)] if r.random() < 0.5 else p + r.randbytes(r.randrange(1, 9))
    return p


MSGS = [int(m) for m in Msg]


def make_frame(spec: tuple[int, int, int]) -> bytes:
    """One frame from (type choice, payload kind, seed): type choice beyond the known types is a random type."""
    choice, kind, seed = spec
    r = random.Random(seed)
    msg = MSGS[choice] if choice < len(MSGS) else r.randrange(0x10000)
    payload = build_payload(msg, kind, r)
    seq = r.randrange(1, 1000)
    flags = 1 if r.random() < 0.05 else 0
    length = 8 + len(payload)
    if r.random() < 0.03:  # lie about the length
        length = r.choice([0, 7, P.MAX_FRAME_BYTES + 1, 2**32 - 1])
    return struct.pack("<IHHI", length, msg, flags, seq) + payload


frame_specs = st.tuples(st.integers(0, len(MSGS) + 2), st.integers(0, 3), st.integers(0, 2**32 - 1))


_SERVER: list[Server] = []
COUNT = {"frames": 0, "dropped": 0, "answered": 0}


def server_for(tmp_path_factory: Any) -> Server:
    if not _SERVER:
        _SERVER.append(make_server(tmp_path_factory.mktemp("fuzz")))
    return _SERVER[0]


def run_example(server: Server, raw_frames: list[bytes], chunk: int) -> None:
    conn = Connection(server)
    tr = MemTransport()
    conn.connection_made(tr)
    conn.data_received(P.frame(Msg.HELLO, 1, P.Hello("fuzz", TOKEN).encode()))
    head = frames_of(bytes(tr.out))
    assert [m for m, _, _ in head] == [Msg.WELCOME]
    tr.out.clear()
    stream = b"".join(raw_frames)
    for k in range(0, len(stream), chunk):
        if tr.closed:
            break
        conn.data_received(stream[k:k + chunk])
    replies = frames_of(bytes(tr.out))
    COUNT["frames"] += len(raw_frames)
    if tr.closed:
        COUNT["dropped"] += 1
        assert replies, "dropped without an ERROR frame"
        last_msg, _, last_payload = replies[-1]
        if last_msg == Msg.ERROR:
            assert P.decode_error(last_payload, 0).fatal
        else:
            assert last_msg == Msg.OK  # BYE
        for m, seq, p in replies:
            if m == Msg.ERROR:
                assert P.decode_error(p, seq).code != P.Err.INTERNAL, P.decode_error(p, seq).message
    else:
        COUNT["answered"] += 1
        sent_seqs = [struct.unpack_from("<I", f, 8)[0] for f in raw_frames]
        assert [s for _, s, _ in replies] == sent_seqs, "each frame gets exactly one reply with its seq"
        for m, s, p in replies:
            if m == Msg.ERROR:
                err = P.decode_error(p, s)
                assert not err.fatal and err.message
                assert err.code != P.Err.INTERNAL, f"server bug surfaced as INTERNAL: {err.message}"
    conn.connection_lost(None)
    world = server.core.world
    # the world stays consistent: every session's brains are alive, no unowned leftovers
    assert not server.core.sessions
    assert world.stats()["brains"] == 0  # layout.n_brains counts slots, freed ones too


@settings(max_examples=EXAMPLES, deadline=timedelta(seconds=10), derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(frame_specs, min_size=FRAMES_PER_EXAMPLE, max_size=FRAMES_PER_EXAMPLE), st.integers(1, 40))
def test_fuzz_frames_are_answered_or_dropped(tmp_path_factory: Any, specs: list[tuple[int, int, int]],
                                             chunk: int) -> None:
    run_example(server_for(tmp_path_factory), [make_frame(x) for x in specs], chunk)


def test_fuzz_counted_enough_frames() -> None:
    # runs after the fuzz test in file order; guards against the example count silently shrinking
    assert COUNT["frames"] >= 10_000, COUNT
    assert COUNT["dropped"] > 0 and COUNT["answered"] > 0


def test_fuzz_raw_garbage_against_real_server(ipc_server: ServerProcess) -> None:
    """Random bytes, random frames and half frames to a live server; it keeps serving."""
    rng = np.random.default_rng(5)
    for i in range(60):
        with socket.create_connection((ipc_server.host, ipc_server.port), timeout=10) as s:
            if i % 3:
                s.sendall(P.frame(Msg.HELLO, 1, P.Hello("g", ipc_server.token).encode()))
            n = int(rng.integers(1, 300))
            junk = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
            if i % 2:
                junk = struct.pack("<IHHI", 8 + n, int(rng.integers(0, 0x80)), 0, 9) + junk[:n // 2]  # half frame
            s.sendall(junk)
    with Client.connect(ipc_server.host, ipc_server.port, token_file=ipc_server.token_path) as c:
        ids = c.spawn("probe", 2)
        res = c.exchange(0.005, np.full(c.layout.sensor_floats, 0.5, np.float32))
        assert res.steps == 5 and len(ids) == 2
        assert c.stats()["world"]["brains"] == 2
    assert ipc_server.proc.poll() is None
