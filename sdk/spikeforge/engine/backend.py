"""What a simulation backend *is* (Lava's Process/ProcessModel split): an interface over
a :class:`~spikeforge.engine.layout.Layout`, and a registry to choose one by name.

A backend owns no model semantics of its own: ``docs/semantics.md`` defines the step
and :mod:`spikeforge.engine.numpy_backend` is its executable specification. Every
backend advances *all active brains by n steps in one call* and returns the spikes.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from spikeforge.engine.layout import Layout

log = logging.getLogger("spikeforge.engine")


@dataclass(frozen=True)
class SpikeRecord:
    """Spikes of one advance: parallel arrays, ordered by step then neuron.

    Attributes
    ----------
    steps : int64 array
        World step stamp of each spike.
    neurons : int32 array
        Global neuron index of each spike.
    """

    steps: npt.NDArray[np.int64]
    neurons: npt.NDArray[np.int32]

    @staticmethod
    def empty() -> SpikeRecord:
        """A record with no spikes (what an advance of 0 steps returns)."""
        return SpikeRecord(np.zeros(0, np.int64), np.zeros(0, np.int32))


class Backend(ABC):
    """Runs the step on a layout's arrays.

    CPU backends work on the layout's numpy arrays in place (zero-copy). Device
    backends keep a copy and implement :meth:`pull_state` / :meth:`push_state`.
    """

    name: ClassVar[str]

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        # Set by a backend that failed during ``advance`` and handed the (current) state
        # to another backend; the World switches to it after the call (GPU -> CPU fallback).
        self.replacement: Backend | None = None

    @abstractmethod
    def advance(self, n_steps: int, world_step: int, active: npt.NDArray[np.bool_] | None) -> SpikeRecord:
        """Encode sensors, run ``n_steps`` steps of the brains in ``active`` (all if None),
        decode actuators; return the spikes stamped ``world_step .. world_step+n_steps-1``."""

    def pull_state(self) -> None:
        """Make the layout's host arrays current (device backends download)."""

    def push_state(self) -> None:
        """Tell the backend the host arrays were changed outside a step (device backends upload)."""

    def add_reward(self, values: npt.NDArray[np.float32]) -> None:
        """Add ``values`` (float32, one per brain) to each brain's dopamine level.

        CPU backends add to the host array in place. A device backend may override this
        with a small targeted upload instead of a whole-state round trip.
        """
        self.pull_state()
        self.layout.dopamine[...] = self.layout.dopamine + values
        self.push_state()

    def expect_steps(self, n_steps: int) -> None:
        """A hint: the advance after the next will probably run ``n_steps`` steps (the World gives
        it before each frame's advance, from its clock: what the next frame runs if its time equals
        this one's). A backend may prepare that advance's work ahead (the GPU backend records its
        commands); a wrong hint costs at most the preparation. By default ignored."""

    def begin_slot_write(self) -> None:
        """Called before the World rewrites slots in place (then :meth:`write_slots`): make the
        host arrays current (by default :meth:`pull_state`). A backend whose ``write_slots``
        takes the slot writes while the device is ahead of the host arrays may skip that."""
        self.pull_state()

    def write_slots(self, slots: list[int]) -> bool:
        """Brains ``slots`` were rewritten in place in the layout's arrays (spawn into a free
        slot, despawn; see ``engine/slots.py``): take them over without a rebuild and return
        True, or return False and the World makes a new backend for the layout."""
        return False

    def close(self) -> None:
        """Release backend resources."""


BackendFactory = Callable[[Layout], Backend]
GainPredictor = Callable[[int, int, Layout | None], bool]
_REGISTRY: dict[str, tuple[BackendFactory, Callable[[], str | None]]] = {}
_GAIN: dict[str, GainPredictor] = {}
_UNSUPPORTED: dict[str, Callable[[Layout], str | None]] = {}
AUTO_ORDER: list[str] = []
_PRIORITY: dict[str, int] = {}


