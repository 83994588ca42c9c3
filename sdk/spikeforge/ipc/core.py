"""The server core: sessions, ownership, limits and every message handler, independent of
any transport. Every transport runs the same code through it: the asyncio TCP and Unix
socket server (:mod:`spikeforge.ipc.server`), shared-memory exchanges (a flag of EXCHANGE),
and in-process hosts such as Unity through pythonnet (:class:`InProcessServer`).

Two layers, both sans-IO:

* :class:`ServerCore` turns complete requests of an authenticated session into reply frames
  and owns the world, the genome registry and the sessions. Every handler validates the
  whole request before changing anything, so a refused request has no effect. It reaches
  the world through its public API only (``step(n, only=...)``, ``set_learning``, ``rows``,
  ``brain_ids``, ``has_brain``, ``spawn``/``despawn``, ``reward``, ``save``/``load``).
* :class:`Endpoint` is one client's byte stream: framing, the HELLO handshake, BYE, error
  accounting (``MAX_CONSECUTIVE_ERRORS``), fatal errors. A transport feeds it the bytes it
  received and sends what it writes; the reply bytes are the same whatever the transport.

Several clients: each client's brains advance on that client's own fixed-timestep clock
when that client sends EXCHANGE (the other brains are frozen for that call through
``World.step(n, only=...)``); nobody waits for anybody, and a brain's outputs depend only on
its own genome, id and inputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from spikeforge.engine.backend import SpikeRecord
from spikeforge.ipc import protocol as P
from spikeforge.ipc.circuit_info import circuit_info, expected_synapses
from spikeforge.ipc.protocol import Err, Msg, ProtocolError
from spikeforge.ipc.quota import DEFAULT_CLIENT_MEMORY_MB, MemoryQuota, circuit_bytes
from spikeforge.ipc.shm import ServerShmBlock, ShmError
from spikeforge.ipc.upload_parse import UploadParser, check_circuit, parse_upload, parsed_or_raise
from spikeforge.model.circuit import Circuit
from spikeforge.model.errors import GenomeError
from spikeforge.model.genome import genome_to_circuit
from spikeforge.runtime.brain_asset import BrainAssetError, brain_bytes, read_brain, spawn_read
from spikeforge.runtime.clock import FixedClock
from spikeforge.runtime.snapshot import SnapshotError
from spikeforge.runtime.world import PreparedSpawn, World, gc_paused

log = logging.getLogger("spikeforge.ipc")

SNAPSHOT_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")
FINAL_SNAPSHOT = "final.snapshot"
I64 = npt.NDArray[np.int64]


class Conn(Protocol):
    """What the core needs of a connection."""

    def drop(self, code: Err, message: str) -> None:
        """Close the connection with error ``code`` and ``message``; its session enters the reconnect grace."""
        ...


@dataclass
class Subscription:
    """One SUBSCRIBE of a session: spikes of ``population`` for brains ``ids`` (None: all it owns)."""

    sub_id: int
    population: str
    ids: npt.NDArray[np.int64] | None  # None = all of the session's brains


@dataclass
class Plan:
    """A session's exchange plan for one world generation: flat gather/scatter indices."""

    generation: int
    epoch: int
    indices: I64                       # layout index of each owned brain (ascending id)
    mask: npt.NDArray[np.bool_] | None  # active mask, None if the session owns every brain
    sens_idx: I64
    act_idx: I64
    info: P.LayoutInfo
    pop_cache: dict[str, tuple[I64, I64]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Snapshot:
    """What a session's plan is made of, taken under the lock (see ``ServerCore._layout_unlocked``)."""

    world: World
    generation: int
    epoch: int
    ids: list[int]  # the session's brains, ascending


@dataclass(eq=False)
class Session:
    """One client's session: its brains, subscriptions, fixed-step clock, shm block and
    reconnect state; it outlives a dropped connection for the resume grace."""

    id: int
    resume_token: str
    name: str
    clock: FixedClock
    owned: set[int] = field(default_factory=set)
    epoch: int = 0
    subs: list[Subscription] = field(default_factory=list)
    next_sub: int = 1
    shm: ServerShmBlock | None = None
    conn: Conn | None = None
    expiry: asyncio.TimerHandle | None = None
    plan: Plan | None = None
    steps: int = 0
    exchanges: int = 0
    connected_at: float = field(default_factory=time.monotonic)
    overhead_us: deque[int] = field(default_factory=lambda: deque(maxlen=4096))

    def changed(self) -> None:
        """The session's brain set changed: new epoch."""
        self.epoch += 1
        self.plan = None


def keep_out_of_gc_walks() -> None:
    """Move every object the cyclic collector tracks now (a newly registered circuit's thousands
    among them) to its permanent generation, which full collections do not walk.

    A registered circuit lives until it is evicted and holds no reference cycles (eviction frees
    it by reference counting, frozen or not), but while tracked every full collection walks it:
    with 500 registered 64-population circuits those collections held the GIL 49-74 ms, the worst
    exchange of another client under an upload flood (issue 17). ``spikeforge serve`` freezes its
    start-up objects the same way. ``gc.freeze`` only splices lists (constant time); the young
    generations are collected first so that cyclic garbage of the moment is not frozen with them.
    """
    gc.collect(1)
    gc.freeze()


def _same(a: Circuit, b: Circuit) -> bool:
    return json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)


