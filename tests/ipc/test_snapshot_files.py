"""Files the server and the SDK write are private, atomic and never follow a planted link (issue 17).

Snapshots (SAVE, the final snapshot), brain assets, genomes and the token go through
:func:`spikeforge.files.atomic_write`: a ``mkstemp`` temporary file in the target folder
(``O_CREAT|O_EXCL|O_NOFOLLOW``), mode 0600, fsync, atomic rename, fsync of the folder.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from spikeforge.files import atomic_write, atomic_write_bytes, private_dir
from spikeforge.ipc.client import Client
from spikeforge.ipc.protocol import Err, RemoteError
from spikeforge.ipc.serve import write_token
from spikeforge.ipc.testing import ServerProcess, probe_circuit, start_server
from spikeforge.model.genome import load_genome, save_genome
from spikeforge.runtime.world import World


def mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


@pytest.fixture
def fixed_temp_names(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make ``mkstemp`` try the names ``aaa``, ``bbb``, ``ccc``... in this order."""
    names = ["aaa", "bbb", "ccc", "ddd"]

    def candidates() -> Iterator[str]:
        yield from names

    monkeypatch.setattr(tempfile, "_get_candidate_names", candidates)
    return names


def test_atomic_write_never_follows_a_link_planted_at_a_temp_name(tmp_path: Path, fixed_temp_names: list[str]) -> None:
    folder = tmp_path / "saves"
    folder.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    # links at the first two names mkstemp will try, and at the old predictable name
    for n in fixed_temp_names[:2]:
        (folder / f".x.snapshot.{n}.tmp").symlink_to(victim)
    (folder / f".x.snapshot.{os.getpid()}.tmp").symlink_to(victim)
    atomic_write_bytes(folder / "x.snapshot", b"new content")
    assert victim.read_bytes() == b"precious"
    assert (folder / "x.snapshot").read_bytes() == b"new content" and mode(folder / "x.snapshot") == 0o600
    assert not (folder / ".x.snapshot.ccc.tmp").exists()  # the temp file it did use is renamed away
    assert sorted(p.name for p in folder.iterdir() if p.is_symlink()) == sorted(
        [f".x.snapshot.{n}.tmp" for n in fixed_temp_names[:2]] + [f".x.snapshot.{os.getpid()}.tmp"])


def test_atomic_write_replaces_a_link_at_the_target_and_cleans_up_on_failure(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    target = tmp_path / "out.bin"
    target.symlink_to(victim)
    atomic_write_bytes(target, b"mine")
    assert victim.read_bytes() == b"precious" and not target.is_symlink() and target.read_bytes() == b"mine"

    def boom(f: object) -> None:
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert target.read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin", "victim"]  # no temp file left
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "no" / "such" / "folder", b"")


def test_private_dir_creates_every_missing_folder_0700(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        p = private_dir(tmp_path / "a" / "b" / "c")
    finally:
        os.umask(old)
    assert [mode(tmp_path / x) for x in ("a", "a/b", "a/b/c")] == [0o700] * 3
    assert private_dir(p) == p  # existing: fine
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises((NotADirectoryError, FileExistsError)):
        private_dir(tmp_path / "file")


def test_world_brain_genome_and_token_files(tmp_path: Path, fixed_temp_names: list[str]) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    for name in ("w.snapshot", "b.brain", "g.json", "server.token"):
        (tmp_path / f".{name}.{fixed_temp_names[0]}.tmp").symlink_to(victim)
        (tmp_path / f".{name}.{os.getpid()}.tmp").symlink_to(victim)
    world = World(dt=0.001, backend="numpy", seed=1)
    brain = world.spawn(probe_circuit(), 2)[0]
    world.advance(0.01)
    world.save(tmp_path / "w.snapshot")
    brain.save(tmp_path / "b.brain")
    save_genome(probe_circuit(), tmp_path / "g.json")
    token = write_token(tmp_path / "server.token")
    assert victim.read_bytes() == b"precious"
    assert mode(tmp_path / "w.snapshot") == mode(tmp_path / "b.brain") == mode(tmp_path / "server.token") == 0o600
    assert mode(tmp_path / "g.json") == 0o644  # a genome is not secret
    assert (tmp_path / "server.token").read_text().strip() == token
    assert World.load(tmp_path / "w.snapshot", backend="numpy").step_count == world.step_count
    assert load_genome(tmp_path / "g.json").name == "probe"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    (tmp_path / "outside").mkdir()
    srv = start_server(tmp_path, args=["--snapshot-dir", str(tmp_path / "deep" / "snaps")])
    try:
        yield srv
    finally:
        srv.stop()


def test_save_over_the_wire_is_private_and_link_proof(server: ServerProcess, tmp_path: Path) -> None:
    snaps = tmp_path / "deep" / "snaps"
    assert server.ready["snapshot_dir"] == str(snaps.resolve())
    assert mode(tmp_path / "deep") == mode(snaps) == 0o700
    assert mode(server.token_path) == 0o600
    victim = tmp_path / "outside" / "victim"
    victim.write_bytes(b"precious")
    (snaps / f".s1.{server.proc.pid}.tmp").symlink_to(victim)  # the old predictable temp name
    (snaps / "linked").symlink_to(victim)  # a link at the target itself
    with Client.connect(server.host, server.port, token_file=server.token_path) as c:
        c.spawn("probe", 2)
        c.exchange(0.02)
        c.save("s1")
        with pytest.raises(RemoteError) as ei:  # a link at the target is refused, not followed
            c.save("linked")
        assert ei.value.code == Err.INVALID and "outside" in ei.value.args[0]
        for bad in ("../escape", "/etc/passwd", ".hidden", "a/b", "..", "x" * 65, "", "ok\x00"):
            with pytest.raises(RemoteError) as ei:
                c.save(bad)
            assert ei.value.code == Err.INVALID, bad
        c.load("s1")
    assert victim.read_bytes() == b"precious"
    assert mode(snaps / "s1") == 0o600
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == ["victim"]
    assert not [p for p in snaps.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()]
    assert server.stop() == 0
    assert mode(snaps / "final.snapshot") == 0o600
