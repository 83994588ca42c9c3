"""The ``spikeforge serve`` transport: asyncio listeners (TCP and/or Unix socket), one
:class:`Connection` per client (socket I/O, timeouts, back-pressure) and :class:`Server`
(accept, watchdog, shutdown). Everything a message means lives in :mod:`spikeforge.ipc.core`
(:class:`ServerCore` for sessions and handlers, :class:`Endpoint` for framing, handshake and
error accounting), shared with every other transport (e.g. :class:`InProcessServer`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from spikeforge.ipc import protocol as P
from spikeforge.ipc.circuit_info import circuit_info, expected_synapses
from spikeforge.ipc.core import (  # re-exported (__all__): older code imports them from here
    FINAL_SNAPSHOT,
    SNAPSHOT_NAME,
    Endpoint,
    InProcessServer,
    Plan,
    ServerCore,
    Session,
    Subscription,
)
from spikeforge.ipc.protocol import Err
from spikeforge.runtime.world import polite

__all__ = ["FINAL_SNAPSHOT", "SNAPSHOT_NAME", "Connection", "Endpoint", "InProcessServer", "Plan", "Server",
           "ServerCore", "Session", "Subscription", "circuit_info", "expected_synapses"]

log = logging.getLogger("spikeforge.ipc")


# ====================================================================== asyncio layer

def _politely(job: Callable[[], bytes | list[bytes]]) -> bytes | list[bytes]:
    """Run an offloaded request on the worker thread with a short GIL switch interval
    (``runtime.world.polite``), so that the event loop answering other clients gets the GIL
    back within ~0.2 ms instead of Python's default 5 ms whenever it wants it."""
    with polite():
        return job()

