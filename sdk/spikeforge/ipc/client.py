"""Reference client of ``integrations/PROTOCOL.md`` (blocking sockets, TCP or Unix socket,
optional shared memory).

Example
-------
>>> from spikeforge.ipc.client import Client                         # doctest: +SKIP
>>> with Client.connect(port=47800, token_file="~/.spikeforge/server.token") as c:
...     ids = c.spawn("wanderer", 10)
...     c.sensor("wanderer", "eyes")[:] = 0.5          # (brains x channels) view
...     res = c.exchange(1 / 60)
...     speed = c.actuator("wanderer", "speed")        # (brains x width) view
"""

from __future__ import annotations

import json
import socket
import struct
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from spikeforge.ipc import protocol as P
from spikeforge.ipc.protocol import Msg, RemoteError
from spikeforge.ipc.shm import ShmBlock

F32 = npt.NDArray[np.float32]


class Client:
    """A connection and session. Use :meth:`connect`.

    After every layout change (spawn, despawn, claim, load) :attr:`layout` is current and
    the arrays returned by :meth:`sensor`/:meth:`actuator` are re-created: fetch them again.

    Attributes
    ----------
    welcome : protocol.Welcome
        The server's handshake answer (session id, resume token, dt ...).
    layout : protocol.LayoutInfo
        The current exchange layout.
    sensors : float32 array
        The flat sensor array sent by :meth:`exchange` (in shared memory after :meth:`open_shm`).
    actuators : float32 array
        The flat actuator array of the last exchange.
    keepalive_interval : float
        Configured keepalive interval in seconds (default 30 s; 0 = off); :meth:`keepalive` pings
        after :attr:`keepalive_period` without a sent frame, which the idle timeout the server
        announced may lower.
    keepalives : int
        PINGs :meth:`keepalive` sent.
    unanswered : int
        Message type of the last request whose reply never came (the connection broke while
        it was in flight); 0 when every request was answered. :meth:`reconnect` reads it.
    reconciled : list of int
        Brains the last :meth:`reconnect` despawned: a SPAWN's, whose reply was lost with the
        connection (PROTOCOL.md section 6, "Reconcile after a resume").
    subscriptions : list of int
        This client's subscription ids in SUBSCRIBE order (the order of an exchange's
        ``batches``): :meth:`subscribe` adds one, :meth:`unsubscribe` removes it (before it
        sends the request), :meth:`reconnect` brings it in line with the session's.
    reconciled_subscriptions : list of int
        Subscriptions the last :meth:`reconnect` unsubscribed: a SUBSCRIBE's whose reply was
        lost with the connection, or an UNSUBSCRIBE's that had not reached the server.
    """

    def __init__(self, sock: socket.socket, welcome: P.Welcome) -> None:
        self.sock = sock
        self.welcome = welcome
        self._seq = 1
        self._hdr = bytearray(P.HEADER_SIZE)
        self.shm: ShmBlock | None = None
        self.layout = P.LayoutInfo(welcome.epoch, (), 0, 0, (), ())
        self.sensors: F32 = np.zeros(0, np.float32)
        self.actuators: F32 = np.zeros(0, np.float32)
        self.last: P.ExchangeResult | None = None
        self.keepalive_interval = P.KEEPALIVE_INTERVAL_S
        self.keepalives = 0
        self._last_send = time.monotonic()
        self.unanswered = 0
        self.reconciled: list[int] = []
        self.subscriptions: list[int] = []
        self.reconciled_subscriptions: list[int] = []
        self._address: dict[str, Any] = {}

    # ------------------------------------------------------------------ connecting
    @classmethod
    def connect(cls, host: str = "127.0.0.1", port: int = 47800, token: str | None = None,
                token_file: str | Path | None = None, name: str = "python", resume_token: str = "",
                unix: str | Path | None = None, timeout: float = 30.0,
                keepalive_interval: float = P.KEEPALIVE_INTERVAL_S) -> Client:
        """Connect to a ``spikeforge serve`` server, handshake, and (when resuming) fetch the session's layout.

        Parameters
        ----------
        host, port : str, int
            TCP address of the server (default ``127.0.0.1:47800``); ignored when ``unix`` is given.
        token, token_file : str, str or Path
            The server's access token, or the file it is in (``~`` expanded; the server writes
            ``~/.spikeforge/server.token``). One of the two is required.
        name : str
            Shown in the server's logs and STATS.
        resume_token : str
            :attr:`resume_token` of an earlier connection: get that session's brains, layout and
            subscriptions back if it reconnects within the server's grace period.
        unix : str or Path, optional
            Path of a Unix socket to connect to instead of TCP (same machine, lower latency).
        timeout : float
            Socket timeout in seconds, for connecting and for every reply.
        keepalive_interval : float
            Seconds without a sent frame after which :meth:`keepalive` pings (0 = never); lowered to
            half the server's announced idle timeout (see :attr:`keepalive_period`).

        Returns
        -------
        Client
            Connected; use it as a context manager to close it (and despawn its brains) on exit.

        Raises
        ------
        ValueError
            If neither ``token`` nor ``token_file`` is given.
        RemoteError
            ``AUTH`` for a wrong token, ``VERSION`` for an incompatible server, ``NOT_FOUND`` for an
            expired ``resume_token``.
        OSError
            If the server cannot be reached (e.g. :class:`ConnectionRefusedError`).
        """
        if token is None:
            if token_file is None:
                raise ValueError("token: pass token= or token_file=")
            token = Path(token_file).expanduser().read_text(encoding="utf-8").strip()
        if unix is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(str(unix))
        else:
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            hello = P.Hello(name, token, resume_token)
            sock.sendall(P.frame(Msg.HELLO, 1, hello.encode()))
            c = cls(sock, P.Welcome(0, "", False, 0.0, 0, 0, "", 0))
            c.keepalive_interval = keepalive_interval
            msg, _, payload = c._read_reply(1)
            if msg != Msg.WELCOME:
                raise P.ProtocolError(P.Err.MALFORMED, f"expected WELCOME, got 0x{msg:04X}")
            c.welcome = P.Welcome.decode(payload, hello.minor)
            c._seq = 2
            c._address = dict(host=host, port=port, token=token, name=name, unix=unix, timeout=timeout,
                              keepalive_interval=keepalive_interval)
            if c.welcome.epoch:
                c.get_layout()
            return c
        except BaseException:
            sock.close()
            raise

    def reconnect(self) -> list[int]:
        """Resume this session on a new connection after the old one broke, and reconcile.

        The brains, subscriptions and shared-memory block are the session's, kept by the server
        for its grace period. If the request that was in flight when the connection broke
        (:attr:`unanswered`) was a SPAWN or SPAWN_ASSET, the session may hold its brains although
        their ids never reached this client (the server wrote the reply into the dead
        connection): those brains, the session's that :attr:`layout` does not list, are
        despawned, so spawning again gives one brain per agent (PROTOCOL.md section 6,
        "Reconcile after a resume"). If it was a SUBSCRIBE or UNSUBSCRIBE (and the server speaks
        protocol 1.2), the session's subscriptions are listed (GET_SUBSCRIPTIONS): those not in
        :attr:`subscriptions` (a SUBSCRIBE whose SUBSCRIBED reply was lost, an UNSUBSCRIBE that
        never arrived) are unsubscribed, and ids the session no longer has are forgotten, so
        the exchange's batches are exactly :attr:`subscriptions` again. Any other request in
        flight is not undone: :attr:`layout` is the session's after the reconnect.

        Returns
        -------
        list of int
            The brains despawned (also in :attr:`reconciled`); empty when nothing was lost. The
            subscriptions unsubscribed are in :attr:`reconciled_subscriptions`.

        Raises
        ------
        RemoteError
            ``NOT_FOUND`` when the session is gone (grace period over, server restarted).
        OSError
            If the server cannot be reached.
        """
        if not self._address:
            raise ValueError("reconnect: this Client was not made by Client.connect")
        known = set(self.layout.brain_ids)
        lost = self.unanswered
        try:
            self.sock.close()
        except OSError:
            pass
        fresh = Client.connect(resume_token=self.resume_token, **self._address)
        self.sock, self.welcome, self._seq = fresh.sock, fresh.welcome, fresh._seq
        self._last_send = fresh._last_send
        self.reconciled = []
        for _ in range(3):
            lay = self.get_layout()
            extra = sorted(set(lay.brain_ids) - known) if lost in (Msg.SPAWN, Msg.SPAWN_ASSET) else []
            if not extra:
                break
            try:
                self.despawn(extra)
            except RemoteError as exc:
                # the server's own undo of that spawn took them out meanwhile: look again
                if exc.code not in (P.Err.NOT_FOUND, P.Err.NOT_OWNER):
                    raise
                continue
            self.reconciled = extra
            break
        self.reconciled_subscriptions = []
        if lost in (Msg.SUBSCRIBE, Msg.UNSUBSCRIBE) and self.welcome.minor >= 2:
            self.reconciled_subscriptions = self._reconcile_subscriptions()
        self.unanswered = 0
        return self.reconciled

    def _reconcile_subscriptions(self) -> list[int]:
        """Unsubscribe the session's subscriptions this client does not know; forget those it lacks."""
        listed = [x.sub_id for x in self.subscriptions_of_session()]
        extra = [sid for sid in listed if sid not in self.subscriptions]
        for sid in extra:
            try:
                self.request(Msg.UNSUBSCRIBE, struct.pack("<I", sid), Msg.OK)
            except RemoteError as exc:
                if exc.code != P.Err.NOT_FOUND:
                    raise
        self.subscriptions = [sid for sid in self.subscriptions if sid in listed]
        return extra

    def __enter__(self) -> Client:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self, bye: bool = True, keep: bool = False) -> None:
        """Send BYE (brains despawned unless ``keep``) and close; ``bye=False`` just drops the socket."""
        if bye:
            try:
                self.request(Msg.BYE, bytes([1 if keep else 0]))
            except (OSError, RemoteError, P.ProtocolError):
                pass
        if self.shm is not None:
            self.sensors = np.zeros(0, np.float32)
            self.shm.close()
            self.shm = None
        self.sock.close()

    # ------------------------------------------------------------------ framing
    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self.sock.recv_into(view[got:], n - got)
            if k == 0:
                raise ConnectionError("server closed the connection")
            got += k
        return bytes(buf)

    def _read_reply(self, seq: int) -> tuple[int, int, bytes]:
        head = self._recv_exact(P.HEADER_SIZE)
        length, msg, _flags, rseq = P.HEADER.unpack(head)
        if length < P.MIN_LENGTH:
            raise P.ProtocolError(P.Err.MALFORMED, f"reply length {length} < 8")
        payload = self._recv_exact(length - P.MIN_LENGTH) if length > P.MIN_LENGTH else b""
        if msg == Msg.ERROR:
            raise P.decode_error(payload, rseq)
        if rseq != seq:
            raise P.ProtocolError(P.Err.MALFORMED, f"reply seq {rseq} does not match request seq {seq}")
        return msg, rseq, payload

    def _send(self, data: bytes) -> None:
        self.sock.sendall(data)
        self._last_send = time.monotonic()

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (tests use this to send broken frames)."""
        self._send(data)

    def read_frame(self) -> tuple[int, int, bytes]:
        """Read one frame of any type: (type, seq, payload); ERROR frames are returned, not raised."""
        head = self._recv_exact(P.HEADER_SIZE)
        length, msg, _flags, rseq = P.HEADER.unpack(head)
        return msg, rseq, self._recv_exact(length - P.MIN_LENGTH) if length > P.MIN_LENGTH else b""

    def next_seq(self) -> int:
        """The sequence number for the next request (1, 2, ... wrapping to 1 after 2**32-1, never 0).

        Use it with :meth:`send_raw` to hand-build a request; :meth:`request` calls it for you.
        """
        seq = self._seq
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        return seq

    def request(self, msg: int, payload: bytes = b"", expect: int | None = None) -> bytes:
        """Send one request and return the reply payload (raises RemoteError on ERROR)."""
        seq = self.next_seq()
        self.unanswered = msg
        self._send(P.frame(msg, seq, payload))
        try:
            rmsg, _, data = self._read_reply(seq)
        except (RemoteError, P.ProtocolError):
            self.unanswered = 0  # answered (with an ERROR, or a frame this client rejects)
            raise
        self.unanswered = 0
        if expect is not None and rmsg != expect:
            raise P.ProtocolError(P.Err.MALFORMED, f"expected reply 0x{expect:04X}, got 0x{rmsg:04X}")
        return data

    # ------------------------------------------------------------------ messages
    def ping(self, data: bytes = b"") -> bytes:
        """Round-trip a PING: measure latency, check the server is alive, or keep the session alive.

        The server closes a connection that sent no frame for its ``--idle-timeout`` (300 s by
        default; the session then waits out its grace period). A program that may stay quiet
        longer (waiting for user input, a paused game) calls ``ping()`` at least every half of
        that timeout; any other request resets the timer too (:meth:`keepalive` does this
        when due). The client is not thread-safe: call it from the thread that makes the other
        requests, not from a background timer thread that could interleave with them.

        Parameters
        ----------
        data : bytes, optional
            Up to 1024 bytes the server echoes back.

        Returns
        -------
        bytes
            The PONG payload (equal to ``data``).
        """
        return self.request(Msg.PING, data, Msg.PONG)

    @property
    def idle_timeout(self) -> float | None:
        """The server's idle timeout in seconds, as WELCOME announced it (0: the server never drops an
        idle connection; None: a protocol 1.0 server, which does not announce it)."""
        return self.welcome.idle_timeout_s

    @property
    def keepalive_period(self) -> float:
        """Seconds without a sent frame after which :meth:`keepalive` pings: :attr:`keepalive_interval`
        lowered to half of :attr:`idle_timeout` (but not below 1 s on that account); 0 = off."""
        return P.keepalive_interval(self.keepalive_interval, self.idle_timeout)

    @property
    def seconds_since_send(self) -> float:
        """Wall-clock seconds since the last frame was sent (the server's idle timer counts from it)."""
        return time.monotonic() - self._last_send

    def keepalive(self) -> bool:
        """PING if nothing was sent for :attr:`keepalive_period` seconds; call it often while the program idles.

        A loop that waits (a paused game, a tool waiting for input) calls this every iteration
        instead of a background thread (the client is not thread-safe). With the default 30 s
        interval and a server started with ``--idle-timeout 20``, it pings every 10 s.

        Returns
        -------
        bool
            True when it sent a PING (and read its PONG).
        """
        period = self.keepalive_period
        if not period > 0 or self.seconds_since_send < period:
            return False
        self.ping()
        self.keepalives += 1
        return True

    def list_circuits(self) -> list[P.CircuitInfo]:
        """Every circuit the server can spawn (from ``--genome`` files, uploads, a loaded snapshot).

        Returns
        -------
        list of protocol.CircuitInfo
            Sorted by name; each names its sensors and actuators with their sizes and ranges, which is
            what a game needs to build its sensor arrays.
        """
        return P.decode_circuits(self.request(Msg.LIST_CIRCUITS, b"", Msg.CIRCUITS))

    def upload_genome(self, text: str) -> P.CircuitInfo:
        """Register a circuit from its genome JSON, so that :meth:`spawn` can use it.

        Parameters
        ----------
        text : str
            A ``spikeforge-genome`` document (``save_genome`` / ``Circuit.to_json`` writes one), at most 4 MiB.

        Returns
        -------
        protocol.CircuitInfo
            The registered circuit.

        Raises
        ------
        RemoteError
            ``GENOME`` naming the bad field; ``INVALID`` if a different circuit of the same name exists.
        """
        payload = bytes(P.Writer().str32(text).buf)
        return P.decode_circuits(self.request(Msg.UPLOAD_GENOME, payload, Msg.CIRCUITS))[0]

    def _set_layout(self, lay: P.LayoutInfo) -> None:
        self.layout = lay
        if self.shm is not None and self.shm.fits(lay.sensor_floats, lay.actuator_floats):
            self.sensors = self.shm.sensors[:lay.sensor_floats]
        else:
            if self.shm is not None:  # outgrown: fall back to inline until a bigger block is opened
                self.shm.close()
                self.shm = None
            self.sensors = np.zeros(lay.sensor_floats, np.float32)
        self.actuators = np.zeros(lay.actuator_floats, np.float32)

    def spawn(self, circuit: str, count: int = 1) -> list[int]:
        """Spawn ``count`` brains of ``circuit``; returns their ids (world-wide)."""
        data = self.request(Msg.SPAWN, P.Spawn(circuit, count).encode(), Msg.SPAWNED)
        r = P.Reader(data, "SPAWNED")
        n = r.count("count", P.MAX_SPAWN_COUNT)
        ids = [int(x) for x in r.array("<u4", n, "brain_ids")]
        self._set_layout(P.decode_layout(r))
        r.end()
        return ids

    def export_brain(self, brain_id: int, state: bool = True) -> bytes:
        """One of this client's brains as a brain file: keep the bytes as a game asset.

        The bytes are exactly what ``Brain.save`` writes (versioned, checksummed). Spawn them
        later with :meth:`spawn_asset` on any server of the same ``dt``, or with
        ``World.spawn_from(data)`` in Python.

        Parameters
        ----------
        brain_id : int
            A brain of this client.
        state : bool
            Include all dynamic state and the RNG stream position (the spawned brain continues
            bit for bit); False: wiring, weights and learned thresholds only.

        Returns
        -------
        bytes
            The brain file.

        Raises
        ------
        RemoteError
            ``NOT_OWNER`` for another client's brain, ``NOT_FOUND`` for an unknown id, ``LIMIT``
            if the file would not fit a frame, ``UNSUPPORTED`` if the server's world cannot export.
        """
        data = self.request(Msg.EXPORT_BRAIN, P.ExportBrain(brain_id, state).encode(), Msg.BRAIN_ASSET)
        return P.BrainAsset.decode(data).data

    def spawn_asset(self, data: bytes, state: bool = True) -> list[int]:
        """Spawn one brain from a brain file's bytes (:meth:`export_brain`, ``Brain.save``) for this client.

        Parameters
        ----------
        data : bytes
            The brain file, at most ``protocol.MAX_ASSET_BYTES``.
        state : bool
            Use the file's state, if it holds any (continue bit for bit); False starts fresh
            with the saved wiring, weights and thresholds.

        Returns
        -------
        list of int
            The new brain's id (one element, as :meth:`spawn`); :attr:`layout` is updated.

        Raises
        ------
        RemoteError
            ``INVALID`` for a corrupt, truncated, wrong-version or other-``dt`` file, or a circuit
            that differs from a registered one of the same name (the message says why; nothing is
            spawned); ``GENOME`` for an invalid genome in the file; ``LIMIT`` when a session or
            world limit would be exceeded; ``TOO_LARGE`` above ``MAX_ASSET_BYTES``.
        """
        reply = self.request(Msg.SPAWN_ASSET, P.SpawnAsset(bytes(data), state).encode(), Msg.SPAWNED)
        r = P.Reader(reply, "SPAWNED")
        n = r.count("count", P.MAX_SPAWN_COUNT)
        ids = [int(x) for x in r.array("<u4", n, "brain_ids")]
        self._set_layout(P.decode_layout(r))
        r.end()
        return ids

    def _layout_reply(self, msg: int, payload: bytes) -> P.LayoutInfo:
        r = P.Reader(self.request(msg, payload, Msg.LAYOUT), "LAYOUT")
        lay = P.decode_layout(r)
        r.end()
        self._set_layout(lay)
        return lay

    def despawn(self, ids: list[int]) -> P.LayoutInfo:
        """Remove some of this client's brains.

        Parameters
        ----------
        ids : list of int
            Brain ids owned by this client.

        Returns
        -------
        protocol.LayoutInfo
            The new layout (next epoch); fetch :meth:`sensor`/:meth:`actuator` views again.

        Raises
        ------
        RemoteError
            ``NOT_FOUND`` or ``NOT_OWNER`` for an id that is not this client's (nothing is despawned).
        """
        return self._layout_reply(Msg.DESPAWN, P.encode_ids(ids))

    def get_layout(self) -> P.LayoutInfo:
        """Fetch the session's current exchange layout (and re-create :attr:`sensors`/:attr:`actuators`).

        Returns
        -------
        protocol.LayoutInfo
        """
        return self._layout_reply(Msg.GET_LAYOUT, b"")

    def claim(self, ids: list[int] | None = None) -> P.LayoutInfo:
        """Take ownership of brains no session owns, e.g. those a server restored with ``serve --load``.

        Parameters
        ----------
        ids : list of int, optional
            The brains to claim; omitted or empty claims every unowned brain.

        Returns
        -------
        protocol.LayoutInfo
            The new layout, including the claimed brains.

        Raises
        ------
        RemoteError
            ``NOT_OWNER`` if a brain is owned by a session, ``NOT_FOUND`` for an unknown id.
        """
        return self._layout_reply(Msg.CLAIM, P.encode_ids(ids or []))

    def sensor(self, circuit: str, organ: str) -> F32:
        """(brains x channels) view into :attr:`sensors` for one (circuit, organ) block."""
        b = self.layout.sensor_block(circuit, organ)
        return self.sensors[b.offset:b.offset + b.size].reshape(b.rows, b.cols)

    def actuator(self, circuit: str, organ: str) -> F32:
        """(brains x width) view into :attr:`actuators` (last exchange) for one block."""
        b = self.layout.actuator_block(circuit, organ)
        return self.actuators[b.offset:b.offset + b.size].reshape(b.rows, b.cols)

    def exchange(self, frame_dt: float, sensors: npt.ArrayLike | None = None) -> P.ExchangeResult:
        """Send the sensors (:attr:`sensors` unless given), advance ``frame_dt`` s, read actuators."""
        use_shm = self.shm is not None
        if sensors is not None:
            arr = np.asarray(sensors, dtype=np.float32).reshape(-1)
            if arr.size != self.layout.sensor_floats:
                raise ValueError(f"sensors: the layout has {self.layout.sensor_floats} sensor floats, got {arr.size}")
            self.sensors[:] = arr
        seq = self.next_seq()
        self.unanswered = Msg.EXCHANGE
        if use_shm:
            head = _EX_HEAD.pack(P.MIN_LENGTH + _EX.size, Msg.EXCHANGE, 0, seq, self.layout.epoch, frame_dt,
                                 P.FLAG_SHM, 0)
            self._send(head)
        else:
            body = self.sensors.astype("<f4", copy=False).tobytes()
            head = _EX_HEAD.pack(P.MIN_LENGTH + _EX.size + len(body), Msg.EXCHANGE, 0, seq, self.layout.epoch,
                                 frame_dt, 0, self.sensors.size)
            self._send(head + body)
        try:
            _, _, payload = self._read_reply(seq)
        except (RemoteError, P.ProtocolError):
            self.unanswered = 0
            raise
        self.unanswered = 0
        res = P.ExchangeResult.decode(payload)
        if res.flags & P.FLAG_SHM and self.shm is not None:
            self.actuators[:] = self.shm.actuators[:self.layout.actuator_floats]
        else:
            self.actuators[:] = res.actuators
        self.last = res
        return res

    def subscribe(self, population: str = "", brain_ids: list[int] | None = None) -> int:
        """Receive the spikes of a population with every exchange (for rasters, debugging, analysis).

        Parameters
        ----------
        population : str, optional
            A population name; ``""`` (default) for every neuron of the brain.
        brain_ids : list of int, optional
            The brains to watch; omitted = all of this client's brains, also those spawned later.

        Returns
        -------
        int
            The subscription id; its spikes arrive as ``exchange(...).batches`` in subscription order.

        Raises
        ------
        RemoteError
            ``LIMIT`` beyond 64 subscriptions, ``NOT_FOUND`` for an unknown population.
        """
        req = P.Subscribe(population, np.asarray(brain_ids or [], np.uint32))
        r = P.Reader(self.request(Msg.SUBSCRIBE, req.encode(), Msg.SUBSCRIBED), "SUBSCRIBED")
        sid = r.u32("sub_id")
        r.end()
        self.subscriptions.append(sid)
        return sid

    def unsubscribe(self, sub_id: int) -> None:
        """Stop a subscription.

        Parameters
        ----------
        sub_id : int
            The id :meth:`subscribe` returned.

        Raises
        ------
        RemoteError
            ``NOT_FOUND`` for an unknown id.
        """
        if sub_id in self.subscriptions:  # forgotten first: a reconnect unsubscribes it if this never arrives
            self.subscriptions.remove(sub_id)
        self.request(Msg.UNSUBSCRIBE, struct.pack("<I", sub_id), Msg.OK)

    def subscriptions_of_session(self) -> list[P.SubscriptionInfo]:
        """The session's subscriptions as the server holds them (GET_SUBSCRIPTIONS, protocol 1.2).

        Returns
        -------
        list of protocol.SubscriptionInfo
            In SUBSCRIBE order (the order of an exchange's ``batches``).

        Raises
        ------
        RemoteError
            ``UNKNOWN_TYPE`` from a server older than protocol 1.2 (``welcome.minor < 2``).
        """
        return P.decode_subscriptions(self.request(Msg.GET_SUBSCRIPTIONS, b"", Msg.SUBSCRIPTIONS))

    def reward(self, brain_ids: list[int], values: npt.ArrayLike) -> None:
        """Send reward signals to reward-modulated plasticity; they act during the next :meth:`exchange`.

        Parameters
        ----------
        brain_ids : list of int
            Brains of this client.
        values : array_like of float
            One finite reward per brain (added to its dopamine level; positive reinforces what the brain
            just did, negative discourages it). Dimensionless; sending ``reward - running mean`` (a
            reward prediction error, as ``spikeforge.games.foragers`` does) keeps learning stable.

        Raises
        ------
        ValueError
            If the lengths differ.
        RemoteError
            ``UNSUPPORTED`` if the server's World has no reward input; ``INVALID`` for a non-finite value.
        """
        req = P.Reward(np.asarray(brain_ids, np.uint32), np.asarray(values, np.float32))
        self.request(Msg.REWARD, req.encode(), Msg.OK)

    def set_learning(self, enabled: bool) -> None:
        """Switch plasticity on or off for this client's brains.

        Freeze learning to evaluate or ship a trained NPC; switch it on to let it adapt while playing.
        Some servers only have a world-wide switch: ``stats()["server"]["learning"]`` says which.

        Parameters
        ----------
        enabled : bool

        Raises
        ------
        RemoteError
            ``UNSUPPORTED`` if the World has no learning switch.
        """
        self.request(Msg.SET_LEARNING, bytes([1 if enabled else 0]), Msg.OK)

    def save(self, name: str) -> None:
        """Snapshot the whole World on the server (atomically, to ``<snapshot-dir>/<name>``).

        Parameters
        ----------
        name : str
            ``[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}``: no path separators, no leading dot.

        Raises
        ------
        RemoteError
            ``INVALID`` for a bad name, ``IO`` if the file cannot be written.
        """
        self.request(Msg.SAVE, bytes(P.Writer().str16(name).buf), Msg.OK)

    def load(self, name: str) -> P.LayoutInfo:
        """Replace the server's World by a snapshot; all its brains become this session's.

        Parameters
        ----------
        name : str
            A snapshot written by :meth:`save` (or ``spikeforge serve``).

        Returns
        -------
        protocol.LayoutInfo
            The layout of the loaded brains.

        Raises
        ------
        RemoteError
            ``BUSY`` while other sessions exist, ``NOT_FOUND``/``IO`` for a missing or unreadable snapshot.
        """
        return self._layout_reply(Msg.LOAD, bytes(P.Writer().str16(name).buf))

    def stats(self) -> dict[str, Any]:
        """The server's counters as a dict (keys are only ever added).

        Returns
        -------
        dict
            ``"world"`` (brains, neurons, steps, ``mean_rate_hz``, backend ...), ``"server"`` (clients,
            ``exchanges_per_s``, ``sim_us_median``, ``uptime_s``, ``learning``) and ``"session"``
            (id, brains, steps, exchanges, shm).
        """
        r = P.Reader(self.request(Msg.STATS, b"", Msg.STATS_RESULT), "STATS_RESULT")
        text = r.str32("json", P.MAX_FRAME_BYTES)
        r.end()
        out = json.loads(text)
        if not isinstance(out, dict):
            raise P.ProtocolError(P.Err.MALFORMED, "STATS_RESULT: not a JSON object")
        return out

    def open_shm(self, sensor_capacity: int = 0, actuator_capacity: int = 0) -> ShmBlock:
        """Negotiate a shared-memory block; :attr:`sensors` then lives in it."""
        ready = P.ShmReady.decode(self.request(Msg.SHM_OPEN, struct.pack("<II", sensor_capacity, actuator_capacity),
                                               Msg.SHM_READY))
        block = ShmBlock.open(ready.path)
        old = self.sensors.copy()
        if self.shm is not None:
            self.sensors = np.zeros(0, np.float32)
            self.shm.close()
        self.shm = block
        self._set_layout(self.layout)
        self.sensors[:] = old[:self.sensors.size]
        return block

    def close_shm(self) -> None:
        """Stop using shared memory: :attr:`sensors` becomes an inline array again (values kept)."""
        self.request(Msg.SHM_CLOSE, b"", Msg.OK)
        if self.shm is not None:
            old = self.sensors.copy()
            self.sensors = np.zeros(0, np.float32)
            self.shm.close()
            self.shm = None
            self._set_layout(self.layout)
            self.sensors[:] = old

    @property
    def resume_token(self) -> str:
        """The token to pass as ``Client.connect(resume_token=...)`` to get this session back after a disconnect."""
        return self.welcome.resume_token


_EX = struct.Struct("<IdII")
_EX_HEAD = struct.Struct("<IHHI" + "IdII")
