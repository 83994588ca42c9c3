"""``spikeforge serve``: run a World behind the wire protocol (``integrations/PROTOCOL.md``).

Example
-------
``spikeforge serve --genome samples/genomes --snapshot-dir saves --port 47800``

On start one line ``spikeforge-serve ready {json}`` is printed to stdout (host, port,
unix path, token file, pid); logs go to stderr. SIGTERM/SIGINT write a final snapshot
``final.snapshot`` to the snapshot directory, tell the clients, and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import json
import logging
import os
import secrets
import signal
import sys
import threading
from pathlib import Path

from spikeforge.files import atomic_write_bytes, private_dir
from spikeforge.ipc import protocol as P
from spikeforge.ipc.core import FINAL_SNAPSHOT, ServerCore
from spikeforge.ipc.quota import DEFAULT_CLIENT_MEMORY_MB
from spikeforge.ipc.server import Server
from spikeforge.ipc.upload_parse import UploadParser
from spikeforge.model.circuit import Circuit
from spikeforge.model.errors import GenomeError
from spikeforge.model.genome import load_genome
from spikeforge.runtime.snapshot import SnapshotError
from spikeforge.runtime.world import World

log = logging.getLogger("spikeforge.serve")

DEFAULT_PORT = 47800
DEFAULT_HOME = Path("~/.spikeforge")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``spikeforge serve`` (every option with its default and help text).

    Returns
    -------
    argparse.ArgumentParser
    """
    ap = argparse.ArgumentParser(prog="spikeforge serve", description="Serve a spikeforge World over the wire "
                                 "protocol (integrations/PROTOCOL.md).")
    ap.add_argument("--host", default="127.0.0.1", help="TCP address to bind (default 127.0.0.1, loopback)")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0 = any free)")
    ap.add_argument("--unix", metavar="PATH", help="listen on this Unix domain socket instead of TCP")
    ap.add_argument("--allow-remote", action="store_true", help="allow --host to be a non-loopback address")
    ap.add_argument("--token-file", metavar="PATH", default=str(DEFAULT_HOME / "server.token"),
                    help="where to write the random handshake token (mode 0600; default ~/.spikeforge/server.token)")
    ap.add_argument("--genome", metavar="DIR_OR_FILE", action="append", default=[],
                    help="genome JSON file, or a directory of *.json genomes (repeatable)")
    ap.add_argument("--snapshot-dir", metavar="DIR", default=str(DEFAULT_HOME / "snapshots"),
                    help="directory for SAVE/LOAD and the final snapshot (default ~/.spikeforge/snapshots)")
    ap.add_argument("--backend", default="auto", help="simulation backend: auto, numpy, native, gpu")
    ap.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    ap.add_argument("--dt", type=float, default=0.001, help="fixed step in seconds (default 0.001)")
    ap.add_argument("--max-substeps", type=int, default=64, help="most steps per exchange (default 64)")
    ap.add_argument("--grace-seconds", type=float, default=30.0,
                    help="keep a dropped client's brains this long for a resume (default 30)")
    ap.add_argument("--load", metavar="SNAPSHOT", help="start from this snapshot file (its brains are unowned until "
                    "a client CLAIMs them)")
    ap.add_argument("--max-neurons", type=int, default=4_000_000, help="neuron limit of the world")
    ap.add_argument("--max-synapses", type=int, default=100_000_000, help="synapse limit of the world (expected)")
    ap.add_argument("--max-clients", type=int, default=P.MAX_CLIENTS,
                    help=f"most sessions at once, counting those in their reconnect grace (default {P.MAX_CLIENTS})")
    ap.add_argument("--max-pending", type=int, default=P.MAX_PENDING,
                    help="most connections still before HELLO; beyond it the oldest is dropped "
                         f"(default {P.MAX_PENDING})")
    ap.add_argument("--hello-timeout", type=float, default=P.HELLO_TIMEOUT_S,
                    help=f"seconds a new connection has to complete HELLO (default {P.HELLO_TIMEOUT_S:g})")
    ap.add_argument("--frame-timeout", type=float, default=P.FRAME_TIMEOUT_S,
                    help=f"seconds to complete a started frame (default {P.FRAME_TIMEOUT_S:g})")
    ap.add_argument("--idle-timeout", type=float, default=P.IDLE_TIMEOUT_S,
                    help="seconds an authenticated client may send nothing before it is dropped; its session "
                         f"then waits out its grace (default {P.IDLE_TIMEOUT_S:g}; 0 = never)")
    ap.add_argument("--client-memory-mb", type=int, default=DEFAULT_CLIENT_MEMORY_MB,
                    help="per-client memory quota in MiB (estimated bytes of its brains and uploaded circuits; "
                         f"0 = none; default {DEFAULT_CLIENT_MEMORY_MB})")
    ap.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    ap.add_argument("--cluster", metavar="ADDRESS|local:N",
                    help="shard the world's brains over a Ray cluster (the [cluster] extra): a Ray address "
                         "(e.g. 'auto', 'host:6379') or 'local:N' for N shards on a local Ray; clients see no "
                         "difference (docs/cluster.md)")
    ap.add_argument("--shards", type=int, default=0, help="with --cluster ADDRESS: shard count (default: one per "
                    "alive Ray node)")
    ap.add_argument("--shard-threads", type=int, default=1, help="with --cluster: native threads (Ray CPUs) per "
                    "shard (default 1)")
    ap.add_argument("--checkpoint-every", type=int, default=10_000,
                    help="with --cluster: steps between shard checkpoints for fault recovery (default 10000)")
    return ap