class Connection(asyncio.Protocol):
    """One client connection: socket I/O and back-pressure around an :class:`Endpoint`
    (framing, handshake, error accounting), which hands requests to the :class:`ServerCore`."""

    MAX_WRITE_BUFFER = 64 * 1024 * 1024

    def __init__(self, server: Server) -> None:
        self.server = server
        self.core = server.core
        self.transport: asyncio.Transport | None = None
        self.opened = time.monotonic()
        self.peer = "?"
        self.endpoint = Endpoint(self.core, self._write, self._close_transport, offload=server.offload,
                                 pause=self._pause_reading, idle_timeout=server.idle_timeout)

    # the endpoint's state, as the watchdog and older code read it
    @property
    def session(self) -> Session | None:
        """The client's session (None before HELLO and after BYE or a drop)."""
        return self.endpoint.session

    @property
    def closing(self) -> bool:
        """True once the connection is being closed."""
        return self.endpoint.closing

    @property
    def last_active(self) -> float:
        """When the last complete frame arrived (the idle timeout counts from it)."""
        return self.endpoint.last_frame

    @property
    def partial_since(self) -> float | None:
        """When the current partial frame began arriving (None: none pending, or reading is
        paused while this client's offloaded request runs)."""
        return None if self.endpoint.busy else self.endpoint.partial_since

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer = self.endpoint.peer = str(transport.get_extra_info("peername"))
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                import socket as _s

                sock.setsockopt(_s.IPPROTO_TCP, _s.TCP_NODELAY, 1)
            except OSError:
                pass
        self.server.connections.add(self)
        self.server.admit(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.endpoint.lost()

    def data_received(self, data: bytes) -> None:
        self.endpoint.feed(data)

    # the endpoint's transport
    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self._check_backlog()

    def _pause_reading(self, pause: bool) -> None:
        # while this client's SPAWN/DESPAWN/SAVE/LOAD runs on the worker, read no more of its
        # frames (they would only queue up); other clients are read as usual
        t = self.transport
        if t is None or t.is_closing():
            return
        try:
            if pause:
                t.pause_reading()
            else:
                t.resume_reading()
        except RuntimeError:  # already paused / not paused: nothing to change
            pass

    def _close_transport(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _check_backlog(self) -> None:
        if self.transport is not None and self.transport.get_write_buffer_size() > self.MAX_WRITE_BUFFER:
            log.warning("client %s does not read its replies; dropping it", self.peer)
            self.transport.abort()

    def drop(self, code: Err, message: str, quiet: bool = False) -> None:
        """Close this connection (after an ERROR frame with seq 0 unless ``quiet``)."""
        self.endpoint.drop(code, message, quiet)


_ACCEPT_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_FD_RESERVE = 64  # descriptors beyond the connections: listeners, snapshot and genome files, libraries


class Server:
    """Listens on TCP and/or a Unix socket and runs :class:`ServerCore` on an asyncio loop.

    Parameters
    ----------
    core : ServerCore
    host, port : str, int
        TCP address (``port=None``: no TCP listener; 0: a free port).
    unix_path : str or None
        Unix domain socket path (created with mode 0600).
    hello_timeout, frame_timeout : float
        Seconds allowed for the handshake and for completing a started frame.
    max_pending : int
        Most connections still before HELLO; a new one beyond it makes the oldest pending one
        be dropped (fatal ``LIMIT``), so slow or silent connections cannot hold the door shut.
    idle_timeout : float
        Seconds an authenticated connection may send no frame (0: never dropped); its session
        then enters its reconnect grace as after any drop.
    """

    ACCEPT_LOG_EVERY_S = 30.0  # at most one log line per this many seconds about failing accepts

    def __init__(self, core: ServerCore, host: str = "127.0.0.1", port: int | None = 47800,
                 unix_path: str | None = None, hello_timeout: float = P.HELLO_TIMEOUT_S,
                 frame_timeout: float = P.FRAME_TIMEOUT_S, max_pending: int = P.MAX_PENDING,
                 idle_timeout: float = P.IDLE_TIMEOUT_S) -> None:
        for nm, v in (("hello_timeout", hello_timeout), ("frame_timeout", frame_timeout)):
            if not v > 0:
                raise ValueError(f"{nm}: must be > 0 seconds, got {v!r}")
        if not idle_timeout >= 0:
            raise ValueError(f"idle_timeout: must be >= 0 seconds (0 = off), got {idle_timeout!r}")
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ValueError(f"max_pending: must be an integer >= 1, got {max_pending!r}")
        self.core = core
        self.host = host
        self.port = port
        self.unix_path = unix_path
        self.hello_timeout = hello_timeout
        self.frame_timeout = frame_timeout
        self.max_pending = max_pending
        self.idle_timeout = idle_timeout
        self.counts = {"pending_evicted": 0, "hello_timeouts": 0, "frame_timeouts": 0, "idle_timeouts": 0,
                       "accept_errors": 0}
        self._accept_logged = -1e9
        self._accept_quiet = 0
        self.fd_limit = 0
        self.connections: set[Connection] = set()
        self._servers: list[asyncio.base_events.Server] = []
        self._stopped = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        # one worker thread: SPAWN, DESPAWN, SAVE, LOAD, UPLOAD_GENOME (ipc.core.OFFLOADED) run there, one at a
        # time, so the event loop keeps answering every other client (see ipc.core.Endpoint)
        self._worker: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        """Open the listeners (TCP and/or Unix socket) on the running asyncio loop and start the timeout watchdog.

        After it returns, :attr:`port` holds the bound TCP port (useful with ``port=0``).

        Raises
        ------
        FileExistsError
            If ``unix_path`` exists and is not a socket (it is never replaced).
        OSError
            If the address cannot be bound.
        """
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spikeforge-serve-worker")
        self.core.scheduler = loop.call_later
        self.core.transport_stats = self.limit_stats
        loop.set_exception_handler(self._loop_exception)
        self.fd_limit = self._fd_headroom()
        if self.port is not None:
            srv = await loop.create_server(lambda: Connection(self), self.host, self.port, reuse_address=True)
            self.port = int(srv.sockets[0].getsockname()[1])
            self._servers.append(srv)
        if self.unix_path is not None:
            import os
            import stat

            p = Path(self.unix_path)
            if p.exists() or p.is_symlink():
                if not stat.S_ISSOCK(p.lstat().st_mode):
                    raise FileExistsError(f"--unix: {p} exists and is not a socket; refusing to replace it")
                p.unlink()
            old = os.umask(0o177)
            try:
                srv = await loop.create_unix_server(lambda: Connection(self), str(p))
            finally:
                os.umask(old)
            os.chmod(p, 0o600)
            self._servers.append(srv)
        loop.call_later(0.5, self._watchdog)

    def offload(self, job: Callable[[], bytes | list[bytes]],
                done: Callable[[Callable[[], bytes | list[bytes]]], None]) -> None:
        """Run ``job`` on the worker thread; ``done(result)`` is called on the event loop when it
        finished (``result()`` returns its reply or raises its error). Before :meth:`start`,
        or after :meth:`stop`, the job runs at once on the caller's thread."""
        if self._loop is None or self._worker is None or self._stopped.is_set():
            try:
                out = job()
            except Exception as exc:  # handed to done() exactly as from the worker
                err = exc

                def fail() -> bytes | list[bytes]:
                    raise err

                done(fail)
                return
            done(lambda: out)
            return
        fut = self._loop.run_in_executor(self._worker, _politely, job)
        fut.add_done_callback(lambda f: None if f.cancelled() else done(f.result))

    # ------------------------------------------------------------------ fairness (issue 17)
    def pending(self) -> list[Connection]:
        """Open connections that have not completed HELLO, oldest first."""
        return sorted((c for c in self.connections if c.session is None and not c.closing), key=lambda c: c.opened)

    def admit(self, conn: Connection) -> None:
        """A new connection: beyond ``max_pending`` pre-HELLO connections, drop the oldest ones.

        Dropping the oldest (not refusing the newest) means a client that completes its
        handshake promptly gets in even while others hold connections open silently.
        """
        waiting = self.pending()
        for old in waiting[:max(0, len(waiting) - self.max_pending)]:
            self.counts["pending_evicted"] += 1
            old.drop(Err.LIMIT, f"more than {self.max_pending} connections are waiting for their HELLO; "
                                "this one waited longest (--max-pending)")

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Out of descriptors in accept(): one rate-limited line, shed stale pre-HELLO connections.

        asyncio already pauses that listener for a second and retries; its default handler
        would log a traceback for every failed accept (a flood under a connection storm).
        """
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _ACCEPT_EXHAUSTED and "accept" in str(context.get("message")):
            self.counts["accept_errors"] += 1
            now = time.monotonic()
            if now - self._accept_logged >= self.ACCEPT_LOG_EVERY_S:
                log.warning("accept failed: %s (%d more since the last report); pausing new connections 1 s and "
                            "dropping stale pre-HELLO connections", exc.strerror or exc, self._accept_quiet)
                self._accept_logged = now
                self._accept_quiet = 0
            else:
                self._accept_quiet += 1
            for c in self.pending():
                if now - c.opened > 1.0:
                    self.counts["pending_evicted"] += 1
                    c.drop(Err.LIMIT, "the server is out of file descriptors; dropping connections without HELLO")
            return
        loop.default_exception_handler(context)

    def _fd_headroom(self) -> int:
        """Raise the soft descriptor limit to what the limits need (one socket and one shm
        block per session, the pre-HELLO connections, a reserve); warn if it cannot.

        Returns the soft limit in force (-1: unlimited, 0: unknown on this platform)."""
        try:
            import resource
        except ImportError:  # not on POSIX
            return 0
        need = 2 * self.core.max_clients + self.max_pending + _FD_RESERVE
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < need:
            target = need if hard == resource.RLIM_INFINITY else min(need, hard)
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (ValueError, OSError):
                pass
        if soft != resource.RLIM_INFINITY and soft < need:
            log.warning("file descriptor limit %d is below the %d the limits need (2 x --max-clients + "
                        "--max-pending + %d); lower them or raise ulimit -n", soft, need, _FD_RESERVE)
        return int(soft) if soft != resource.RLIM_INFINITY else -1

    def limit_stats(self) -> dict[str, Any]:
        """Transport limits and counters for STATS ``server.limits``."""
        return {"max_pending": self.max_pending, "hello_timeout_s": self.hello_timeout,
                "frame_timeout_s": self.frame_timeout, "idle_timeout_s": self.idle_timeout,
                "pending": len(self.pending()), "connections": len(self.connections), "fd_limit": self.fd_limit,
                **self.counts}

    def _watchdog(self) -> None:
        now = time.monotonic()
        for c in list(self.connections):
            if c.closing:
                continue
            if c.session is None and now - c.opened > self.hello_timeout:
                self.counts["hello_timeouts"] += 1
                c.drop(Err.TIMEOUT, f"no HELLO within {self.hello_timeout} s")
            elif c.partial_since is not None and now - c.partial_since > self.frame_timeout:
                self.counts["frame_timeouts"] += 1
                c.drop(Err.TIMEOUT, f"frame not completed within {self.frame_timeout} s")
            elif c.session is not None and self.idle_timeout > 0 and now - c.last_active > self.idle_timeout:
                self.counts["idle_timeouts"] += 1
                c.drop(Err.TIMEOUT, f"no request for {self.idle_timeout} s (idle timeout; PING keeps a "
                                    "connection alive)")
        if not self._stopped.is_set() and self._loop is not None:
            self._loop.call_later(0.5, self._watchdog)

    def stop(self) -> None:
        """Stop accepting, tell clients (SHUTDOWN), close connections (sessions end)."""
        for srv in self._servers:
            srv.close()
        for c in list(self.connections):
            c.drop(Err.SHUTDOWN, "server is stopping")
        self.core.close()
        if self.unix_path is not None:
            Path(self.unix_path).unlink(missing_ok=True)
        self._stopped.set()
        if self._worker is not None:  # a job still running finishes; its reply goes nowhere
            self._worker.shutdown(wait=False, cancel_futures=True)

    async def wait_stopped(self) -> None:
        """Wait until :meth:`stop` has run (SIGINT/SIGTERM, or a caller); ``spikeforge serve`` awaits this."""
        await self._stopped.wait()
