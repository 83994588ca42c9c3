"""Game-facing handles: a :class:`Brain` per NPC, population views, and the per-prototype
:class:`PrototypeGroup` whose organ arrays are (brains x channels) for bulk writes.

Every array handed out here is a numpy *view* into the world's flat layout: writing it
is writing the memory the kernel reads. Views stay valid until the next spawn or
despawn (which re-lays the world out); fetch them again after that.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from spikeforge.engine.layout import OrganGroup

if TYPE_CHECKING:
    from spikeforge.runtime.world import World

F32 = npt.NDArray[np.float32]


class PopulationView:
    """State arrays of one population of one brain (views; units as in ``docs/semantics.md``)."""

    def __init__(self, world: World, brain_index: int, name: str) -> None:
        L = world.layout
        proto = L.prototypes[int(L.brain_proto[brain_index])]
        if name not in proto.pop_names:
            raise KeyError(f"population: brain has no population {name!r}; it has {proto.pop_names}")
        sl = proto.pop_slice(name)
        base = int(L.brain_start[brain_index])
        self._world = world
        self._slice = slice(base + sl.start, base + sl.stop)
        self.name = name
        self.size = sl.stop - sl.start

    def _get(self, key: str) -> np.ndarray:
        self._world.backend.pull_state()
        return self._world.layout.neuron[key][self._slice]

    @property
    def v(self) -> F32:
        """Membrane potential (mV)."""
        return self._get("v")

    @property
    def ie(self) -> F32:
        return self._get("ie")

    @property
    def ii(self) -> F32:
        return self._get("ii")

    @property
    def w(self) -> F32:
        """Adaptation current (AdaptiveLIF) or recovery variable u (Izhikevich)."""
        return self._get("w")

    @property
    def theta(self) -> F32:
        return self._get("theta")

    @property
    def mod(self) -> F32:
        return self._get("mod")

    @property
    def iext(self) -> F32:
        """External drive (mV); writable, held until changed."""
        return self._get("iext")

    def state(self, key: str) -> np.ndarray:
        """Any per-neuron state array by name (see ``NEURON_STATE``)."""
        return self._get(key)


class SynapseView:
    """One projection's synapses in one brain.

    A brain's synapses of one projection are not contiguous in the layout (CSR by source,
    rows of (pre, projection, delay)), so this view holds their documented global index
    array ``index`` into ``world.layout.synapse[...]`` (ascending: by pre neuron, then
    delay, then post neuron) and the brain-local ``pre``/``post`` neuron of each.
    ``w`` reads a copy; :meth:`set` writes through (bounds are not applied). For bulk
    zero-copy access use ``world.layout.synapse["w"][view.index]`` or the whole array.
    Valid until the next spawn/despawn.
    """

    def __init__(self, world: World, brain_index: int, projection: str) -> None:
        from spikeforge.engine.plasticity import projection_synapses, row_source

        L = world.layout
        proto = L.prototypes[int(L.brain_proto[brain_index])]
        names = [pr.name for pr in proto.circuit.projections]
        if projection not in names:
            raise KeyError(f"projection: brain has no projection {projection!r}; it has {names}")
        j = names.index(projection)
        self._world = world
        self.name = projection
        self.rule = proto.circuit.projections[j].plasticity
        base = int(L.brain_start[brain_index])
        pr = proto.circuit.projections[j]
        self._pre_pop, self._post_pop = proto.pop_slice(pr.pre), proto.pop_slice(pr.post)
        self.index = projection_synapses(L, brain_index, proto.proj_base + j)
        self.pre = (row_source(L, self.index) - base).astype(np.int64)
        self.post = (L.synapse["post"][self.index].astype(np.int64) - base)

    def __len__(self) -> int:
        return int(self.index.size)

    @property
    def w(self) -> F32:
        """Current weights (a copy, float32)."""
        self._world.backend.pull_state()
        return self._world.layout.synapse["w"][self.index]

    @property
    def elig(self) -> F32:
        """Eligibility traces (reward-STDP projections; zeros otherwise)."""
        self._world.backend.pull_state()
        syn = self._world.layout.synapse
        return syn["elig"][self.index] if "elig" in syn else np.zeros(self.index.size, np.float32)

    def set(self, values: npt.ArrayLike) -> None:
        """Write the weights (one value per synapse, or a scalar); must be finite."""
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 0:
            arr = np.full(self.index.size, float(arr))
        if arr.shape != self.index.shape:
            raise ValueError(f"weights {self.name!r}: expected {self.index.size} values, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"weights {self.name!r}: values must be finite")
        self._world.backend.pull_state()
        self._world.layout.synapse["w"][self.index] = arr.astype(np.float32)
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
    """A handle on one spawned brain. ``brain["pop"].v`` etc. are zero-copy views."""

    def __init__(self, world: World, serial: int, prototype: str) -> None:
        self._world = world
        self.id = serial
        self.prototype = prototype

    def __repr__(self) -> str:
        return f"Brain(id={self.id}, prototype={self.prototype!r}, alive={self.alive})"

    @property
    def alive(self) -> bool:
        return self.id in self._world._index

    @property
    def index(self) -> int:
        """Current position in the layout (changes on spawn/despawn)."""
        try:
            return self._world._index[self.id]
        except KeyError:
            raise LookupError(f"brain {self.id} has been despawned") from None

    def __getitem__(self, population: str) -> PopulationView:
        return PopulationView(self._world, self.index, population)

    @property
    def neurons(self) -> slice:
        L = self._world.layout
        i = self.index
        return slice(int(L.brain_start[i]), int(L.brain_start[i + 1]))

    def _organ(self, groups: list[OrganGroup], name: str, buf: np.ndarray, width_attr: str,
               off_attr: str) -> np.ndarray:
        L = self._world.layout
        i = self.index
        p = int(L.brain_proto[i])
        for g in groups:
            if g.proto == p and g.name == name:
                row = i - g.brain0
                width = getattr(g, width_attr)
                off = getattr(g, off_attr)
                return buf[off + row * width: off + (row + 1) * width]
        raise KeyError(f"organ: brain {self.id} ({self.prototype}) has no organ {name!r}")

    def sensor(self, name: str) -> F32:
        """The sensor's values for this brain: a writable (channels,) view."""
        L = self._world.layout
        return self._organ(L.sensor_groups, name, L.sensor_values, "channels", "offset")

    def set_sensor(self, name: str, values: npt.ArrayLike) -> None:
        """Write sensor values, rejecting NaN/inf and wrong shapes (nothing is written then)."""
        view = self.sensor(name)
        arr = np.asarray(values, dtype=np.float64).reshape(-1) if np.ndim(values) else np.full(view.size, float(values))  # type: ignore[arg-type]
        if arr.size != view.size:
            raise ValueError(f"sensor {name!r}: expected {view.size} values, got {arr.size}")
        if not np.all(np.isfinite(arr)):
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ValueError(f"sensor {name!r}: channel {bad} is {arr[bad]!r}; values must be finite")
        view[:] = arr

    def actuator(self, name: str) -> F32:
        """Decoded actuator output of the last advance: a (width,) view."""
        L = self._world.layout
        return self._organ(L.actuator_groups, name, L.act_out, "width", "out_offset")

    @property
    def sensors(self) -> dict[str, F32]:
        L = self._world.layout
        p = int(L.brain_proto[self.index])
        return {g.name: self.sensor(g.name) for g in L.sensor_groups if g.proto == p}

    @property
    def actuators(self) -> dict[str, F32]:
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
        return bool(self._world.layout.sleeping[self.index])

    def sleep(self) -> None:
        """Freeze this brain: it is skipped by every advance until :meth:`wake`."""
        self._world.layout.sleeping[self.index] = True

    def wake(self) -> None:
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
        return SynapseView(self._world, self.index, projection)

    @property
    def steps(self) -> int:
        """Steps this brain has run (its own clock; it stops while asleep)."""
        return int(self._world.layout.brain_step[self.index])