def load_genomes(paths: list[str]) -> dict[str, Circuit]:
    """Circuits from genome files and directories of ``*.json`` files, by circuit name."""
    out: dict[str, Circuit] = {}
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            files = sorted(p.glob("*.json"))
        elif p.is_file():
            files = [p]
        else:
            raise FileNotFoundError(f"--genome: {p} is neither a file nor a directory")
        for f in files:
            try:
                c = load_genome(f)
            except GenomeError as exc:
                raise ValueError(f"--genome {f}: {exc}") from None
            if c.name in out:
                raise ValueError(f"--genome: circuit name {c.name!r} appears twice (second time in {f})")
            out[c.name] = c
    return out


def write_token(path: Path) -> str:
    """Draw a random token and write it to ``path`` with mode 0600 (parent created 0700)."""
    token = secrets.token_hex(32)
    private_dir(path.parent)
    atomic_write_bytes(path, (token + "\n").encode("ascii"))  # mkstemp temp file: no planted link followed
    return token


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_world(args: argparse.Namespace) -> World:
    """The served world: a :class:`World`, or with ``--cluster`` a ``ClusterWorld`` (same API)."""
    if not args.cluster:
        if args.load:
            return World.load(Path(args.load).expanduser(), backend=args.backend)
        return World(dt=args.dt, backend=args.backend, seed=args.seed, max_substeps=args.max_substeps)
    from spikeforge.cluster.serve import cluster_world

    return cluster_world(args)  # type: ignore[return-value]  # ClusterWorld duck-types the World API


async def _run(args: argparse.Namespace) -> int:
    genomes = load_genomes(args.genome)
    world = make_world(args)
    snapshot_dir = Path(args.snapshot_dir).expanduser().resolve()
    private_dir(snapshot_dir)  # created 0700: its snapshots (0600) hold every client's brains
    token_path = Path(args.token_file).expanduser().resolve()
    token = write_token(token_path)
    core = ServerCore(world, token, genomes, snapshot_dir, args.grace_seconds, args.max_neurons,
                      max_world_synapses=args.max_synapses, max_clients=args.max_clients,
                      client_memory=max(0, args.client_memory_mb) << 20)
    core.upload_parser = UploadParser()  # genomes parsed in a helper process (started once listening)
    server = Server(core, args.host, None if args.unix else args.port, args.unix, hello_timeout=args.hello_timeout,
                    frame_timeout=args.frame_timeout, max_pending=args.max_pending, idle_timeout=args.idle_timeout)
    # the start-up's objects (modules, genomes, a loaded world) are never garbage: frozen, the
    # cyclic collector's full collections no longer walk them (a GIL hold that stalls every
    # client's exchange; issue 17)
    gc.collect()
    gc.freeze()
    await server.start()
    # the helper's interpreter starts now, not with the first upload (see UploadParser.warm)
    threading.Thread(target=core.upload_parser.warm, name="upload-parse-warm", daemon=True).start()
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def on_signal(signame: str) -> None:
        if done.is_set():
            return
        log.info("%s received: writing the final snapshot and stopping", signame)
        path = snapshot_dir / FINAL_SNAPSHOT
        try:
            try:
                core.save(path)
                log.info("final snapshot written to %s", path)
            except Exception as exc:  # report, but still stop cleanly
                log.error("final snapshot to %s failed: %r", path, exc)
            try:
                server.stop()
            except Exception:  # whatever a client left behind, stopping must finish
                log.exception("error while stopping the server; exiting anyway")
        finally:
            done.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig.name)
    ready = {"host": None if args.unix else args.host, "port": server.port, "unix": args.unix,
             "token_file": str(token_path), "pid": os.getpid(), "backend": world.backend_name,
             "snapshot_dir": str(snapshot_dir)}
    print("spikeforge-serve ready " + json.dumps(ready), flush=True)
    await done.wait()
    await asyncio.sleep(0.05)  # let the transports flush their SHUTDOWN frames
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``spikeforge serve``; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not args.unix and not _is_loopback(args.host):
        if not args.allow_remote:
            print(f"spikeforge serve: --host {args.host} is not a loopback address; pass --allow-remote to expose "
                  "the server to the network", file=sys.stderr)
            return 2
        print(f"WARNING: spikeforge serve is listening on {args.host}: anyone who can reach this address and "
              "has the token controls the world, and the token travels unencrypted", file=sys.stderr)
    if not 0 <= args.port <= 65535:
        print(f"spikeforge serve: --port must be in 0..65535, got {args.port}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(args))
    except (GenomeError, SnapshotError, ValueError, RuntimeError, FileNotFoundError, FileExistsError, OSError) as exc:
        print(f"spikeforge serve: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
