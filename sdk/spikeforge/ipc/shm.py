"""Shared-memory exchange blocks (PROTOCOL.md section 8).

A block is a file in ``/dev/shm`` (mode 0600) named
``spikeforge-<server pid>-<session id>-<random>``. Layout, little-endian: a 64-byte
header, then ``sensor_capacity`` float32, then (at a 64-byte aligned offset)
``actuator_capacity`` float32.

The two sides use the file differently, because they trust it differently:

* The **client** (:class:`ShmBlock`, :meth:`ShmBlock.open`) maps the file; its
  :attr:`ShmBlock.sensors` and :attr:`ShmBlock.actuators` are numpy views over the
  mapping (no copy on the client side).
* The **server** (:class:`ServerShmBlock`) never maps it. A client owns the file as much
  as the server does (same user): it can truncate, grow, unlink or replace it at any
  moment, and a mapping of a truncated file raises SIGBUS in whoever touches it. So the
  server copies the sensors in with one ``pread`` and the actuators and header fields out
  with ``pwrite`` on the file descriptor it created, after checking the file's size with
  ``fstat``. A shrunken block makes that one EXCHANGE fail with a clear error
  (:class:`ShmError`); nothing the client does to the file can crash the server. The
  server keeps its own copy of the offsets and capacities and never reads the header
  back, so a client scribbling over the header cannot redirect the server's reads.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
import secrets
import stat
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

log = logging.getLogger("spikeforge.ipc")

SHM_MAGIC = b"SPKFSHM1"
SHM_VERSION = 1
SHM_HEADER_SIZE = 64
SHM_DIR = Path("/dev/shm")
_HEAD = struct.Struct("<8sIIIIII")  # magic, version, header_size, s_off, s_cap, a_off, a_cap
_EPOCH_AT = 32
_COUNTS_AT = 36
_COUNTER_AT = 48
_LAYOUT = struct.Struct("<III")  # epoch, sensor_count, actuator_count at _EPOCH_AT
_COUNTER = struct.Struct("<Q")


class ShmError(ValueError):
    """A shared-memory block is missing, too small, damaged or not a spikeforge block."""


def _align64(n: int) -> int:
    return (n + 63) // 64 * 64


def block_size(sensor_capacity: int, actuator_capacity: int) -> tuple[int, int, int]:
    """Byte offsets and size of a block.

    Parameters
    ----------
    sensor_capacity, actuator_capacity : int
        Capacities in float32 values.

    Returns
    -------
    tuple of int
        ``(sensor_offset, actuator_offset, total_size)`` in bytes.
    """
    a_off = SHM_HEADER_SIZE + _align64(4 * sensor_capacity)
    return SHM_HEADER_SIZE, a_off, a_off + _align64(max(4 * actuator_capacity, 4))


def block_name(tag: str) -> str:
    """The file name of a new block: ``spikeforge-<pid>-<tag>-<random>`` (``tag``: the session id)."""
    return f"spikeforge-{os.getpid()}-{tag}-{secrets.token_hex(6)}"


class ServerShmBlock:
    """The server's side of a block: a file descriptor, never a mapping.

    Create with :meth:`create`. Every use validates the file first (``fstat`` size, short
    reads), so a client that truncates, grows, unlinks or replaces its block gets an error
    for that request and the server goes on. :meth:`close` never raises.

    Attributes
    ----------
    path : Path
        Where the block was created (the client maps this path).
    size : int
        Size in bytes the block was created with.
    sensor_offset, actuator_offset : int
        Byte offsets of the two areas (the server's own copy, never read back).
    sensor_capacity, actuator_capacity : int
        Capacities in float32 values.
    counter : int
        Exchanges completed through this block (the server's count, written to the header).
    """

    def __init__(self, path: Path, fd: int, sensor_capacity: int, actuator_capacity: int) -> None:
        s_off, a_off, size = block_size(sensor_capacity, actuator_capacity)
        self.path = path
        self._fd: int | None = fd
        st = os.fstat(fd)
        self._ident = (st.st_dev, st.st_ino)
        self.size = size
        self.sensor_offset, self.sensor_capacity = s_off, sensor_capacity
        self.actuator_offset, self.actuator_capacity = a_off, actuator_capacity
        self.counter = 0

    @classmethod
    def create(cls, sensor_capacity: int, actuator_capacity: int, tag: str,
               directory: Path = SHM_DIR) -> ServerShmBlock:
        """Create a new block file (mode 0600, ``O_EXCL|O_NOFOLLOW``) and write its header.

        Parameters
        ----------
        sensor_capacity, actuator_capacity : int
            Capacities in float32 values (>= 1).
        tag : str
            Middle part of the name, the session id (see :func:`block_name`).
        directory : Path
            Folder of the file (``/dev/shm``).

        Raises
        ------
        OSError
            The file cannot be created or sized (e.g. ``/dev/shm`` full).
        """
        s_off, a_off, size = block_size(sensor_capacity, actuator_capacity)
        path = directory / block_name(tag)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.ftruncate(fd, size)
            head = _HEAD.pack(SHM_MAGIC, SHM_VERSION, SHM_HEADER_SIZE, s_off, sensor_capacity, a_off,
                              actuator_capacity)
            _pwrite_all(fd, head.ljust(SHM_HEADER_SIZE, b"\0"), 0)
            return cls(path, fd, sensor_capacity, actuator_capacity)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------ checks
    def _fd_or_raise(self) -> int:
        if self._fd is None:
            raise ShmError(f"{self.path}: the shared-memory block is closed")
        return self._fd

    def _need(self, end: int, what: str) -> int:
        """The fd, after checking the file still holds ``end`` bytes."""
        fd = self._fd_or_raise()
        try:
            st = os.fstat(fd)
        except OSError as exc:
            raise ShmError(f"{self.path}: cannot check the shared-memory block ({exc.strerror})") from None
        if not stat.S_ISREG(st.st_mode) or st.st_size < end:
            raise ShmError(f"{what}: the shared-memory block {self.path.name} holds {st.st_size} bytes, "
                           f"{end} needed (was it truncated? open a new block with SHM_OPEN)")
        return fd

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._fd is None

    def fits(self, sensor_count: int, actuator_count: int) -> bool:
        """Whether a layout of this many sensor and actuator floats fits the capacities."""
        return sensor_count <= self.sensor_capacity and actuator_count <= self.actuator_capacity

    # ------------------------------------------------------------------ data
    def read_sensors(self, count: int) -> npt.NDArray[np.float32]:
        """A private copy of the first ``count`` sensor floats (one ``pread``).

        Raises
        ------
        ShmError
            ``count`` exceeds the capacity, or the file is shorter than the sensor area
            (truncated by the client, before or during the read).
        """
        if count > self.sensor_capacity:
            raise ShmError(f"EXCHANGE: {count} sensor floats, the block holds {self.sensor_capacity}")
        out = np.empty(count, dtype="<f4")
        if count == 0:
            return out
        nbytes = 4 * count
        fd = self._need(self.sensor_offset + nbytes, "EXCHANGE")
        try:
            got = os.preadv(fd, [out.data.cast("B")], self.sensor_offset)
        except OSError as exc:
            raise ShmError(f"EXCHANGE: cannot read the shared-memory block ({exc.strerror})") from None
        if got != nbytes:
            raise ShmError(f"EXCHANGE: the shared-memory block {self.path.name} was truncated while being read "
                           f"({got} of {nbytes} sensor bytes); open a new block with SHM_OPEN")
        return out

    def write_actuators(self, values: npt.NDArray[np.float32]) -> None:
        """Write ``values`` at the actuator offset, then bump the exchange counter (``pwrite``).

        A file the client shrank is extended again by the write (sparse, at most
        :attr:`size` bytes), so this never faults.

        Raises
        ------
        ShmError
            More values than the capacity, or the write failed (e.g. ``/dev/shm`` full).
        """
        if values.size > self.actuator_capacity:
            raise ShmError(f"EXCHANGE: {values.size} actuator floats, the block holds {self.actuator_capacity}")
        fd = self._fd_or_raise()
        data = np.ascontiguousarray(values, dtype="<f4")
        self.counter += 1
        try:
            if data.size:
                _pwrite_all(fd, data.data.cast("B"), self.actuator_offset)
            _pwrite_all(fd, _COUNTER.pack(self.counter), _COUNTER_AT)
        except OSError as exc:
            raise ShmError(f"EXCHANGE: cannot write the actuators to the shared-memory block "
                           f"({exc.strerror})") from None

    def set_layout(self, epoch: int, sensor_count: int, actuator_count: int) -> None:
        """Write the header's epoch and counts; a failing write is logged, never raised (the
        next EXCHANGE through the block reports a damaged block)."""
        if self._fd is None:
            return
        try:
            _pwrite_all(self._fd, _LAYOUT.pack(epoch & 0xFFFFFFFF, sensor_count, actuator_count), _EPOCH_AT)
        except OSError as exc:
            log.warning("shared-memory block %s: cannot write the layout header (%s)", self.path.name,
                        exc.strerror)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the descriptor and unlink the file if the path still names it. Never raises.

        A path the client replaced (by a directory, another file or a link) or removed is
        left alone: only the server's own file is unlinked.
        """
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.close(fd)
        except OSError as exc:  # pragma: no cover - EBADF would be a bug here
            log.warning("shared-memory block %s: close failed (%s)", self.path.name, exc.strerror)
        try:
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._ident and stat.S_ISREG(st.st_mode):
                os.unlink(self.path)
            else:
                log.info("shared-memory block %s was replaced by its client; left in place", self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("shared-memory block %s: cannot unlink (%s)", self.path, exc.strerror)

    def __enter__(self) -> ServerShmBlock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data).cast("B")
    while view:
        n = os.pwrite(fd, view, offset)
        if n <= 0:  # pragma: no cover - pwrite on a regular file writes or raises
            raise OSError(errno.EIO, "short write")
        view, offset = view[n:], offset + n


class ShmBlock:
    """The client's side of a block: a mapping. Open with :meth:`open`.

    Attributes
    ----------
    sensors : float32 array (sensor_capacity,)
        View over the sensor area.
    actuators : float32 array (actuator_capacity,)
        View over the actuator area.
    """

    def __init__(self, path: Path, fd: int, mm: mmap.mmap) -> None:
        self.path = path
        self._fd = fd
        self._mm: mmap.mmap | None = mm
        magic, version, hsize, s_off, s_cap, a_off, a_cap = _HEAD.unpack_from(mm, 0)
        if magic != SHM_MAGIC or version != SHM_VERSION or hsize != SHM_HEADER_SIZE:
            raise ShmError(f"{path}: not a spikeforge shared-memory block (magic {magic!r}, version {version})")
        if s_off < SHM_HEADER_SIZE or a_off < s_off + 4 * s_cap or a_off + 4 * a_cap > len(mm):
            raise ShmError(f"{path}: block header describes areas beyond the file's {len(mm)} bytes")
        self.sensor_offset, self.sensor_capacity = int(s_off), int(s_cap)
        self.actuator_offset, self.actuator_capacity = int(a_off), int(a_cap)
        self.size = len(mm)
        self.sensors: npt.NDArray[np.float32] = np.frombuffer(mm, dtype="<f4", count=s_cap, offset=s_off)
        self.actuators: npt.NDArray[np.float32] = np.frombuffer(mm, dtype="<f4", count=a_cap, offset=a_off)
        self._u32 = np.frombuffer(mm, dtype="<u4", count=SHM_HEADER_SIZE // 4)
        self._u64 = np.frombuffer(mm, dtype="<u8", count=SHM_HEADER_SIZE // 8)

    @classmethod
    def open(cls, path: str | Path) -> ShmBlock:
        """Map an existing block (client side); :class:`ShmError` if it is not a valid block."""
        p = Path(path)
        try:
            fd = os.open(p, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise ShmError(f"{p}: cannot open shared-memory block ({exc.strerror})") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ShmError(f"{p}: not a regular file")
            if st.st_size < SHM_HEADER_SIZE:
                raise ShmError(f"{p}: {st.st_size} bytes is smaller than the {SHM_HEADER_SIZE}-byte header")
            return cls(p, fd, mmap.mmap(fd, st.st_size))
        except BaseException:
            os.close(fd)
            raise

    # ------------------------------------------------------------------ header fields
    @property
    def epoch(self) -> int:
        """The session's layout epoch as the server last wrote it (header offset 32).

        A client compares it with its own layout's epoch to notice a layout change.
        """
        return int(self._u32[_EPOCH_AT // 4])

    @property
    def sensor_count(self) -> int:
        """Sensor floats of the current layout (header offset 36), at most :attr:`sensor_capacity`."""
        return int(self._u32[_COUNTS_AT // 4])

    @property
    def actuator_count(self) -> int:
        """Actuator floats of the current layout (header offset 40), at most :attr:`actuator_capacity`."""
        return int(self._u32[_COUNTS_AT // 4 + 1])

    @property
    def counter(self) -> int:
        """Exchanges completed through this block (incremented by the server)."""
        return int(self._u64[_COUNTER_AT // 8])

    def fits(self, sensor_count: int, actuator_count: int) -> bool:
        """Whether a layout of this size fits the block's capacities.

        Parameters
        ----------
        sensor_count, actuator_count : int
            Floats of the layout.

        Returns
        -------
        bool
            False means: open a bigger block (``Client.open_shm``); inline exchanges keep working.
        """
        return sensor_count <= self.sensor_capacity and actuator_count <= self.actuator_capacity

    # ------------------------------------------------------------------ lifetime
    @property
    def closed(self) -> bool:
        """True after :meth:`close`: the arrays are gone and the mapping released."""
        return self._mm is None

    def close(self) -> None:
        """Unmap and close (the server unlinks the file). Views must not be used afterwards."""
        if self._mm is None:
            return
        del self.sensors, self.actuators, self._u32, self._u64
        mm, self._mm = self._mm, None
        try:
            mm.close()
        except BufferError:  # a caller still holds a view: leave the mapping to the GC
            pass
        os.close(self._fd)

    def __enter__(self) -> ShmBlock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
