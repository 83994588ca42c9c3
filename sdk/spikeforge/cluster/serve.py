"""``spikeforge serve --cluster``: build the served :class:`ClusterWorld` from the CLI options."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from spikeforge.cluster.world import ClusterWorld

log = logging.getLogger("spikeforge.cluster")


def parse_cluster(spec: str) -> tuple[str | None, int]:
    """``"local:N"`` -> (None, N); any other string is a Ray address -> (address, 0)."""
    if spec.startswith("local"):
        _, _, n = spec.partition(":")
        try:
            shards = int(n) if n else 2
        except ValueError:
            raise ValueError(f"--cluster: {spec!r}: expected local:N with N a whole number of shards") from None
        if shards < 1:
            raise ValueError(f"--cluster: {spec!r}: N must be >= 1")
        return None, shards
    if not spec.strip():
        raise ValueError("--cluster: empty address")
    return spec, 0


def cluster_world(args: argparse.Namespace) -> ClusterWorld:
    """Connect to (or start) Ray and create or load the sharded world."""
    import ray

    address, shards = parse_cluster(args.cluster)
    if args.backend not in ("auto", "native"):
        raise ValueError(f"--backend {args.backend}: shards run the native backend; omit --backend with --cluster")
    if args.shard_threads < 1:
        raise ValueError(f"--shard-threads: must be >= 1, got {args.shard_threads}")
    if address is None:
        ray.init(num_cpus=max(shards * args.shard_threads, 1), include_dashboard=False,
                 logging_level=logging.WARNING, log_to_driver=False)
    else:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
        shards = args.shards or len([n for n in nodes if n.get("Alive")])
    opts = {"threads": args.shard_threads, "checkpoint_every": args.checkpoint_every}
    if args.load:
        world = ClusterWorld.load(Path(args.load).expanduser(), **opts)
    else:
        world = ClusterWorld(shards=shards, dt=args.dt, seed=args.seed, max_substeps=args.max_substeps, **opts)
    log.info("cluster world: %d shards on %d Ray nodes", world.shards, len({p["node"] for p in world.nodes}))
    return world
