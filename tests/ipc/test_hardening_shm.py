"""A client cannot crash, hang or orphan anything through its shared-memory block (issue 17).

The client owns its block file as much as the server does: these tests truncate it, grow
it, unlink it, replace it by a directory and race a writer against the server, against a
real ``spikeforge serve`` subprocess on loopback, then check the server still answers,
still despawns on BYE and still exits with its final snapshot on SIGTERM. The tests touch
the block only through file descriptors (``pwrite``/``ftruncate``), never through a mapping,
so a truncated block cannot fault the test process either.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from spikeforge.ipc import protocol as P
from spikeforge.ipc.client import Client
from spikeforge.ipc.protocol import Err, Msg, RemoteError
from spikeforge.ipc.shm import SHM_HEADER_SIZE, ServerShmBlock, ShmBlock, ShmError, block_size
from spikeforge.ipc.testing import ServerProcess, start_server
from spikeforge.runtime.world import World

FRAME = 1.0 / 60.0


def connect(srv: ServerProcess, name: str = "t") -> Client:
    return Client.connect(srv.host, srv.port, token_file=srv.token_path, name=name, timeout=20.0)


def detach(c: Client, capacity: int = 64) -> Path:
    """Open a block (``capacity`` floats each way) for ``c`` and drop the client's own mapping
    of it (the test then touches the file through descriptors only); returns its path."""
    block = c.open_shm(capacity, capacity)
    path = block.path
    c.sensors = np.zeros(0, np.float32)
    block.close()
    c.shm = None
    c._set_layout(c.layout)  # inline arrays again on the client side
    return path


def shm_exchange(c: Client, frame_dt: float = FRAME) -> P.ExchangeResult:
    """EXCHANGE with the shared-memory flag, without touching any mapping."""
    payload = struct.pack("<IdII", c.layout.epoch, frame_dt, P.FLAG_SHM, 0)
    return P.ExchangeResult.decode(c.request(Msg.EXCHANGE, payload, Msg.EXCHANGE_RESULT))


def assert_healthy(srv: ServerProcess) -> None:
    """The server answers a fresh client and has logged no traceback."""
    assert srv.proc.poll() is None, srv.stderr[-3000:]
    with connect(srv, "probe-health") as other:
        assert other.ping(b"x") == b"x"
        other.spawn("probe", 1)
        other.exchange(FRAME)
    assert "Traceback" not in srv.stderr and "internal error" not in srv.stderr, srv.stderr[-3000:]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path, args=["--grace-seconds", "0"])
    try:
        yield srv
    finally:
        srv.stop()


# ---------------------------------------------------------------------- the real server


def test_truncate_then_exchange_spawn_and_grow(server: ServerProcess) -> None:
    """Truncating the block fails that EXCHANGE with IO (never SIGBUS); SPAWN still works;
    restoring or growing the file makes the block usable again."""
    with connect(server) as c:
        c.spawn("probe", 2)
        path = detach(c)
        size = os.stat(path).st_size
        assert shm_exchange(c).steps >= 0
        assert re.fullmatch(rf"spikeforge-{server.proc.pid}-\d+-[0-9a-f]{{12}}", path.name), path.name

        os.truncate(path, 0)  # truncate-then-EXCHANGE
        with pytest.raises(RemoteError) as ei:
            shm_exchange(c)
        assert ei.value.code == Err.IO and "truncated" in str(ei.value) and not ei.value.fatal

        os.truncate(path, 10)  # truncate-then-SPAWN: the server rewrites the header by pwrite
        c.spawn("probe", 1)
        assert c.layout.brain_ids == [0, 1, 2]
        with pytest.raises(RemoteError) as ei:
            shm_exchange(c)
        assert ei.value.code == Err.IO

        os.truncate(path, size)  # restored: works again
        shm_exchange(c)
        os.truncate(path, 64 * size)  # grown: works, only the block's own areas are used
        res = shm_exchange(c)
        assert res.flags & P.FLAG_SHM
        with open(path, "rb") as f:  # the server keeps the header and counter current
            head = f.read(SHM_HEADER_SIZE)
        epoch, n_sens, n_act = struct.unpack_from("<III", head, 32)
        assert (epoch, n_sens, n_act) == (c.layout.epoch, c.layout.sensor_floats, c.layout.actuator_floats)
        assert struct.unpack_from("<Q", head, 48)[0] == 3  # three successful shm exchanges
    assert_healthy(server)


def test_replaced_by_directory_or_unlinked_bye_despawns(server: ServerProcess) -> None:
    """A block replaced by a directory (or unlinked) neither breaks BYE nor orphans brains."""
    made: list[Path] = []
    try:
        with connect(server, "a") as a, connect(server, "b") as b:
            a.spawn("probe", 3)
            path = detach(a)
            path.unlink()
            path.mkdir()  # replace-with-directory
            made.append(path)
            shm_exchange(a)  # the server still holds its own descriptor
            a.request(Msg.BYE, b"\x00", Msg.OK)  # answered OK, brains despawned
            a.sock.close()
            assert b.claim().brain_ids == []
            assert b.stats()["world"]["brains"] == 0
            assert path.is_dir()  # the client's directory is left alone

            b.spawn("probe", 2)
            p2 = detach(b)
            p2.unlink()  # unlink
            shm_exchange(b)
            b.open_shm()  # replacing an unlinked block is fine too
            b.close()
        with connect(server, "c") as c:
            assert c.claim().brain_ids == [] and c.stats()["world"]["brains"] == 0
        assert_healthy(server)
    finally:
        for p in made:
            shutil.rmtree(p, ignore_errors=True)


def test_racing_writer_never_crashes_the_server(server: ServerProcess) -> None:
    """A thread truncates, grows and scribbles (NaN included) over the block while the
    client exchanges through it: every EXCHANGE gets a result or a clear error."""
    with connect(server) as c:
        c.spawn("probe", 4)
        path = detach(c)
        size = os.stat(path).st_size
        stop = threading.Event()
        rng = np.random.default_rng(5)

        def racer() -> None:
            fd = os.open(path, os.O_RDWR)
            try:
                while not stop.is_set():
                    r = rng.random()
                    if r < 0.2:
                        os.ftruncate(fd, int(rng.integers(0, size)))
                    elif r < 0.3:
                        os.ftruncate(fd, int(rng.integers(size, 4 * size)))
                    else:
                        os.ftruncate(fd, size)
                    vals = rng.random(32).astype(np.float32)  # covers the layout's 16 sensor floats
                    if rng.random() < 0.1:
                        vals[int(rng.integers(0, 16))] = np.nan
                    os.pwrite(fd, vals.tobytes(), 64)
                    if rng.random() < 0.05:
                        os.pwrite(fd, rng.bytes(64), 0)  # garbage over the header
            finally:
                os.close(fd)

        t = threading.Thread(target=racer, daemon=True)
        t.start()
        ok = errors = 0
        deadline = time.monotonic() + 2.0
        try:
            while time.monotonic() < deadline:
                if (ok + errors) % 8 == 7:  # an inline exchange now and then: stays under the
                    c.exchange(0.002)       # 32-consecutive-errors limit whatever the racer does
                try:
                    shm_exchange(c, 0.002)
                    ok += 1
                except RemoteError as exc:
                    assert exc.code in (Err.IO, Err.INVALID) and not exc.fatal, exc
                    errors += 1
        finally:
            stop.set()
            t.join(5)
        assert ok > 0 and errors > 0, (ok, errors)
        os.truncate(path, size)
        c.request(Msg.BYE, b"\x00", Msg.OK)
    assert_healthy(server)


def test_sigterm_with_a_broken_session_exits_with_its_snapshot(tmp_path: Path) -> None:
    """SIGTERM finishes (exit 0, final snapshot) while a client holds a replaced block and
    another one is mid-session."""
    srv = start_server(tmp_path, args=["--grace-seconds", "30"])
    broken: Path | None = None
    try:
        a, b = connect(srv, "a"), connect(srv, "b")
        a.spawn("probe", 2)
        b.spawn("probe", 1)
        broken = detach(a)
        broken.unlink()
        broken.mkdir()
        b2 = detach(b)
        os.truncate(b2, 0)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        rc = srv.proc.wait(20)
        elapsed = time.monotonic() - t0
        assert rc == 0 and elapsed < 15, (rc, elapsed, srv.stderr[-3000:])
        final = srv.snapshot_dir / "final.snapshot"
        assert stat.S_IMODE(final.stat().st_mode) == 0o600
        assert World.load(final, backend="numpy").stats()["brains"] == 3
        assert "Traceback" not in srv.stderr, srv.stderr[-3000:]
        assert not b2.exists()  # the server's own (truncated) file is unlinked
        a.sock.close()
        b.sock.close()
    finally:
        srv.stop()
        if broken is not None:
            shutil.rmtree(broken, ignore_errors=True)


# ---------------------------------------------------------------------- the block, in process


def test_server_block_checks_every_use(tmp_path: Path) -> None:
    block = ServerShmBlock.create(16, 4, "7", directory=tmp_path)
    assert re.fullmatch(rf"spikeforge-{os.getpid()}-7-[0-9a-f]{{12}}", block.path.name)
    assert stat.S_IMODE(block.path.stat().st_mode) == 0o600
    assert block.size == os.stat(block.path).st_size == block_size(16, 4)[2]
    fd = os.open(block.path, os.O_RDWR)
    try:
        os.pwrite(fd, np.arange(16, dtype="<f4").tobytes(), block.sensor_offset)
        np.testing.assert_array_equal(block.read_sensors(5), np.arange(5, dtype=np.float32))
        with pytest.raises(ShmError, match="the block holds 16"):
            block.read_sensors(17)
        os.ftruncate(fd, block.sensor_offset + 8)  # room for 2 floats only
        np.testing.assert_array_equal(block.read_sensors(2), [0, 1])
        with pytest.raises(ShmError, match="truncated"):
            block.read_sensors(3)
        block.write_actuators(np.ones(4, np.float32))  # extends the file, never faults
        block.set_layout(3, 16, 4)
        with ShmBlock.open(block.path) as mine:  # the client's view is consistent again
            assert (mine.epoch, mine.sensor_count, mine.actuator_count, mine.counter) == (3, 16, 4, 1)
            np.testing.assert_array_equal(mine.actuators, np.ones(4, np.float32))
        os.ftruncate(fd, 1 << 20)  # grown
        assert block.read_sensors(16).size == 16
    finally:
        os.close(fd)
    block.close()
    assert not block.path.exists() and block.closed
    block.close()  # idempotent
    with pytest.raises(ShmError, match="closed"):
        block.read_sensors(1)


@pytest.mark.parametrize("replacement", ["directory", "file", "symlink", "unlinked"])
def test_server_block_close_is_total_and_leaves_foreign_paths(tmp_path: Path, replacement: str) -> None:
    block = ServerShmBlock.create(4, 4, "1", directory=tmp_path)
    p = block.path
    p.unlink()
    if replacement == "directory":
        p.mkdir()
    elif replacement == "file":
        p.write_bytes(b"someone else's")
    elif replacement == "symlink":
        (tmp_path / "target").write_bytes(b"keep")
        p.symlink_to(tmp_path / "target")
    block.close()  # never raises
    if replacement == "unlinked":
        assert not p.exists()
    else:
        assert p.exists() or p.is_symlink()
    assert (tmp_path / "target").exists() or replacement != "symlink"


def test_client_open_rejects_bad_blocks(tmp_path: Path) -> None:
    d = tmp_path / "dir"
    d.mkdir()
    with pytest.raises(ShmError):
        ShmBlock.open(d)
    small = tmp_path / "small"
    small.write_bytes(b"SPKFSHM1")
    with pytest.raises(ShmError, match="smaller than"):
        ShmBlock.open(small)
    block = ServerShmBlock.create(1024, 4, "2", directory=tmp_path)
    link = tmp_path / "link"
    link.symlink_to(block.path)
    with pytest.raises(ShmError):
        ShmBlock.open(link)  # O_NOFOLLOW
    os.truncate(block.path, 256)  # header now describes areas beyond the file
    with pytest.raises(ShmError, match="beyond"):
        ShmBlock.open(block.path)
    block.close()
