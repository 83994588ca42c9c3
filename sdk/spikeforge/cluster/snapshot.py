"""Cluster snapshots: one file holding every shard's World snapshot plus the coordinator's state.

The file is a stored (uncompressed) zip: ``manifest.json`` (format, version, world settings,
which shard holds which brain, the prototypes' genomes, clock and counters, SHA-256 of every
entry), ``shards/<k>.snapshot`` (the shard's own :meth:`World.save` file, verbatim) and
``mirror/<name>.npy`` (sensor values and per-brain flags as the game last wrote them). Writes
are atomic (temp file, fsync, rename). No pickle anywhere.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from spikeforge.files import atomic_write
from spikeforge.model.genome import circuit_to_genome, genome_to_circuit
from spikeforge.runtime.snapshot import SnapshotError

if TYPE_CHECKING:
    from spikeforge.cluster.world import ClusterWorld

CLUSTER_FORMAT = "spikeforge-cluster-snapshot"
CLUSTER_VERSION = 1
_MIRROR = ("sensor_values", "sleeping", "lod_every", "learn")


def save_cluster(world: ClusterWorld, path: Path, shard_bytes: list[bytes]) -> None:
    """Write ``world`` (whose live shards returned ``shard_bytes``, in shard order) to ``path``."""
    L = world.layout
    entries: dict[str, str] = {}
    blobs: dict[str, bytes] = {}
    for k, data in enumerate(shard_bytes):
        blobs[f"shards/{k}.snapshot"] = data
    for name in _MIRROR:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.ascontiguousarray(getattr(L, name)), allow_pickle=False)
        blobs[f"mirror/{name}.npy"] = buf.getvalue()
    for name, data in blobs.items():
        entries[name] = hashlib.sha256(data).hexdigest()
    serials = sorted(world._owner)
    manifest: dict[str, Any] = {
        "format": CLUSTER_FORMAT, "version": CLUSTER_VERSION,
        "world": {"dt": world.dt, "seed": world.seed, "max_substeps": world.clock.max_substeps,
                  "shards": world.shards},
        "clock": {"accumulator": world.clock.accumulator, "frames": world.clock.frames,
                  "dropped_steps": world.clock.dropped_steps},
        "step_count": world.step_count, "frame_count": world.frame_count, "total_spikes": world.total_spikes,
        "next_serial": world._next_serial, "learning": bool(L.learning),
        "prototypes": [circuit_to_genome(c) for c in world._circuits],
        "brains": [[s, world._owner[s], world._proto_of[s]] for s in serials],
        "mirror_serials": [int(s) for s in L.brain_serial],
        "shard_prototypes": world._shard_protos,
        "entries": entries,
    }

    def write(raw: BinaryIO) -> None:
        with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, data in blobs.items():
                zf.writestr(name, data)
            zf.writestr("manifest.json", json.dumps(manifest))

    atomic_write(path, write)  # mkstemp temp file, 0600, fsync, rename, fsync of the folder


def read_cluster(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Read and verify a cluster snapshot: (manifest, entries). Raises SnapshotError."""
    try:
        with zipfile.ZipFile(path, "r") as zf:
            try:
                manifest = json.loads(zf.read("manifest.json"))
            except KeyError:
                raise SnapshotError(f"{path}: no manifest.json (not a spikeforge snapshot)") from None
            if not isinstance(manifest, dict) or manifest.get("format") != CLUSTER_FORMAT:
                raise SnapshotError(f"{path}: format is not {CLUSTER_FORMAT!r} (a single-World snapshot? "
                                    "load it with World.load)")
            if manifest.get("version") != CLUSTER_VERSION or isinstance(manifest.get("version"), bool):
                raise SnapshotError(f"{path}: unsupported cluster snapshot version {manifest.get('version')!r}")
            blobs: dict[str, bytes] = {}
            for name, digest in manifest["entries"].items():
                data = zf.read(name)
                if hashlib.sha256(data).hexdigest() != digest:
                    raise SnapshotError(f"{path}: entry {name!r} is corrupt (SHA-256 mismatch)")
                blobs[name] = data
    except SnapshotError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError, TypeError) as exc:
        raise SnapshotError(f"{path}: unreadable cluster snapshot ({type(exc).__name__}: {exc})") from None
    return manifest, blobs


def load_cluster(path: Path, **kwargs: Any) -> ClusterWorld:
    """A new :class:`ClusterWorld` with the saved shard count, restored from ``path``."""
    from spikeforge.cluster.world import ClusterBrain, ClusterWorld

    manifest, blobs = read_cluster(path)
    try:
        cfg = manifest["world"]
        n = int(cfg["shards"])
        circuits = [genome_to_circuit(g) for g in manifest["prototypes"]]
        brains = [(int(s), int(k), int(p)) for s, k, p in manifest["brains"]]
        shard_data = [blobs[f"shards/{k}.snapshot"] for k in range(n)]
        mirror = {name: np.lib.format.read_array(io.BytesIO(blobs[f"mirror/{name}.npy"]), allow_pickle=False)
                  for name in _MIRROR}
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"{path}: inconsistent cluster snapshot ({exc})") from None
    world = ClusterWorld(shards=n, dt=float(cfg["dt"]), seed=int(cfg["seed"]),
                         max_substeps=int(cfg["max_substeps"]), **kwargs)
    try:
        for c in circuits:
            world._prototype_for(c)
        for s, k, p in brains:
            if not 0 <= k < n or not 0 <= p < len(circuits):
                raise SnapshotError(f"{path}: brain {s} names shard {k} / prototype {p}, out of range")
            world._owner[s], world._proto_of[s] = k, p
            world._handles[s] = ClusterBrain(world, s, circuits[p].name)
        world._shard_protos = [[int(x) for x in sp] for sp in manifest["shard_prototypes"]]
        if len(world._shard_protos) != n:
            raise SnapshotError(f"{path}: shard_prototypes has {len(world._shard_protos)} rows, expected {n}")
        world._next_serial = int(manifest["next_serial"])
        world.step_count = int(manifest["step_count"])
        world.frame_count = int(manifest["frame_count"])
        world.total_spikes = int(manifest["total_spikes"])
        world.clock.accumulator = float(manifest["clock"]["accumulator"])
        world.clock.frames = int(manifest["clock"]["frames"])
        world.clock.dropped_steps = int(manifest["clock"]["dropped_steps"])
        world.layout = world._build_mirror()
        if [int(x) for x in world.layout.brain_serial] != [int(x) for x in manifest["mirror_serials"]]:
            raise SnapshotError(f"{path}: brain order does not match the saved one")
        for name, arr in mirror.items():
            dst = getattr(world.layout, name)
            if arr.shape != dst.shape or arr.dtype != dst.dtype:
                raise SnapshotError(f"{path}: mirror/{name} has {arr.dtype}{arr.shape}, expected {dst.dtype}"
                                    f"{dst.shape}")
            dst[...] = arr
        world.layout.learning = bool(manifest["learning"])
        infos = world._call_all_each("restore", {k: (shard_data[k], world.step_count) for k in range(n)})
        for k, info in enumerate(infos):
            world._apply_info(k, info)
            world._ckpt[k], world._ckpt_step[k] = shard_data[k], world.step_count
    except Exception:
        world.close()
        raise
    return world
