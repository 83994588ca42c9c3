"""Shared-memory exchange blocks (PROTOCOL.md section 8).

A block is a file in ``/dev/shm`` (mode 0600) mapped by the server and by the client.
Layout, little-endian: a 64-byte header, then ``sensor_capacity`` float32, then (at a
64-byte aligned offset) ``actuator_capacity`` float32. The numpy arrays
:attr:`ShmBlock.sensors` and :attr:`ShmBlock.actuators` are views over the mapping: no
copy on either side.
"""

from __future__ import annotations

import mmap
import os
import secrets
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

SHM_MAGIC = b"SPKFSHM1"
SHM_VERSION = 1
SHM_HEADER_SIZE = 64
SHM_DIR = Path("/dev/shm")
_HEAD = struct.Struct("<8sIIIIII")  # magic, version, header_size, s_off, s_cap, a_off, a_cap
_EPOCH_AT = 32
_COUNTS_AT = 36
_COUNTER_AT = 48


class ShmError(ValueError):
    """A shared-memory block is missing, too small or not a spikeforge block."""


def _align64(n: int) -> int:
    return (n + 63) // 64 * 64


def block_size(sensor_capacity: int, actuator_capacity: int) -> tuple[int, int, int]:
    """(sensor_offset, actuator_offset, total size) in bytes for capacities given in floats."""
    a_off = SHM_HEADER_SIZE + _align64(4 * sensor_capacity)
    return SHM_HEADER_SIZE, a_off, a_off + _align64(max(4 * actuator_capacity, 4))


class ShmBlock:
    """A mapped block. Create with :meth:`create` (server) or :meth:`open` (client).

    Attributes
    ----------
    sensors : float32 array (sensor_capacity,)
        View over the sensor area.
    actuators : float32 array (actuator_capacity,)
        View over the actuator area.
    """

    def __init__(self, path: Path, fd: int, mm: mmap.mmap, owner: bool) -> None:
        self.path = path
        self._fd = fd
        self._mm: mmap.mmap | None = mm
        self.owner = owner
        magic, version, hsize, s_off, s_cap, a_off, a_cap = _HEAD.unpack_from(mm, 0)
        if magic != SHM_MAGIC or version != SHM_VERSION or hsize != SHM_HEADER_SIZE:
            raise ShmError(f"{path}: not a spikeforge shared-memory block (magic {magic!r}, version {version})")
        if a_off < s_off + 4 * s_cap or a_off + 4 * a_cap > len(mm):
            raise ShmError(f"{path}: block header describes areas beyond the file's {len(mm)} bytes")
        self.sensor_offset, self.sensor_capacity = int(s_off), int(s_cap)
        self.actuator_offset, self.actuator_capacity = int(a_off), int(a_cap)
        self.size = len(mm)
        self.sensors: npt.NDArray[np.float32] = np.frombuffer(mm, dtype="<f4", count=s_cap, offset=s_off)
        self.actuators: npt.NDArray[np.float32] = np.frombuffer(mm, dtype="<f4", count=a_cap, offset=a_off)
        self._u32 = np.frombuffer(mm, dtype="<u4", count=SHM_HEADER_SIZE // 4)
        self._u64 = np.frombuffer(mm, dtype="<u8", count=SHM_HEADER_SIZE // 8)

    @classmethod
    def create(cls, sensor_capacity: int, actuator_capacity: int, tag: str, directory: Path = SHM_DIR) -> ShmBlock:
        """Create a new block file (mode 0600, exclusive) named ``spikeforge-<tag>-<random>``."""
        s_off, a_off, size = block_size(sensor_capacity, actuator_capacity)
        path = directory / f"spikeforge-{tag}-{secrets.token_hex(6)}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.ftruncate(fd, size)
            mm = mmap.mmap(fd, size)
            _HEAD.pack_into(mm, 0, SHM_MAGIC, SHM_VERSION, SHM_HEADER_SIZE, s_off, sensor_capacity, a_off,
                            actuator_capacity)
            return cls(path, fd, mm, owner=True)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise

    @classmethod
    def open(cls, path: str | Path) -> ShmBlock:
        """Map an existing block (client side)."""
        p = Path(path)
        try:
            fd = os.open(p, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise ShmError(f"{p}: cannot open shared-memory block ({exc.strerror})") from None
        try:
            size = os.fstat(fd).st_size
            if size < SHM_HEADER_SIZE:
                raise ShmError(f"{p}: {size} bytes is smaller than the {SHM_HEADER_SIZE}-byte header")
            return cls(p, fd, mmap.mmap(fd, size), owner=False)
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

    def set_layout(self, epoch: int, sensor_count: int, actuator_count: int) -> None:
        """Write the layout fields of the header (server side, on every layout change).

        Parameters
        ----------
        epoch : int
            The session's layout epoch.
        sensor_count : int
            Sensor floats of the layout (the client writes that many at :attr:`sensor_offset`).
        actuator_count : int
            Actuator floats of the layout (the server writes that many at :attr:`actuator_offset`).
        """
        self._u32[_EPOCH_AT // 4] = epoch
        self._u32[_COUNTS_AT // 4] = sensor_count
        self._u32[_COUNTS_AT // 4 + 1] = actuator_count

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

    def bump(self) -> None:
        """Increment the exchange counter (server side, after writing the actuators of an exchange)."""
        self._u64[_COUNTER_AT // 8] += np.uint64(1)

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
        """Unmap; the creating side also unlinks the file. Views must not be used afterwards."""
        if self._mm is None:
            return
        del self.sensors, self.actuators, self._u32, self._u64
        mm, self._mm = self._mm, None
        try:
            mm.close()
        except BufferError:  # a caller still holds a view: leave the mapping to the GC
            pass
        os.close(self._fd)
        if self.owner:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> ShmBlock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
