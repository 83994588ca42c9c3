"""The ``spikeforge serve`` transport: asyncio listeners (TCP and/or Unix socket), one
:class:`Connection` per client (socket I/O, timeouts, back-pressure) and :class:`Server`
(accept, watchdog, shutdown). Everything a message means lives in :mod:`spikeforge.ipc.core`
(:class:`ServerCore` for sessions and handlers, :class:`Endpoint` for framing, handshake and
error accounting), shared with every other transport (e.g. :class:`InProcessServer`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from spikeforge.ipc import protocol as P
from spikeforge.ipc.core import (  # re-exported (__all__): older code imports them from here
    FINAL_SNAPSHOT,
    SNAPSHOT_NAME,
    Endpoint,
    InProcessServer,
    Plan,
    ServerCore,
    Session,
    Subscription,
    circuit_info,
    expected_synapses,
)
from spikeforge.ipc.protocol import Err

__all__ = ["FINAL_SNAPSHOT", "SNAPSHOT_NAME", "Connection", "Endpoint", "InProcessServer", "Plan", "Server",
           "ServerCore", "Session", "Subscription", "circuit_info", "expected_synapses"]

log = logging.getLogger("spikeforge.ipc")


# ====================================================================== asyncio layer
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
        self.endpoint = Endpoint(self.core, self._write, self._close_transport)

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
    def partial_since(self) -> float | None:
        """When the current partial frame began arriving (None: none pending)."""
        return self.endpoint.partial_since

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
    """

    def __init__(self, core: ServerCore, host: str = "127.0.0.1", port: int | None = 47800,
                 unix_path: str | None = None, hello_timeout: float = P.HELLO_TIMEOUT_S,
                 frame_timeout: float = P.FRAME_TIMEOUT_S) -> None:
        self.core = core
        self.host = host
        self.port = port
        self.unix_path = unix_path
        self.hello_timeout = hello_timeout
        self.frame_timeout = frame_timeout
        self.connections: set[Connection] = set()
        self._servers: list[asyncio.base_events.Server] = []
        self._stopped = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

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
        self.core.scheduler = loop.call_later
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

    def _watchdog(self) -> None:
        now = time.monotonic()
        for c in list(self.connections):
            if c.session is None and not c.closing and now - c.opened > self.hello_timeout:
                c.drop(Err.TIMEOUT, f"no HELLO within {self.hello_timeout} s")
            elif c.partial_since is not None and now - c.partial_since > self.frame_timeout:
                c.drop(Err.TIMEOUT, f"frame not completed within {self.frame_timeout} s")
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

    async def wait_stopped(self) -> None:
        """Wait until :meth:`stop` has run (SIGINT/SIGTERM, or a caller); ``spikeforge serve`` awaits this."""
        await self._stopped.wait()
