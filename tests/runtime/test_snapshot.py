"""Snapshots: bit-exact resume, corrupt files refused, atomic writes."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import assert_states_equal, drive, rich_circuit

from spikeforge import LIF, Circuit, SnapshotError, World
from spikeforge.runtime.snapshot import layout_arrays

FRAMES = 13


def _echo() -> Circuit:
    return (Circuit("echo").add_population("p", 15, LIF(bias=16.0), v_init=(-65.0, -50.0))
            .connect("p", "p", weight=0.5, delay=(3, 30)))


def _make_world() -> World:
    world = World(dt=0.001, backend="numpy", seed=21, max_substeps=20)
    world.spawn(rich_circuit(), count=3)
    world.spawn(_echo(), count=2)
    world.despawn(1)  # a gap in the serials
    world.brain(2).lod_every = 2
    return world


def _frames(world: World, frames: range) -> list[tuple[int, int]]:
    spikes: list[tuple[int, int]] = []
    for f in frames:
        for b in world.brains:
            if b.prototype == "rich":
                drive(b, f)
        rec = world.advance(1 / 60).spikes
        spikes += list(zip(rec.steps.tolist(), rec.neurons.tolist(), strict=True))
    return spikes


def _state(world: World) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in layout_arrays(world.layout).items()}


def _counters(world: World) -> tuple[object, ...]:
    c = world.clock
    return (world.step_count, world.frame_count, world.total_spikes, world._next_serial,
            c.accumulator, c.frames, c.dropped_steps, [b.id for b in world.brains])


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, World]:
    world = _make_world()
    _frames(world, range(FRAMES))
    path = tmp_path / "npcs.sfsnap"
    world.save(path)
    return path, world


def test_resume_is_bit_exact(saved: tuple[Path, World]) -> None:
    path, at_save = saved
    straight = _make_world()
    _frames(straight, range(FRAMES))
    second = _frames(straight, range(FRAMES, 2 * FRAMES))

    resumed = World.load(path, backend="numpy")
    assert _counters(resumed) == _counters(at_save)
    assert resumed.clock.accumulator > 0.0  # the clock's leftover is part of the state
    got = _frames(resumed, range(FRAMES, 2 * FRAMES))
    assert len(second) > 300
    assert got == second
    assert_states_equal(_state(resumed), _state(straight))
    assert _counters(resumed) == _counters(straight)
    for b in straight.brains:
        r = resumed.brain(b.id)
        assert (r.prototype, r.lod_every, r.steps) == (b.prototype, b.lod_every, b.steps)
        for name, out in b.actuators.items():
            assert r.actuator(name).tobytes() == out.tobytes()


def test_loaded_world_reuses_prototypes_and_keeps_serials(saved: tuple[Path, World]) -> None:
    path, original = saved
    w = World.load(path, backend="numpy")
    assert len(w.prototypes) == 2
    (new,) = w.spawn(rich_circuit())
    assert len(w.prototypes) == 2  # same circuit -> same prototype after the round trip
    assert new.id == 5
    (ref,) = original.spawn(rich_circuit())
    assert ref.id == 5
    np.testing.assert_array_equal(new["exc"].v, ref["exc"].v)


def _rewrite(path: Path, out: Path, edit_manifest=None, edit_arrays=None, drop: str | None = None,  # type: ignore[no-untyped-def]
             rehash: bool = True) -> None:
    """Copy a snapshot zip with changes (optionally keeping digests consistent)."""
    with zipfile.ZipFile(path) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(items["manifest.json"])
    if edit_arrays:
        for name, fn in edit_arrays.items():
            arr = np.lib.format.read_array(io.BytesIO(items[f"arrays/{name}.npy"]))
            buf = io.BytesIO()
            np.lib.format.write_array(buf, fn(arr.copy()))
            items[f"arrays/{name}.npy"] = buf.getvalue()
            if rehash:
                manifest["arrays"][name]["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    if edit_manifest:
        edit_manifest(manifest)
    items["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for n, data in items.items():
            if n != drop:
                zf.writestr(n, data)


def test_truncated_file_is_refused(saved: tuple[Path, World], tmp_path: Path) -> None:
    path, _ = saved
    data = path.read_bytes()
    for cut in (0, 10, len(data) // 3, len(data) // 2, len(data) - 200, len(data) - 1):
        bad = tmp_path / f"cut{cut}.sfsnap"
        bad.write_bytes(data[:cut])
        with pytest.raises(SnapshotError):
            World.load(bad, backend="numpy")


def test_flipped_bytes_are_refused_or_harmless(saved: tuple[Path, World], tmp_path: Path) -> None:
    """A flipped byte anywhere is either detected (SnapshotError) or lands in zip
    metadata that does not matter (then the loaded state is exactly the saved one)."""
    path, original = saved
    data = bytearray(path.read_bytes())
    ref = _state(original)
    rng = np.random.default_rng(0)
    detected = 0
    positions = rng.choice(len(data), size=60, replace=False)
    for pos in positions:
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        f = tmp_path / "flip.sfsnap"
        f.write_bytes(bytes(bad))
        try:
            w = World.load(f, backend="numpy")
        except SnapshotError:
            detected += 1
            continue
        assert_states_equal(_state(w), ref)
    assert detected >= 50  # nearly all of the file is array data, digests and CRCs


def test_flipped_array_byte_is_refused_even_with_a_matching_crc(saved: tuple[Path, World],
                                                                tmp_path: Path) -> None:
    """The SHA-256 in the manifest catches what a rewritten zip's CRC would not."""
    path, _ = saved
    bad = tmp_path / "bad.sfsnap"

    def flip(a: np.ndarray) -> np.ndarray:
        a.reshape(-1).view(np.uint8)[3] ^= 1
        return a

    _rewrite(path, bad, edit_arrays={"neuron.v": flip}, rehash=False)
    with pytest.raises(SnapshotError, match=r"neuron\.v.*corrupt"):
        World.load(bad, backend="numpy")


