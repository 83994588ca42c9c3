"""Start a REAL ``spikeforge serve`` subprocess for end-to-end tests (Python, Unity, Godot).

Usage from any test (pytest's ``tmp_path`` gives the folder)::

    from spikeforge.ipc.testing import running_server, probe_genome_text

    def test_my_engine_client(tmp_path):
        with running_server(tmp_path) as srv:          # free port, temp token + genomes
            host, port, token_path, proc = srv           # unpacks as a 4-tuple
            # the server knows the circuit "probe" (see probe_circuit): sensor "input"
            # (4 channels, poisson, range 0..1), actuator "rate" (2 channels, rate, Hz),
            # populations "in" (8), "hidden" (8), "out" (4)
            ...run the engine client against host:port with token_path...
        # leaving the block sends SIGTERM (final snapshot in srv.snapshot_dir) and waits

``tests/ipc/conftest.py`` wraps this as the pytest fixture ``ipc_server``.

Extra genomes: ``running_server(tmp_path, genomes=[path_or_dir, ...])``; extra CLI
options: ``args=["--grace-seconds", "1"]``. The server runs with ``python -m
spikeforge.cli serve`` of the current interpreter, backend ``numpy`` by default.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from spikeforge.model.circuit import Circuit
from spikeforge.model.genome import dumps
from spikeforge.model.neurons import LIF
from spikeforge.model.synapses import FixedProbability


def probe_circuit(name: str = "probe", sensors: int = 4, actuators: int = 2, hidden: int = 8) -> Circuit:
    """A tiny deterministic test circuit.

    Populations ``in`` (2 neurons per sensor channel), ``hidden`` and ``out`` (2 neurons per
    actuator channel); sensor ``input`` (``poisson`` encoding, 300 Hz at 1, range 0..1, so the
    brain's seeded RNG stream is exercised); actuator ``rate`` (``rate`` decoding, Hz).
    """
    c = Circuit(name)
    c.add_population("in", 2 * sensors, LIF(tau_m=10.0))
    c.add_population("hidden", hidden, LIF(tau_m=10.0))
    c.add_population("out", 2 * actuators, LIF(tau_m=10.0))
    c.connect("in", "hidden", rule=FixedProbability(0.5), weight=8.0)
    c.connect("hidden", "out", rule=FixedProbability(0.5), weight=8.0)
    c.add_sensor("input", "in", sensors, kind="poisson", max_rate=300.0, low=0.0, high=1.0)
    c.add_actuator("rate", "out", actuators, kind="rate", low=0.0, high=200.0)
    return c


def probe_genome_text(name: str = "probe", sensors: int = 4, actuators: int = 2, hidden: int = 8) -> str:
    """The genome JSON of :func:`probe_circuit`."""
    return dumps(probe_circuit(name, sensors, actuators, hidden))


class ServerProcess:
    """A running server subprocess; iterates as ``(host, port, token_path, proc)``.

    Attributes
    ----------
    host, port : str, int
    token_path : Path
        The 0600 token file the server wrote.
    proc : subprocess.Popen
    snapshot_dir, genome_dir : Path
    ready : dict
        The JSON of the server's ``spikeforge-serve ready`` line.
    """

    def __init__(self, host: str, port: int, token_path: Path, proc: subprocess.Popen[str], snapshot_dir: Path,
                 genome_dir: Path, ready: dict[str, Any], stderr_lines: list[str]) -> None:
        self.host = host
        self.port = port
        self.token_path = token_path
        self.proc = proc
        self.snapshot_dir = snapshot_dir
        self.genome_dir = genome_dir
        self.ready = ready
        self.stderr_lines = stderr_lines

    def __iter__(self) -> Iterator[Any]:
        return iter((self.host, self.port, self.token_path, self.proc))

    @property
    def token(self) -> str:
        """The handshake token the server wrote (``Client.connect(token=...)``)."""
        return self.token_path.read_text(encoding="utf-8").strip()

    @property
    def stderr(self) -> str:
        """Everything the server printed on stderr so far (its log), for assertions and failure messages."""
        return "".join(self.stderr_lines)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


def start_server(tmp: Path, genomes: list[str | Path] | None = None, args: list[str] | None = None,
                 backend: str = "numpy", seed: int = 0, timeout: float = 60.0,
                 nofile: int | None = None) -> ServerProcess:
    """Start ``spikeforge serve`` on a free loopback port; return once it printed its ready line.

    ``nofile``: run the server under this file-descriptor limit (soft and hard), e.g. to
    exercise descriptor exhaustion.
    """
    tmp = Path(tmp)
    genome_dir = tmp / "genomes"
    genome_dir.mkdir(parents=True, exist_ok=True)
    (genome_dir / "probe.json").write_text(probe_genome_text(), encoding="utf-8")
    snapshot_dir = tmp / "snapshots"
    token_path = tmp / "server.token"
    cmd = [sys.executable, "-m", "spikeforge.cli", "serve", "--port", "0", "--token-file", str(token_path),
           "--genome", str(genome_dir), "--snapshot-dir", str(snapshot_dir), "--backend", backend,
           "--seed", str(seed)]
    for g in genomes or []:
        cmd += ["--genome", str(g)]
    cmd += list(args or [])
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    preexec = None
    if nofile is not None:
        import resource

        def preexec() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=preexec)
    stderr_lines: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stderr_lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    assert proc.stdout is not None
    ready: dict[str, Any] | None = None
    deadline = time.monotonic() + timeout
    result: list[str] = []

    def read_ready() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("spikeforge-serve ready "):
                result.append(line)
                return

    t = threading.Thread(target=read_ready, daemon=True)
    t.start()
    t.join(max(0.0, deadline - time.monotonic()))
    if not result:
        proc.kill()
        proc.wait(5)
        raise RuntimeError("spikeforge serve did not become ready; stderr:\n" + "".join(stderr_lines))
    ready = json.loads(result[0][len("spikeforge-serve ready "):])
    # keep draining stdout so the server never blocks on a full pipe
    threading.Thread(target=lambda: proc.stdout.read() if proc.stdout else None, daemon=True).start()
    return ServerProcess(str(ready["host"] or ""), int(ready["port"] or 0), token_path, proc, snapshot_dir,
                         genome_dir, ready, stderr_lines)


@contextmanager
def running_server(tmp: Path, genomes: list[str | Path] | None = None, args: list[str] | None = None,
                   backend: str = "numpy", seed: int = 0) -> Iterator[ServerProcess]:
    """Context manager around :func:`start_server`; stops the server (SIGTERM) on exit."""
    srv = start_server(tmp, genomes, args, backend, seed)
    try:
        yield srv
    finally:
        srv.stop()


class ReplyDropper:
    """A loopback TCP proxy in front of a server that loses one reply the way a dying
    connection does: the server writes it successfully (into the proxy), the client never
    gets it, and both connections close. This is what a client sees when it closed its
    socket while the server had paused reading it and the reply was written into the dead
    socket: after resuming, its session holds brains of a SPAWN it never learned about
    (``integrations/PROTOCOL.md`` section 6, "Reconcile after a resume").

    Use ``with ReplyDropper(srv.host, srv.port) as proxy:``, point the client at
    ``proxy.port``, then ``proxy.drop_next(Msg.SPAWNED)``: the next SPAWNED frame from the
    server is swallowed and that client's connection (both sides) is closed; later
    connections (the resume) pass everything. ``proxy.dropped`` lists the swallowed
    frames as ``(type, seq)``.
    """

    def __init__(self, host: str, port: int) -> None:
        import socket

        self._target = (host or "127.0.0.1", port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.host = "127.0.0.1"
        self.dropped: list[tuple[int, int]] = []
        self._armed: int | None = None
        self._skip = 0
        self._lock = threading.Lock()
        self._socks: list[Any] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="reply-dropper").start()

    def __enter__(self) -> ReplyDropper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def drop_next(self, msg: int, skip: int = 0) -> None:
        """Swallow the next frame of type ``msg`` from the server (after letting ``skip`` of them
        through) and close that connection."""
        with self._lock:
            self._armed = int(msg)
            self._skip = int(skip)

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._closed = True
        self._listener.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            self._shut(s)

    @staticmethod
    def _shut(s: Any) -> None:
        import socket

        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def _accept(self) -> None:
        import socket

        while not self._closed:
            try:
                down, _ = self._listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self._target, timeout=10)
            except OSError:
                self._shut(down)
                continue
            up.settimeout(None)
            for s in (down, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._socks += [down, up]
            threading.Thread(target=self._pump_up, args=(down, up), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(up, down), daemon=True).start()

    def _pump_up(self, down: Any, up: Any) -> None:
        """Client -> server, byte for byte."""
        try:
            while data := down.recv(65536):
                up.sendall(data)
        except OSError:
            pass
        self._shut(up)

    def _pump_down(self, up: Any, down: Any) -> None:
        """Server -> client, frame by frame (to find the one to drop)."""
        from spikeforge.ipc import protocol as P

        buf = b""
        try:
            while data := up.recv(65536):
                buf += data
                out = b""
                while len(buf) >= P.HEADER_SIZE:
                    length, msg, _flags, seq = P.HEADER.unpack_from(buf)
                    if len(buf) < 4 + length:
                        break
                    frame, buf = buf[:4 + length], buf[4 + length:]
                    with self._lock:
                        drop = self._armed == msg
                        if drop and self._skip > 0:
                            self._skip -= 1
                            drop = False
                        if drop:
                            self._armed = None
                            self.dropped.append((msg, seq))
                    if drop:
                        if out:
                            down.sendall(out)
                        self._shut(down)
                        self._shut(up)
                        return
                    out += frame
                if out:
                    down.sendall(out)
        except OSError:
            pass
        self._shut(down)
