"""The batched spike event bus.

One event per subscription per advance, holding arrays (step, brain id, neuron), never
one callback per spike. A callback that raises is isolated: the error is logged and
counted, the tick goes on, and after ``max_failures`` consecutive failures the
subscription is dropped. Calling ``World.advance`` from a callback is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from spikeforge.engine.backend import SpikeRecord
    from spikeforge.engine.layout import Layout

log = logging.getLogger("spikeforge.bus")


@dataclass(frozen=True)
class SpikeEvent:
    """The spikes of one advance that match one subscription.

    Attributes
    ----------
    steps : int64 array
        World step of each spike.
    brains : int64 array
        Brain id of each spike.
    neurons : int32 array
        Neuron index within ``population`` when the subscription names one, else within
        the brain.
    population : str or None
    """

    steps: npt.NDArray[np.int64]
    brains: npt.NDArray[np.int64]
    neurons: npt.NDArray[np.int32]
    population: str | None

    def __len__(self) -> int:
        return int(self.steps.size)


SpikeCallback = Callable[[SpikeEvent], object]


@dataclass(eq=False)
class Subscription:
    """One listener of the spike bus, as returned by :meth:`SpikeBus.subscribe`.

    Keep it to :meth:`SpikeBus.unsubscribe` later, or to check on a callback that misbehaves.

    Attributes
    ----------
    callback : callable
        Called with one :class:`SpikeEvent` per advance that produced matching spikes.
    brains : frozenset of int or None
        Ids of the brains listened to; None for every brain (also those spawned later).
    population : str or None
        The population listened to; None for every neuron of the brain.
    max_failures : int
        Consecutive raising calls after which the subscription is dropped.
    failures, total_failures : int
        Raising calls in a row, and in all.
    active : bool
        False once unsubscribed or dropped.
    last_error : BaseException or None
        The last exception the callback raised (or why the subscription was dropped).
    """

    callback: SpikeCallback
    brains: frozenset[int] | None
    population: str | None
    max_failures: int
    failures: int = 0
    total_failures: int = 0
    active: bool = True
    checked: bool = False  # population name checked against the spawned circuits
    last_error: BaseException | None = field(default=None, repr=False)


class SpikeBus:
    """The batched spike event bus of a World (``world.bus``): one event per subscription per advance.

    Use it to watch what brains do without polling their state: spike rasters, debug overlays,
    sound or particle effects on spikes, logging for analysis. Each event holds arrays (step,
    brain id, neuron), never one call per spike, so it stays cheap with thousands of NPCs.

    Examples
    --------
    Count the motor spikes of every NPC per frame::

        def on_spikes(ev):                       # ev: SpikeEvent (arrays steps, brains, neurons)
            ids, counts = np.unique(ev.brains, return_counts=True)
            hud.show(dict(zip(ids.tolist(), counts.tolist())))

        sub = world.bus.subscribe(on_spikes, population="motor")
        world.advance(1 / 60)                    # on_spikes runs here, once, if motor neurons spiked
        world.bus.unsubscribe(sub)

    Attributes
    ----------
    errors : int
        Callback errors so far (also ``world.stats()["bus_errors"]``).
    publishing : bool
        True while events are being delivered.
    """

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self.publishing = False
        self.errors = 0
        # set by the World: population names per prototype name (None before any spawn)
        self.known_populations: Callable[[], dict[str, list[str]] | None] = lambda: None

    def _check_population(self, population: str) -> str | None:
        """Why ``population`` cannot match any spike (no spawned circuit has it), or None."""
        known = self.known_populations()
        if known is None or any(population in pops for pops in known.values()):
            return None
        names = sorted({n for pops in known.values() for n in pops})
        return (f"population: no spawned circuit has a population {population!r}; "
                f"known populations: {names}")

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """The active subscriptions, in subscription order."""
        return tuple(s for s in self._subs if s.active)

    def subscribe(self, callback: SpikeCallback, brains: Iterable[object] | None = None,
                  population: str | None = None, max_failures: int = 3) -> Subscription:
        """Call ``callback(SpikeEvent)`` once per advance with the matching spikes.

        The callback runs inside ``world.advance``, after the frame's steps, and only when at least
        one spike matched (it never receives an empty event). Keep it short: it runs on the game's
        frame; calling ``world.advance`` from it raises.

        Parameters
        ----------
        callback : callable
            ``callback(event: SpikeEvent)``; its return value is ignored. If it raises, the error
            is logged and counted (``world.stats()["bus_errors"]``) and the frame goes on.
        brains : iterable of Brain or int, optional
            Brain handles or ids to listen to; None (default) for every brain, also those spawned later.
        population : str, optional
            Only spikes of this population, numbered within it; None (default) for every neuron,
            numbered within the brain.
        max_failures : int
            Drop the subscription after this many raising calls in a row (default 3).

        Returns
        -------
        Subscription
            Pass it to :meth:`unsubscribe` to stop.

        Raises
        ------
        TypeError
            If ``callback`` is not callable or ``population`` is not a string.
        KeyError
            If no spawned circuit has ``population`` (checked at the first advance when nothing
            is spawned yet; the subscription is then dropped and the error logged).
        """
        if not callable(callback):
            raise TypeError("callback: must be callable")
        ids = None if brains is None else frozenset(int(getattr(b, "id", b)) for b in brains)  # type: ignore[call-overload]
        if population is not None:
            if not isinstance(population, str):
                raise TypeError(f"population: expected a population name, got {type(population).__name__}")
            why = self._check_population(population)
            if why is not None:
                raise KeyError(why)
        sub = Subscription(callback, ids, population, max_failures)
        sub.checked = self.known_populations() is not None
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop delivering to ``sub`` (it is marked inactive)."""
        sub.active = False
        self._subs = [s for s in self._subs if s is not sub]

    def publish(self, layout: Layout, record: SpikeRecord) -> None:
        """Deliver one advance's spikes: one :class:`SpikeEvent` per matching subscription (called by the World)."""
        if not self._subs or record.neurons.size == 0:
            return
        neurons = record.neurons.astype(np.int64)
        b_idx = np.searchsorted(layout.brain_start, neurons, side="right") - 1
        local = neurons - layout.brain_start[b_idx]
        ids = layout.brain_serial[b_idx]
        self.publishing = True
        try:
            for sub in list(self._subs):
                if not sub.active:
                    continue
                if sub.population is not None and not sub.checked:
                    why = self._check_population(sub.population)  # subscribed before any spawn
                    sub.checked = True
                    if why is not None:
                        self.errors += 1
                        sub.last_error = KeyError(why)
                        log.error("dropping spike subscription %r: %s", sub.callback, why)
                        self.unsubscribe(sub)
                        continue
                mask = np.ones(neurons.size, dtype=bool)
                if sub.brains is not None:
                    mask &= np.isin(ids, np.fromiter(sub.brains, dtype=np.int64))
                nloc = local
                if sub.population is not None:
                    offs = np.full(len(layout.prototypes), -1, np.int64)
                    sizes = np.zeros(len(layout.prototypes), np.int64)
                    for p in layout.prototypes:
                        if sub.population in p.pop_names:
                            sl = p.pop_slice(sub.population)
                            offs[p.index], sizes[p.index] = sl.start, sl.stop - sl.start
                    po = offs[layout.brain_proto[b_idx]]
                    nloc = local - po
                    mask &= (po >= 0) & (nloc >= 0) & (nloc < sizes[layout.brain_proto[b_idx]])
                if not mask.any():
                    continue
                event = SpikeEvent(record.steps[mask], ids[mask], nloc[mask].astype(np.int32), sub.population)
                self._deliver(sub, event)
        finally:
            self.publishing = False

    def _deliver(self, sub: Subscription, event: SpikeEvent) -> None:
        try:
            sub.callback(event)
            sub.failures = 0
        except Exception as exc:  # isolate: a game's callback must not break the tick
            self.errors += 1
            sub.failures += 1
            sub.total_failures += 1
            sub.last_error = exc
            log.error("spike callback %r raised (%d in a row): %r", sub.callback, sub.failures, exc,
                      exc_info=exc)
            if sub.failures >= sub.max_failures:
                log.error("dropping spike subscription %r after %d consecutive failures",
                          sub.callback, sub.failures)
                self.unsubscribe(sub)
