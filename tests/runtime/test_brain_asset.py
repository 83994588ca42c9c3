"""Brain assets: a brain saved in one process spawns in another world and continues bit for
bit (numpy and native); bad files load nothing and say why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from spikeforge import LIF, Circuit, World
from spikeforge.model import FixedInDegree, FixedProbability, Uniform
from spikeforge.model.plasticity import STDP, Homeostasis
from spikeforge.runtime.brain_asset import BrainAssetError

ROOT = Path(__file__).resolve().parents[2]
FRAMES = 30


def wolf(homeostasis: bool = False) -> Circuit:
    """A small learning brain with noise-driven input (its RNG stream matters); with
    ``homeostasis`` its hidden layer moves its thresholds (so keeps theta)."""
    c = Circuit("wolf")
    c.add_population("eye", 12, LIF(t_ref=2.0), v_init=(-65.0, -55.0))
    c.add_population("hid", 24, LIF(bias=9.0), v_init=(-65.0, -52.0))
    rule = STDP(homeostasis=Homeostasis(target_rate=5.0, eta=0.05)) if homeostasis else STDP()
    c.connect("eye", "hid", FixedInDegree(4), weight=Uniform(1.0, 3.0), delay=(1, 3), plasticity=rule)
    c.connect("hid", "hid", FixedProbability(0.15), weight=Uniform(0.2, 1.0), delay=(1, 4))
    c.add_sensor("smell", "eye", channels=4, kind="poisson", max_rate=150.0)
    c.add_actuator("run", "hid", channels=2, kind="rate")
    return c


def drive(world: World, brain_id: int, frames: range) -> np.ndarray:
    """Run ``frames`` with a fixed input pattern; return (frames, neurons) v of the brain."""
    b = world.brain(brain_id)
    out = []
    for f in frames:
        b.sensor("smell")[:] = (np.arange(4) * 0.3 + f * 0.07) % 1.0
        world.advance(1 / 60)
        out.append(np.concatenate([np.asarray(b["eye"].v), np.asarray(b["hid"].v)]))
    return np.array(out)


def _child(backend: str, path: Path, expect: Path) -> None:
    """Run in a subprocess: train a brain, save it, then record what it does next."""
    world = World(backend=backend, seed=11)
    world.spawn(wolf(), count=3)
    drive(world, 1, range(FRAMES))
    world.brain(1).save(path)
    np.save(expect, drive(world, 1, range(FRAMES, 2 * FRAMES)))


@pytest.mark.parametrize("backend", ["numpy", "native"])
def test_saved_in_one_process_continues_bit_exactly_in_another(tmp_path: Path, backend: str) -> None:
    path, expect = tmp_path / "wolf.sfbrain", tmp_path / "expect.npy"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "sdk"), str(ROOT)]))
    code = (f"from tests.runtime.test_brain_asset import _child; from pathlib import Path; "
            f"_child({backend!r}, Path({str(path)!r}), Path({str(expect)!r}))")
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                       timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    # another world: other seed, other brains first, so the wolf lands in another slot/serial
    world = World(backend=backend, seed=99)
    world.spawn(Circuit("rabbit").add_population("r", 5, LIF(bias=20.0)), count=2)
    world.spawn(wolf(), count=1)
    world.step(7)
    wolf_b = world.spawn_from(path)
    assert wolf_b.id == 3 and wolf_b.prototype == "wolf"
    got = drive(world, wolf_b.id, range(FRAMES, 2 * FRAMES))
    want = np.load(expect)
    assert got.tobytes() == want.tobytes()
    manifest = json.loads(zipfile.ZipFile(path).read("manifest.json"))
    assert manifest["format"] == "spikeforge-brain" and manifest["version"] == 1 and manifest["state"]
    assert all(len(m["sha256"]) == 64 for m in manifest["arrays"].values())


def test_without_state_keeps_wiring_weights_and_thresholds(tmp_path: Path) -> None:
    src = World(backend="numpy", seed=3)
    (b,) = src.spawn(wolf(homeostasis=True))
    drive(src, b.id, range(20))
    src.backend.pull_state()
    b["hid"].theta[:] = np.linspace(0.0, 2.0, 24, dtype=np.float32)  # learned thresholds
    b.save(tmp_path / "w.sfbrain", state=False)
    dst = World(backend="numpy", seed=4)
    (c,) = [dst.spawn_from(tmp_path / "w.sfbrain")]
    for proj in ("eye->hid", "hid->hid"):
        names = [p.name for p in src.layout.prototypes[0].circuit.projections]
        name = names[("eye->hid", "hid->hid").index(proj)]
        assert b.weights(name).w.tobytes() == c.weights(name).w.tobytes()
        assert np.array_equal(b.weights(name).pre, c.weights(name).pre)
    assert np.array_equal(np.asarray(c["hid"].theta), np.linspace(0.0, 2.0, 24, dtype=np.float32))
    assert c.steps == 0  # fresh state and the RNG key of its new serial


def _saved(tmp_path: Path) -> tuple[World, Path]:
    world = World(backend="numpy", seed=5)
    (b,) = world.spawn(wolf())
    world.step(10)
    return world, b.save(tmp_path / "ok.sfbrain")


def _tiny_genome() -> dict[str, object]:
    from spikeforge.model.genome import circuit_to_genome

    return circuit_to_genome(Circuit("wolf").add_population("eye", 3, LIF()))  # type: ignore[no-any-return]


def _write(dst: Path, data: bytes) -> Path:
    dst.write_bytes(data)
    return dst


def _rewrite(src: Path, dst: Path, edit_manifest=None, edit_array=None) -> Path:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "manifest.json" and edit_manifest is not None:
                m = json.loads(data)
                edit_manifest(m)
                data = json.dumps(m).encode()
            if edit_array is not None and item.filename == f"arrays/{edit_array}.npy":
                data = data[:-4] + bytes(4 - i for i in range(4))
            zout.writestr(item, data)
    return dst


@pytest.mark.parametrize(("make", "message"), [
    (lambda ok, d: _write(d, ok.read_bytes()[: len(ok.read_bytes()) // 2]), "unreadable brain file"),
    (lambda ok, d: _write(d, b""), "unreadable brain file"),
    (lambda ok, d: _rewrite(ok, d, edit_array="synapse.w"), "synapse.w' is corrupt"),
    (lambda ok, d: _rewrite(ok, d, edit_manifest=lambda m: m.update(version=2)), "unsupported brain file version 2"),
    (lambda ok, d: _rewrite(ok, d, edit_manifest=lambda m: m.update(format="spikeforge-snapshot")), "format is not"),
    (lambda ok, d: _rewrite(ok, d, edit_manifest=lambda m: m.update(dt=0.002)), "dt=0.002"),
    (lambda ok, d: _rewrite(ok, d, edit_manifest=lambda m: m.update(genome=_tiny_genome())), "outside|expected"),
    (lambda ok, d: _rewrite(ok, d, edit_manifest=lambda m: m.update(genome={"nonsense": 1})), "inconsistent"),
])
def test_bad_files_load_nothing_and_say_why(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    world, ok = _saved(tmp_path)
    before = (world.stats()["brains"], world._next_serial, world.layout_generation, len(world.prototypes))
    bad = make(ok, tmp_path / "bad.sfbrain")
    with pytest.raises(BrainAssetError, match=message):
        world.spawn_from(bad)
    assert (world.stats()["brains"], world._next_serial, world.layout_generation, len(world.prototypes)) == before
    fresh = World(backend="numpy", seed=5)
    with pytest.raises(BrainAssetError):
        fresh.spawn_from(bad)
    assert fresh.prototypes == [] and fresh.stats()["brains"] == 0
