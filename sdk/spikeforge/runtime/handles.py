"""Arrays a game holds across spawns and despawns: :class:`LiveArray`.

A :class:`LiveArray` is what ``world.group(c).sensor(...)``, ``brain.sensor(...)``,
``brain["pop"].v`` and friends hand out. It holds no memory of its own: every use
(indexing, assignment, ``np.asarray``, ufuncs, attributes such as ``.shape``) asks the
world for the array's *current* memory, so a handle taken once keeps working however
many brains are spawned or despawned since, on every backend. Where the thing it names
is gone (its brain was despawned) the next use raises :class:`StaleHandleError` naming
it; it never reads frozen values or writes into memory the kernels no longer read.

Indexing returns plain numpy arrays of the current memory (``sight[:]`` is a view,
``move[:, 0]`` a view, ``move[0, 0]`` a scalar): use those within the frame and keep
the :class:`LiveArray` itself across frames. See ``docs/semantics.md``, "Handles across
spawn and despawn".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin


class StaleHandleError(LookupError):
    """A held handle names something that no longer exists (e.g. a despawned brain)."""


class LiveArray(NDArrayOperatorsMixin):
    """An ndarray-like handle re-bound to the world's current memory on every use.

    Parameters
    ----------
    resolve : callable
        Returns the current numpy view (or raises :class:`StaleHandleError`).
    what : str
        What the handle names, for ``repr`` and errors (e.g. ``"sensor 'sight' of npc"``).
    after_write : callable or None
        Called after every assignment through the handle (e.g. to tell a device backend).
    """

    __slots__ = ("_after_write", "_resolve", "_what")
    __array_priority__ = 20.0

    def __init__(self, resolve: Callable[[], np.ndarray], what: str,
                 after_write: Callable[[], None] | None = None) -> None:
        self._resolve = resolve
        self._what = what
        self._after_write = after_write

    # ------------------------------------------------------------------ binding
    def current(self) -> np.ndarray:
        """The current numpy view (valid until the next spawn/despawn; re-ask each frame)."""
        return self._resolve()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        a = self._resolve()
        if dtype is not None and np.dtype(dtype) != a.dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        args = [x._resolve() if isinstance(x, LiveArray) else x for x in inputs]
        out: tuple[Any, ...] = tuple(kwargs.get("out") or ())
        if out:
            kwargs["out"] = tuple(o._resolve() if isinstance(o, LiveArray) else o for o in out)
        result = getattr(ufunc, method)(*args, **kwargs)
        if any(isinstance(o, LiveArray) for o in out):
            self._written()
            if len(out) == 1:
                return out[0]
        return result

    # ------------------------------------------------------------------ ndarray-like
    def __getitem__(self, key: Any) -> Any:
        return self._resolve()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        a = self._resolve()
        try:
            a[key] = np.asarray(value) if isinstance(value, LiveArray) else value
        except ValueError as exc:
            raise ValueError(f"{self._what}: {exc} (the array is now shape {a.shape})") from None
        self._written()

    def _written(self) -> None:
        if self._after_write is not None:
            self._after_write()

    def __len__(self) -> int:
        return len(self._resolve())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._resolve())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._resolve(), name)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the array this handle resolves to now."""
        return tuple(self._resolve().shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        """Element type of the array this handle resolves to now."""
        return self._resolve().dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions of the array this handle resolves to now."""
        return int(self._resolve().ndim)

    @property
    def size(self) -> int:
        """Number of elements of the array this handle resolves to now."""
        return int(self._resolve().size)

    def __float__(self) -> float:
        return float(self._resolve())

    def __bool__(self) -> bool:
        return bool(self._resolve())

    def __repr__(self) -> str:
        try:
            body = repr(self._resolve())
        except StaleHandleError as exc:
            body = f"<stale: {exc}>"
        return f"LiveArray({self._what}: {body})"
