"""UPLOAD_GENOME's parse, in a helper process: the server's event loop never shares the GIL with it.

Parsing and checking a genome is pure Python (~5 ms for 64 populations). On the server's worker
thread it is off the world lock, but the event loop's thread shares the GIL with it, and an
exchange that arrives with an upload is stretched over the whole parse (issue 17: player p99 5.7-6.3
ms under an upload flood on 2 cores; with the parse's time spent GIL-free instead, 2.0 ms). So
``spikeforge serve`` parses uploads in one helper interpreter (``spawn`` start method: no fork of a
threaded server), started as soon as the server listens (:meth:`UploadParser.warm`), and unpickles
the result (~0.3 ms).

:func:`parse_upload` is the whole parse (the same in the helper and in process); its result is data,
never an exception object, so that every refusal crosses the process boundary unchanged.
:class:`UploadParser` runs it in the helper and falls back to parsing in process, with a warning,
when the helper cannot start or dies (a genome that crashes it is then parsed in process, as
before the helper existed, and the next upload starts a new helper).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from spikeforge.ipc import protocol as P
from spikeforge.ipc.circuit_info import circuit_info
from spikeforge.ipc.protocol import Err, ProtocolError
from spikeforge.model.circuit import Circuit
from spikeforge.model.errors import GenomeError
from spikeforge.model.genome import loads

log = logging.getLogger("spikeforge.ipc")

PARSE_TIMEOUT_S = 60.0
"""Longest a helper's parse may take (a 4 MiB genome parses in a few seconds)."""

MAX_HELPER_STARTS = 8
"""Helper processes started per server before uploads are parsed in process for good."""

Parsed = tuple[Circuit, P.CircuitInfo]


def check_circuit(circuit: Circuit, req: str) -> P.CircuitInfo:
    """``circuit``'s CIRCUITS entry, after the per-circuit limits (organs, populations, name
    lengths) that UPLOAD_GENOME and SPAWN_ASSET share; ``LIMIT`` naming ``req`` otherwise."""
    info = circuit_info(circuit)
    for what, organs in (("sensors", info.sensors), ("actuators", info.actuators)):
        if len(organs) > P.MAX_ORGANS_PER_CIRCUIT:
            raise ProtocolError(Err.LIMIT, f"{req}: {len(organs)} {what}, at most "
                                           f"{P.MAX_ORGANS_PER_CIRCUIT} per circuit")
    if len(info.populations) > P.MAX_POPULATIONS_PER_CIRCUIT:
        raise ProtocolError(Err.LIMIT, f"{req}: {len(info.populations)} populations, at most "
                                       f"{P.MAX_POPULATIONS_PER_CIRCUIT}")
    names = [info.name, *(o.name for o in info.sensors + info.actuators), *(n for n, _ in info.populations)]
    long = [n for n in names if len(n.encode("utf-8")) > P.MAX_NAME_BYTES]
    if long:
        raise ProtocolError(Err.LIMIT, f"{req}: name {long[0][:40]!r}... is longer than "
                                       f"{P.MAX_NAME_BYTES} bytes")
    return info


def parse_upload(text: str) -> tuple[Parsed | None, tuple[int, str] | None]:
    """Parse and check an uploaded genome: ``((circuit, info), None)``, or ``(None, (code, message))``
    with the ``Err`` code and message of the refusal (``GENOME`` for a bad genome, ``LIMIT`` for a
    circuit past the per-circuit limits)."""
    try:
        circuit = loads(text)
    except GenomeError as exc:
        return None, (int(Err.GENOME), f"UPLOAD_GENOME: {exc}")
    except (RecursionError, ValueError, TypeError) as exc:
        return None, (int(Err.GENOME), f"UPLOAD_GENOME: invalid genome ({type(exc).__name__}: {exc})")
    try:
        info = check_circuit(circuit, "UPLOAD_GENOME")
    except ProtocolError as exc:
        return None, (int(exc.code), exc.message)
    return (circuit, info), None


def parsed_or_raise(result: tuple[Parsed | None, tuple[int, str] | None]) -> Parsed:
    """The ``(circuit, info)`` of a :func:`parse_upload` result, or its refusal raised as a
    :class:`ProtocolError`."""
    ok, err = result
    if ok is None:
        assert err is not None
        raise ProtocolError(Err(err[0]), err[1])
    return ok