def test_inconsistent_arrays_are_refused(saved: tuple[Path, World], tmp_path: Path) -> None:
    path, _original = saved
    bad = tmp_path / "bad.sfsnap"

    def dangling(a: np.ndarray) -> np.ndarray:
        a[0] = 10**6
        return a

    _rewrite(path, bad, edit_arrays={"synapse.post": dangling})
    with pytest.raises(SnapshotError, match=r"synapse\.post"):
        World.load(bad, backend="numpy")
    _rewrite(path, bad, edit_arrays={"pid": lambda a: a[:-1]},
             edit_manifest=lambda m: m["arrays"]["pid"].update(shape=[m["arrays"]["pid"]["shape"][0] - 1]))
    with pytest.raises(SnapshotError):
        World.load(bad, backend="numpy")


def test_wrong_version_and_format_are_refused(saved: tuple[Path, World], tmp_path: Path) -> None:
    path, _ = saved
    bad = tmp_path / "bad.sfsnap"
    _rewrite(path, bad, edit_manifest=lambda m: m.update(version=2))
    with pytest.raises(SnapshotError, match="version 2"):
        World.load(bad, backend="numpy")
    _rewrite(path, bad, edit_manifest=lambda m: m.update(version=True))  # JSON true == 1 in Python
    with pytest.raises(SnapshotError, match="version True"):
        World.load(bad, backend="numpy")
    _rewrite(path, bad, edit_manifest=lambda m: m.update(format="something-else"))
    with pytest.raises(SnapshotError, match="format"):
        World.load(bad, backend="numpy")


def test_missing_manifest_or_array_is_refused(saved: tuple[Path, World], tmp_path: Path) -> None:
    path, _ = saved
    bad = tmp_path / "bad.sfsnap"
    _rewrite(path, bad, drop="manifest.json")
    with pytest.raises(SnapshotError, match="manifest"):
        World.load(bad, backend="numpy")
    _rewrite(path, bad, drop="arrays/ring.npy")
    with pytest.raises(SnapshotError):
        World.load(bad, backend="numpy")
    (tmp_path / "junk.sfsnap").write_bytes(b"not a zip at all")
    with pytest.raises(SnapshotError):
        World.load(tmp_path / "junk.sfsnap", backend="numpy")
    with pytest.raises(SnapshotError):
        World.load(tmp_path / "missing.sfsnap", backend="numpy")


def test_atomic_write_leaves_no_temp_file(saved: tuple[Path, World]) -> None:
    path, world = saved
    world.save(path)  # overwrite in place
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_failed_write_keeps_the_old_file(saved: tuple[Path, World], monkeypatch: pytest.MonkeyPatch) -> None:
    path, world = saved
    good = path.read_bytes()
    world.advance(1 / 60)
    real = zipfile.ZipFile.writestr
    calls = 0

    def failing(self: zipfile.ZipFile, *args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise OSError("disk full")
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing)
    with pytest.raises(OSError, match="disk full"):
        world.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    World.load(path, backend="numpy")  # still a good snapshot


@pytest.mark.parametrize("name", ["neuron.hold", "synapse.w", "row_delay"])
def test_consistently_removed_array_is_refused(saved: tuple[Path, World], tmp_path: Path, name: str) -> None:
    """Dropping an array from both the zip and the manifest still fails at load, not at the next step."""
    path, _ = saved
    bad = tmp_path / "bad.sfsnap"
    _rewrite(path, bad, edit_manifest=lambda m: m["arrays"].pop(name), drop=f"arrays/{name}.npy")
    with pytest.raises(SnapshotError):
        World.load(bad, backend="numpy")


def test_consistently_retyped_array_is_refused(saved: tuple[Path, World], tmp_path: Path) -> None:
    path, _ = saved
    bad = tmp_path / "bad.sfsnap"

    def edit(m: dict) -> None:  # type: ignore[type-arg]
        m["arrays"]["row_ptr"]["dtype"] = "<i4"

    _rewrite(path, bad, edit_arrays={"row_ptr": lambda a: a.astype(np.int32)}, edit_manifest=edit)
    with pytest.raises(SnapshotError, match="row_ptr"):
        World.load(bad, backend="numpy")