def register_backend(name: str, factory: BackendFactory, unavailable: Callable[[], str | None],
                     auto_priority: int | None = None, predict_gain: GainPredictor | None = None,
                     unsupported: Callable[[Layout], str | None] | None = None) -> None:
    """Register ``factory`` under ``name``; ``unavailable()`` returns why it cannot run, or None.

    ``predict_gain(n_neurons, n_synapses, layout)``, if given, makes ``"auto"`` pick this backend
    only for layouts where it predicts a gain over the next candidates (e.g. a GPU cost model);
    ``layout`` is the layout to run, or None when only its size is known.
    ``unsupported(layout)``, if given, returns why this backend cannot run a layout (e.g. a
    feature it does not implement); ``"auto"`` then passes it over.
    """
    _REGISTRY[name] = (factory, unavailable)
    if predict_gain is not None:
        _GAIN[name] = predict_gain
    if unsupported is not None:
        _UNSUPPORTED[name] = unsupported
    if auto_priority is not None and name not in AUTO_ORDER:
        # "auto" tries lower priorities first, whatever order the modules were imported in
        _PRIORITY[name] = auto_priority
        AUTO_ORDER.append(name)
        AUTO_ORDER.sort(key=lambda b: _PRIORITY[b])


def available_backends() -> dict[str, str | None]:
    """Every registered backend name -> None if usable, else the reason it is not."""
    _load_builtin()
    return {name: why() for name, (_, why) in _REGISTRY.items()}


def resolve_backend(name: str, size: tuple[int, int] | None = None,
                    layout: Layout | None = None) -> tuple[str, list[str]]:
    """The backend that ``name`` selects, and the reasons for passing over others (auto).

    ``size`` is ``(n_neurons, n_synapses)`` of the layout to run (taken from ``layout`` if
    given); backends registered with a ``predict_gain`` hook are chosen by ``"auto"`` only
    when it predicts a gain for that size (with no size given they are passed over), and
    backends whose ``unsupported(layout)`` hook names a reason are passed over.
    """
    if size is None and layout is not None:
        size = (layout.n_neurons, layout.n_synapses)
    _load_builtin()
    if name != "auto":
        if name not in _REGISTRY:
            raise ValueError(f"backend: unknown backend {name!r}; known: {sorted(_REGISTRY)} or 'auto'")
        why = _REGISTRY[name][1]()
        if why is not None:
            raise RuntimeError(f"backend: {name!r} is not available: {why}")
        return name, []
    reasons: list[str] = []
    for cand in AUTO_ORDER:
        if cand in _GAIN and (size is None or not _GAIN[cand](size[0], size[1], layout)):
            n_n, n_s = size if size is not None else (0, 0)
            reasons.append(f"{cand}: no predicted gain for {n_n} neurons, {n_s} synapses")
            continue
        if cand in _UNSUPPORTED and layout is not None:
            why_not = _UNSUPPORTED[cand](layout)
            if why_not is not None:
                reasons.append(f"{cand}: {why_not}")
                continue
        why = _REGISTRY[cand][1]()
        if why is None:
            return cand, reasons
        reasons.append(f"{cand}: {why}")
    return "numpy", reasons


def best_cpu_backend() -> str:
    """The fastest CPU backend available here: ``"native"`` when its C extension loads, else ``"numpy"``."""
    return "native" if available_backends().get("native", "missing") is None else "numpy"


def create_backend(name: str, layout: Layout) -> Backend:
    """Instantiate the backend ``name`` selects for ``layout``.

    ``World`` calls this; call it yourself only to run a layout on a specific backend (benchmarks,
    backend tests). With ``"auto"`` the reasons for passing over other backends are logged at INFO.

    Parameters
    ----------
    name : str
        ``"numpy"``, ``"native"``, ``"gpu"``, a registered third-party name, or ``"auto"``
        (see :func:`resolve_backend`).
    layout : Layout
        The layout to run; CPU backends work on its arrays in place.

    Returns
    -------
    Backend

    Raises
    ------
    ValueError
        For an unknown name.
    RuntimeError
        If the named backend is not available here (the message says why).
    """
    chosen, reasons = resolve_backend(name, layout=layout)
    for r in reasons:
        log.info("backend auto-selection passed over %s", r)
    return _REGISTRY[chosen][0](layout)


_loaded = False


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    for mod in ("spikeforge.engine.numpy_backend", "spikeforge.engine.native_backend",
                "spikeforge.engine.wgpu_backend"):
        try:
            importlib.import_module(mod)
        except ImportError as exc:  # optional backends report why via their registry entry
            log.debug("backend module %s not importable: %s", mod, exc)