class ServerCore:
    """Sessions, genome registry and the world; request frames in, reply frames out.

    Parameters
    ----------
    world : World
        The shared world (may already hold brains, e.g. from ``--load``: they are unowned
        until a client CLAIMs them).
    token : str
        The handshake token.
    genomes : dict
        Circuit name -> circuit, known before any upload.
    snapshot_dir : Path or None
        Where SAVE/LOAD read and write; None disables them.
    grace_seconds : float
        How long a dropped session's brains are kept for a resume.
    max_world_neurons : int
        Neuron limit of the world (spawns beyond it get ``LIMIT``).
    max_world_synapses : int
        Synapse limit of the world (expected count; spawns beyond it get ``LIMIT``).
    max_clients : int
        Most sessions at once, counting sessions in their reconnect grace (they keep their
        brains and their shared-memory block's descriptor); a HELLO beyond it gets a fatal ``LIMIT``.
    client_memory : int
        Per-session memory quota in estimated bytes (brains and uploaded circuits, see
        :mod:`spikeforge.ipc.quota`); 0: none.
    """

    def __init__(self, world: World, token: str, genomes: dict[str, Circuit] | None = None,
                 snapshot_dir: Path | None = None, grace_seconds: float = 30.0,
                 max_world_neurons: int = P.MAX_WORLD_NEURONS, version: str = "0.1.0",
                 max_world_synapses: int = P.MAX_WORLD_SYNAPSES, max_clients: int = P.MAX_CLIENTS,
                 client_memory: int = DEFAULT_CLIENT_MEMORY_MB << 20) -> None:
        if not token:
            raise ValueError("token: must be a non-empty string")
        if grace_seconds < 0:
            raise ValueError(f"grace_seconds: must be >= 0, got {grace_seconds}")
        if isinstance(max_clients, bool) or not isinstance(max_clients, int) or max_clients < 1:
            raise ValueError(f"max_clients: must be an integer >= 1, got {max_clients!r}")
        self.max_clients = max_clients
        self.quota = MemoryQuota(client_memory)
        self._info_cache: dict[str, tuple[Circuit, P.CircuitInfo]] = {}
        self._facts_cache: dict[str, tuple[Circuit, int, float]] = {}
        # guards the world and the sessions: the transport's event loop and its worker thread
        # (SPAWN, DESPAWN, SAVE, LOAD, UPLOAD_GENOME off the loop) both call in
        self.lock = threading.RLock()
        # a spawn into free slots is committed in pieces of about this many seconds of lock hold
        # each (issue 17), the lock released between them; meanwhile other structural requests
        # (SPAWN, DESPAWN, SAVE, LOAD, SPAWN_ASSET) wait on ``_spawn_done`` and CLAIM skips its ids
        self.spawn_piece_s = 0.001
        self._spawn_done = threading.Condition(self.lock)
        self._spawning: tuple[int, frozenset[int]] | None = None  # (thread id, reserved brain ids)
        # requests waiting in handle() for the lock: between two pieces the spawning thread waits
        # (at most spawn_handoff_s) until they have it, instead of taking it straight back; a
        # lock is not fair, and without this one exchange could wait out dozens of pieces
        self.spawn_handoff_s = 0.005
        self._lock_waiters = 0
        self._handoff = threading.Condition(threading.Lock())
        self.refused_clients = 0  # HELLOs refused by the client cap
        # where UPLOAD_GENOME's genomes are parsed: None in this process (the worker thread), or a
        # helper process (spikeforge serve sets one; see upload_parse)
        self.upload_parser: UploadParser | None = None
        self.transport_stats: Callable[[], dict[str, Any]] | None = None  # set by the transport (Server)
        self.world = world
        if isinstance(world, World):  # a re-layout's old backend is closed after the lock hold
            world.defer_backend_close = True
        self.token = token
        self.genomes: dict[str, Circuit] = dict(genomes or {})
        for p in world.prototypes:
            self.genomes.setdefault(p.circuit.name, genome_to_circuit(p.genome))
        self.snapshot_dir = snapshot_dir
        self.grace_seconds = grace_seconds
        self.max_world_neurons = max_world_neurons
        self.max_world_synapses = max_world_synapses
        self.version = version
        self.sessions: dict[int, Session] = {}
        self._by_token: dict[str, Session] = {}
        self._next_session = 1
        self.generation = 0
        self.exchanges = 0
        self.started = time.monotonic()
        self._sim_us: deque[int] = deque(maxlen=1000)
        self._handle_us: deque[int] = deque(maxlen=1000)
        self._ex_times: deque[float] = deque(maxlen=1000)
        # SPAWN timing (s): the whole request and the part of it that held the world lock
        self.spawns = 0
        self.spawn_s_last = self.spawn_locked_s_last = self.spawn_locked_s_max = 0.0
        self.spawn_locked_total_s_last = 0.0  # all lock holds of the last SPAWN together
        self.spawn_pieces_last = 0  # lock holds of the last SPAWN's commit
        self.scheduler: Callable[[float, Callable[[], None]], asyncio.TimerHandle] | None = None
        self._handlers: dict[int, Callable[[Session, int, bytes], bytes | list[bytes]]] = {
            Msg.PING: self._ping, Msg.LIST_CIRCUITS: self._list_circuits, Msg.UPLOAD_GENOME: self._upload,
            Msg.SPAWN: self._spawn, Msg.DESPAWN: self._despawn, Msg.GET_LAYOUT: self._get_layout,
            Msg.CLAIM: self._claim, Msg.EXCHANGE: self._exchange, Msg.SUBSCRIBE: self._subscribe,
            Msg.UNSUBSCRIBE: self._unsubscribe, Msg.GET_SUBSCRIPTIONS: self._get_subscriptions,
            Msg.REWARD: self._reward, Msg.SET_LEARNING: self._set_learning,
            Msg.SAVE: self._save, Msg.LOAD: self._load, Msg.STATS: self._stats, Msg.SHM_OPEN: self._shm_open,
            Msg.SHM_CLOSE: self._shm_close,
            Msg.EXPORT_BRAIN: self._export_brain, Msg.SPAWN_ASSET: self._spawn_asset,
        }

    # ------------------------------------------------------------------ sessions
    def hello(self, payload: bytes, conn: Conn, idle_timeout: float = 0.0) -> tuple[Session, bytes]:
        """Check a HELLO payload; return the (new or resumed) session and the WELCOME payload.

        ``idle_timeout`` (s, 0 = none) is the transport's, announced in WELCOME to 1.1+ clients.
        """
        with self.lock:
            return self._hello(payload, conn, idle_timeout)

    def _hello(self, payload: bytes, conn: Conn, idle_timeout: float = 0.0) -> tuple[Session, bytes]:
        h = P.Hello.decode(payload)
        if h.major != P.MAJOR:
            raise ProtocolError(Err.VERSION, f"HELLO.major: server speaks protocol {P.MAJOR}.{P.MINOR}, client "
                                             f"{h.major}.{h.minor}", fatal=True)
        if not hmac.compare_digest(h.token.strip().encode("utf-8"), self.token.encode("utf-8")):
            raise ProtocolError(Err.AUTH, "HELLO.token: wrong token (read it from the server's token file)",
                                fatal=True)
        if h.resume_token:
            s = self._by_token.get(h.resume_token)
            if s is None:
                raise ProtocolError(Err.NOT_FOUND, "HELLO.resume_token: no such session (expired after the grace "
                                                   "period, or the server restarted)", fatal=True)
            self._check_resume_cap(s)
            if s.conn is not None and s.conn is not conn:
                old = s.conn
                s.conn = None
                old.drop(Err.BAD_STATE, "session resumed by a new connection")
            if s.expiry is not None:
                s.expiry.cancel()
                s.expiry = None
            resumed = True
        else:
            self._check_client_cap()
            token = secrets.token_hex(16)
            s = Session(self._next_session, token, h.client_name,
                        FixedClock(self.world.dt, self.world.clock.max_substeps))
            self._next_session += 1
            self.sessions[s.id] = s
            self._by_token[token] = s
            resumed = False
        s.conn = conn
        s.name = h.client_name
        log.info("session %d (%s) %s", s.id, s.name, "resumed" if resumed else "opened")
        # a 1.0 client's decoder expects the 1.0 payload exactly: append 1.1 fields only for 1.1+
        w = P.Welcome(s.id, s.resume_token, resumed, self.world.dt, self.world.clock.max_substeps,
                      P.MAX_FRAME_BYTES, self.version, s.epoch, idle_timeout_s=idle_timeout if h.minor >= 1 else None)
        return s, w.encode()

    def _check_client_cap(self) -> None:
        """A new session must fit the client cap; sessions in reconnect grace count (issue 17)."""
        if len(self.sessions) >= self.max_clients:
            grace = sum(1 for x in self.sessions.values() if x.conn is None)
            self.refused_clients += 1
            raise ProtocolError(Err.LIMIT, f"server: {len(self.sessions)} sessions exist ({grace} of them in their "
                                           f"reconnect grace), at most {self.max_clients} allowed (--max-clients)",
                                fatal=True)

    def _check_resume_cap(self, s: Session) -> None:
        """A resumed session takes back its own slot; it never pushes the connected count past the cap."""
        connected = sum(1 for x in self.sessions.values() if x.conn is not None and x is not s)
        if connected >= self.max_clients:
            self.refused_clients += 1
            raise ProtocolError(Err.LIMIT, f"server: {connected} clients are connected, at most "
                                           f"{self.max_clients} allowed (--max-clients)", fatal=True)

    def limit_stats(self) -> dict[str, Any]:
        """The ``limits`` part of STATS ``server``: every limit in force and what it refused."""
        grace = sum(1 for x in self.sessions.values() if x.conn is None)
        out: dict[str, Any] = {"max_clients": self.max_clients, "grace_seconds": self.grace_seconds,
                               "grace_sessions": grace, "refused_clients": self.refused_clients,
                               "shm_blocks": sum(1 for x in self.sessions.values() if x.shm is not None),
                               "max_world_neurons": self.max_world_neurons,
                               "max_world_synapses": self.max_world_synapses, **self.quota.stats(self)}
        if self.transport_stats is not None:
            out.update(self.transport_stats())
        return out

    def disconnected(self, s: Session, conn: Conn) -> None:
        """The session's connection went away without BYE: keep it for the grace period."""
        with self.lock:
            self._disconnected(s, conn)

    def _disconnected(self, s: Session, conn: Conn) -> None:
        if s.conn is not conn:
            return
        s.conn = None
        if s.id not in self.sessions:
            return
        log.info("session %d (%s) disconnected; keeping its %d brain(s) for %.1f s", s.id, s.name, len(s.owned),
                 self.grace_seconds)
        if self.grace_seconds <= 0 or self.scheduler is None:
            self.end_session(s)
        else:
            s.expiry = self.scheduler(self.grace_seconds, lambda: self._expire(s))

    def _expire(self, s: Session) -> None:
        with self.lock:
            s.expiry = None
            if s.conn is None and s.id in self.sessions:
                log.info("session %d (%s) expired; despawning %d brain(s)", s.id, s.name, len(s.owned))
                self.end_session(s)

    def end_session(self, s: Session, keep: bool = False) -> None:
        """Remove a session; despawn its brains unless ``keep`` (then a grace timer ends it)."""
        with self.lock:
            self._end_session(s, keep)

    def _end_session(self, s: Session, keep: bool) -> None:
        if keep and self.grace_seconds > 0 and self.scheduler is not None:
            s.conn = None
            s.expiry = self.scheduler(self.grace_seconds, lambda: self._expire(s))
            return
        self.sessions.pop(s.id, None)
        self._by_token.pop(s.resume_token, None)
        if s.expiry is not None:
            s.expiry.cancel()
            s.expiry = None
        shm, s.shm = s.shm, None
        try:
            if shm is not None:
                shm.close()
        finally:  # total: whatever the client did to its block, its brains go
            if s.owned:
                alive = [i for i in s.owned if self._alive(i)]
                s.owned.clear()
                if alive:
                    self.world.despawn(alive)
                    self._relaid()
            self.quota.session_ended(self, s)  # its uploads no brain uses go

    def close(self) -> None:
        """Release every session's shared memory and stop the world's background thread
        (server stopping)."""
        with self.lock:
            self._close()

    def _close(self) -> None:
        if self.upload_parser is not None:
            self.upload_parser.close()
        for s in list(self.sessions.values()):
            if s.expiry is not None:
                s.expiry.cancel()
            if s.shm is not None:
                s.shm.close()
                s.shm = None
        self.world.close()  # no spikeforge thread outlives the server (an embedding host ends Python next)

    # ------------------------------------------------------------------ dispatch
    def handle(self, s: Session, msg: int, seq: int, payload: bytes) -> bytes | list[bytes]:
        """One request of an authenticated session -> its reply frame(s)."""
        if msg == Msg.HELLO:
            raise ProtocolError(Err.BAD_STATE, "HELLO: the session is already established")
        handler = self._handlers.get(msg)
        if handler is None:
            raise ProtocolError(Err.UNKNOWN_TYPE, f"frame.type: unknown or server-only message type 0x{msg:04X}")
        if msg in _LOCKS_ITSELF:  # not while the new brains are drawn, nor while a reply's layout is made
            return handler(s, seq, payload)
        with self._locked(msg in _WAIT_FOR_SPAWN):
            return handler(s, seq, payload)

    @contextlib.contextmanager
    def _locked(self, wait_spawn: bool = True) -> Iterator[None]:
        """Hold the world lock (counted as waiting for it meanwhile, see :meth:`_between_pieces`);
        with ``wait_spawn``, after another thread's spawn in pieces has ended."""
        with self._handoff:
            self._lock_waiters += 1
        try:
            self.lock.acquire()
        finally:
            with self._handoff:
                self._lock_waiters -= 1
                self._handoff.notify_all()
        try:
            if wait_spawn:
                self._wait_spawn()
            yield
        finally:
            self.lock.release()

    def _wait_spawn(self) -> None:
        """Wait (lock released meanwhile) until no spawn is being committed in pieces by another
        thread. With ``spikeforge serve`` every request that waits runs on the same worker
        thread as SPAWN, so it never waits; other hosts may call in from several threads."""
        while self._spawning is not None and self._spawning[0] != threading.get_ident():
            self._spawn_done.wait()

    # ------------------------------------------------------------------ helpers
    def _alive(self, brain_id: int) -> bool:
        return bool(self.world.has_brain(brain_id))

    def _relaid(self) -> None:
        self.generation += 1

    def _owned_ids(self, s: Session, ids: npt.NDArray[np.uint32], what: str) -> list[int]:
        out = [int(i) for i in ids]
        if len(set(out)) != len(out):
            raise ProtocolError(Err.INVALID, f"{what}.brain_ids: contains duplicates")
        for i in out:
            if i not in s.owned:
                if self._alive(i):
                    raise ProtocolError(Err.NOT_OWNER, f"{what}.brain_ids: brain {i} belongs to another client")
                raise ProtocolError(Err.NOT_FOUND, f"{what}.brain_ids: no live brain with id {i}")
        return out

    def plan(self, s: Session) -> Plan:
        """The session's exchange plan (rebuilt after any relayout of the world)."""
        if s.plan is not None and s.plan.generation == self.generation and s.plan.epoch == s.epoch:
            return s.plan
        s.plan = self._build_plan(self.world, sorted(s.owned), self.generation, s.epoch)
        if s.shm is not None:
            s.shm.set_layout(s.epoch, s.plan.info.sensor_floats, s.plan.info.actuator_floats)
        return s.plan

    @staticmethod
    def _build_plan(world: World, ids: list[int], generation: int, epoch: int) -> Plan:
        """The exchange plan of a session owning brains ``ids`` (ascending) in ``world``: O(owned
        brains). Reads only the world's layout and id table, so it may run without the lock on a
        snapshot taken under it (:meth:`_plan_snapshot`), checked again before use."""
        L = world.layout
        idx = np.asarray(world.rows(ids), dtype=np.int64)
        protos = L.brain_proto[idx] if idx.size else np.zeros(0, np.int32)
        by_name = sorted((L.prototypes[p].circuit.name, int(p)) for p in set(protos.tolist()))
        groups: list[tuple[str, tuple[int, ...]]] = []
        sens_parts: list[I64] = []
        act_parts: list[I64] = []
        s_blocks: list[P.Block] = []
        a_blocks: list[P.Block] = []
        s_off = a_off = 0
        ids_arr = np.array(ids, dtype=np.int64)
        for name, p in by_name:
            sel = protos == p
            rows_idx = idx[sel]
            groups.append((name, tuple(ids_arr[sel].tolist())))
            for g in sorted((g for g in L.sensor_groups if g.proto == p), key=lambda g: g.name):
                rows = rows_idx - g.brain0
                sens_parts.append((g.offset + rows[:, None] * g.channels + np.arange(g.channels)).reshape(-1))
                s_blocks.append(P.Block(name, g.name, rows.size, g.channels, s_off))
                s_off += rows.size * g.channels
            for g in sorted((g for g in L.actuator_groups if g.proto == p), key=lambda g: g.name):
                rows = rows_idx - g.brain0
                act_parts.append((g.out_offset + rows[:, None] * g.width + np.arange(g.width)).reshape(-1))
                a_blocks.append(P.Block(name, g.name, rows.size, g.width, a_off))
                a_off += rows.size * g.width
        mask: npt.NDArray[np.bool_] | None = None
        if idx.size != L.n_brains:
            mask = np.zeros(L.n_brains, dtype=bool)
            mask[idx] = True
        empty = np.zeros(0, np.int64)
        info = P.LayoutInfo(epoch, tuple(groups), s_off, a_off, tuple(s_blocks), tuple(a_blocks))
        return Plan(generation, epoch, idx, mask,
                    np.concatenate(sens_parts).astype(np.int64) if sens_parts else empty,
                    np.concatenate(act_parts).astype(np.int64) if act_parts else empty, info)

    def _layout_payload(self, s: Session) -> bytes:
        return bytes(P.encode_layout(P.Writer(), self.plan(s).info).buf)

    def _plan_snapshot(self, s: Session) -> _Snapshot:
        """(Locked) what :meth:`_build_plan` needs to make ``s``'s plan without the lock."""
        return _Snapshot(self.world, self.generation, s.epoch, sorted(s.owned))

    def _layout_unlocked(self, s: Session, snap: _Snapshot, holds: list[float] | None = None) -> bytes:
        """(Not locked) ``s``'s LAYOUT body after the change that ``snap`` was taken right after.

        The plan (O(owned brains): the rows of every brain, the exchange indices, the ids of the
        reply) is built without the lock (issue 17: other clients' exchanges do not wait for
        it), then installed in a short hold if nothing changed the world's structure or the
        session's brains meanwhile (same generation and epoch); otherwise it is made again
        under the lock, as before. Each hold's length goes to ``holds``."""
        plan: Plan | None = None
        body = b""
        try:
            plan = self._build_plan(snap.world, snap.ids, snap.generation, snap.epoch)
            body = bytes(P.encode_layout(P.Writer(), plan.info).buf)
        except Exception:  # the world changed under the build (it is checked below): made under the lock
            plan = None
        with self.lock:
            t = time.perf_counter()
            try:
                if (plan is None or self.world is not snap.world or self.generation != snap.generation
                        or s.epoch != snap.epoch):
                    return self._layout_payload(s)
                if s.plan is None or s.plan.generation != plan.generation or s.plan.epoch != plan.epoch:
                    s.plan = plan
                    if s.shm is not None:
                        s.shm.set_layout(plan.epoch, plan.info.sensor_floats, plan.info.actuator_floats)
                else:  # made meanwhile by another request of the session: the same plan, keep it
                    body = bytes(P.encode_layout(P.Writer(), s.plan.info).buf)
                return body
            finally:
                if holds is not None:
                    holds.append(time.perf_counter() - t)

    # ------------------------------------------------------------------ handlers
    def _ping(self, s: Session, seq: int, payload: bytes) -> bytes:
        if len(payload) > P.MAX_PING_BYTES:
            raise ProtocolError(Err.TOO_LARGE, f"PING: payload of {len(payload)} bytes, at most "
                                               f"{P.MAX_PING_BYTES} allowed")
        return P.frame(Msg.PONG, seq, payload)

    def _list_circuits(self, s: Session, seq: int, payload: bytes) -> bytes:
        P.decode_empty(payload, "LIST_CIRCUITS")
        items = [self._circuit_info(n) for n in sorted(self.genomes)]
        return P.frame(Msg.CIRCUITS, seq, P.encode_circuits(items))

    def _upload(self, s: Session, seq: int, payload: bytes) -> bytes:
        # parsed, validated and described off the world lock (it locks itself: _LOCKS_ITSELF), in
        # the helper process where the transport set one up (spikeforge serve: upload_parse): a
        # genome of many populations takes milliseconds of Python, which every other client's
        # exchange would otherwise wait out (issue 17: uploads beside a player's exchanges)
        r = P.Reader(payload, "UPLOAD_GENOME")
        text = r.str32("genome", P.MAX_GENOME_BYTES)
        r.end()
        parser = self.upload_parser
        circuit, info = parser.parse(text) if parser is not None else parsed_or_raise(parse_upload(text))
        if info.neurons > self.max_world_neurons:
            raise ProtocolError(Err.LIMIT, f"UPLOAD_GENOME: one brain of {circuit.name!r} has {info.neurons} neurons, "
                                           f"the world may hold at most {self.max_world_neurons}")
        reply = P.frame(Msg.CIRCUITS, seq, P.encode_circuits([info]))
        nbytes = circuit_bytes(circuit, len(text.encode("utf-8")))
        with self._locked(wait_spawn=False):
            known = self.genomes.get(circuit.name)
            if known is not None and not _same(known, circuit):
                raise ProtocolError(Err.INVALID, f"UPLOAD_GENOME.circuit.name: a different circuit named "
                                                 f"{circuit.name!r} is already registered")
            if known is None:
                self._admit_upload(s, nbytes)
                self.genomes[circuit.name] = circuit
                self.quota.register(s, circuit.name, nbytes)
            else:
                self.quota.touch(circuit.name)
        if known is None:
            keep_out_of_gc_walks()
        return reply

    # ------------------------------------------------------------------ memory quota (issue 17)
    def _admit_upload(self, s: Session, nbytes: int) -> None:
        """Room for a new registered circuit of ``nbytes`` (``quota.circuit_bytes``): evict unused
        uploads if that helps, else ``LIMIT``. Under the world lock."""
        self.quota.make_room(self, s, nbytes, registry_full=len(self.genomes) >= P.MAX_CIRCUITS)
        if len(self.genomes) >= P.MAX_CIRCUITS:
            raise ProtocolError(Err.LIMIT, f"UPLOAD_GENOME: {P.MAX_CIRCUITS} circuits are registered already "
                                           "and each has live brains or a connected uploader")
        self.quota.check(self, s, nbytes, "UPLOAD_GENOME")

    def _check_claim_quota(self, s: Session, take: set[int]) -> None:
        depth = self.quota.world_depth(self)
        extra = sum(k * self.quota.brain_cost(self.genomes[n], depth)
                    for n, k in self.quota.brains_by_circuit(self, take).items() if n in self.genomes)
        self.quota.check(self, s, extra, "CLAIM")

    def _circuit_facts(self, c: Circuit) -> tuple[int, float]:
        """Neurons and expected synapses of one brain of ``c`` (its flat form is validated and
        made once per circuit object, not per SPAWN)."""
        got = self._facts_cache.get(c.name)
        if got is None or got[0] is not c:
            got = self._facts_cache[c.name] = (c, c.flatten().n_neurons, expected_synapses(c))
        return got[1], got[2]

    def _circuit_info(self, name: str) -> P.CircuitInfo:
        """CIRCUITS entry of a registered circuit, flattened once (not on every LIST_CIRCUITS)."""
        c = self.genomes[name]
        got = self._info_cache.get(name)
        if got is None or got[0] is not c:
            got = self._info_cache[name] = (c, circuit_info(c))
        return got[1]

    def _spawn(self, s: Session, seq: int, payload: bytes) -> bytes:
        # three steps so that a large spawn does not stop other clients' exchanges while its
        # brains are drawn: check and reserve the ids (locked), draw (unlocked: the draw reads
        # nothing the world changes), place (locked). A spawn into free slots is placed in
        # pieces of ~spawn_piece_s each, the lock released between them (issue 17). Bit for
        # bit World.spawn.
        req = P.Spawn.decode(payload)
        t0 = time.perf_counter()
        holds: list[float] = []  # the reservation's, then the placing's (pieces)
        short: list[float] = []  # the snapshot for the counts and the reply's install (see _steps)
        try:
            with gc_paused():  # no full collection (a 10-100 ms GIL hold) amid the spawn's objects
                return self._spawn_steps(s, seq, req, holds, short)
        finally:
            self.spawns += 1
            self.spawn_s_last = time.perf_counter() - t0
            self.spawn_locked_s_last = max(holds + short, default=0.0)
            self.spawn_locked_total_s_last = sum(holds) + sum(short)
            self.spawn_pieces_last = max(len(holds) - 1, 0)
            self.spawn_locked_s_max = max(self.spawn_locked_s_max, self.spawn_locked_s_last)

    def _spawn_steps(self, s: Session, seq: int, req: P.Spawn, holds: list[float], short: list[float]) -> bytes:
        """SPAWN's reserve, draw and commit (see :meth:`_spawn`); each lock hold's length goes to
        ``holds`` (reservation, pieces) or ``short`` (snapshot of the session's brains before,
        install of the reply's plan after: O(owned brains) work is done between them, unlocked)."""
        self._warm(req.circuit)
        counts = self._owned_counts(s, short)
        with self.lock:
            t1 = time.perf_counter()
            try:
                self._wait_spawn()
                t1 = time.perf_counter()
                circuit, world, prepared = self._spawn_reserve(s, req, counts)
            finally:
                holds.append(time.perf_counter() - t1)
        try:
            if prepared is not None:
                prepared.draw()
            while True:
                with self.lock:
                    t1 = time.perf_counter()
                    try:
                        self._wait_spawn()
                        t1 = time.perf_counter()
                        out = self._spawn_commit(s, req, circuit, world, prepared)
                    finally:
                        holds.append(time.perf_counter() - t1)
                if prepared is not None and prepared.relayout:
                    world.close_retired()  # the old CPU backend, closed off the lock
                if out is not None:  # the reply: the session's exchange plan made without the lock
                    ids, snap = out
                    return P.frame(Msg.SPAWNED, seq, P.encode_ids(ids) + self._layout_unlocked(s, snap, short))
                self._between_pieces()
        finally:
            if prepared is not None:  # the drawn brains, freed a few at a time (not one ~20 ms GIL hold)
                prepared.release()

    def _between_pieces(self) -> None:
        """Between two pieces of a spawn (lock not held): let the threads waiting for the lock in
        :meth:`handle` (the event loop answering other clients) take it first, waiting at most
        ``spawn_handoff_s`` for them."""
        time.sleep(0)
        with self._handoff:
            self._handoff.wait_for(lambda: self._lock_waiters == 0, timeout=self.spawn_handoff_s)

    def _owned_counts(self, s: Session, holds: list[float]) -> tuple[_Snapshot, dict[str, int]] | None:
        """(Not locked) how many brains of each circuit ``s`` owns, for its SPAWN's checks: counted
        without the lock (O(owned brains)) on a snapshot, used if still current in the reservation
        hold (:meth:`_spawn_checks`). None for a few brains (counted there). The snapshot's hold
        goes to ``holds``."""
        if len(s.owned) < _COUNT_UNLOCKED:
            return None
        with self.lock:
            t = time.perf_counter()
            snap = _Snapshot(self.world, self.generation, s.epoch, list(s.owned))
            holds.append(time.perf_counter() - t)
        try:
            return snap, self.quota.brains_by_circuit(self, snap.ids, snap.world)
        except Exception:  # the world changed under the count: counted in the reservation hold
            return None

    def _warm(self, name: str) -> None:
        """(Not locked) make the per-circuit figures SPAWN's checks use (validated flat form,
        neurons, synapses, ring depth, bytes per brain) ahead of its reservation hold: each is a
        pure function of the circuit object, cached per object (a circuit uploaded again under
        its name meanwhile is simply made again in the hold)."""
        circuit = self.genomes.get(name)
        if circuit is None:
            return
        try:
            self._circuit_facts(circuit)
            self.quota.warm(circuit, self.quota.world_depth(self))
        except Exception:  # a bad circuit: the checks in the hold raise what they raise
            return

    def _current(self, snap: _Snapshot, s: Session) -> bool:
        """(Locked) nothing changed the world's structure or ``s``'s brains since ``snap``."""
        return self.world is snap.world and self.generation == snap.generation and s.epoch == snap.epoch

    def _spawn_reserve(self, s: Session, req: P.Spawn, counts: tuple[_Snapshot, dict[str, int]] | None = None
                       ) -> tuple[Circuit, World, PreparedSpawn | None]:
        """SPAWN, first step (locked): the checks and the id reservation (None: the world spawns
        in one call, e.g. a single brain drawn ahead, or any spawn of a ClusterWorld);
        ``counts``: see :meth:`_owned_counts`."""
        circuit = self._spawn_checks(s, req, counts[1] if counts is not None and self._current(counts[0], s)
                                     else None)
        world = self.world
        try:
            # its clients hold no views of the world's arrays: a re-layout's swap copies the state
            # of only the brains stepped since (touched_only)
            prepared = world.prepare_spawn(circuit, req.count, touched_only=True)
        except (GenomeError, ValueError) as exc:
            raise ProtocolError(Err.INVALID, f"SPAWN: {exc}") from None
        return circuit, world, prepared

    def _spawn_commit(self, s: Session, req: P.Spawn, circuit: Circuit, world: World,
                      prepared: PreparedSpawn | None) -> tuple[list[int], _Snapshot] | None:
        """SPAWN, last step (locked): place (a piece of) the drawn brains; after the last piece the
        new ids and the snapshot the reply's layout is made from (without the lock), None while
        brains remain. Brains written by earlier pieces belong to no session until the reply
        (CLAIM skips them, other sessions' exchanges do not step them)."""
        if self.world is not world or s.id not in self.sessions:
            self._end_pieces(world, prepared)
            raise ProtocolError(Err.BAD_STATE, "SPAWN: the session ended while its brains were drawn or placed")
        try:
            if prepared is None:
                brains = world.spawn(circuit, req.count)
            else:
                got = prepared.handles  # written whole by the holds before: now the reply
                if got is None:
                    got = world.commit_spawn_piece(prepared, max_seconds=self.spawn_piece_s)
                    if got is None:
                        self._spawning = (threading.get_ident(), frozenset(prepared.serials))
                        return None
                    if self._spawning is not None or prepared.relayout:
                        # in pieces, or re-laid out: the new brains go to the session in a hold of
                        # its own; meanwhile they are reserved (no session steps or claims them)
                        # and, after a re-layout, every session's plan is made again for the new
                        # layout
                        prepared.handles = got
                        if self._spawning is None:
                            self._relaid()
                            self._spawning = (threading.get_ident(), frozenset(prepared.serials))
                        return None
                brains = got
        except (GenomeError, ValueError) as exc:
            self._end_pieces(world, prepared)
            raise ProtocolError(Err.INVALID, f"SPAWN: {exc}") from None
        except BaseException:
            self._end_pieces(world, prepared)
            raise
        self._end_pieces(None, None)
        self._relaid()
        ids = [b.id for b in brains]
        s.owned.update(ids)
        s.changed()
        return ids, self._plan_snapshot(s)

    def _end_pieces(self, world: World | None, prepared: PreparedSpawn | None) -> None:
        """End this thread's piecewise spawn (taking out what it wrote of ``prepared`` in
        ``world``, if given) and wake the requests waiting for it."""
        if self._spawning is None or self._spawning[0] != threading.get_ident():
            return
        self._spawning = None
        try:
            if prepared is not None and world is self.world:
                if prepared.handles is not None:  # every piece written, the reply not sent
                    world.despawn([h.id for h in prepared.handles])
                else:
                    world.abort_spawn(prepared)
                self._relaid()
        finally:
            self._spawn_done.notify_all()

    def _spawn_checks(self, s: Session, req: P.Spawn, counts: dict[str, int] | None = None) -> Circuit:
        """SPAWN's request checks against the registry, the session's and the world's limits;
        ``counts``: the session's brains per circuit if known (else counted here)."""
        circuit = self.genomes.get(req.circuit)
        if circuit is None:
            raise ProtocolError(Err.NOT_FOUND, f"SPAWN.circuit: no circuit named {req.circuit!r}; known: "
                                               f"{sorted(self.genomes)}")
        if len(s.owned) + req.count > P.MAX_BRAINS_PER_SESSION:
            raise ProtocolError(Err.LIMIT, f"SPAWN.count: the session would own {len(s.owned) + req.count} "
                                           f"brains, at most {P.MAX_BRAINS_PER_SESSION} allowed")
        if counts is None:  # the circuits of the session's brains, without a handle per brain
            counts = self.quota.brains_by_circuit(self, s.owned)
        mine = set(counts)
        if circuit.name not in mine and len(mine) >= P.MAX_CIRCUITS_PER_SESSION:
            raise ProtocolError(Err.LIMIT, f"SPAWN.circuit: the session has brains of {len(mine)} circuits, at most "
                                           f"{P.MAX_CIRCUITS_PER_SESSION} allowed")
        per, per_syn = self._circuit_facts(circuit)
        total = self.world.layout.n_neurons + per * req.count
        if total > self.max_world_neurons:
            raise ProtocolError(Err.LIMIT, f"SPAWN.count: the world would hold {total} neurons, at most "
                                           f"{self.max_world_neurons} allowed")
        syn = self.world.layout.n_synapses + per_syn * req.count
        if syn > self.max_world_synapses:
            raise ProtocolError(Err.LIMIT, f"SPAWN.count: the world would hold about {syn:.3g} synapses, at most "
                                           f"{self.max_world_synapses} allowed")
        self.quota.check(self, s, self.quota.spawn_cost(self, circuit, req.count), "SPAWN.count", counts)
        self.quota.touch(circuit.name)
        return circuit

    def _despawn(self, s: Session, seq: int, payload: bytes) -> bytes:
        # takes the lock itself (see handle): the reply's layout, O(owned brains), is made without it
        with self._locked():
            self._take_out(s, self._owned_ids(s, P.decode_ids(payload, "DESPAWN"), "DESPAWN"))
            snap = self._plan_snapshot(s)
        return P.frame(Msg.LAYOUT, seq, self._layout_unlocked(s, snap))

    def _take_out(self, s: Session, ids: list[int]) -> None:
        """Despawn brains ``ids`` of session ``s`` (locked; every id owned by ``s``)."""
        if ids:
            self.world.despawn(ids)
            self._relaid()
            s.owned.difference_update(ids)
            s.changed()

    def undo_unanswered_spawn(self, s: Session, reply: bytes) -> int:
        """Despawn the brains of a SPAWN / SPAWN_ASSET whose reply (``reply``, a SPAWNED frame)
        could not be sent to ``s``'s client; returns how many were taken out (0 for another
        reply, or when the session has ended: its brains went with it)."""
        if P.HEADER.unpack_from(reply)[1] != Msg.SPAWNED:
            return 0
        r = P.Reader(reply[P.HEADER.size:], "SPAWNED")
        spawned = r.array("<u4", r.count("count", P.MAX_SPAWN_COUNT), "brain_ids")
        with self.lock:
            if s.id not in self.sessions:
                return 0
            ids = [int(i) for i in spawned if int(i) in s.owned]
            self._take_out(s, ids)
        if ids:
            log.warning("session %d: the reply to its SPAWN of %d brains could not be sent (connection closed); "
                        "the brains were despawned", s.id, len(ids))
        return len(ids)

    def _get_layout(self, s: Session, seq: int, payload: bytes) -> bytes:
        P.decode_empty(payload, "GET_LAYOUT")
        return P.frame(Msg.LAYOUT, seq, self._layout_payload(s))

    def _unowned(self) -> set[int]:
        owned: set[int] = set()
        for other in self.sessions.values():
            owned |= other.owned
        if self._spawning is not None:  # brains written by a piecewise spawn are its session's
            owned |= self._spawning[1]
        return {int(i) for i in self.world.brain_ids()} - owned

    def _claim(self, s: Session, seq: int, payload: bytes) -> bytes:
        ids = [int(i) for i in P.decode_ids(payload, "CLAIM")]
        free = self._unowned()
        if ids:
            for i in ids:
                if i not in free:
                    if self._alive(i):
                        raise ProtocolError(Err.NOT_OWNER, f"CLAIM.brain_ids: brain {i} is owned by a session")
                    raise ProtocolError(Err.NOT_FOUND, f"CLAIM.brain_ids: no live brain with id {i}")
            take = set(ids)
        else:
            take = free
        if len(s.owned) + len(take) > P.MAX_BRAINS_PER_SESSION:
            raise ProtocolError(Err.LIMIT, f"CLAIM: the session would own more than {P.MAX_BRAINS_PER_SESSION} "
                                           "brains")
        self._check_claim_quota(s, take)
        if take:
            s.owned |= take
            s.changed()
        return P.frame(Msg.LAYOUT, seq, self._layout_payload(s))

    def _exchange(self, s: Session, seq: int, payload: bytes) -> list[bytes]:
        t_in = time.perf_counter()
        ex = P.Exchange.decode(payload)
        if ex.epoch != s.epoch:
            raise ProtocolError(Err.STALE_LAYOUT, f"EXCHANGE.epoch: {ex.epoch} is not the session's layout epoch "
                                                  f"{s.epoch}; fetch the layout (GET_LAYOUT) and rebuild the arrays")
        plan = self.plan(s)
        n_sens = plan.info.sensor_floats
        use_shm = bool(ex.flags & P.FLAG_SHM)
        shm = s.shm
        if use_shm:
            if shm is None:
                raise ProtocolError(Err.BAD_STATE, "EXCHANGE.flags: shared-memory flag set but no block is open "
                                                   "(send SHM_OPEN first)")
            if not shm.fits(n_sens, plan.info.actuator_floats):
                raise ProtocolError(Err.LIMIT, f"EXCHANGE: the layout needs {n_sens} sensor and "
                                               f"{plan.info.actuator_floats} actuator floats, the block holds "
                                               f"{shm.sensor_capacity} and {shm.actuator_capacity}; open a bigger one")
            # one pread into a private copy (checked against the file's size), so a client writing
            # or truncating the block while we work can neither slip a value past the finiteness
            # check nor fault the server
            try:
                sens = shm.read_sensors(n_sens)
            except ShmError as exc:
                raise ProtocolError(Err.IO, str(exc)) from None
        else:
            if ex.sensors.size != n_sens:
                raise ProtocolError(Err.INVALID, f"EXCHANGE.n: the layout (epoch {s.epoch}) has {n_sens} sensor "
                                                 f"floats, got {ex.sensors.size}")
            sens = ex.sensors
        if n_sens:
            finite = np.isfinite(sens)
            if not finite.all():
                i = int(np.flatnonzero(~finite)[0])
                raise ProtocolError(Err.INVALID, f"EXCHANGE.sensors[{i}]: must be finite, got {float(sens[i])!r}")
        fixed = P.MIN_LENGTH + 24 + (0 if use_shm else 4 * plan.info.actuator_floats) + 2 + 9 * len(s.subs)
        if fixed > P.MAX_FRAME_BYTES:
            raise ProtocolError(Err.TOO_LARGE, f"EXCHANGE: the reply would need {fixed} bytes, the frame limit is "
                                              f"{P.MAX_FRAME_BYTES}; use shared memory or fewer brains")
        spike_budget = (P.MAX_FRAME_BYTES - fixed) // 16  # bytes per spike: i64 + u32 + u32
        # ---- validated: from here on the request is applied
        world = self.world
        L = world.layout
        if n_sens:
            L.sensor_values[plan.sens_idx] = sens
        n = s.clock.accumulate(ex.frame_dt)
        t0 = time.perf_counter()
        batches: list[P.SpikeBatch] = []
        if n and plan.indices.size:
            before = L.brain_step.copy() if s.subs else None
            ws = world.step_count
            mask = plan.mask
            if mask is None and self._spawning is not None:  # never step a piecewise spawn's brains
                mask = np.zeros(L.n_brains, dtype=bool)
                mask[plan.indices] = True
            record = world.step(n) if mask is None else world.step(n, only=mask)
            if before is not None:
                batches = self._batches(s, plan, record, ws, before, spike_budget)
        elif s.subs:
            batches = [self._empty_batch(sub) for sub in s.subs]
        sim_us = int((time.perf_counter() - t0) * 1e6)
        s.steps += n
        s.exchanges += 1
        self.exchanges += 1
        self._sim_us.append(sim_us)
        self._ex_times.append(time.monotonic())
        act = L.act_out[plan.act_idx]
        if use_shm and shm is not None:
            try:
                shm.write_actuators(act)
            except ShmError as exc:  # the step ran; the client's block is broken (e.g. /dev/shm full)
                raise ProtocolError(Err.IO, str(exc)) from None
            act = np.zeros(0, np.float32)
        res = P.ExchangeResult(s.epoch, n, s.clock.alpha, P.FLAG_SHM if use_shm else 0, sim_us, act, tuple(batches))
        parts = res.encode_parts()
        size = sum(len(p) for p in parts)
        if size + P.MIN_LENGTH > P.MAX_FRAME_BYTES:  # unreachable: the budget above bounds the reply
            raise ProtocolError(Err.INTERNAL, f"EXCHANGE_RESULT: reply of {size} bytes exceeds the frame limit")
        handle_us = int((time.perf_counter() - t_in) * 1e6)
        self._handle_us.append(handle_us)
        s.overhead_us.append(handle_us - sim_us)
        return [P.HEADER.pack(P.MIN_LENGTH + size, Msg.EXCHANGE_RESULT, 0, seq), *parts]

    @staticmethod
    def _empty_batch(sub: Subscription) -> P.SpikeBatch:
        return P.SpikeBatch(sub.sub_id, False, np.zeros(0, np.int64), np.zeros(0, np.uint32), np.zeros(0, np.uint32))

    def _batches(self, s: Session, plan: Plan, record: SpikeRecord, ws: int, before: I64,
                 budget: int) -> list[P.SpikeBatch]:
        """One batch per subscription; at most MAX_SPIKES_PER_BATCH each and ``budget`` in all."""
        if record.neurons.size == 0:
            return [self._empty_batch(sub) for sub in s.subs]
        L = self.world.layout
        neurons = record.neurons.astype(np.int64)
        b_idx = np.searchsorted(L.brain_start, neurons, side="right") - 1
        local = neurons - L.brain_start[b_idx]
        ids = L.brain_serial[b_idx].astype(np.int64)
        steps = (record.steps - ws) + before[b_idx].astype(np.int64)
        protos = L.brain_proto[b_idx]
        out = []
        for sub in s.subs:
            mask = np.ones(neurons.size, dtype=bool) if sub.ids is None else np.isin(ids, sub.ids)
            nloc = local
            if sub.population:
                offs, sizes = self._pop_offsets(plan, sub.population)
                po = offs[protos]
                nloc = local - po
                mask &= (po >= 0) & (nloc >= 0) & (nloc < sizes[protos])
            sel = np.flatnonzero(mask)
            cap = max(0, min(P.MAX_SPIKES_PER_BATCH, budget))
            trunc = sel.size > cap
            if trunc:
                sel = sel[:cap]
            budget -= sel.size
            out.append(P.SpikeBatch(sub.sub_id, trunc, steps[sel], ids[sel].astype(np.uint32),
                                    nloc[sel].astype(np.uint32)))
        return out

    def _pop_offsets(self, plan: Plan, population: str) -> tuple[I64, I64]:
        got = plan.pop_cache.get(population)
        if got is None:
            L = self.world.layout
            offs = np.full(len(L.prototypes), -1, np.int64)
            sizes = np.zeros(len(L.prototypes), np.int64)
            for p in L.prototypes:
                if population in p.pop_names:
                    sl = p.pop_slice(population)
                    offs[p.index], sizes[p.index] = sl.start, sl.stop - sl.start
            got = plan.pop_cache[population] = (offs, sizes)
        return got

    def _subscribe(self, s: Session, seq: int, payload: bytes) -> bytes:
        req = P.Subscribe.decode(payload)
        if len(s.subs) >= P.MAX_SUBSCRIPTIONS:
            raise ProtocolError(Err.LIMIT, f"SUBSCRIBE: at most {P.MAX_SUBSCRIPTIONS} subscriptions per session")
        ids = self._owned_ids(s, req.brain_ids, "SUBSCRIBE")
        if req.population:
            names = {n for p in self.world.layout.prototypes for n in p.pop_names}
            names |= {pop for n in self.genomes for pop, _ in self._circuit_info(n).populations}  # cached
            if req.population not in names:
                raise ProtocolError(Err.NOT_FOUND, f"SUBSCRIBE.population: no circuit has a population named "
                                                   f"{req.population!r}")
        sub = Subscription(s.next_sub, req.population, np.array(sorted(ids), np.int64) if ids else None)
        s.next_sub += 1
        s.subs.append(sub)
        return P.frame(Msg.SUBSCRIBED, seq, bytes(P.Writer().u32(sub.sub_id).buf))

    def _unsubscribe(self, s: Session, seq: int, payload: bytes) -> bytes:
        r = P.Reader(payload, "UNSUBSCRIBE")
        sid = r.u32("sub_id")
        r.end()
        for sub in s.subs:
            if sub.sub_id == sid:
                s.subs.remove(sub)
                return P.frame(Msg.OK, seq)
        raise ProtocolError(Err.NOT_FOUND, f"UNSUBSCRIBE.sub_id: no subscription {sid} in this session")

    def _get_subscriptions(self, s: Session, seq: int, payload: bytes) -> bytes:
        """GET_SUBSCRIPTIONS (1.2): the session's subscriptions in SUBSCRIBE order, so that a resumed
        client can unsubscribe one whose SUBSCRIBED reply it lost (PROTOCOL.md section 6)."""
        P.decode_empty(payload, "GET_SUBSCRIPTIONS")
        subs = [P.SubscriptionInfo(x.sub_id, x.population, () if x.ids is None else tuple(int(i) for i in x.ids))
                for x in s.subs]
        return P.frame(Msg.SUBSCRIPTIONS, seq, P.encode_subscriptions(subs))

    def _reward(self, s: Session, seq: int, payload: bytes) -> bytes:
        req = P.Reward.decode(payload)
        fn = getattr(self.world, "reward", None)
        if not callable(fn):
            raise ProtocolError(Err.UNSUPPORTED, "REWARD: this World has no reward input (World.reward)")
        ids = self._owned_ids(s, req.brain_ids, "REWARD")
        if ids:
            values = np.zeros(self.world.layout.n_brains, np.float64)  # 0 = no change for other brains
            values[self.world.rows(ids)] = req.values.astype(np.float64)
            try:
                fn(values)
            except (ValueError, TypeError, LookupError) as exc:
                raise ProtocolError(Err.INVALID, f"REWARD: {exc}") from None
        return P.frame(Msg.OK, seq)

    def learning_mode(self) -> str:
        """``per-brain`` (the world has ``set_learning(brain_ids, enabled)``), ``world`` or ``unsupported``."""
        if callable(getattr(self.world, "set_learning", None)):
            return "per-brain"
        if callable(getattr(self.world, "learning", None)):
            return "world"
        return "unsupported"

    def _set_learning(self, s: Session, seq: int, payload: bytes) -> bytes:
        r = P.Reader(payload, "SET_LEARNING")
        on = r.u8("enabled")
        r.end()
        if on > 1:
            raise ProtocolError(Err.INVALID, f"SET_LEARNING.enabled: must be 0 or 1, got {on}")
        mode = self.learning_mode()
        if mode == "per-brain":
            if s.owned:
                self.world.set_learning(sorted(s.owned), bool(on))
        elif mode == "world":
            self.world.learning(bool(on))
        else:
            raise ProtocolError(Err.UNSUPPORTED, "SET_LEARNING: this World has no learning switch")
        return P.frame(Msg.OK, seq)

    def _snapshot_path(self, name: str, what: str) -> Path:
        if self.snapshot_dir is None:
            raise ProtocolError(Err.UNSUPPORTED, f"{what}: the server was started without a snapshot directory")
        if not SNAPSHOT_NAME.fullmatch(name) or name in {".", ".."}:
            raise ProtocolError(Err.INVALID, f"{what}.name: {name!r} is not a plain file name "
                                             "([A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}: no path, no leading dot)")
        path = (self.snapshot_dir / name).resolve()
        if path.parent != self.snapshot_dir.resolve():
            raise ProtocolError(Err.INVALID, f"{what}.name: {name!r} resolves outside the snapshot directory")
        return path

    def save(self, path: Path) -> None:
        """Write a snapshot of the whole world (every client's brains) to ``path``."""
        with self.lock:
            self._wait_spawn()
            self.world.save(path)

    def _save(self, s: Session, seq: int, payload: bytes) -> bytes:
        path = self._snapshot_path(P.decode_name(payload, "SAVE"), "SAVE")
        try:
            self.save(path)
        except OSError as exc:
            raise ProtocolError(Err.IO, f"SAVE: cannot write the snapshot ({exc.strerror or exc})") from None
        return P.frame(Msg.OK, seq)

    def _load(self, s: Session, seq: int, payload: bytes) -> bytes:
        path = self._snapshot_path(P.decode_name(payload, "LOAD"), "LOAD")
        others = [o.id for o in self.sessions.values() if o is not s]
        if others:
            raise ProtocolError(Err.BUSY, f"LOAD: {len(others)} other session(s) exist; LOAD replaces the whole "
                                          "world and is allowed only for the only session")
        if not path.is_file():
            raise ProtocolError(Err.NOT_FOUND, f"LOAD.name: no snapshot named {path.name!r}")
        try:
            world = World.load(path, backend=self.world.backend_name)
        except SnapshotError as exc:
            raise ProtocolError(Err.IO, f"LOAD: {exc}") from None
        except OSError as exc:
            raise ProtocolError(Err.IO, f"LOAD: cannot read the snapshot ({exc.strerror or exc})") from None
        self.world.close()
        self.world.backend.close()
        self.world = world
        world.defer_backend_close = True
        for p in world.prototypes:
            self.genomes[p.circuit.name] = genome_to_circuit(p.genome)
        self._relaid()
        s.owned = {int(x) for x in world.brain_ids()}
        s.clock = FixedClock(world.dt, world.clock.max_substeps, accumulator=world.clock.accumulator)
        s.changed()
        return P.frame(Msg.LAYOUT, seq, self._layout_payload(s))

    # ------------------------------------------------------------------ brain assets (issue 12)
    def _export_brain(self, s: Session, seq: int, payload: bytes) -> bytes:
        """EXPORT_BRAIN -> BRAIN_ASSET: one of the session's brains as a brain file's bytes."""
        req = P.ExportBrain.decode(payload)
        (bid,) = self._owned_ids(s, np.array([req.brain_id], np.uint32), "EXPORT_BRAIN")
        if not isinstance(self.world, World):
            raise ProtocolError(Err.UNSUPPORTED, "EXPORT_BRAIN: this server's world cannot export brains")
        data = brain_bytes(self.world.brain(bid), req.with_state)
        if len(data) > P.MAX_ASSET_BYTES:
            raise ProtocolError(Err.LIMIT, f"EXPORT_BRAIN: brain {bid} makes a file of {len(data)} bytes, at most "
                                           f"{P.MAX_ASSET_BYTES} fit a frame")
        return P.frame(Msg.BRAIN_ASSET, seq, P.BrainAsset(bid, data).encode())

    def _spawn_asset(self, s: Session, seq: int, payload: bytes) -> bytes:
        """SPAWN_ASSET -> SPAWNED: spawn a brain file for the session; a bad file spawns nothing."""
        req = P.SpawnAsset.decode(payload)
        if not isinstance(self.world, World):
            raise ProtocolError(Err.UNSUPPORTED, "SPAWN_ASSET: this server's world cannot spawn brain files")
        label = f"SPAWN_ASSET.data ({len(req.data)} bytes)"
        try:  # verified in memory: format, version, every digest, bounded unpacked size
            manifest, arrays = read_brain(req.data, max_unpacked=P.MAX_ASSET_UNPACKED)
        except BrainAssetError as exc:
            raise ProtocolError(Err.INVALID, f"SPAWN_ASSET: {exc}") from None
        try:
            circuit = genome_to_circuit(manifest["genome"])
        except GenomeError as exc:
            raise ProtocolError(Err.GENOME, f"SPAWN_ASSET: the brain file's genome: {exc}") from None
        except (KeyError, TypeError, ValueError, RecursionError) as exc:
            raise ProtocolError(Err.GENOME, f"SPAWN_ASSET: the brain file's genome is invalid "
                                            f"({type(exc).__name__}: {exc})") from None
        self._check_asset_limits(s, circuit, int(arrays["syn_pre"].size) if "syn_pre" in arrays else 0)
        try:  # checks every size and index against the circuit before the world changes
            brain = spawn_read(self.world, manifest, arrays, req.with_state, label)
        except BrainAssetError as exc:
            msg = str(exc)
            raise ProtocolError(Err.INVALID, msg if msg.startswith("SPAWN_ASSET") else f"SPAWN_ASSET: {msg}") from None
        self.genomes.setdefault(circuit.name, circuit)
        self._relaid()
        s.owned.add(brain.id)
        s.changed()
        return P.frame(Msg.SPAWNED, seq, P.encode_ids([brain.id]) + self._layout_payload(s))

    def _check_asset_limits(self, s: Session, circuit: Circuit, n_synapses: int) -> None:
        """The limits of SPAWN and UPLOAD_GENOME, for one brain of ``circuit`` from a file."""
        known = self.genomes.get(circuit.name)
        if known is not None and not _same(known, circuit):
            raise ProtocolError(Err.INVALID, f"SPAWN_ASSET: the brain file's circuit {circuit.name!r} differs from the "
                                             f"circuit of that name registered here")
        if known is None and len(self.genomes) >= P.MAX_CIRCUITS:
            raise ProtocolError(Err.LIMIT, f"SPAWN_ASSET: {P.MAX_CIRCUITS} circuits are registered already")
        info = check_circuit(circuit, "SPAWN_ASSET")
        if len(s.owned) + 1 > P.MAX_BRAINS_PER_SESSION:
            raise ProtocolError(Err.LIMIT, f"SPAWN_ASSET: the session would own {len(s.owned) + 1} brains, at most "
                                           f"{P.MAX_BRAINS_PER_SESSION} allowed")
        L = self.world.layout  # the circuits of the session's brains, without a handle per brain
        mine = ({L.prototypes[int(p)].circuit.name for p in np.unique(L.brain_proto[self.world.rows(list(s.owned))])}
                if s.owned else set())
        if circuit.name not in mine and len(mine) >= P.MAX_CIRCUITS_PER_SESSION:
            raise ProtocolError(Err.LIMIT, f"SPAWN_ASSET: the session has brains of {len(mine)} circuits, at most "
                                           f"{P.MAX_CIRCUITS_PER_SESSION} allowed")
        total = self.world.layout.n_neurons + info.neurons
        if total > self.max_world_neurons:
            raise ProtocolError(Err.LIMIT, f"SPAWN_ASSET: the world would hold {total} neurons, at most "
                                           f"{self.max_world_neurons} allowed")
        syn = self.world.layout.n_synapses + n_synapses
        if syn > self.max_world_synapses:
            raise ProtocolError(Err.LIMIT, f"SPAWN_ASSET: the world would hold {syn} synapses, at most "
                                           f"{self.max_world_synapses} allowed")

    def stats(self, s: Session | None = None) -> dict[str, Any]:
        """The STATS document (world, server, limits and, with ``s``, that session)."""
        with self.lock:
            return self._stats_doc(s)

    def _stats_doc(self, s: Session | None) -> dict[str, Any]:
        """The STATS document: ``world`` (World.stats), ``server`` (clients, exchange rates and
        medians in µs, uptime in s, learning mode, circuits, limits) and, given ``s``, ``session``."""
        now = time.monotonic()
        times = [t for t in self._ex_times if now - t <= 1.0]
        sim = sorted(self._sim_us)
        handle = sorted(self._handle_us)
        overhead = sorted(h - x for h, x in zip(self._handle_us, self._sim_us, strict=False))
        out: dict[str, Any] = {
            "world": self.world.stats(),
            "server": {"clients": sum(1 for x in self.sessions.values() if x.conn is not None),
                       "sessions": len(self.sessions), "exchanges": self.exchanges,
                       "exchanges_per_s": float(len(times)), "sim_us_median": sim[len(sim) // 2] if sim else 0,
                       "exchange_us_median": handle[len(handle) // 2] if handle else 0,
                       "exchange_overhead_us_median": overhead[len(overhead) // 2] if overhead else 0,
                       "uptime_s": round(now - self.started, 3), "learning": self.learning_mode(),
                       "circuits": sorted(self.genomes), "protocol": f"{P.MAJOR}.{P.MINOR}",
                       "dt": self.world.dt, "max_substeps": self.world.clock.max_substeps,
                       "limits": self.limit_stats(),
                       "upload_parse": self.upload_parser.stats() if self.upload_parser is not None else None,
                       "spawns": {"count": self.spawns, "last_s": round(self.spawn_s_last, 6),
                                  "last_locked_s": round(self.spawn_locked_s_last, 6),
                                  "last_locked_total_s": round(self.spawn_locked_total_s_last, 6),
                                  "last_pieces": self.spawn_pieces_last,
                                  "locked_s_max": round(self.spawn_locked_s_max, 6)}},
        }
        if s is not None:
            out["session"] = {"id": s.id, "name": s.name, "brains": len(s.owned), "steps": s.steps,
                              "exchanges": s.exchanges, "shm": s.shm is not None, "epoch": s.epoch,
                              "subscriptions": len(s.subs),
                              "memory": {**self.quota.usage(self, s), "quota": self.quota.quota_bytes},
                              "exchange_overhead_us_median": float(np.median(s.overhead_us)) if s.overhead_us else 0.0}
        return out

    def _stats(self, s: Session, seq: int, payload: bytes) -> bytes:
        P.decode_empty(payload, "STATS")
        text = json.dumps(self.stats(s), default=str)
        return P.frame(Msg.STATS_RESULT, seq, bytes(P.Writer().str32(text).buf))

    def _shm_open(self, s: Session, seq: int, payload: bytes) -> bytes:
        r = P.Reader(payload, "SHM_OPEN")
        s_cap, a_cap = r.u32("sensor_capacity"), r.u32("actuator_capacity")
        r.end()
        plan = self.plan(s)
        s_cap = s_cap or plan.info.sensor_floats
        a_cap = a_cap or plan.info.actuator_floats
        for nm, v in (("sensor_capacity", s_cap), ("actuator_capacity", a_cap)):
            if v > P.MAX_SHM_FLOATS:
                raise ProtocolError(Err.LIMIT, f"SHM_OPEN.{nm}: {v} floats, at most {P.MAX_SHM_FLOATS} allowed")
        try:
            block = ServerShmBlock.create(max(s_cap, 1), max(a_cap, 1), f"{s.id}")
        except (OSError, ShmError) as exc:
            raise ProtocolError(Err.IO, f"SHM_OPEN: cannot create the block ({exc})") from None
        if s.shm is not None:
            s.shm.close()
        s.shm = block
        block.set_layout(s.epoch, plan.info.sensor_floats, plan.info.actuator_floats)
        ready = P.ShmReady(str(block.path), block.size, block.sensor_offset, block.sensor_capacity,
                           block.actuator_offset, block.actuator_capacity)
        return P.frame(Msg.SHM_READY, seq, ready.encode())

    def _shm_close(self, s: Session, seq: int, payload: bytes) -> bytes:
        P.decode_empty(payload, "SHM_CLOSE")
        if s.shm is None:
            raise ProtocolError(Err.BAD_STATE, "SHM_CLOSE: no shared-memory block is open")
        s.shm.close()
        s.shm = None
        return P.frame(Msg.OK, seq)


# ====================================================================== one client's frame stream
_WAIT_FOR_SPAWN = frozenset({Msg.DESPAWN, Msg.SAVE, Msg.LOAD, Msg.SPAWN_ASSET})
"""Requests that change the world's structure or save it: they wait for a spawn being
committed in pieces by another thread (SPAWN waits itself)."""

_LOCKS_ITSELF = frozenset({Msg.SPAWN, Msg.DESPAWN, Msg.UPLOAD_GENOME})
_COUNT_UNLOCKED = 256  # a session owning this many brains or more has them counted off the lock
"""Requests whose handler takes the world lock itself (in more than one hold, or for part of its work)."""

OFFLOADED = frozenset({Msg.SPAWN, Msg.DESPAWN, Msg.SAVE, Msg.LOAD, Msg.UPLOAD_GENOME, Msg.SPAWN_ASSET,
                       Msg.EXPORT_BRAIN})
"""Requests a transport may run off its event loop (see :class:`Endpoint`'s ``offload``)."""

Offload = Callable[[Callable[[], "bytes | list[bytes]"], Callable[[Callable[[], "bytes | list[bytes]"]], None]], None]

class Endpoint:
    """One client's byte stream, whatever carries it: framing, handshake, BYE and error accounting.

    A transport creates one per client, passes it every chunk of bytes it receives
    (:meth:`feed`) and sends what the endpoint writes; :meth:`lost` tells it the client went
    away. The bytes written are exactly the protocol's reply frames, the same for TCP, Unix
    sockets and in-process hosts.

    Parameters
    ----------
    core : ServerCore
        The server core the requests go to.
    write : callable
        ``write(data)`` sends reply bytes (one or more whole frames) to the client.
    close : callable
        ``close()`` closes the transport (the endpoint writes nothing afterwards).
    peer : str
        The client's address, for logs.
    idle_timeout : float
        Seconds the transport lets this client send nothing before dropping it (0: never;
        in-process: 0); announced in WELCOME.
    offload : callable or None
        ``offload(job, done)`` runs ``job()`` (a request of :data:`OFFLOADED` kinds: SPAWN,
        DESPAWN, SAVE, LOAD, UPLOAD_GENOME, SPAWN_ASSET, EXPORT_BRAIN) off the transport's thread and later calls
        ``done(result)`` back on it, ``result()`` returning the reply or raising. Meanwhile
        this client's further frames wait (replies stay in order) while other clients go on.
        None (default): every request is handled at once, in the caller's thread.
    pause : callable or None
        ``pause(True)`` / ``pause(False)``: stop / resume reading from this client while an
        offloaded request runs (back-pressure); None: frames received meanwhile are queued.

    Attributes
    ----------
    session : Session or None
        The session once HELLO succeeded (None before, and after BYE or a drop).
    closing : bool
        True once the endpoint dropped the client (or the transport was lost).
    partial_since : float or None
        ``time.monotonic()`` when a started frame began arriving (None: no partial frame).
    last_frame : float
        ``time.monotonic()`` of the last complete frame (or of construction).
    """

    def __init__(self, core: ServerCore, write: Callable[[bytes], None], close: Callable[[], None],
                 peer: str = "?", offload: Offload | None = None,
                 pause: Callable[[bool], None] | None = None, idle_timeout: float = 0.0) -> None:
        self.core = core
        self.idle_timeout = idle_timeout
        self.offload = offload
        self._pause = pause
        self._busy = False  # an offloaded request of this client is running
        self._queue: deque[P.Frame] = deque()
        self._send = write
        self._close = close
        self.peer = peer
        self.decoder = P.FrameDecoder(P.MAX_HELLO_BYTES)
        self.session: Session | None = None
        self.errors = 0
        self.closing = False
        self._closed = False
        self.partial_since: float | None = None
        self.last_frame = time.monotonic()

    def feed(self, data: bytes) -> None:
        """Handle received bytes: every complete frame in them is answered (through ``write``)."""
        if self.closing:
            return
        chunk = data
        while True:
            try:
                frames = self.decoder.feed(chunk)
            except ProtocolError as exc:
                self._send_error(0, exc)
                self.drop(exc.code, exc.message, quiet=True)
                return
            for f in frames:
                if self.closing:
                    return
                self.last_frame = time.monotonic()
                if self._busy:
                    self._queue.append(f)
                else:
                    self._on_frame(f)
            # frames may have stopped short of a bad length (raised by the next feed), or the
            # HELLO just raised the frame limit for the bytes after it: parse the rest again
            if not frames or not self.decoder.pending or self.closing:
                break
            chunk = b""
        self.partial_since = (self.partial_since or time.monotonic()) if self.decoder.pending else None

    def _on_frame(self, f: P.Frame) -> None:
        try:
            if f.flags != 0:
                raise ProtocolError(Err.MALFORMED, f"frame.flags: reserved, must be 0, got {f.flags}")
            if self.session is None:
                if f.msg != Msg.HELLO:
                    raise ProtocolError(Err.BAD_STATE, f"frame.type: expected HELLO (0x0001) first, got 0x{f.msg:04X}",
                                        fatal=True)
                try:
                    session, welcome = self.core.hello(f.payload, self, self.idle_timeout)
                except ProtocolError as exc:
                    exc.fatal = True
                    raise
                self.session = session
                self.decoder.max_length = P.MAX_FRAME_BYTES
                self.write(P.frame(Msg.WELCOME, f.seq, welcome))
            elif f.msg == Msg.BYE:
                r = P.Reader(f.payload, "BYE")
                keep = r.u8("keep") if r.remaining else 0
                r.end()
                s, self.session = self.session, None
                self.core.end_session(s, keep=bool(keep))
                self.write(P.frame(Msg.OK, f.seq))
                self.drop(Err.SHUTDOWN, "bye", quiet=True)
                return
            elif self.offload is not None and f.msg in OFFLOADED:
                session = self.session
                self._busy = True
                if self._pause is not None:
                    self._pause(True)
                self.offload(lambda: self.core.handle(session, f.msg, f.seq, f.payload),
                             lambda result: self._offloaded(f, result, session))
                return
            else:
                out = self.core.handle(self.session, f.msg, f.seq, f.payload)
                self.write(b"".join(out) if isinstance(out, list) else out)
            self.errors = 0
        except ProtocolError as exc:
            self._fail(f.seq, exc)
        except Exception as exc:  # a bug must not take the server or other clients down
            log.exception("internal error handling message 0x%04X from %s", f.msg, self.peer)
            self._fail(f.seq, ProtocolError(Err.INTERNAL, f"{type(exc).__name__}: {exc}"))

    @property
    def busy(self) -> bool:
        """True while an offloaded request of this client runs (its later frames wait)."""
        return self._busy

    def _offloaded(self, f: P.Frame, result: Callable[[], bytes | list[bytes]], session: Session | None) -> None:
        """An offloaded request finished (on the transport's thread): reply, then go on with
        the frames that arrived meanwhile. A spawn whose reply can no longer be sent (the
        connection closed meanwhile, e.g. the client's reply timeout) is undone: a client that
        resumes the session does not know those brains and would spawn its agents' brains again."""
        self._busy = False
        if self.closing:
            self._queue.clear()
            if session is not None and f.msg in (Msg.SPAWN, Msg.SPAWN_ASSET):
                try:
                    out = result()
                except Exception:  # nothing was spawned
                    return
                self.core.undo_unanswered_spawn(session, b"".join(out) if isinstance(out, list) else out)
            return
        try:
            out = result()
            self.write(b"".join(out) if isinstance(out, list) else out)
            self.errors = 0
        except ProtocolError as exc:
            self._fail(f.seq, exc)
        except Exception as exc:  # a bug must not take the server or other clients down
            log.error("internal error handling message 0x%04X from %s", f.msg, self.peer, exc_info=exc)
            self._fail(f.seq, ProtocolError(Err.INTERNAL, f"{type(exc).__name__}: {exc}"))
        while self._queue and not self._busy and not self.closing:
            self._on_frame(self._queue.popleft())
        if not self._busy and not self.closing and self._pause is not None:
            self._pause(False)

    def _fail(self, seq: int, exc: ProtocolError) -> None:
        self.errors += 1
        self._send_error(seq, exc)
        if exc.fatal:
            self.drop(exc.code, exc.message, quiet=True)
        elif self.errors >= P.MAX_CONSECUTIVE_ERRORS:
            self._send_error(0, ProtocolError(Err.LIMIT, f"{self.errors} consecutive errors; closing", fatal=True))
            self.drop(Err.LIMIT, "too many consecutive errors", quiet=True)

    def _send_error(self, seq: int, exc: ProtocolError) -> None:
        self.write(P.frame(Msg.ERROR, seq, P.encode_error(exc.code, exc.message, exc.fatal)))

    def write(self, data: bytes) -> None:
        """Send ``data`` to the client unless the transport was closed."""
        if not self._closed:
            self._send(data)

    def drop(self, code: Err, message: str, quiet: bool = False) -> None:
        """Close this client (after an ERROR frame with seq 0 unless ``quiet``); its session
        enters the reconnect grace (see :meth:`ServerCore.disconnected`)."""
        if self.closing:
            return
        if not quiet:
            self.write(P.frame(Msg.ERROR, 0, P.encode_error(code, message, True)))
        self.closing = True
        if self.session is not None:
            s, self.session = self.session, None
            self.core.disconnected(s, self)
        self._closed = True
        self._close()

    def lost(self) -> None:
        """The transport went away (peer closed, reset): the session enters the reconnect grace."""
        self.closing = True
        self._queue.clear()
        self._closed = True
        if self.session is not None:
            s, self.session = self.session, None
            self.core.disconnected(s, self)


# ====================================================================== in-process transport
class InProcessConnection:
    """One in-process client of an :class:`InProcessServer` (see there).

    Frames go in as bytes and the reply frames come back as bytes, through the same
    :class:`Endpoint` and :class:`ServerCore` as a TCP client's.
    """

    def __init__(self, server: InProcessServer, name: str) -> None:
        self.server = server
        self.name = name
        self._out: list[bytes] = []
        self._pending = b""
        self._closed = False
        self.endpoint = Endpoint(server.core, self._out.append, self._on_close, peer=f"in-process:{name}")

    def _on_close(self) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        """True after BYE, a fatal error, :meth:`close` or the server's :meth:`InProcessServer.close`."""
        return self._closed

    def handle_frame(self, frame: bytes) -> list[bytes]:
        """Handle request bytes (normally one whole frame: header + payload) and return the replies.

        Parameters
        ----------
        frame : bytes
            Request bytes as a client would write them to the socket (bytes, bytearray or
            memoryview). A partial frame is kept until the rest arrives.

        Returns
        -------
        list of bytes
            The reply frames, each whole (header included), exactly the bytes ``spikeforge
            serve`` would send on a TCP connection; empty after the connection closed.
        """
        if self._closed:
            return []
        self.endpoint.feed(bytes(frame))
        out, self._out[:] = list(self._out), []
        return out

    def handle_frame_at(self, address: int, length: int, out_address: int, out_capacity: int) -> int:
        """:meth:`handle_frame` for hosts that call through an FFI (e.g. C# through pythonnet),
        where passing byte strings would copy them element by element.

        Parameters
        ----------
        address, length : int
            Where the request bytes are (a raw pointer into the host's memory) and how many.
        out_address, out_capacity : int
            Where the reply bytes go and how many fit there.

        Returns
        -------
        int
            Reply bytes written at ``out_address`` (whole frames, back to back), or, when they do
            not fit, minus their size: they are then kept for :meth:`take_replies_at`.
        """
        import ctypes

        if length < 0 or out_capacity < 0:
            raise ValueError("length, out_capacity: must be >= 0")
        self._pending = b"".join(self.handle_frame(ctypes.string_at(address, length) if length else b""))
        n = len(self._pending)
        if n > out_capacity:
            return -n
        return self.take_replies_at(out_address, out_capacity)

    def take_replies_at(self, out_address: int, out_capacity: int) -> int:
        """Write the replies kept by :meth:`handle_frame_at` at ``out_address``; returns their size.

        Raises
        ------
        ValueError
            If they do not fit in ``out_capacity`` bytes.
        """
        import ctypes

        data = self._pending
        if len(data) > out_capacity:
            raise ValueError(f"out_capacity: the replies need {len(data)} bytes, got {out_capacity}")
        if data:
            ctypes.memmove(out_address, data, len(data))
        self._pending = b""
        return len(data)

    def close(self) -> None:
        """Drop the connection without BYE: the session ends (or waits out its grace)."""
        if not self._closed:
            self._closed = True
            self.endpoint.lost()


class InProcessServer:
    """The server core for a host that embeds Python (e.g. Unity through pythonnet).

    It speaks ``integrations/PROTOCOL.md`` frame for frame, as ``spikeforge serve`` does over
    TCP: same handshake, sessions, ownership, limits and replies (byte for byte), without a
    socket. A host encodes requests with its protocol client and passes each frame to
    :meth:`InProcessConnection.handle_frame`.

    Parameters
    ----------
    world : World or None
        The world to serve; None creates ``World(dt, backend, seed, max_substeps)``.
    token : str or None
        The handshake token clients must send; None draws a random one (see :attr:`token`).
    genomes : dict or None
        Circuit name -> circuit, known before any upload.
    genome_files : sequence of str or Path
        Genome files and folders of ``*.json`` genomes to register too, as ``spikeforge serve
        --genome`` does (a name given twice is an error).
    snapshot_dir : str, Path or None
        Where SAVE/LOAD read and write (created 0700); None disables them.
    dt, backend, seed, max_substeps
        The new world's step (s), backend, seed and substep limit (only when ``world`` is None).
    grace_seconds : float
        Kept for API symmetry; without an event loop a dropped session ends at once.
    max_world_neurons, max_world_synapses : int
        Limits of the world (spawns beyond them get ``LIMIT``).

    Examples
    --------
    >>> from spikeforge.ipc import InProcessServer, protocol as P
    >>> srv = InProcessServer(token="t", backend="numpy")
    >>> conn = srv.connect("game")
    >>> hello = P.Hello(client_name="game", token="t").encode()
    >>> (reply,) = conn.handle_frame(P.frame(P.Msg.HELLO, 1, hello))
    >>> P.HEADER.unpack_from(reply)[1] == P.Msg.WELCOME
    True
    """

    def __init__(self, world: World | None = None, token: str | None = None,
                 genomes: dict[str, Circuit] | None = None, snapshot_dir: str | Path | None = None, *,
                 genome_files: Sequence[str | Path] = (), dt: float = 0.001, backend: str = "auto", seed: int = 0,
                 max_substeps: int = 64,
                 grace_seconds: float = 0.0, max_world_neurons: int = P.MAX_WORLD_NEURONS,
                 max_world_synapses: int = P.MAX_WORLD_SYNAPSES, version: str = "0.1.0") -> None:
        if world is None:
            world = World(dt=dt, backend=backend, seed=seed, max_substeps=max_substeps)
        snap: Path | None = None
        if snapshot_dir is not None:
            from spikeforge.files import private_dir

            snap = Path(snapshot_dir).expanduser().resolve()
            private_dir(snap)
        known = dict(genomes or {})
        if genome_files:
            from spikeforge.ipc.serve import load_genomes

            for name, c in load_genomes([str(p) for p in genome_files]).items():
                if name in known:
                    raise ValueError(f"genome_files: circuit name {name!r} is also in genomes")
                known[name] = c
        self.token = token if token else secrets.token_hex(32)
        self.core = ServerCore(world, self.token, known, snap, grace_seconds, max_world_neurons, version,
                               max_world_synapses)
        self.connections: list[InProcessConnection] = []

    @property
    def world(self) -> World:
        """The served world (a LOAD replaces it)."""
        return self.core.world

    def connect(self, name: str = "in-process") -> InProcessConnection:
        """A new client connection; its first frame must be HELLO with :attr:`token`."""
        conn = InProcessConnection(self, name)
        self.connections = [c for c in self.connections if not c.closed]
        self.connections.append(conn)
        return conn

    def close(self) -> None:
        """Drop every connection (their sessions end) and release shared memory."""
        for c in self.connections:
            c.close()
        self.connections = []
        self.core.close()
