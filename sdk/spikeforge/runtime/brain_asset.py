"""Brain assets: one learned brain in a file, spawned into any world, process or engine.

``brain.save(path)`` writes one brain: its circuit (genome JSON), its wiring, weights
and learned thresholds (``theta``) and, unless ``state=False``, all of its dynamic
state: every per-neuron variable, the pending delay-ring input, organ buffers, learning
state (eligibility, dopamine, learn flag) and its RNG stream position (its key and step
counter). ``world.spawn_from(path)`` spawns it as a new brain of the target world.

With state, the spawned brain continues bit for bit where the saved one was (same
spikes, same random draws) on every exact backend. Without state it is a new individual
with the saved wiring, weights and thresholds: fresh initial state and the RNG key of
its new serial in the target world.

The file is the snapshot archive (``runtime/snapshot.py``: zip of ``manifest.json`` +
one ``.npy`` per array, SHA-256 per array, atomic write) with format
``"spikeforge-brain"``, version 1. Loading verifies format, version, every digest and
every index against the circuit before anything is spawned: a truncated, corrupt,
mismatched or wrong-version file raises :class:`BrainAssetError` saying why and leaves
the world unchanged. The target world must use the same ``dt`` (parameters are
compiled for it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spikeforge.engine.compiler import instantiate, max_delay
from spikeforge.engine.layout import STATE_KEPT_WHEN
from spikeforge.engine.rng import brain_key
from spikeforge.engine.slots import strip_pad
from spikeforge.model.errors import GenomeError
from spikeforge.model.genome import genome_to_circuit
from spikeforge.runtime.snapshot import archive_bytes, read_archive, write_archive

if TYPE_CHECKING:
    from spikeforge.model.circuit import Circuit
    from spikeforge.runtime.brain import Brain
    from spikeforge.runtime.world import World

BRAIN_FORMAT = "spikeforge-brain"
BRAIN_VERSION = 1


class BrainAssetError(ValueError):
    """A brain file is unreadable, corrupt, truncated, of another version, or does not fit."""


def _collect(brain: Brain, state: bool) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest and arrays of one brain's file."""
    world = brain._world
    world._check_not_in_advance("save")
    world.backend.pull_state()
    L = world.layout
    i = brain.index
    proto = L.prototypes[int(L.brain_proto[i])]
    blk = strip_pad(L.extract(i), world._pad)
    arrays: dict[str, np.ndarray] = {
        "syn_pre": blk.syn_pre, "syn_delay": blk.syn_delay,
        "syn_proj": (blk.syn_proj - proto.proj_base).astype(np.int32),  # circuit-local projection
        "gap_a": blk.gap_a, "gap_b": blk.gap_b, "gap_g": blk.gap_g,
        "neuron.theta": blk.neuron["theta"],
    }
    arrays.update({f"synapse.{k}": a for k, a in blk.synapse.items()})
    if state:
        arrays.update({f"neuron.{k}": a for k, a in blk.neuron.items()})
        arrays["pending"] = blk.pending
        arrays.update({f"sensor.{k}": a for k, a in blk.sensors.items()})
        arrays.update({f"act_counts.{k}": a for k, a in blk.act_counts.items()})
        arrays.update({f"act_out.{k}": a for k, a in blk.act_out.items()})
    manifest: dict[str, Any] = {
        "format": BRAIN_FORMAT, "version": BRAIN_VERSION, "dt": world.dt, "genome": proto.genome,
        "prototype": proto.circuit.name, "state": bool(state), "source_id": brain.id,
        "brain": {"key": int(blk.key), "step": int(blk.step), "lod_every": int(blk.lod_every),
                  "sleeping": bool(blk.sleeping), "learn": bool(blk.learn), "dopamine": float(blk.dopamine),
                  "dopamine_sum": float(blk.dopamine_sum)},
    }
    return manifest, arrays


def save_brain(brain: Brain, path: str | Path, state: bool = True) -> Path:
    """Write ``brain`` to ``path`` (see module docstring); returns the path."""
    out = Path(path)
    write_archive(out, *_collect(brain, state))
    return out


def brain_bytes(brain: Brain, state: bool = True) -> bytes:
    """The bytes :func:`save_brain` would write for ``brain``, in memory.

    What a server sends for EXPORT_BRAIN (``integrations/PROTOCOL.md``): a game stores
    them as its own asset file and spawns it with :func:`spawn_from` (path or bytes) or
    SPAWN_ASSET.

    Parameters
    ----------
    brain : Brain
        A live brain.
    state : bool
        Include all dynamic state and the RNG stream position (continue bit-exactly).

    Returns
    -------
    bytes
        A complete brain file.
    """
    return archive_bytes(*_collect(brain, state))