HELPER_NICENESS = 10
"""Niceness the helper adds to its own (Unix): beside the flooder, the player and the server on two
cores the scheduler otherwise makes the server wait out the helper's time slices."""


def _exit_with_the_server() -> None:
    """Make the helper end when the server's process does, however it ends. A server killed
    outright (an engine stopping it with SIGKILL, as Godot's ``OS.kill`` and Unity's
    ``Process.Kill`` do) runs no shutdown, and the pool's worker, which holds both ends of its own
    call queue, would wait on it forever: one orphaned interpreter per play session. The
    parent's sentinel (a pipe the server holds open) becomes readable when the server is gone."""
    import multiprocessing.connection

    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch(sentinel: int) -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(0)  # no cleanup to run: the helper holds nothing but its parse

    threading.Thread(target=watch, args=(parent.sentinel,), name="exit-with-server", daemon=True).start()


def _start_helper() -> None:
    """The helper's initializer: it ends with the server (:func:`_exit_with_the_server`), and runs
    at a lower CPU priority than the server's (a parse may wait, another client's exchange should not)."""
    _exit_with_the_server()
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(HELPER_NICENESS)


class UploadParser:
    """Runs :func:`parse_upload` in one helper process (see the module docstring). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False
        self.starts = 0          # helper processes started
        self.fallbacks = 0       # uploads parsed in process because the helper failed
        self.in_helper = 0       # uploads parsed in the helper
        self.warmed = False      # the helper was started before any upload (warm)

    def _helper(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._pool is None and not self._closed and self.starts < MAX_HELPER_STARTS:
                self.starts += 1
                try:
                    self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                     initializer=_start_helper)
                except OSError as exc:  # e.g. EMFILE under a connection flood: parse in process this time
                    log.warning("upload parse helper could not start (%s); parsing in process", exc)
                    return None
            return self._pool

    def _drop(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def parse(self, text: str) -> Parsed:
        """``text``'s circuit and CIRCUITS entry; :class:`ProtocolError` with the refusal otherwise."""
        pool = self._helper()
        if pool is not None:
            try:
                result: tuple[Parsed | None, tuple[int, str] | None] = \
                    pool.submit(parse_upload, text).result(timeout=PARSE_TIMEOUT_S)
                self.in_helper += 1
                return parsed_or_raise(result)
            except (BrokenProcessPool, OSError, TimeoutError, RuntimeError) as exc:
                # the helper died, hung or could not start (or the pool was shut down meanwhile)
                log.warning("upload parse helper failed (%s: %s); parsing this upload in process",
                            type(exc).__name__, exc)
                self._drop(pool)
        self.fallbacks += 1
        return parsed_or_raise(parse_upload(text))

    def warm(self) -> bool:
        """Start the helper and let it import the parser now, before any upload (``spikeforge serve``
        calls it in a background thread once it listens): the start is about a second of CPU
        (a new interpreter importing numpy and the genome code), which on two cores stretched other
        clients' exchanges when it came with the first upload (issue 17). Returns whether the
        helper answered; a failure only means the first upload starts it, as before."""
        pool = self._helper()
        if pool is None:
            return False
        try:
            pool.submit(parse_upload, "").result(timeout=PARSE_TIMEOUT_S)  # a refusal, as data
            self.warmed = True
            return True
        except (BrokenProcessPool, OSError, TimeoutError, RuntimeError, CancelledError) as exc:
            if self._closed:  # the server stopped while its helper started: nothing to say
                return False
            log.warning("upload parse helper did not start (%s: %s); the first upload starts it",
                        type(exc).__name__, exc)
            self._drop(pool)
            return False

    def stats(self) -> dict[str, Any]:
        """The helper's counts, for STATS."""
        return {"helper_starts": self.starts, "helper_warmed": self.warmed, "parsed_in_helper": self.in_helper,
                "parsed_in_process": self.fallbacks}

    def close(self) -> None:
        """Stop the helper (server stopping); later uploads are parsed in process."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
