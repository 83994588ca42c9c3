"""World snapshots: one file, a zip of ``manifest.json`` plus one ``.npy`` per array.

The manifest holds the format name and version, the world's settings and counters, the
prototypes' genomes, and for every array its dtype, shape and SHA-256. Writes are
atomic and link-proof (:func:`spikeforge.files.atomic_write`: a ``mkstemp`` temp file
in the same folder, mode 0600, fsync, rename, fsync of the folder). Loading
checks the format, the version, every digest and every index before anything is
installed, so a truncated or corrupt file raises :class:`SnapshotError` and loads
nothing. Resuming is bit-exact: all state, the delay rings and the RNG counters
(brain keys and step counters) are in the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from spikeforge.engine.compiler import compile_prototype
from spikeforge.engine.layout import (
    NEURON_STATE,
    PER_POPULATION_STATE,
    STORED_WHEN_KEPT,
    Layout,
    aligned,
    organ_groups,
    stored_state,
    validate_layout,
)
from spikeforge.files import atomic_write
from spikeforge.model.errors import GenomeError
from spikeforge.model.genome import genome_to_circuit
from spikeforge.runtime.sharing import restore_groups, save_groups

if TYPE_CHECKING:
    from spikeforge.runtime.world import World

SNAPSHOT_FORMAT = "spikeforge-snapshot"
SNAPSHOT_VERSION = 1
_LAYOUT_ARRAYS = ("brain_start", "brain_key", "brain_step", "brain_proto", "brain_serial", "lod_every",
                  "sleeping", "pid", "row_ptr", "row_syn", "row_delay", "row_chan", "row_proj", "proj_chan",
                  "gap_a", "gap_b", "gap_g", "ring", "sensor_values", "act_counts", "act_out",
                  "dopamine", "dopamine_sum", "learn")


class SnapshotError(ValueError):
    """A snapshot file is unreadable, corrupt, truncated or of an unsupported version."""


def layout_arrays(layout: Layout) -> dict[str, np.ndarray]:
    """Every array a snapshot stores, by its name in the archive (layout, neuron and synapse state)."""
    arrays = {name: getattr(layout, name) for name in _LAYOUT_ARRAYS}
    arrays.update({f"neuron.{k}": a for k, a in layout.neuron.items()})
    arrays.update({f"synapse.{k}": a for k, a in layout.synapse.items()})
    arrays.update({f"extra.{k}": a for k, a in layout.extra.items()})
    return arrays


def _write_zip(raw: BinaryIO, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """The archive itself: one ``.npy`` per array, then ``manifest.json`` with their digests."""
    entries: dict[str, dict[str, Any]] = {}
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            data = buf.getvalue()
            entries[name] = {"dtype": arr.dtype.str, "shape": list(arr.shape),
                             "sha256": hashlib.sha256(data).hexdigest()}
            zf.writestr(f"arrays/{name}.npy", data)
        zf.writestr("manifest.json", json.dumps({**manifest, "arrays": entries}, indent=1))


def write_archive(path: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write ``manifest`` (+ an ``arrays`` table of dtype, shape and SHA-256 per array) and
    one ``.npy`` per array as a zip.

    The file is written by :func:`spikeforge.files.atomic_write`: a ``mkstemp`` temporary
    file in the target's folder (never a planted link), mode 0600, fsync, atomic rename,
    fsync of the folder. Shared by world snapshots and brain assets
    (``runtime/brain_asset.py``).

    Parameters
    ----------
    path : Path
        Target file; its folder must exist.
    manifest : dict
        JSON-ready manifest (the ``arrays`` table is added).
    arrays : dict of str to ndarray
        The arrays, by archive name.

    Raises
    ------
    OSError
        The file cannot be written; the target is then unchanged.
    """
    atomic_write(path, lambda raw: _write_zip(raw, manifest, arrays))


