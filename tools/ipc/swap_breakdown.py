"""Where the locked part of a re-layout SPAWN goes (issue 17), in process, no sockets.

An :class:`~spikeforge.ipc.InProcessServer` holds ``--brains`` probe brains for a holder
session and 20 for a player; the holder spawns one brain of a new circuit ``--repeat``
times, the player exchanging once between the draw and the commit (as another client
would). Prints, per spawn, the lock holds of the SPAWN and the parts of the swap
(``World._swap``: state copy, backend, the rest), the reply (the holder's exchange plan: built
without the lock since issue 17's last step, ``_layout_unlocked``; ``locked reply`` is a plan made
again under the lock, 0 unless the world changed meanwhile) and the reservation hold.

Usage::

    PYTHONPATH=sdk python tools/ipc/swap_breakdown.py --brains 10000 --backend native
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from spikeforge.ipc import InProcessServer
from spikeforge.ipc import protocol as P
from spikeforge.ipc.protocol import Msg
from spikeforge.ipc.testing import probe_circuit
from spikeforge.runtime import world as world_mod


def _timed(owner: Any, name: str, into: dict[str, float]) -> None:
    plain: Callable[..., Any] = getattr(owner, name)

    def run(*a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        try:
            return plain(*a, **k)
        finally:
            into[name] = into.get(name, 0.0) + time.perf_counter() - t

    setattr(owner, name, run)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brains", type=int, default=10000)
    ap.add_argument("--backend", default="native")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    genomes = {"probe": probe_circuit(), **{f"new{k}": probe_circuit(f"new{k}") for k in range(args.repeat)}}
    srv = InProcessServer(backend=args.backend, seed=1, token="t", genomes=genomes)
    core = srv.core
    sessions = []
    for name in ("player", "holder"):
        srv.connect(name).handle_frame(P.frame(Msg.HELLO, 1, P.Hello(name, "t").encode()))
        sessions.append(max(core.sessions.values(), key=lambda x: x.id))
    player, holder = sessions
    core.handle(player, Msg.SPAWN, 1, P.Spawn("probe", 20).encode())
    core.handle(holder, Msg.SPAWN, 1, P.Spawn("probe", args.brains).encode())

    def exchange() -> None:
        plan = core.plan(player)
        ex = P.Exchange(player.epoch, 1 / 60, 0, np.full(plan.info.sensor_floats, 0.5, np.float32))
        core.handle(player, Msg.EXCHANGE, 2, ex.encode())

    exchange()
    parts: dict[str, float] = {}
    _timed(world_mod, "transplant", parts)
    _timed(world_mod._RelayoutPlan, "take_backend", parts)
    _timed(world_mod.World, "_swap", parts)
    _timed(type(core), "_layout_payload", parts)
    _timed(type(core), "_layout_unlocked", parts)
    _timed(type(core), "_spawn_reserve", parts)
    _timed(type(core), "_spawn_commit", parts)
    _timed(world_mod.World, "commit_spawn", parts)
    plain_draw = world_mod.PreparedSpawn.draw

    def draw(self: world_mod.PreparedSpawn) -> None:
        plain_draw(self)
        exchange()  # another client plays while the spawn is drawn

    world_mod.PreparedSpawn.draw = draw  # type: ignore[method-assign]
    print(f"{args.brains} probe brains held, {core.world.backend_name}; ms per re-layout spawn")
    for k in range(args.repeat):
        parts.clear()
        core.handle(holder, Msg.SPAWN, 3, P.Spawn(f"new{k}", 1).encode())
        sp = core.stats(holder)["server"]["spawns"]
        copied = getattr(core.world, "relayout_copied_last", (-1, -1))
        swap = parts.get("_swap", 0.0)
        print(f"  locked {sp['last_locked_s'] * 1e3:6.2f} (sum {sp['last_locked_total_s'] * 1e3:6.2f}): "
              f"swap {swap * 1e3:5.2f} = state copy {parts.get('transplant', 0) * 1e3:5.2f} "
              f"+ backend {parts.get('take_backend', 0) * 1e3:5.2f} + rest "
              f"{(swap - parts.get('transplant', 0) - parts.get('take_backend', 0)) * 1e3:5.2f}; "
              f"reply {parts.get('_layout_unlocked', 0) * 1e3:5.2f} "
              f"(locked reply {parts.get('_layout_payload', 0) * 1e3:4.2f}); "
              f"commit {parts.get('_spawn_commit', 0) * 1e3:5.2f} "
              f"(World.commit_spawn {parts.get('commit_spawn', 0) * 1e3:5.2f}); "
              f"reserve {parts.get('_spawn_reserve', 0) * 1e3:5.2f}; brains copied {copied[0]} of {copied[1]}")
        exchange()
    srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
