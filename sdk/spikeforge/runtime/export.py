"""``spikeforge export``: write a World's flat layout as a compiled brain file for the C API.

A brain file holds everything ``native/include/spikeforge.h`` needs to run the brains
without Python: every state array, the parameter and plasticity tables, organ tables
and names. Format 1 (little-endian)::

    b"SFBRAIN\\0"   magic (8 bytes)
    u32            format version (1)
    u32            number of records
    record*        u16 name length, name (ASCII), u8 dtype, u64 count, count elements

dtype codes: 1 uint8, 2 int32, 3 uint32, 4 int64, 5 float32, 6 float64
(``engine.tables.BRAIN_FILE_DTYPE``). Record names: ``tables_fingerprint`` (uint32: the digest
of the engine tables the file was laid out by, :func:`~spikeforge.engine.gen_tables.tables_fingerprint`;
the C API refuses a file made for other tables); ``dt_ms depth world_step n_proj``
(scalars); the per-brain ``brain_start brain_key brain_step``; the per-neuron state arrays the
layout stores (``layout.neuron``: of ``NEURON_STATE``; ``w theta mod consec burst xpre xpost msum
shist`` hold only the neurons of the populations that keep them, in neuron order, and are absent when
none does, see ``layout.stored_state``; the learning arrays are kept by every population of a learning
circuit) plus ``pid act_slot``; ``kept.w kept.theta kept.mod kept.consec kept.burst kept.xpre
kept.xpost kept.msum kept.shist`` (uint8 per parameter set: 1 where that population keeps the variable; the C API sizes
each of those arrays by them and accepts an absent array only where none does);
``fparams iparams`` (flattened parameter rows); the rows ``row_ptr row_syn row_delay
row_chan row_proj``; the synapses ``post weight``; ``gap_a gap_b gap_g``; ``ring``;
the organ buffers ``sensor_values act_counts act_out``; ``sensor_groups_i``/
``actuator_groups_i`` (int64, 9 per group: kind, channels, width, per_chan,
pop_offset, brain0, brains, offset, out_offset), ``*_groups_f`` (float64, 5 per group:
low, high, gain, rate, sigma), ``*_names`` (NUL-terminated names); ``gauss_lut``; and,
when something learns, ``plast_flags`` (any_rstdp, any_homeo, any_events, learning),
``plast_proj_f plast_proj_i plast_pid_f da_decay every dopamine dopamine_sum learn
in_ptr in_syn in_pre in_proj rs_ptr rs_syn rs_post rs_proj`` and ``elig``.

Usage::

    spikeforge export genome.json [more.json ...] --count 8 --seed 1 --dt 0.001 -o npcs.sfb
    spikeforge export --snapshot saves/slot1 -o npcs.sfb
"""

from __future__ import annotations

import argparse
import os
import struct
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from spikeforge.engine.gen_tables import tables_fingerprint
from spikeforge.engine.layout import Layout, OrganGroup
from spikeforge.engine.numpy_backend import GAUSS_LUT
from spikeforge.engine.plasticity import build_cache
from spikeforge.engine.tables import BRAIN_FILE_DTYPE, PER_POPULATION_STATE

if TYPE_CHECKING:
    from spikeforge.runtime.world import World

MAGIC = b"SFBRAIN\0"
FORMAT_VERSION = 1
DTYPE_CODE = {np.dtype(t): code for t, code in BRAIN_FILE_DTYPE.items()}