def archive_bytes(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """The bytes :func:`write_archive` would write, in memory (brain assets sent over the wire).

    Parameters
    ----------
    manifest : dict
        JSON-ready manifest (the ``arrays`` table is added).
    arrays : dict of str to ndarray
        The arrays, by archive name.

    Returns
    -------
    bytes
        The whole zip archive; written to a file it is what :func:`write_archive` writes.
    """
    buf = io.BytesIO()
    _write_zip(buf, manifest, arrays)
    return buf.getvalue()


def save_world(world: World, path: Path) -> None:
    """Write ``world`` as a snapshot at ``path`` (manifest + arrays with checksums; atomic)."""
    L = world.layout
    manifest = {
        "format": SNAPSHOT_FORMAT, "version": SNAPSHOT_VERSION,
        "world": {"dt": world.dt, "seed": world.seed, "max_substeps": world.clock.max_substeps},
        "clock": {"accumulator": world.clock.accumulator, "frames": world.clock.frames,
                  "dropped_steps": world.clock.dropped_steps},
        "step_count": world.step_count, "frame_count": world.frame_count,
        "total_spikes": world.total_spikes, "next_serial": world._next_serial,
        "depth": L.depth,
        "learning": bool(L.learning),
        "prototypes": [p.genome for p in L.prototypes],
    }
    arrays = layout_arrays(L)
    groups, group_arrays = save_groups(world)
    if groups:
        manifest["learning_groups"] = groups
        arrays.update(group_arrays)
    write_archive(path, manifest, arrays)


def read_archive(path: Path | bytes, fmt: str, version: int, error: type[ValueError] = ValueError,
                 what: str = "snapshot", label: str | None = None,
                 max_unpacked: int | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify an archive written by :func:`write_archive`: (manifest, arrays).

    Checks the format name, the version, every array's SHA-256, dtype and shape; raises
    ``error`` saying why (unreadable, truncated, corrupt, wrong format or version).
    ``path`` may also be the archive's bytes (:func:`archive_bytes`); messages then start
    with ``label`` (default: the path, or ``"<what> (N bytes)"``). ``max_unpacked`` bounds
    the archive's total unpacked size in bytes (untrusted input: a server's brain uploads)."""
    if label is None:
        label = f"{what} ({len(path)} bytes)" if isinstance(path, bytes | bytearray) else str(path)
    source: Path | io.BytesIO = io.BytesIO(path) if isinstance(path, bytes | bytearray) else path
    try:
        with zipfile.ZipFile(source, "r") as zf:
            unpacked = sum(i.file_size for i in zf.infolist())
            if max_unpacked is not None and unpacked > max_unpacked:
                raise error(f"{label}: unpacks to {unpacked} bytes, at most {max_unpacked} allowed")
            try:
                manifest = json.loads(zf.read("manifest.json"))
            except KeyError:
                raise error(f"{label}: no manifest.json (not a spikeforge {what})") from None
            if not isinstance(manifest, dict) or manifest.get("format") != fmt:
                raise error(f"{label}: format is not {fmt!r}")
            if isinstance(manifest.get("version"), bool) or manifest.get("version") != version:
                raise error(f"{label}: unsupported {what} version {manifest.get('version')!r}; "
                            f"this reader supports {version}")
            arrays: dict[str, np.ndarray] = {}
            for name, meta in manifest["arrays"].items():
                data = zf.read(f"arrays/{name}.npy")
                if hashlib.sha256(data).hexdigest() != meta["sha256"]:
                    raise error(f"{label}: array {name!r} is corrupt (SHA-256 mismatch)")
                arr = _npy(data)
                if arr.dtype.str != meta["dtype"] or list(arr.shape) != meta["shape"]:
                    raise error(f"{label}: array {name!r} has dtype/shape {arr.dtype.str}{arr.shape}, "
                                f"manifest says {meta['dtype']}{meta['shape']}")
                arrays[name] = arr
    except error:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError, ValueError, TypeError,
            AttributeError, RecursionError) as exc:
        raise error(f"{label}: unreadable {what} ({type(exc).__name__}: {exc})") from None
    return manifest, arrays


def _npy(data: bytes) -> np.ndarray:
    """One ``.npy`` array, its header checked against its size before anything is allocated."""
    f = io.BytesIO(data)
    major, _minor = np.lib.format.read_magic(f)
    if major == 1:
        shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
    need = math.prod(shape) * dtype.itemsize
    if need > len(data) - f.tell():
        raise ValueError(f"array of shape {shape} needs {need} bytes, the entry holds {len(data) - f.tell()}")
    f.seek(0)
    return np.lib.format.read_array(f, allow_pickle=False)


def read_snapshot(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify a snapshot file: (manifest, arrays). Raises SnapshotError."""
    return read_archive(path, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, SnapshotError, "snapshot")


def load_world(path: Path, backend: str) -> World:
    """A World restored bit-exactly from the snapshot at ``path`` on ``backend``.

    :class:`SnapshotError` names what is wrong.
    """
    from spikeforge.runtime.world import World

    manifest, arrays = read_snapshot(path)
    try:
        cfg = manifest["world"]
        world = World(dt=float(cfg["dt"]), backend=backend, seed=int(cfg["seed"]),
                      max_substeps=int(cfg["max_substeps"]))
        protos = []
        pid_base = proj_base = 0
        for i, genome in enumerate(manifest["prototypes"]):
            circuit = genome_to_circuit(genome)
            p = compile_prototype(circuit, i, world.dt * 1000.0, pid_base, proj_base)
            pid_base += len(p.pop_names)
            proj_base += len(p.circuit.projections)
            protos.append(p)
        layout = build_layout(world.dt * 1000.0, int(manifest["depth"]), protos, arrays)
        layout.learning = bool(manifest.get("learning", True))
    except SnapshotError:
        raise
    except (GenomeError, KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"{path}: inconsistent snapshot ({exc})") from None
    world._restore(manifest, layout)
    try:
        restore_groups(world, manifest.get("learning_groups", []), arrays)
    except (KeyError, TypeError, ValueError, LookupError) as exc:
        raise SnapshotError(f"{path}: inconsistent learning group ({exc})") from None
    return world


def build_layout(dt_ms: float, depth: int, protos: list[Any], arrays: dict[str, np.ndarray]) -> Layout:
    """A validated layout from snapshot arrays (organ tables re-derived from the prototypes)."""
    fparams = np.concatenate([p.fparams for p in protos]).astype(np.float32) if protos else np.zeros((0, 0), np.float32)
    iparams = np.concatenate([p.iparams for p in protos]).astype(np.int32) if protos else np.zeros((0, 0), np.int32)
    a = arrays
    sg, ag, act_slot, sizes = organ_groups(protos, a["brain_proto"], a["brain_start"])
    for name, size in zip(("sensor_values", "act_counts"), sizes[:2], strict=True):
        if a[name].size != size:
            raise ValueError(f"{name}: expected {size} values, got {a[name].size}")
    layout = Layout(
        dt_ms=dt_ms, depth=depth, prototypes=protos, brain_start=a["brain_start"], brain_key=a["brain_key"],
        brain_step=a["brain_step"], brain_proto=a["brain_proto"], brain_serial=a["brain_serial"],
        neuron={k.split(".", 1)[1]: v for k, v in a.items() if k.startswith("neuron.")},
        pid=a["pid"], fparams=fparams, iparams=iparams, row_ptr=a["row_ptr"], row_syn=a["row_syn"],
        row_delay=a["row_delay"], row_chan=a["row_chan"], row_proj=a["row_proj"],
        synapse={k.split(".", 1)[1]: v for k, v in a.items() if k.startswith("synapse.")},
        proj_chan=a["proj_chan"], gap_a=a["gap_a"], gap_b=a["gap_b"], gap_g=a["gap_g"], ring=a["ring"],
        sensor_values=a["sensor_values"], act_counts=a["act_counts"], act_out=a["act_out"],
        sensor_groups=sg, actuator_groups=ag, act_slot=act_slot, lod_every=a["lod_every"], sleeping=a["sleeping"],
        dopamine=a["dopamine"], dopamine_sum=a["dopamine_sum"], learn=a["learn"],
    )
    layout.extra = {k.split(".", 1)[1]: v for k, v in a.items() if k.startswith("extra.")}
    stored = stored_state(protos)
    for k in STORED_WHEN_KEPT:
        if k in stored:
            if k == "shist" and k not in layout.neuron and "neuron.v" in a:  # from before the spike history
                layout.neuron[k] = np.zeros(a["neuron.v"].shape, NEURON_STATE[k])
        elif k in layout.neuron and not np.any(layout.neuron[k]):
            # older snapshots hold every array: one no population keeps, all at its initial 0, goes
            # (any other value stays: present, never read by a step)
            del layout.neuron[k]
    n, bp = layout.n_neurons, layout.brain_proto
    pid = layout.pid
    placed = (pid.shape == (n,) and (n == 0 or (int(pid.min()) >= 0 and int(pid.max()) < fparams.shape[0]))
              and (bp.size == 0 or (int(bp.min()) >= 0 and int(bp.max()) < len(protos))))
    for k in PER_POPULATION_STATE if placed else ():  # snapshots from before per-population storage
        every = layout.neuron.get(k)                    # hold every neuron
        if every is not None and every.shape == (n,) and int(layout.kept_start(k)[-1]) != n:
            layout.neuron[k] = aligned(every[layout.kept_neurons(k)])
    validate_layout(layout)
    return layout
