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
    """The batched spike event bus of a World (``world.bus``): one event per subscription per advance."""
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

        ``brains``: brain handles or ids (all if None); ``population``: a population name
        (all if None). Events are delivered even when empty only if spikes matched.
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
