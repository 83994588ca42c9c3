"""Writing files safely: private folders and atomic, durable, link-proof file writes.

Every file spikeforge writes for later reading (world snapshots, cluster snapshots, brain
assets, genomes, the server's token) goes through :func:`atomic_write`:

1. a temporary file is created in the target's own folder with :func:`tempfile.mkstemp`
   (``O_CREAT | O_EXCL | O_NOFOLLOW``, a random name): a file or symbolic link planted at
   any name in the folder is never opened, followed or truncated;
2. its mode is set (``0600`` by default: a world snapshot holds every client's brains);
3. the content is written, flushed and ``fsync``-ed;
4. it is renamed over the target with :func:`os.replace` (atomic: readers see the old
   file or the new one, never a part; a link planted *at the target* is replaced, not
   followed);
5. the folder is ``fsync``-ed so the rename survives a crash.

On any error the temporary file is removed and the target is untouched.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger("spikeforge.files")

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` and any missing parent, each new folder with mode 0700.

    Existing folders are left as they are; one that grants group or other users access
    is reported with a warning (it is the user's folder, not ours to change).

    Parameters
    ----------
    path : path-like
        The folder.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    NotADirectoryError
        ``path`` (or a parent) exists and is not a folder.
    """
    p = Path(path)
    missing: list[Path] = []
    q = p
    while not q.exists() and not q.is_symlink():
        missing.append(q)
        if q.parent == q:
            break
        q = q.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, PRIVATE_DIR)
        except FileExistsError:  # created meanwhile by someone else: judged below
            continue
        os.chmod(d, PRIVATE_DIR, follow_symlinks=False)  # mkdir's mode is filtered by the umask
    st = os.stat(p)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(f"{p}: exists and is not a folder")
    if not missing and st.st_mode & 0o077:
        log.warning("folder %s is accessible to other users (mode %o); its files are written 0600", p,
                    stat.S_IMODE(st.st_mode))
    return p


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """``fsync`` a folder so renames and creations in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None], mode: int = PRIVATE_FILE) -> Path:
    """Write a file atomically through ``write(file)`` (see the module docstring).

    Parameters
    ----------
    path : path-like
        The target; its folder must exist.
    write : callable
        Called once with the temporary file opened for binary writing; writes the content.
    mode : int
        Permission bits of the new file (default 0600; the umask does not apply).

    Returns
    -------
    Path
        The target path.

    Raises
    ------
    OSError
        The folder is missing or not writable, the disk is full, the target is a folder...
        The target is then unchanged and no temporary file is left.
    """
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp: str | None = tmp_name
    try:
        try:
            os.fchmod(fd, mode)
            f = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, target)
        tmp = None
        fsync_dir(target.parent)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    return target


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = PRIVATE_FILE) -> Path:
    """:func:`atomic_write` of ``data``; returns the target path."""
    def write(f: BinaryIO) -> None:
        f.write(data)

    return atomic_write(path, write, mode)


__all__ = ["PRIVATE_DIR", "PRIVATE_FILE", "atomic_write", "atomic_write_bytes", "fsync_dir", "private_dir"]