def _groups(groups: list[OrganGroup]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gi = np.array([[g.kind, g.channels, g.width, g.per_chan, g.pop_offset, g.brain0, g.brains, g.offset,
                    g.out_offset] for g in groups], dtype=np.int64).reshape(-1)
    gf = np.array([[g.low, g.high, g.gain, g.rate, g.sigma] for g in groups], dtype=np.float64).reshape(-1)
    names = np.frombuffer(b"".join(g.name.encode("utf-8") + b"\0" for g in groups), dtype=np.uint8)
    return gi, gf, names


def layout_records(layout: Layout, world_step: int = 0) -> dict[str, np.ndarray]:
    """Every record of the brain file of ``layout``, name -> 1-D array (see module docstring)."""
    L = layout
    rec: dict[str, np.ndarray] = {
        "tables_fingerprint": np.array([tables_fingerprint()], np.uint32),
        "dt_ms": np.array([L.dt_ms], np.float64), "depth": np.array([L.depth], np.int64),
        "world_step": np.array([world_step], np.int64), "n_proj": np.array([L.proj_chan.size], np.int64),
        "brain_start": L.brain_start, "brain_key": L.brain_key, "brain_step": L.brain_step,
    }
    for k, a in L.neuron.items():
        rec[k] = a
    # which parameter set keeps each optional variable of sf_net: the C loader accepts an absent
    # array only where none does (capi.c check_unkept)
    for j, name in enumerate(PER_POPULATION_STATE):
        rec[f"kept.{name}"] = ((L.pid_keeps() >> np.uint16(j)) & 1).astype(np.uint8)
    rec.update(pid=L.pid, act_slot=L.act_slot, fparams=L.fparams.reshape(-1), iparams=L.iparams.reshape(-1),
               row_ptr=L.row_ptr, row_syn=L.row_syn, row_delay=L.row_delay, row_chan=L.row_chan,
               row_proj=L.row_proj, post=L.synapse["post"], weight=L.synapse["w"], gap_a=L.gap_a, gap_b=L.gap_b,
               gap_g=L.gap_g, ring=L.ring.reshape(-1), sensor_values=L.sensor_values, act_counts=L.act_counts,
               act_out=L.act_out, gauss_lut=GAUSS_LUT)
    for prefix, groups in (("sensor", L.sensor_groups), ("actuator", L.actuator_groups)):
        gi, gf, names = _groups(groups)
        rec[f"{prefix}_groups_i"], rec[f"{prefix}_groups_f"], rec[f"{prefix}_names"] = gi, gf, names
    pc = build_cache(L)
    if pc is not None:
        T = pc.tables
        rec.update(
            plast_flags=np.array([pc.any_rstdp, pc.any_homeo, pc.any_events, bool(L.learning)], np.int64),
            plast_proj_f=T.proj_f.reshape(-1), plast_proj_i=T.proj_i.reshape(-1), plast_pid_f=T.pid_f.reshape(-1),
            da_decay=pc.da_decay, every=pc.every, dopamine=L.dopamine, dopamine_sum=L.dopamine_sum,
            learn=L.learn, in_ptr=pc.in_ptr, in_syn=pc.in_syn, in_pre=pc.in_pre, in_proj=pc.in_proj,
            rs_ptr=pc.rs_ptr, rs_syn=pc.rs_syn, rs_post=pc.rs_post, rs_proj=pc.rs_proj)
        if "elig" in L.synapse:
            rec["elig"] = L.synapse["elig"]
    return rec


def write_records(f: BinaryIO, records: dict[str, np.ndarray]) -> None:
    """Write ``records`` in brain-file format 1 to the binary stream ``f``."""
    f.write(MAGIC + struct.pack("<II", FORMAT_VERSION, len(records)))
    for name, arr in records.items():
        a = np.ascontiguousarray(arr).reshape(-1)
        if a.dtype == np.bool_:
            a = a.astype(np.uint8)
        base = np.dtype(a.dtype.type)
        code = DTYPE_CODE.get(base)
        if code is None:
            raise ValueError(f"record {name}: unsupported dtype {a.dtype}")
        a = a.astype(base.newbyteorder("<"), copy=False)
        raw = name.encode("ascii")
        if not 1 <= len(raw) <= 64:
            raise ValueError(f"record {name!r}: names must be 1..64 ASCII characters")
        f.write(struct.pack("<H", len(raw)) + raw + struct.pack("<BQ", code, a.size))
        f.write(a.tobytes())


def export_layout(layout: Layout, path: str | os.PathLike[str], world_step: int = 0) -> Path:
    """Write ``layout`` to ``path`` atomically (temp file, fsync, rename); return the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=p.name + ".", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write_records(f, layout_records(layout, world_step))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def export_world(world: World, path: str | os.PathLike[str]) -> Path:
    """Write ``world``'s current state (all live brains; free slots left out, since the C
    API steps every brain) as a brain file for the C API."""
    world.backend.pull_state()
    return export_layout(world.live_layout(), path, world.step_count)


def main(argv: list[str]) -> int:
    """``spikeforge export``: genomes (or a snapshot) -> brain file. Returns the exit code."""
    ap = argparse.ArgumentParser(prog="spikeforge export", description=__doc__.split("\n\n")[0])
    ap.add_argument("genomes", nargs="*", help="genome JSON files (one prototype each)")
    ap.add_argument("--snapshot", help="export a saved world (World.save directory) instead of genomes")
    ap.add_argument("--count", type=int, default=1, help="brains per genome (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    ap.add_argument("--dt", type=float, default=0.001, help="fixed step in seconds (default 0.001)")
    ap.add_argument("-o", "--output", required=True, help="brain file to write (.sfb)")
    args = ap.parse_args(argv)
    from spikeforge.model.genome import load_genome
    from spikeforge.runtime.world import World

    if bool(args.snapshot) == bool(args.genomes):
        ap.error("give genome files or --snapshot, not both or neither")
    if args.count < 0:
        ap.error(f"--count: must be >= 0, got {args.count}")
    if args.snapshot:
        from spikeforge.runtime.snapshot import SnapshotError

        try:
            world = World.load(args.snapshot, backend="numpy")
        except (SnapshotError, OSError) as exc:
            ap.exit(2, f"spikeforge export: cannot load --snapshot {args.snapshot}: {exc}\n")
    else:
        world = World(dt=args.dt, backend="numpy", seed=args.seed)
        for g in args.genomes:
            world.spawn(load_genome(g), count=args.count)
    out = export_world(world, args.output)
    L = world.layout
    print(f"wrote {out}: {L.n_brains} brains, {L.n_neurons} neurons, {L.n_synapses} synapses, "
          f"{out.stat().st_size} bytes")
    return 0