def read_brain(path: str | Path | bytes,
               max_unpacked: int | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify a brain file (a path, or its bytes): (manifest, arrays).

    ``max_unpacked`` bounds the archive's unpacked size in bytes (untrusted uploads).
    Raises :class:`BrainAssetError`."""
    if isinstance(path, bytes | bytearray | memoryview):
        return read_archive(bytes(path), BRAIN_FORMAT, BRAIN_VERSION, BrainAssetError, "brain file",
                            max_unpacked=max_unpacked)
    return read_archive(Path(path), BRAIN_FORMAT, BRAIN_VERSION, BrainAssetError, "brain file",
                        max_unpacked=max_unpacked)


def asset_circuit(manifest: dict[str, Any], label: str = "brain file") -> Circuit:
    """The circuit of a verified brain file's manifest (:func:`read_brain`).

    Raises
    ------
    BrainAssetError
        The genome is missing or invalid (the message names the field).
    """
    try:
        return genome_to_circuit(manifest["genome"])
    except (GenomeError, KeyError, TypeError, ValueError, RecursionError) as exc:
        raise BrainAssetError(f"{label}: inconsistent brain file ({type(exc).__name__}: {exc})") from None


def spawn_from(world: World, path: str | Path | bytes, state: bool = True) -> Brain:
    """Spawn the brain saved in ``path`` (a file, or a brain file's bytes) into ``world``
    (see module docstring).

    ``state=False`` spawns the saved wiring, weights and thresholds with fresh state even
    when the file holds state."""
    world._check_not_in_advance("spawn_from")
    label = f"brain file ({len(path)} bytes)" if isinstance(path, bytes | bytearray | memoryview) else str(path)
    manifest, arrays = read_brain(path)
    return spawn_read(world, manifest, arrays, state, label)


def spawn_read(world: World, manifest: dict[str, Any], arrays: dict[str, np.ndarray], state: bool = True,
               label: str = "brain file") -> Brain:
    """Spawn a brain file already read and verified by :func:`read_brain`.

    Every size and index is checked against the circuit before anything changes: on
    :class:`BrainAssetError` (saying why, prefixed by ``label``) the world is unchanged."""
    from spikeforge.runtime.brain import Brain

    world._check_not_in_advance("spawn_from")
    p = label
    try:
        dt = float(manifest["dt"])
        if dt != world.dt:
            raise BrainAssetError(f"{p}: saved at dt={dt} s, this world runs dt={world.dt} s; "
                                  "a brain's parameters are compiled for one dt")
        circuit = genome_to_circuit(manifest["genome"])
        with_state = bool(manifest["state"]) and state
        key_known = json.dumps(circuit.to_dict(), sort_keys=True) in world._proto_by_genome
        probe = world._prototype_for(circuit) if key_known else None
        block_proto = probe
        if block_proto is None:  # compile without registering: nothing changes unless it all checks out
            from spikeforge.engine.compiler import compile_prototype

            block_proto = compile_prototype(circuit, len(world._prototypes), world.dt * 1000.0,
                                            sum(len(q.pop_names) for q in world._prototypes),
                                            sum(len(q.circuit.projections) for q in world._prototypes))
        serial = world._next_serial
        depth = max(world._depth(), max_delay(block_proto))
        blk = instantiate(block_proto, serial, brain_key(world.seed, serial), world.seed, depth)
        _fill(blk, block_proto, arrays, manifest, with_state, p)
    except BrainAssetError:
        raise
    except (GenomeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise BrainAssetError(f"{p}: inconsistent brain file ({type(exc).__name__}: {exc})") from None
    # everything checked: register the prototype (if new) and place the brain
    old = None if key_known else world._slots()
    proto = world._prototype_for(circuit)
    blk.proto = proto.index
    blk.syn_proj = (blk.syn_proj - block_proto.proj_base + proto.proj_base).astype(np.int32)
    world._next_serial += 1
    handle = Brain(world, serial, proto.circuit.name)
    world._place(proto, [blk], old)
    world._brains[serial] = handle
    return handle


def _fill(blk: Any, proto: Any, arrays: dict[str, np.ndarray], manifest: dict[str, Any], with_state: bool,
          p: str) -> None:
    """Overwrite a freshly drawn block with the file's wiring, weights, thresholds (and state),
    checking every size and index against the circuit."""
    n = proto.n_neurons
    n_proj = len(proto.circuit.projections)
    lo_d, hi_d = 1, max(1, max_delay(proto))

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise BrainAssetError(f"{p}: {what}")

    pre, delay, proj = arrays["syn_pre"], arrays["syn_delay"], arrays["syn_proj"]
    m = pre.size
    need(pre.shape == delay.shape == proj.shape == (m,), "syn_pre/syn_delay/syn_proj: lengths differ")
    need(m == 0 or (int(pre.min()) >= 0 and int(pre.max()) < n), f"syn_pre: outside 0..{n - 1}")
    need(m == 0 or (int(proj.min()) >= 0 and int(proj.max()) < n_proj), f"syn_proj: outside 0..{n_proj - 1}")
    need(m == 0 or (int(delay.min()) >= lo_d and int(delay.max()) <= hi_d), f"syn_delay: outside {lo_d}..{hi_d}")
    if m > 1:
        key = (pre.astype(np.int64) * (n_proj + 1) + proj) * (hi_d + 1) + delay
        need(bool(np.all(np.diff(key) >= 0)), "synapses: not sorted by (pre, projection, delay)")
    syn = {k.split(".", 1)[1]: a for k, a in arrays.items() if k.startswith("synapse.")}
    need("post" in syn and "w" in syn, "synapse.post / synapse.w: missing")
    for k, a in syn.items():
        need(a.shape == (m,), f"synapse.{k}: expected {m} values, got shape {a.shape}")
    need(m == 0 or (int(syn["post"].min()) >= 0 and int(syn["post"].max()) < n), f"synapse.post: outside 0..{n - 1}")
    need(bool(np.all(np.isfinite(syn["w"]))), "synapse.w: not finite")
    g = (arrays["gap_a"], arrays["gap_b"], arrays["gap_g"])
    need(g[0].shape == g[1].shape == g[2].shape, "gap_a/gap_b/gap_g: lengths differ")
    need(g[0].size == 0 or (min(int(g[0].min()), int(g[1].min())) >= 0 and max(int(g[0].max()), int(g[1].max())) < n),
         f"gap: index outside 0..{n - 1}")
    blk.syn_pre, blk.syn_delay = pre.astype(np.int32), delay.astype(np.int32)
    blk.syn_proj = (proj + proto.proj_base).astype(np.int32)
    blk.synapse = {k: a.copy() if with_state or k in ("post", "w") else np.zeros_like(a) for k, a in syn.items()}
    blk.gap_a, blk.gap_b, blk.gap_g = g[0].astype(np.int32), g[1].astype(np.int32), g[2].astype(np.float32)
    theta = arrays["neuron.theta"]
    need(theta.shape == (n,) and theta.dtype == blk.neuron["theta"].dtype, f"neuron.theta: expected {n} float32")
    blk.neuron["theta"] = theta.copy()
    if not with_state:
        _check_unkept(blk, proto, need)
        return
    for k, a in blk.neuron.items():
        got = arrays.get(f"neuron.{k}")
        if got is None and k == "shist":  # files from before the spike history: empty history
            continue
        need(got is not None, f"neuron.{k}: missing (a state file holds every neuron variable)")
        assert got is not None
        need(got.shape == a.shape and got.dtype == a.dtype, f"neuron.{k}: expected {a.shape} {a.dtype}")
        blk.neuron[k] = got.copy()
    pend = arrays["pending"]
    need(pend.ndim == 3 and pend.shape[1:] == (3, n), f"pending: expected (depth, 3, {n})")
    need(not pend[max(1, max_delay(proto)):].any(), "pending: input beyond the longest delay")
    blk.pending = pend.astype(np.int32)
    for name, dst in (("sensor", blk.sensors), ("act_counts", blk.act_counts), ("act_out", blk.act_out)):
        for k, a in dst.items():
            got = arrays.get(f"{name}.{k}")
            need(got is not None and got.shape == a.shape, f"{name}.{k}: missing or wrong shape")
            assert got is not None
            dst[k] = got.astype(a.dtype)
    meta = manifest["brain"]
    blk.key, blk.step = int(meta["key"]), int(meta["step"])
    need(0 <= blk.key < 2 ** 32 and blk.step >= 0, "brain.key/step: out of range")
    blk.lod_every, blk.sleeping, blk.learn = int(meta["lod_every"]), bool(meta["sleeping"]), bool(meta["learn"])
    need(blk.lod_every >= 1, "brain.lod_every: must be >= 1")
    blk.dopamine, blk.dopamine_sum = float(meta["dopamine"]), float(meta["dopamine_sum"])
    _check_unkept(blk, proto, need)


def _check_unkept(blk: Any, proto: Any, need: Any) -> None:
    """A variable a population does not keep is +0 there (layout.STATE_KEPT_WHEN): a layout may
    not store it, so a file's other value would be dropped unseen; refuse it, naming the field."""
    for name in proto.pop_names:
        sl = proto.pop_slice(name)
        kept = proto.population_state(name)
        for k, when in STATE_KEPT_WHEN.items():
            need(k in kept or not np.any(blk.neuron[k][sl].view(np.uint8)),
                 f"neuron.{k}: nonzero in population {name!r}, which does not keep {k!r} "
                 f"(a population keeps it when {when})")