class PrototypeGroup:
    """All brains of one prototype; organ arrays are (brains x channels) views."""

    def __init__(self, world: World, proto_index: int) -> None:
        self._world = world
        self._p = proto_index
        self.name = world.layout.prototypes[proto_index].circuit.name

    @property
    def brains(self) -> list[Brain]:
        L = self._world.layout
        idx = np.flatnonzero(L.brain_proto == self._p)
        return [self._world._brains[int(L.brain_serial[i])] for i in idx]

    def _find(self, groups: list[OrganGroup], name: str) -> OrganGroup:
        for g in groups:
            if g.proto == self._p and g.name == name:
                return g
        raise KeyError(f"organ: prototype {self.name!r} has no organ {name!r}")

    def sensor(self, name: str) -> F32:
        L = self._world.layout
        g = self._find(L.sensor_groups, name)
        return L.sensor_values[g.offset:g.offset + g.brains * g.channels].reshape(g.brains, g.channels)

    def actuator(self, name: str) -> F32:
        L = self._world.layout
        g = self._find(L.actuator_groups, name)
        return L.act_out[g.out_offset:g.out_offset + g.brains * g.width].reshape(g.brains, g.width)

    def set_sensor(self, name: str, values: npt.ArrayLike) -> None:
        """Bulk write with validation: shape (brains, channels), finite values."""
        view = self.sensor(name)
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != view.shape:
            raise ValueError(f"sensor {name!r}: expected shape {view.shape}, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            r, c = (int(x[0]) for x in np.nonzero(~np.isfinite(arr)))
            raise ValueError(f"sensor {name!r}: value at brain row {r}, channel {c} is {arr[r, c]!r}; "
                             "values must be finite")
        view[...] = arr


    def reward(self, values: npt.ArrayLike) -> None:
        """Add one reward per brain of this prototype (rows in ``brains`` order, or a scalar for
        all) to their dopamine levels; other prototypes' brains are untouched."""
        L = self._world.layout
        rows = np.flatnonzero(L.brain_proto == self._p)
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 0:
            arr = np.full(rows.size, float(arr))
        if arr.shape != (rows.size,):
            raise ValueError(f"reward: prototype {self.name!r} has {rows.size} brains, got shape {arr.shape}")
        full = np.zeros(L.n_brains, np.float64)
        full[rows] = arr
        self._world.reward(full)
