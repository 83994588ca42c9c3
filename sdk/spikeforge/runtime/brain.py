"""Game-facing handles: a :class:`Brain` per NPC, population views, and the per-prototype
:class:`PrototypeGroup` whose organ arrays are (brains x channels) for bulk writes.

Every array handed out here is a :class:`~spikeforge.runtime.handles.LiveArray`: a handle
that re-binds to the world's flat layout on every use, so writing it is writing the memory
the kernel reads *now*, however many brains were spawned or despawned since it was taken.
A handle on a despawned brain raises :class:`~spikeforge.runtime.handles.StaleHandleError`
on its next use (see ``docs/semantics.md``, "Handles across spawn and despawn").
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from spikeforge.engine.layout import NEURON_STATE, STATE_KEPT_WHEN, OrganGroup
from spikeforge.model.errors import MAX_REWARD
from spikeforge.runtime.handles import LiveArray, StaleHandleError

if TYPE_CHECKING:
    from spikeforge.runtime.world import World

F32 = npt.NDArray[np.float32]


class PopulationView:
    """State arrays of one population of one brain (:class:`LiveArray` handles; units as in
    ``docs/semantics.md``). The view follows its brain across spawns/despawns."""

    def __init__(self, brain: Brain, name: str) -> None:
        world = brain._world
        L = world.layout
        proto = L.prototypes[int(L.brain_proto[brain.index])]
        if name not in proto.pop_names:
            raise KeyError(f"population: brain {brain.id} ({brain.prototype}) has no population {name!r}; "
                           f"it has {proto.pop_names}")
        sl = proto.pop_slice(name)
        self._brain = brain
        self._local = sl
        self.name = name
        self.size = sl.stop - sl.start
        self._keeps = proto.population_state(name)
        self._circuit = proto.circuit.name

    def _slice(self) -> slice:
        L = self._brain._world.layout
        base = int(L.brain_start[self._brain.index])
        return slice(base + self._local.start, base + self._local.stop)

    def _get(self, key: str) -> LiveArray:
        world = self._brain._world
        if key not in NEURON_STATE:
            raise KeyError(f"state: no per-neuron state {key!r}; known: {sorted(NEURON_STATE)}")
        if key not in self._keeps:  # not kept by this population's step: a read would be stale
            raise KeyError(f"state: population {self.name!r} of circuit {self._circuit!r} does not keep {key!r} "
                           f"(a population keeps it when {STATE_KEPT_WHEN.get(key, '?')}); "
                           f"it keeps {list(self._keeps)}")

        def resolve() -> np.ndarray:
            sl = self._slice()  # raises StaleHandleError once the brain is despawned
            world.backend.pull_state()
            L = world.layout
            return L.neuron[key][L.state_slice(key, sl.start, sl.stop)]  # per population: its own run

        # a held state view can be written with no World method seeing it: from now on a
        # re-layout's swap copies every brain's state (prepare_spawn's touched_only is ignored)
        world._state_views_out = True
        return LiveArray(resolve, f"{key} of population {self.name!r} of brain {self._brain.id}")

    @property
    def v(self) -> LiveArray:
        """Membrane potential (mV)."""
        return self._get("v")

    @property
    def ie(self) -> LiveArray:
        """Excitatory synaptic current (mV of drive)."""
        return self._get("ie")

    @property
    def keeps(self) -> tuple[str, ...]:
        """The per-neuron state variables this population keeps (docs/semantics.md, "Which state a
        population keeps"); reading another raises ``KeyError`` naming the rule."""
        return self._keeps

    @property
    def ii(self) -> LiveArray:
        """Inhibitory synaptic current (mV of drive)."""
        return self._get("ii")

    @property
    def w(self) -> LiveArray:
        """Adaptation current (AdaptiveLIF) or recovery variable u (Izhikevich)."""
        return self._get("w")

    @property
    def theta(self) -> LiveArray:
        """Threshold offset (mV; habituation, homeostasis)."""
        return self._get("theta")

    @property
    def mod(self) -> LiveArray:
        """Modulator level."""
        return self._get("mod")

    @property
    def iext(self) -> LiveArray:
        """External drive (mV); writable, held until changed."""
        return self._get("iext")

    def state(self, key: str) -> LiveArray:
        """Any per-neuron state array by name (see ``NEURON_STATE``)."""
        return self._get(key)


class SynapseView:
    """One projection's synapses in one brain.

    A brain's synapses of one projection are not contiguous in the layout (CSR by source,
    rows of (pre, projection, delay)), so no zero-copy array of them exists. The view
    holds their global index array ``index`` into ``world.layout.synapse[...]``
    (ascending: by pre neuron, then delay, then post neuron) and the brain-local
    ``pre``/``post`` neuron of each; these are recomputed when the world's layout changed,
    so the view follows its brain across spawns/despawns (and raises
    :class:`StaleHandleError` once the brain is despawned).

    ``w`` and ``elig`` are **copies** (read-only arrays, so writing into them raises
    instead of being lost); :meth:`set` is the write-back path (bounds are not applied).
    """

    def __init__(self, brain: Brain, projection: str) -> None:
        L = brain._world.layout
        proto = L.prototypes[int(L.brain_proto[brain.index])]
        names = [pr.name for pr in proto.circuit.projections]
        if projection not in names:
            raise KeyError(f"projection: brain {brain.id} ({brain.prototype}) has no projection {projection!r}; "
                           f"it has {names}")
        self._j = names.index(projection)
        self._brain = brain
        self._world = brain._world
        self.name = projection
        pr = proto.circuit.projections[self._j]
        self.rule = pr.plasticity
        self._proj_base = proto.proj_base
        self._pre_pop, self._post_pop = proto.pop_slice(pr.pre), proto.pop_slice(pr.post)
        self._gen = -1
        self._index = np.zeros(0, np.int64)
        self._pre = np.zeros(0, np.int64)
        self._post = np.zeros(0, np.int64)

    def _bind(self) -> None:
        from spikeforge.engine.plasticity import projection_synapses, row_source

        i = self._brain.index  # raises StaleHandleError once the brain is despawned
        w = self._world
        if self._gen == w.layout_generation:
            return
        L = w.layout
        base = int(L.brain_start[i])
        self._index = projection_synapses(L, i, self._proj_base + self._j)
        self._pre = (row_source(L, self._index) - base).astype(np.int64)
        self._post = L.synapse["post"][self._index].astype(np.int64) - base
        self._gen = w.layout_generation

    @property
    def index(self) -> npt.NDArray[np.int64]:
        """Global synapse indices into ``world.layout.synapse[...]`` (current layout)."""
        self._bind()
        return self._index

    @property
    def pre(self) -> npt.NDArray[np.int64]:
        """Brain-local pre neuron of each synapse."""
        self._bind()
        return self._pre

    @property
    def post(self) -> npt.NDArray[np.int64]:
        """Brain-local post neuron of each synapse."""
        self._bind()
        return self._post

    def __len__(self) -> int:
        return int(self.index.size)

    @property
    def w(self) -> F32:
        """Current weights: a read-only float32 **copy** (write with :meth:`set`)."""
        idx = self.index
        self._world.backend.pull_state()
        out = self._world.layout.synapse["w"][idx]
        out.flags.writeable = False
        return out

    @property
    def elig(self) -> F32:
        """Eligibility traces (reward-STDP projections; zeros otherwise): a read-only copy."""
        idx = self.index
        self._world.backend.pull_state()
        syn = self._world.layout.synapse
        out = syn["elig"][idx] if "elig" in syn else np.zeros(idx.size, np.float32)
        out.flags.writeable = False
        return out

    def set(self, values: npt.ArrayLike) -> None:
        """Write the weights (one value per synapse, or a scalar); must be finite."""
        idx = self.index
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 0:
            arr = np.full(idx.size, float(arr))
        if arr.shape != idx.shape:
            raise ValueError(f"weights {self.name!r}: expected {idx.size} values, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"weights {self.name!r}: values must be finite")
        self._world.backend.pull_state()
        self._world.layout.synapse["w"][idx] = arr.astype(np.float32)
        self._world._state_written(np.array([self._brain.index], np.int64))
        self._world.backend.push_state()

    def matrix(self) -> F32:
        """Dense (pre population size x post population size) weight matrix, indexed by the
        neurons' positions in their populations (NaN: no synapse; parallel synapses summed)."""
        a, b = self._pre_pop, self._post_pop
        m = np.full((a.stop - a.start, b.stop - b.start), np.nan, np.float32)
        r, c = self.pre - a.start, self.post - b.start
        m[r, c] = 0.0
        np.add.at(m, (r, c), self.w)
        return m


class Brain:
    """A handle on one spawned brain. ``brain["pop"].v``, ``brain.sensor(...)`` etc. are
    :class:`LiveArray` handles on the layout's memory (zero-copy, re-bound on every use)."""

    def __init__(self, world: World, serial: int, prototype: str) -> None:
        self._world = world
        self.id = serial
        self.prototype = prototype

    def __repr__(self) -> str:
        return f"Brain(id={self.id}, prototype={self.prototype!r}, alive={self.alive})"

    @property
    def alive(self) -> bool:
        """False once the brain was despawned (its handles then raise on use)."""
        return self.id in self._world._index

    @property
    def index(self) -> int:
        """Current position in the layout (changes on spawn/despawn; handles follow it)."""
        try:
            return self._world._index[self.id]
        except KeyError:
            raise StaleHandleError(f"brain {self.id} ({self.prototype}) has been despawned") from None

    def __getitem__(self, population: str) -> PopulationView:
        return PopulationView(self, population)

    @property
    def neurons(self) -> slice:
        """This brain's global neuron range in the *current* layout (re-ask after spawn/despawn)."""
        L = self._world.layout
        i = self.index
        return slice(int(L.brain_start[i]), int(L.brain_start[i + 1]))

    def _organ_handle(self, kind: str, name: str) -> LiveArray:
        world = self._world
        sensor = kind == "sensor"

        def find() -> tuple[OrganGroup, int]:
            L = world.layout
            i = self.index
            p = int(L.brain_proto[i])
            groups = L.sensor_groups if sensor else L.actuator_groups
            for g in groups:
                if g.proto == p and g.name == name:
                    return g, i - g.brain0
            known = [g.name for g in groups if g.proto == p]
            raise KeyError(f"{kind}: brain {self.id} ({self.prototype}) has no {kind} {name!r}; it has {known}")

        find()  # a bad name raises now, not on first use

        def resolve() -> np.ndarray:
            g, row = find()
            L = world.layout
            if sensor:
                return L.sensor_values[g.offset + row * g.channels: g.offset + (row + 1) * g.channels]
            return L.act_out[g.out_offset + row * g.width: g.out_offset + (row + 1) * g.width]

        return LiveArray(resolve, f"{kind} {name!r} of brain {self.id}")

    def sensor(self, name: str) -> LiveArray:
        """The sensor's values for this brain: a writable (channels,) :class:`LiveArray`."""
        return self._organ_handle("sensor", name)

    def set_sensor(self, name: str, values: npt.ArrayLike) -> None:
        """Write sensor values, rejecting NaN/inf and wrong shapes (nothing is written then)."""
        view = self.sensor(name).current()
        arr = np.asarray(values, dtype=np.float64).reshape(-1) if np.ndim(values) else np.full(view.size, float(values))  # type: ignore[arg-type]
        if arr.size != view.size:
            raise ValueError(f"sensor {name!r}: expected {view.size} values, got {arr.size}")
        if not np.all(np.isfinite(arr)):
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ValueError(f"sensor {name!r}: channel {bad} is {arr[bad]!r}; values must be finite")
        view[:] = arr

    def actuator(self, name: str) -> LiveArray:
        """Decoded actuator output of the last advance: a (width,) :class:`LiveArray`.

        Units depend on the actuator's kind: ``rate`` gives the firing rate of each channel in Hz
        (mean over the channel's neurons and the frame's steps); ``population_vector`` one value in
        ``[low, high]``; ``wta`` the index of the most active channel (-1 if none fired). To get an
        action in ``[-1, 1]`` from rates, divide by a reference rate you choose, e.g.
        ``np.tanh((right - left) / 40.0)`` or ``np.clip(rate / 50.0, 0.0, 1.0)``.
        """
        return self._organ_handle("actuator", name)

    @property
    def sensors(self) -> dict[str, LiveArray]:
        """Every sensor of this brain by name: live (channels,) arrays over the engine's memory."""
        L = self._world.layout
        p = int(L.brain_proto[self.index])
        return {g.name: self.sensor(g.name) for g in L.sensor_groups if g.proto == p}

    @property
    def actuators(self) -> dict[str, LiveArray]:
        """Every actuator of this brain by name: live (width,) arrays over the engine's memory."""
        L = self._world.layout
        p = int(L.brain_proto[self.index])
        return {g.name: self.actuator(g.name) for g in L.actuator_groups if g.proto == p}

    # ------------------------------------------------------------------ level of detail
    @property
    def lod_every(self) -> int:
        """The brain ticks on every ``lod_every``-th frame of ``World.advance`` (1 = every frame)."""
        return int(self._world.layout.lod_every[self.index])

    @lod_every.setter
    def lod_every(self, k: int) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"lod_every: must be an integer >= 1, got {k!r}")
        self._world.layout.lod_every[self.index] = k

    @property
    def sleeping(self) -> bool:
        """True while this brain is asleep (skipped by every advance; see :meth:`sleep`)."""
        return bool(self._world.layout.sleeping[self.index])

    def sleep(self) -> None:
        """Freeze this brain: it is skipped by every advance until :meth:`wake`."""
        self._world.layout.sleeping[self.index] = True

    def wake(self) -> None:
        """Resume a sleeping brain: the next advance steps it again (it does not catch up)."""
        self._world.layout.sleeping[self.index] = False

    # ------------------------------------------------------------------ learning
    @property
    def frozen(self) -> bool:
        """True when this brain's plasticity is switched off (see :meth:`freeze`)."""
        return not bool(self._world.layout.learn[self.index])

    def freeze(self) -> None:
        """Stop this brain's learning: weights and thresholds stop changing (its dynamics go on)."""
        self._set_learn(0)

    def unfreeze(self) -> None:
        """Switch this brain's plasticity back on (see :meth:`freeze`)."""
        self._set_learn(1)

    def _set_learn(self, flag: int) -> None:
        w = self._world
        w.backend.pull_state()
        w.layout.learn[self.index] = flag
        w.backend.push_state()

    def reward(self, value: float) -> None:
        """Add ``value`` to this brain's dopamine level (reward-modulated STDP)."""
        x = float(value)
        if not math.isfinite(x):
            raise ValueError(f"reward: value must be finite, got {value!r}")
        if abs(x) > MAX_REWARD:  # the shared bound (model/errors.py): dopamine stays finite
            raise ValueError(f"reward: |reward| must be <= {MAX_REWARD:g}, got {value!r}")
        w = self._world
        w.backend.pull_state()
        w.layout.dopamine[self.index] += np.float32(x)
        w.backend.push_state()

    @property
    def dopamine(self) -> float:
        """Current dopamine level of this brain."""
        self._world.backend.pull_state()
        return float(self._world.layout.dopamine[self.index])

    def weights(self, projection: str) -> SynapseView:
        """The synapses of one projection of this brain (see :class:`SynapseView`)."""
        return SynapseView(self, projection)

    def save(self, path: str | Path, state: bool = True) -> Path:
        """Write this brain as a brain asset: circuit, wiring, weights, learned thresholds and
        (``state=True``) all dynamic state incl. its RNG stream position; versioned and
        checksummed (see :mod:`spikeforge.runtime.brain_asset`). Spawn it with
        ``world.spawn_from(path)`` in any world of the same ``dt``."""
        from spikeforge.runtime.brain_asset import save_brain

        return save_brain(self, path, state)

    def asset_bytes(self, state: bool = True) -> bytes:
        """This brain as a brain file's bytes, in memory: exactly what :meth:`save` writes.

        Parameters
        ----------
        state : bool
            Include all dynamic state and the RNG stream position (the spawned brain
            continues bit-exactly).

        Returns
        -------
        bytes
            A versioned, checksummed brain file; ``world.spawn_from(data)`` spawns it.
        """
        from spikeforge.runtime.brain_asset import brain_bytes

        return brain_bytes(self, state)

    @property
    def steps(self) -> int:
        """Steps this brain has run (its own clock; it stops while asleep)."""
        return int(self._world.layout.brain_step[self.index])


class PrototypeGroup:
    """All brains of one prototype. Its organ arrays are (slots x channels)
    :class:`LiveArray` handles: row ``r`` is the prototype's slot ``r``, which holds
    ``slots[r]`` (a :class:`Brain`, or None for a free slot whose row is ignored by the
    step and reads 0). A brain keeps its row from spawn to despawn; spawns fill free rows
    first, and the row count grows (doubling) only when every row is taken."""

    def __init__(self, world: World, proto_index: int) -> None:
        self._world = world
        self._p = proto_index
        self.name = world.layout.prototypes[proto_index].circuit.name

    def _rows(self) -> npt.NDArray[np.int64]:
        return np.flatnonzero(self._world.layout.brain_proto == self._p).astype(np.int64)

    @property
    def slots(self) -> list[Brain | None]:
        """The brain in each row of the organ arrays (None: a free row)."""
        L = self._world.layout
        return [self._world._brains.get(int(L.brain_serial[i])) if L.brain_serial[i] >= 0 else None
                for i in self._rows()]

    @property
    def live(self) -> npt.NDArray[np.bool_]:
        """Which rows of the organ arrays hold a brain (a fresh bool array)."""
        return np.asarray(self._world.layout.brain_serial[self._rows()] >= 0)

    @property
    def brains(self) -> list[Brain]:
        """The live brains of this prototype, in row order."""
        return [b for b in self.slots if b is not None]

    def _find(self, groups: list[OrganGroup], name: str, kind: str) -> OrganGroup:
        for g in groups:
            if g.proto == self._p and g.name == name:
                return g
        known = [g.name for g in groups if g.proto == self._p]
        raise KeyError(f"{kind}: prototype {self.name!r} has no {kind} {name!r}; it has {known}")

    def sensor(self, name: str) -> LiveArray:
        """The (brains x channels) sensor values of this prototype's brains, rows in
        :attr:`brains` order: a :class:`LiveArray` that follows spawns and despawns."""
        world = self._world
        self._find(world.layout.sensor_groups, name, "sensor")

        def resolve() -> np.ndarray:
            L = world.layout
            g = self._find(L.sensor_groups, name, "sensor")
            return L.sensor_values[g.offset:g.offset + g.brains * g.channels].reshape(g.brains, g.channels)

        return LiveArray(resolve, f"sensor {name!r} of prototype {self.name!r}")

    def actuator(self, name: str) -> LiveArray:
        """The (brains x width) decoded actuator outputs of the last advance, rows in
        :attr:`brains` order: a :class:`LiveArray` that follows spawns and despawns.

        ``rate`` actuators give Hz per channel, ``population_vector`` a value in ``[low, high]``,
        ``wta`` a channel index (see :meth:`Brain.actuator`, also for mapping Hz to ``[-1, 1]``).
        Read it after ``world.advance``; it holds until the next advance.
        """
        world = self._world
        self._find(world.layout.actuator_groups, name, "actuator")

        def resolve() -> np.ndarray:
            L = world.layout
            g = self._find(L.actuator_groups, name, "actuator")
            return L.act_out[g.out_offset:g.out_offset + g.brains * g.width].reshape(g.brains, g.width)

        return LiveArray(resolve, f"actuator {name!r} of prototype {self.name!r}")

    def set_sensor(self, name: str, values: npt.ArrayLike) -> None:
        """Bulk write with validation: shape (brains, channels), finite values."""
        view = self.sensor(name).current()
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != view.shape:
            raise ValueError(f"sensor {name!r}: expected shape {view.shape}, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            r, c = (int(x[0]) for x in np.nonzero(~np.isfinite(arr)))
            raise ValueError(f"sensor {name!r}: value at brain row {r}, channel {c} is {arr[r, c]!r}; "
                             "values must be finite")
        view[...] = arr

    def reward(self, values: npt.ArrayLike) -> None:
        """Add one reward per live brain of this prototype (in ``brains`` order, or a scalar for
        all) to their dopamine levels; other prototypes' brains are untouched."""
        L = self._world.layout
        rows = np.flatnonzero((L.brain_proto == self._p) & (L.brain_serial >= 0))
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 0:
            arr = np.full(rows.size, float(arr))
        if arr.shape != (rows.size,):
            raise ValueError(f"reward: prototype {self.name!r} has {rows.size} brains, got shape {arr.shape}")
        live = np.flatnonzero(L.brain_serial >= 0)
        full = np.zeros(live.size, np.float64)
        full[np.searchsorted(live, rows)] = arr
        self._world.reward(full)
