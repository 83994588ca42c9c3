"""Lock hand-off tracing for ``tools/ipc/handoff_trace.py`` (loaded as ``sitecustomize`` by the
``spikeforge serve`` that ``spikeforge bench relayout`` starts). Does nothing unless
``SF_HANDOFF_TRACE`` names a file prefix and this process is the server; then it records, in
memory (a tuple per event, no I/O on the server's paths), and writes ``<prefix>.<pid>.jsonl``
at exit:

* ``rx``: the event loop read bytes of a connection (``Connection.data_received``);
* ``ex0`` / ``ex1`` / ``ex2``: an EXCHANGE entered ``ServerCore.handle`` / got the world lock
  (its handler started) / was answered;
* ``thr``: the native threads the EXCHANGE's step used (``NativeBackend.last_threads``; -1 other
  backends);
* ``pc0`` / ``pc1``: a piece of a piecewise spawn began / ended (``World.commit_spawn_piece``,
  lock held);
* ``bp0`` / ``bp1``: the spawning thread between two pieces, lock released (``_between_pieces``):
  entered, with the requests waiting for the lock then, and left, with those waiting then;
* ``sp0`` / ``sp1``, ``rs0`` / ``rs1``, ``dr0`` / ``dr1``, ``rl0`` / ``rl1``: a SPAWN on the
  worker, its reservation (locked), its draw (unlocked), the release of the drawn brains;
* ``sw``: the GIL switch interval changed (``sys.setswitchinterval``).

Knobs for A/B runs (any server started with this folder on PYTHONPATH, trace or not):
``SF_BREATHE=EVERY,PAUSE`` sets the draw's pause (``runtime.world._Breather``; ``0,0``: none),
``SF_SWITCH_WHILE_DRAWING=SECONDS`` the switch interval of :func:`runtime.world.polite`.

With ``SF_HANDOFF_SAMPLE=SECONDS`` it also starts ``task_sampler.py`` on the server (another
process): the state, CPU time and run-queue wait of each server thread every SECONDS.

Each event carries the thread and ``time.perf_counter()`` (CLOCK_MONOTONIC on Linux: comparable
with the bench process's stamps).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time

_prefix = os.environ.get("SF_HANDOFF_TRACE")


def _install(prefix: str) -> None:
    """Patch the server's classes to record the events (see the module docstring)."""
    from spikeforge.ipc import core, server
    from spikeforge.ipc.protocol import Msg
    from spikeforge.runtime import world as world_mod

    ev: list[tuple[str, float, int, int]] = []  # (kind, t, thread, value)
    now = time.perf_counter
    tid = threading.get_native_id  # the kernel's id: the sampler's /proc/PID/task/TID

    def dump() -> None:
        with open(f"{prefix}.{os.getpid()}.jsonl", "w", encoding="utf-8") as out:
            for kind, t, th, v in ev:
                out.write(json.dumps({"ev": kind, "t": t, "th": th, "v": v}) + "\n")

    atexit.register(dump)

    data_received = server.Connection.data_received

    def traced_rx(self: server.Connection, data: bytes) -> None:
        ev.append(("rx", now(), tid(), len(data)))
        data_received(self, data)

    server.Connection.data_received = traced_rx  # type: ignore[method-assign]

    handle = core.ServerCore.handle

    def traced_handle(self: core.ServerCore, s: core.Session, msg: int, seq: int, payload: bytes) -> object:
        if msg != Msg.EXCHANGE:
            return handle(self, s, msg, seq, payload)
        ev.append(("ex0", now(), tid(), seq))
        try:
            return handle(self, s, msg, seq, payload)
        finally:
            ev.append(("ex2", now(), tid(), seq))

    core.ServerCore.handle = traced_handle  # type: ignore[method-assign]

    init = core.ServerCore.__init__

    def traced_init(self: core.ServerCore, *a: object, **k: object) -> None:
        init(self, *a, **k)
        plain = self._handlers[Msg.EXCHANGE]

        def exchange(s: core.Session, seq: int, payload: bytes) -> bytes | list[bytes]:
            ev.append(("ex1", now(), tid(), seq))
            try:
                return plain(s, seq, payload)
            finally:
                last = getattr(self.world.backend, "last_threads", -1)  # a property of NativeBackend
                ev.append(("thr", now(), tid(), int(last() if callable(last) else last)))

        self._handlers[Msg.EXCHANGE] = exchange

    core.ServerCore.__init__ = traced_init  # type: ignore[method-assign]

    between = core.ServerCore._between_pieces

    def traced_between(self: core.ServerCore) -> None:
        ev.append(("bp0", now(), tid(), self._lock_waiters))
        try:
            between(self)
        finally:
            ev.append(("bp1", now(), tid(), self._lock_waiters))

    core.ServerCore._between_pieces = traced_between  # type: ignore[method-assign]

    piece = world_mod.World.commit_spawn_piece

    def traced_piece(self: world_mod.World, *a: object, **k: object) -> object:
        ev.append(("pc0", now(), tid(), 0))
        try:
            return piece(self, *a, **k)
        finally:
            ev.append(("pc1", now(), tid(), 0))

    world_mod.World.commit_spawn_piece = traced_piece  # type: ignore[method-assign]

    def spans(cls: type, name: str, kind: str) -> None:
        plain = getattr(cls, name)

        def traced(*a: object, **k: object) -> object:
            ev.append((kind + "0", now(), tid(), 0))
            try:
                return plain(*a, **k)
            finally:
                ev.append((kind + "1", now(), tid(), 0))

        setattr(cls, name, traced)

    spans(core.ServerCore, "_spawn", "sp")  # the whole SPAWN on the worker
    spans(core.ServerCore, "_spawn_reserve", "rs")
    spans(world_mod.PreparedSpawn, "draw", "dr")
    spans(world_mod.PreparedSpawn, "release", "rl")

    setswitch = sys.setswitchinterval

    def traced_setswitch(interval: float) -> None:
        ev.append(("sw", now(), tid(), int(interval * 1e6)))
        setswitch(interval)

    sys.setswitchinterval = traced_setswitch


if "serve" in sys.argv and os.environ.get("SF_SWITCH_WHILE_DRAWING"):  # an A/B knob: polite()'s interval
    from spikeforge.runtime import world as _world

    _world._SWITCH_WHILE_DRAWING = float(os.environ["SF_SWITCH_WHILE_DRAWING"])

if "serve" in sys.argv and os.environ.get("SF_BREATHE"):  # an A/B knob: "EVERY,PAUSE" s; "0,0" = off
    from spikeforge.runtime import world as _w

    _w._BREATHE_EVERY, _w._BREATHE_PAUSE = (float(x) for x in os.environ["SF_BREATHE"].split(","))

if _prefix and "serve" in sys.argv:
    _install(_prefix)
    if os.environ.get("SF_HANDOFF_SAMPLE"):  # the threads' states from another process (no GIL shared)
        import subprocess

        subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "task_sampler.py"),
                          "--pid", str(os.getpid()), "--out", f"{_prefix}.sampler.{os.getpid()}.jsonl",
                          "--period", os.environ["SF_HANDOFF_SAMPLE"]])
