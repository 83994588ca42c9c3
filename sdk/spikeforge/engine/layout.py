"""The one flat layout of a World: every brain's state in structure-of-arrays form.

Neurons of all brains live in one index space; brain ``b`` owns neurons
``brain_start[b] : brain_start[b+1]``; brains of one prototype are contiguous, and within
a brain the populations follow the circuit's (flattened) order. Synapses are CSR by
source, in *rows*: a row is the synapses of one source neuron that share a projection
and a delay (so each synapse costs only ``post`` int32 + ``w`` float32 = 8 bytes).
Spikes travel through a per-target delay ring of fixed-point int32 accumulators.

A layout is assembled from :class:`BrainBlock` s (one brain each, local indices) and can
give them back, which is how spawn/despawn keep every other brain's state bit-exact.

Neuron state is ``neuron[name]``, one entry per neuron, except the optional variables
(``PER_POPULATION_STATE``: ``w theta mod consec burst`` and the learning state ``xpre xpost msum
shist``, which every population of a learning circuit keeps), which are stored per population:
``neuron[name]`` then holds only the neurons of populations that keep it, in neuron order (a brain's
kept neurons are one run, :meth:`Layout.kept_start`; neurons ``s:e`` of one population are
``neuron[name][Layout.state_slice(name, s, e)]``). A variable no population keeps is not stored at
all.
See ``docs/semantics.md`` for what each array means in the step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from spikeforge.engine.tables import ACTUATOR_KIND_ID as ACTUATOR_KIND_ID
from spikeforge.engine.tables import KEEP_MASK_DTYPE, NEURON_VARS
from spikeforge.engine.tables import NEURON_STATE as NEURON_STATE
from spikeforge.engine.tables import PER_POPULATION_STATE as PER_POPULATION_STATE
from spikeforge.engine.tables import SENSOR_KIND_ID as SENSOR_KIND_ID
from spikeforge.model.circuit import FlatCircuit
from spikeforge.model.plasticity import STDP, Homeostasis

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

# Per-neuron state (name -> dtype): declared with units in engine/tables.py.
# Per-synapse arrays (ordered like the rows). Learning adds its own: reward-modulated STDP
# creates "elig" (float32 eligibility) when a circuit has such a projection (see plasticity).
SYNAPSE_STATE: dict[str, type[np.generic]] = {
    "post": np.int32,   # global target neuron
    "w": np.float32,    # weight
}
N_CHANNELS = 3  # ring channels: 0 excitatory, 1 inhibitory, 2 modulator
FIXED_SHIFT = 16
FIXED_SCALE = np.float32(1 << FIXED_SHIFT)
FIXED_INV = np.float32(1.0 / (1 << FIXED_SHIFT))
FIXED_LIMIT = np.float32(2147483520.0)  # largest float32 below 2^31



STATE_ALIGN = 64  # bytes: one cache line

# state variables not every population keeps, and when one does (PrototypeInfo.population_state);
# a layout stores each only when some population of it keeps it (stored_state), and every backend
# copes with its absence: numpy reads +0 for it, the C kernels get a NULL pointer (their lean loops
# never read it, the general ones read a zeroed scratch, kernel.c absent_scratch), the GPU gives every
# such variable one shared device plane (+0, which no population of the world moves:
# wgpu_backend.state_planes)
STATE_KEPT_WHEN: dict[str, str] = {s.name: s.kept_when for s in NEURON_VARS if s.kept_when}
STORED_WHEN_KEPT: frozenset[str] = frozenset(STATE_KEPT_WHEN)


def circuit_learns(circuit: FlatCircuit) -> bool:
    """Whether a circuit has anything that learns: a projection with a plasticity rule other than
    :class:`~spikeforge.model.plasticity.Homeostasis`, or Homeostasis with ``eta > 0`` (as float32).

    It is the condition under which ``plasticity.build_cache`` builds a learning cache for a
    layout holding this circuit (its populations keep the learning state, ``STATE_KEPT_WHEN``).
    """
    for pr in circuit.projections:
        rule = pr.plasticity
        if rule is None:
            continue
        if not isinstance(rule, Homeostasis) or np.float32(rule.eta) > 0:
            return True
    return False


def circuit_delivers(circuit: FlatCircuit) -> bool:
    """Whether a circuit has a projection whose STDP (or reward-STDP) rule depresses at delivery
    (``depress_at="delivery"``): the condition under which ``plasticity.build_cache`` sets
    ``any_delivery`` for a layout holding it, and its populations keep the spike history ``shist``."""
    return any(isinstance(pr.plasticity, STDP) and pr.plasticity.depress_at == "delivery"
               for pr in circuit.projections)


def stored_state(prototypes: list[PrototypeInfo]) -> dict[str, type[np.generic]]:
    """The per-neuron state arrays a layout of these prototypes stores (name -> dtype, in
    ``NEURON_STATE`` order): every variable but those of ``STORED_WHEN_KEPT`` that no population
    of any prototype keeps (:meth:`PrototypeInfo.population_state`)."""
    kept: set[str] = set()
    for p in prototypes:
        if STORED_WHEN_KEPT <= kept:
            break
        kept.update(p.kept_state())
    return {k: dt for k, dt in NEURON_STATE.items() if k not in STORED_WHEN_KEPT or k in kept}


def kept_starts(prototypes: list[PrototypeInfo], brain_proto: npt.NDArray[np.integer[Any]], name: str) -> I64:
    """Where each brain's neurons that keep per-population variable ``name`` start in its compact
    array (``n_brains + 1`` values, the total last): a brain of prototype ``p`` holds
    ``p.kept_prefix(name)[-1]`` of them."""
    per_proto = np.array([int(p.kept_prefix(name)[-1]) for p in prototypes], np.int64)
    out = np.zeros(int(brain_proto.size) + 1, np.int64)
    if brain_proto.size:
        np.cumsum(per_proto[brain_proto], out=out[1:])
    return out


def aligned(a: np.ndarray, align: int = STATE_ALIGN) -> np.ndarray:
    """``a`` itself when its data starts on an ``align``-byte boundary, else a C-contiguous copy
    that does (same shape, dtype and values).

    The native step streams every neuron state array and the spike ring 64 bytes at a time (one
    AVX-512 vector of 16 neurons): numpy's 16-byte-aligned arrays make most of those loads and
    stores straddle two cache lines (docs/performance.md, "Per-model kernels (issue 14)").
    """
    if a.ctypes.data % align == 0:
        return a
    buf = np.empty(a.nbytes + align, np.uint8)
    off = (-buf.ctypes.data) % align
    out = buf[off:off + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def expand_ranges(starts: I64, ends: I64) -> tuple[I64, I64]:
    """Concatenate ``range(starts[i], ends[i])``; also return the owner ``i`` of each element."""
    lens = (ends - starts).astype(np.int64)
    total = int(lens.sum())
    owner = np.repeat(np.arange(lens.size, dtype=np.int64), lens)
    if total == 0:
        return np.zeros(0, np.int64), owner
    first = np.cumsum(lens) - lens
    return starts[owner] + (np.arange(total, dtype=np.int64) - first[owner]), owner


@dataclass
class PrototypeInfo:
    """A compiled circuit: everything shared by the brains spawned from it."""

    index: int
    circuit: FlatCircuit
    genome: dict[str, Any]
    pop_names: list[str]
    pop_offset: list[int]
    pop_size: list[int]
    pid_base: int
    proj_base: int
    n_neurons: int
    fparams: F32
    iparams: I32
    _learns: bool | None = field(default=None, init=False, repr=False, compare=False)
    _delivers: bool | None = field(default=None, init=False, repr=False, compare=False)
    _kept_by_pop: list[frozenset[str]] | None = field(default=None, init=False, repr=False, compare=False)
    _kept_prefix: dict[str, I64] = field(default_factory=dict, init=False, repr=False, compare=False)
    _kept_local: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict, init=False, repr=False,
                                                          compare=False)

    def pop_slice(self, name: str) -> slice:
        """Brain-local neuron range of a population of this circuit.

        Parameters
        ----------
        name : str
            Population name (flattened: ``sub.pop`` for a sub-circuit's population).

        Returns
        -------
        slice
            ``[start, stop)`` of its neurons within one brain of this prototype.

        Raises
        ------
        ValueError
            If the circuit has no such population.
        """
        i = self.pop_names.index(name)
        return slice(self.pop_offset[i], self.pop_offset[i] + self.pop_size[i])

    def learns(self) -> bool:
        """Whether the circuit learns (:func:`circuit_learns`; computed once, a prototype's
        circuit does not change)."""
        if self._learns is None:
            self._learns = circuit_learns(self.circuit)
        return self._learns

    def delivers(self) -> bool:
        """Whether the circuit depresses at delivery (:func:`circuit_delivers`; computed once)."""
        if self._delivers is None:
            self._delivers = circuit_delivers(self.circuit)
        return self._delivers

    def kept_state(self) -> set[str]:
        """The variables some population of this circuit keeps (union of :meth:`population_state`)."""
        out: set[str] = set()
        for name in self.pop_names:
            out.update(self.population_state(name))
        return out

    def population_state(self, name: str) -> tuple[str, ...]:
        """The per-neuron state variables a population keeps (``NEURON_STATE`` order).

        The rules are ``STATE_KEPT_WHEN`` (:func:`kept_state_by_population`): a variable a population
        does not keep would only ever hold its initial ``+0`` there and change nothing observable
        (docs/semantics.md, "Which state a population keeps"). A layout stores each variable of
        ``STORED_WHEN_KEPT`` only when some population of it keeps it (:func:`stored_state`); the
        rest of ``NEURON_STATE`` is stored for every neuron (issue 14).

        Parameters
        ----------
        name : str
            Population name (flattened).

        Returns
        -------
        tuple of str
            The variable names.

        Raises
        ------
        ValueError
            If the circuit has no such population.
        """
        i = self.pop_names.index(name)
        kept = self._kept()
        return tuple(k for k in NEURON_STATE if k not in STATE_KEPT_WHEN or k in kept[i])

    def keeps_mask(self) -> list[int]:
        """Per population (circuit order), the bit mask of the ``PER_POPULATION_STATE`` variables it
        keeps (bit ``j``: ``PER_POPULATION_STATE[j]``; C ``SF_KEPT_<NAME>``)."""
        return [sum(1 << j for j, k in enumerate(PER_POPULATION_STATE) if k in kept) for kept in self._kept()]

    def kept_in_brain(self, name: str) -> npt.NDArray[np.bool_]:
        """Per brain-local neuron, whether its population keeps ``name`` (computed once; every
        neuron for a variable outside ``PER_POPULATION_STATE``): ``block[name][kept_in_brain(name)]``
        is a brain's part of the compact array."""
        out = self._kept_local.get(name)
        if out is None:
            out = np.zeros(self.n_neurons, bool)
            kept = self._kept()
            for i in range(len(self.pop_names)):
                if name not in PER_POPULATION_STATE or name in kept[i]:
                    out[self.pop_offset[i]:self.pop_offset[i] + self.pop_size[i]] = True
            self._kept_local[name] = out
        return out

    def kept_prefix(self, name: str) -> I64:
        """How many neurons of one brain before each brain-local index keep ``name`` (``n_neurons + 1``
        values, the brain's total last; computed once): where a brain's neurons are in its run of the
        compact array."""
        out = self._kept_prefix.get(name)
        if out is None:
            out = np.zeros(self.n_neurons + 1, np.int64)
            np.cumsum(self.kept_in_brain(name), out=out[1:])
            self._kept_prefix[name] = out
        return out

    def _kept(self) -> list[frozenset[str]]:
        """Per population (circuit order), the variables of ``STATE_KEPT_WHEN`` it keeps (computed
        once: a prototype's circuit and parameter rows do not change)."""
        if self._kept_by_pop is None:
            self._kept_by_pop = kept_state_by_population(self)
        return self._kept_by_pop


def kept_state_by_population(proto: PrototypeInfo) -> list[frozenset[str]]:
    """Per population of ``proto`` (circuit order), which variables of ``STATE_KEPT_WHEN`` it keeps.

    Each rule names exactly what can move the variable away from its initial ``+0`` (docs/semantics.md,
    "Which state a population keeps"): ``w`` its model's kernel (``NeuronKernel.keeps_w`` of the
    parameter row; Izhikevich's recovery always), ``theta`` habituation (``THJUMP``) or homeostasis
    into it (float32 ``eta > 0``), ``mod`` a modulatory projection (channel 2) or a
    :class:`~spikeforge.model.plasticity.ModulatedHebbian` rule (which reads it) into it, ``burst``
    ``BURST_INV`` and ``BURST_MAX`` (a burst is ``floor((v - thr) * BURST_INV)`` capped at
    ``BURST_MAX``), ``consec`` a consecutive-fire limit, the learning state the circuit's learning.
    """
    from spikeforge.engine import params as P
    from spikeforge.model.neurons import kernel_of
    from spikeforge.model.plasticity import ModulatedHebbian, homeostasis_of

    circuit = proto.circuit
    homeo: set[str] = set()
    modulated: set[str] = set()
    for pr in circuit.projections:
        rule = pr.plasticity
        h = homeostasis_of(rule)
        if h is not None and np.float32(h.eta) > 0:
            homeo.add(pr.post)
        if pr.channel == 2 or isinstance(rule, ModulatedHebbian):
            modulated.add(pr.post)
    learns, delivers = proto.learns(), proto.delivers()
    out = []
    for i, (name, pop) in enumerate(zip(proto.pop_names, circuit.populations, strict=True)):
        f, it = proto.fparams[i], proto.iparams[i]
        keeps_w = kernel_of(pop.model)[1].keeps_w
        kept = {"w": keeps_w is None or bool(keeps_w(f)),
                "theta": f[P.F_THJUMP] != 0 or name in homeo,
                "mod": name in modulated,
                "consec": int(it[P.I_CONSEC]) > 0,
                "burst": f[P.F_BURST_INV] != 0 and int(it[P.I_BURST_MAX]) > 0,
                "xpre": learns, "xpost": learns, "msum": learns, "shist": delivers}
        if set(kept) != set(STATE_KEPT_WHEN):  # a new optional variable needs its rule here
            raise RuntimeError(f"kept_state_by_population: rules for {sorted(kept)}, "
                               f"STATE_KEPT_WHEN has {sorted(STATE_KEPT_WHEN)}")
        out.append(frozenset(k for k, on in kept.items() if on))
    return out


@dataclass
class BrainBlock:
    """One brain's complete state with brain-local neuron indices.

    ``pending[k]`` holds what the ring will deliver ``k`` steps after ``step``.
    """

    proto: int
    serial: int
    key: int
    step: int
    neuron: dict[str, np.ndarray]
    pid: I32
    syn_pre: I32
    syn_delay: I32
    syn_proj: I32
    synapse: dict[str, np.ndarray]
    gap_a: I32
    gap_b: I32
    gap_g: F32
    pending: I32  # (depth, N_CHANNELS, n)
    sensors: dict[str, F32]     # organ name -> (channels,)
    act_counts: dict[str, I32]  # organ name -> (channels,)
    act_out: dict[str, F32]     # organ name -> (width,)
    lod_every: int = 1
    sleeping: bool = False
    dopamine: float = 0.0      # learning: the brain's dopamine level
    dopamine_sum: float = 0.0  # learning: dopamine summed since the last reward-STDP update
    learn: bool = True         # learning: False while the brain is frozen

    @property
    def n(self) -> int:
        """Neurons in this brain."""
        return int(self.pid.size)


@dataclass
class OrganGroup:
    """One organ of one prototype across all its brains: a (brains x channels) block."""

    proto: int
    name: str
    kind: int
    channels: int
    width: int
    per_chan: int
    pop_offset: int
    brain0: int
    brains: int
    offset: int      # into sensor_values / act_counts
    out_offset: int  # into act_out (actuators)
    low: float
    high: float
    gain: float = 0.0
    rate: float = 0.0
    sigma: float = 0.0


@dataclass
class Layout:
    """All state of a World, as flat arrays (see module docstring)."""

    dt_ms: float
    depth: int
    prototypes: list[PrototypeInfo]
    brain_start: I64
    brain_key: npt.NDArray[np.uint32]
    brain_step: I64
    brain_proto: I32
    brain_serial: I64
    neuron: dict[str, np.ndarray]
    pid: I32
    fparams: F32
    iparams: I32
    row_ptr: I64
    row_syn: I64
    row_delay: I32
    row_chan: I32
    row_proj: I32
    synapse: dict[str, np.ndarray]
    proj_chan: I32
    gap_a: I32
    gap_b: I32
    gap_g: F32
    ring: I32
    sensor_values: F32
    act_counts: I32
    act_out: F32
    sensor_groups: list[OrganGroup]
    actuator_groups: list[OrganGroup]
    act_slot: I32
    lod_every: I32 = field(default_factory=lambda: np.zeros(0, np.int32))
    sleeping: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    # learning (engine/plasticity.py): per-brain dopamine, its sum since the last reward-STDP
    # update, per-brain learn flag (0 = frozen), and the world's learning switch
    dopamine: F32 = field(default_factory=lambda: np.zeros(0, np.float32))
    dopamine_sum: F32 = field(default_factory=lambda: np.zeros(0, np.float32))
    learn: npt.NDArray[np.uint8] = field(default_factory=lambda: np.zeros(0, np.uint8))
    learning: bool = True
    # further per-world arrays saved with snapshots (e.g. learning's per-brain modulators)
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    # derived from prototypes, pid and brain_proto, which a layout never changes (kept_* below)
    _kept: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # cache-line-aligned neuron state and ring (see `aligned`); a fresh layout's arrays are
        # its own, so a copy here is seen by everyone who reads them through the layout
        for k, a in self.neuron.items():
            self.neuron[k] = aligned(a)
        self.ring = aligned(self.ring)

    @property
    def n_brains(self) -> int:
        """Brain slots in the layout (free slots of stable-slot worlds included)."""
        return int(self.brain_key.size)

    @property
    def n_neurons(self) -> int:
        """Neurons in the layout, all slots together."""
        return int(self.pid.size)

    @property
    def n_synapses(self) -> int:
        """Synapses in the layout (pad entries of slots included)."""
        return int(self.synapse["post"].size)

    @property
    def n_rows(self) -> int:
        """Synapse rows: runs of synapses sharing (pre neuron, projection, delay), the unit of spike delivery."""
        return int(self.row_delay.size)

    def missing_state(self, proto: PrototypeInfo) -> list[str]:
        """The state arrays brains of ``proto`` keep that this layout does not store (see
        :func:`stored_state`): such a brain cannot be written into a slot in place, the layout
        must be rebuilt with ``proto`` among its prototypes first."""
        return [k for k in stored_state([proto]) if k not in self.neuron]

    # ------------------------------------------------- per-population state
    def pid_keeps(self) -> npt.NDArray[np.uint16]:
        """Per parameter set, the bit mask of the ``PER_POPULATION_STATE`` variables its population
        keeps (:meth:`PrototypeInfo.keeps_mask`; the C kernels' ``sf_net.pid_keeps``)."""
        out = self._kept.get(("", "pid_keeps"))
        if out is None:
            out = np.zeros(int(self.fparams.shape[0]), KEEP_MASK_DTYPE)
            for p in self.prototypes:
                for i, bits in enumerate(p.keeps_mask()):
                    out[p.pid_base + i] = bits
            self._kept[("", "pid_keeps")] = out
        return out

    def kept_start(self, name: str) -> I64:
        """Per brain, the index in ``neuron[name]`` of its first neuron that keeps ``name``
        (``n_brains + 1`` values, the array's length last; :func:`kept_starts`)."""
        out = self._kept.get((name, "start"))
        if out is None:
            out = kept_starts(self.prototypes, self.brain_proto, name)
            self._kept[(name, "start")] = out
        return out

    def kept_mask(self, name: str) -> npt.NDArray[np.bool_]:
        """Per neuron, whether its population keeps ``name`` (all True for a variable stored for
        every neuron)."""
        out = self._kept.get((name, "mask"))
        if out is None:
            if name in PER_POPULATION_STATE:
                bit = KEEP_MASK_DTYPE(PER_POPULATION_STATE.index(name))
                out = ((self.pid_keeps()[self.pid] >> bit) & 1).astype(bool)
            else:
                out = np.ones(self.n_neurons, bool)
            self._kept[(name, "mask")] = out
        return out

    def kept_neurons(self, name: str) -> I64:
        """The neurons whose population keeps ``name``, ascending: element ``c`` of
        ``neuron[name]`` is neuron ``kept_neurons(name)[c]``'s."""
        out = self._kept.get((name, "neurons"))
        if out is None:
            out = np.flatnonzero(self.kept_mask(name)).astype(np.int64)
            self._kept[(name, "neurons")] = out
        return out

    def kept_pos(self, name: str, i: int) -> int:
        """How many neurons before neuron ``i`` (``0 <= i <= n_neurons``) keep ``name``: where
        neuron ``i`` is, or would be, in ``neuron[name]``."""
        if name not in PER_POPULATION_STATE:
            return int(i)
        starts = self.kept_start(name)
        if i >= self.n_neurons:
            return int(starts[-1])
        b = int(np.searchsorted(self.brain_start, i, side="right")) - 1
        proto = self.prototypes[int(self.brain_proto[b])]
        return int(starts[b]) + int(proto.kept_prefix(name)[i - int(self.brain_start[b])])

    def state_slice(self, name: str, s: int, e: int) -> slice:
        """The part of ``neuron[name]`` that holds neurons ``s:e`` (a population, a brain or a run
        of brains; for a per-population variable only its neurons that keep it).

        Parameters
        ----------
        name : str
            A ``NEURON_STATE`` variable.
        s, e : int
            Neuron range.

        Returns
        -------
        slice
        """
        return slice(self.kept_pos(name, s), self.kept_pos(name, e))

    def is_compact(self, name: str) -> bool:
        """Whether ``neuron[name]`` holds fewer entries than neurons (a per-population variable some
        population does not keep): its indices are then not neuron indices (:meth:`kept_neurons`)."""
        a = self.neuron.get(name)
        return name in PER_POPULATION_STATE and a is not None and a.size != self.n_neurons

    def full_state(self, name: str) -> np.ndarray:
        """A copy of ``neuron[name]`` with one entry per neuron (``+0`` where the population does not
        keep it, or for every neuron when the layout does not store it)."""
        a = self.neuron.get(name)
        if a is None:
            return np.zeros(self.n_neurons, NEURON_STATE[name])
        if not self.is_compact(name):
            return a.copy()
        out = np.zeros(self.n_neurons, a.dtype)
        out[self.kept_neurons(name)] = a
        return out

    def store_full(self, name: str, full: np.ndarray) -> None:
        """Write a per-neuron array (as from :meth:`full_state`) into ``neuron[name]`` in place (views
        stay valid): only the neurons that keep it."""
        a = self.neuron[name]
        if not self.is_compact(name):
            a[...] = full
        else:
            a[...] = full[self.kept_neurons(name)]

    @contextmanager
    def per_neuron_state(self) -> Iterator[dict[str, np.ndarray]]:
        """``neuron`` with one entry per neuron for every stored variable while the block runs (the
        numpy spec's steps index state by neuron); on leaving, the per-population arrays get the
        values back in place and ``neuron`` is the dict it was."""
        own = self.neuron
        full = {k: (self.full_state(k) if self.is_compact(k) else a) for k, a in own.items()}
        self.neuron = full
        try:
            yield full
        finally:
            self.neuron = own
            for k, a in own.items():
                if full[k] is not a:
                    self.store_full(k, full[k])

    def brain_of_neuron(self) -> I32:
        """Brain index of every neuron (derived, int32)."""
        counts = np.diff(self.brain_start)
        return np.repeat(np.arange(self.n_brains, dtype=np.int32), counts)

    def syn_pre(self) -> I32:
        """Source neuron of every synapse (derived from the rows)."""
        row_src = np.repeat(np.arange(self.n_neurons, dtype=np.int32), np.diff(self.row_ptr))
        return np.repeat(row_src, np.diff(self.row_syn))

    def nbytes(self) -> dict[str, int]:
        """Bytes held by neurons, synapse arrays, rows, ring, and everything else."""
        neurons = sum(a.nbytes for a in self.neuron.values()) + self.pid.nbytes + self.act_slot.nbytes
        synapses = sum(a.nbytes for a in self.synapse.values())
        rows = (self.row_ptr.nbytes + self.row_syn.nbytes + self.row_delay.nbytes
                + self.row_chan.nbytes + self.row_proj.nbytes)
        return {"neurons": neurons, "synapses": synapses, "rows": rows, "ring": self.ring.nbytes,
                "gap": self.gap_a.nbytes + self.gap_b.nbytes + self.gap_g.nbytes}

    # ------------------------------------------------------------------ blocks
    def extract(self, b: int) -> BrainBlock:
        """Copy brain ``b`` out as a :class:`BrainBlock` (local indices)."""
        s, e = int(self.brain_start[b]), int(self.brain_start[b + 1])
        r0, r1 = int(self.row_ptr[s]), int(self.row_ptr[e])
        y0, y1 = int(self.row_syn[r0]), int(self.row_syn[r1])
        per_row = np.diff(self.row_syn[r0:r1 + 1])
        row_src = np.repeat(np.arange(s, e, dtype=np.int32), np.diff(self.row_ptr[s:e + 1]))
        syn = {k: a[y0:y1].copy() for k, a in self.synapse.items()}
        syn["post"] = (syn["post"] - s).astype(np.int32)
        gmask = (self.gap_a >= s) & (self.gap_a < e)
        step = int(self.brain_step[b])
        slots = (step + np.arange(self.depth)) % self.depth
        p = int(self.brain_proto[b])
        row = self._brain_row(b)
        sensors = {g.name: self.sensor_values[g.offset + row * g.channels: g.offset + (row + 1) * g.channels].copy()
                   for g in self.sensor_groups if g.proto == p}
        counts = {g.name: self.act_counts[g.offset + row * g.channels: g.offset + (row + 1) * g.channels].copy()
                  for g in self.actuator_groups if g.proto == p}
        outs = {g.name: self.act_out[g.out_offset + row * g.width: g.out_offset + (row + 1) * g.width].copy()
                for g in self.actuator_groups if g.proto == p}
        return BrainBlock(
            proto=p, serial=int(self.brain_serial[b]), key=int(self.brain_key[b]), step=step,
            neuron=self._block_state(b), pid=self.pid[s:e].copy(),
            syn_pre=(np.repeat(row_src, per_row) - s).astype(np.int32),
            syn_delay=np.repeat(self.row_delay[r0:r1], per_row).astype(np.int32),
            syn_proj=np.repeat(self.row_proj[r0:r1], per_row).astype(np.int32),
            synapse=syn,
            gap_a=(self.gap_a[gmask] - s).astype(np.int32), gap_b=(self.gap_b[gmask] - s).astype(np.int32),
            gap_g=self.gap_g[gmask].copy(),
            pending=self.ring[slots, :, s:e].copy(),
            sensors=sensors, act_counts=counts, act_out=outs,
            lod_every=int(self.lod_every[b]) if self.lod_every.size else 1,
            sleeping=bool(self.sleeping[b]) if self.sleeping.size else False,
            dopamine=float(self.dopamine[b]) if self.dopamine.size else 0.0,
            dopamine_sum=float(self.dopamine_sum[b]) if self.dopamine_sum.size else 0.0,
            learn=bool(self.learn[b]) if self.learn.size else True,
        )

    def _block_state(self, b: int) -> dict[str, np.ndarray]:
        """Every ``NEURON_STATE`` array of brain ``b``, one entry per neuron (a block is complete):
        copies of the stored ones, the initial value 0 where they are not stored (a population that
        does not keep a variable, a variable no population keeps: :func:`stored_state`)."""
        s, e = int(self.brain_start[b]), int(self.brain_start[b + 1])
        proto = self.prototypes[int(self.brain_proto[b])]
        out: dict[str, np.ndarray] = {}
        for k, dt in NEURON_STATE.items():
            a = self.neuron.get(k)
            if a is None:
                out[k] = np.zeros(e - s, dt)
            elif k in PER_POPULATION_STATE:
                out[k] = np.zeros(e - s, dt)
                ks = self.kept_start(k)
                out[k][proto.kept_in_brain(k)] = a[int(ks[b]):int(ks[b + 1])]
            else:
                out[k] = a[s:e].copy()
        return out

    def _brain_row(self, b: int) -> int:
        """Position of brain ``b`` among the brains of its prototype."""
        p = self.brain_proto[b]
        return int(b - np.searchsorted(self.brain_proto, p, side="left"))


def assemble(dt_ms: float, depth: int, prototypes: list[PrototypeInfo], blocks: list[BrainBlock],
             proj_chan: I32) -> Layout:
    """Concatenate brain blocks (already ordered so prototypes are contiguous) into a layout."""
    if any(blocks[i].proto > blocks[i + 1].proto for i in range(len(blocks) - 1)):
        raise ValueError("blocks must be ordered by prototype")
    sizes = np.array([b.n for b in blocks], dtype=np.int64)
    brain_start = np.zeros(len(blocks) + 1, dtype=np.int64)
    np.cumsum(sizes, out=brain_start[1:])
    n = int(brain_start[-1])
    offs = brain_start[:-1]

    def cat(arrs: list[np.ndarray], dtype: type[np.generic]) -> np.ndarray:
        return np.concatenate(arrs).astype(dtype, copy=False) if arrs else np.zeros(0, dtype)

    def kept(b: BrainBlock, k: str, dt: type[np.generic]) -> np.ndarray:
        a = b.neuron[k] if k in b.neuron else np.zeros(b.n, dt)
        return a[prototypes[b.proto].kept_in_brain(k)] if k in PER_POPULATION_STATE else a

    neuron = {k: cat([kept(b, k, dt) for b in blocks], dt) for k, dt in stored_state(prototypes).items()}
    pid = cat([b.pid for b in blocks], np.int32)

    # synapses: already sorted by (pre, proj, delay) within each block
    pre = cat([b.syn_pre.astype(np.int64) + o for b, o in zip(blocks, offs, strict=True)], np.int64)
    proj = cat([b.syn_proj for b in blocks], np.int32)
    delay = cat([b.syn_delay for b in blocks], np.int32)
    synapse: dict[str, np.ndarray] = {}
    keys: dict[str, type[np.generic]] = dict(SYNAPSE_STATE)
    for blk in blocks:  # union: a block without a learning array (e.g. "elig") contributes zeros
        for k, a in blk.synapse.items():
            keys.setdefault(k, a.dtype.type)
    for k, dt in keys.items():
        if k == "post":
            synapse[k] = cat([b.synapse[k].astype(np.int64) + o for b, o in zip(blocks, offs, strict=True)], np.int32)
        else:
            synapse[k] = cat([b.synapse[k] if k in b.synapse else np.zeros(b.synapse["post"].size, dt)
                              for b in blocks], dt)
    s = pre.size
    new_row = np.ones(s, dtype=bool)
    if s > 1:
        new_row[1:] = (pre[1:] != pre[:-1]) | (proj[1:] != proj[:-1]) | (delay[1:] != delay[:-1])
    row_first = np.flatnonzero(new_row)
    row_syn = np.append(row_first, s).astype(np.int64)
    row_src = pre[row_first]
    row_ptr = np.searchsorted(row_src, np.arange(n + 1), side="left").astype(np.int64)
    row_proj = proj[row_first].astype(np.int32)
    row_delay = delay[row_first].astype(np.int32)
    row_chan = proj_chan[row_proj] if row_proj.size else np.zeros(0, np.int32)

    gap_a = cat([b.gap_a.astype(np.int64) + o for b, o in zip(blocks, offs, strict=True)], np.int32)
    gap_b = cat([b.gap_b.astype(np.int64) + o for b, o in zip(blocks, offs, strict=True)], np.int32)
    gap_g = cat([b.gap_g for b in blocks], np.float32)

    ring = np.zeros((depth, N_CHANNELS, n), dtype=np.int32)
    for blk, o in zip(blocks, offs, strict=True):
        k = min(depth, blk.pending.shape[0])
        if k and blk.n:
            slots = (blk.step + np.arange(k)) % depth
            ring[slots, :, o:o + blk.n] = blk.pending[:k]

    brain_proto = np.array([b.proto for b in blocks], dtype=np.int32)
    sensor_groups, actuator_groups, act_slot, organ_sizes = organ_groups(prototypes, brain_proto, brain_start)
    sensor_values = np.zeros(organ_sizes[0], dtype=np.float32)
    act_counts = np.zeros(organ_sizes[1], dtype=np.int32)
    act_out = np.zeros(organ_sizes[2], dtype=np.float32)
    for g in sensor_groups:
        for r in range(g.brains):
            v = blocks[g.brain0 + r].sensors.get(g.name)
            if v is not None:
                sensor_values[g.offset + r * g.channels: g.offset + (r + 1) * g.channels] = v
    for g in actuator_groups:
        for r in range(g.brains):
            blk = blocks[g.brain0 + r]
            if g.name in blk.act_counts:
                act_counts[g.offset + r * g.channels: g.offset + (r + 1) * g.channels] = blk.act_counts[g.name]
                act_out[g.out_offset + r * g.width: g.out_offset + (r + 1) * g.width] = blk.act_out[g.name]

    fparams = (np.concatenate([p.fparams for p in prototypes]) if prototypes
               else np.zeros((0, 0), np.float32)).astype(np.float32)
    iparams = (np.concatenate([p.iparams for p in prototypes]) if prototypes
               else np.zeros((0, 0), np.int32)).astype(np.int32)
    return Layout(
        dt_ms=dt_ms, depth=depth, prototypes=prototypes, brain_start=brain_start,
        brain_key=np.array([b.key for b in blocks], dtype=np.uint32),
        brain_step=np.array([b.step for b in blocks], dtype=np.int64),
        brain_proto=brain_proto,
        brain_serial=np.array([b.serial for b in blocks], dtype=np.int64),
        neuron=neuron, pid=pid, fparams=fparams, iparams=iparams,
        row_ptr=row_ptr, row_syn=row_syn, row_delay=row_delay, row_chan=row_chan.astype(np.int32),
        row_proj=row_proj, synapse=synapse, proj_chan=proj_chan,
        gap_a=gap_a, gap_b=gap_b, gap_g=gap_g, ring=ring,
        sensor_values=sensor_values, act_counts=act_counts, act_out=act_out,
        sensor_groups=sensor_groups, actuator_groups=actuator_groups, act_slot=act_slot,
        lod_every=np.array([b.lod_every for b in blocks], dtype=np.int32),
        sleeping=np.array([b.sleeping for b in blocks], dtype=bool),
        dopamine=np.array([b.dopamine for b in blocks], dtype=np.float32),
        dopamine_sum=np.array([b.dopamine_sum for b in blocks], dtype=np.float32),
        learn=np.array([b.learn for b in blocks], dtype=np.uint8),
    )


def organ_groups(prototypes: list[PrototypeInfo], brain_proto: I32, brain_start: I64
                 ) -> tuple[list[OrganGroup], list[OrganGroup], I32, tuple[int, int, int]]:
    """Organ groups (offsets into the organ buffers), the per-neuron actuator slot, and the
    sizes of (sensor_values, act_counts, act_out) for brains ordered by prototype."""
    n = int(brain_start[-1]) if brain_start.size else 0
    sensor_groups: list[OrganGroup] = []
    actuator_groups: list[OrganGroup] = []
    s_off = a_off = o_off = 0
    act_slot = np.full(n, -1, dtype=np.int32)
    for p in prototypes:
        members = np.flatnonzero(brain_proto == p.index)
        b0, nb = (int(members[0]), int(members.size)) if members.size else (0, 0)
        for spec in p.circuit.sensors:
            sl = p.pop_slice(spec.population)
            sensor_groups.append(OrganGroup(p.index, spec.name, SENSOR_KIND_ID[spec.kind], spec.channels,
                                            spec.channels, (sl.stop - sl.start) // spec.channels, sl.start,
                                            b0, nb, s_off, 0, spec.low, spec.high, spec.gain,
                                            spec.max_rate, spec.sigma))
            s_off += nb * spec.channels
        for aspec in p.circuit.actuators:
            sl = p.pop_slice(aspec.population)
            g = OrganGroup(p.index, aspec.name, ACTUATOR_KIND_ID[aspec.kind], aspec.channels,
                           aspec.width, (sl.stop - sl.start) // aspec.channels, sl.start,
                           b0, nb, a_off, o_off, aspec.low, aspec.high)
            actuator_groups.append(g)
            a_off += nb * aspec.channels
            o_off += nb * aspec.width
            if nb:
                starts = brain_start[b0:b0 + nb] + g.pop_offset
                local = np.arange(g.channels * g.per_chan)
                idx = (starts[:, None] + local[None, :]).reshape(-1)
                slot = (g.offset + np.arange(nb)[:, None] * g.channels + (local // g.per_chan)[None, :]).reshape(-1)
                act_slot[idx] = slot
    return sensor_groups, actuator_groups, act_slot, (s_off, a_off, o_off)


LAYOUT_DTYPES: dict[str, type[np.generic]] = {
    "brain_start": np.int64, "brain_key": np.uint32, "brain_step": np.int64, "brain_proto": np.int32,
    "brain_serial": np.int64, "lod_every": np.int32, "sleeping": np.bool_, "pid": np.int32,
    "row_ptr": np.int64, "row_syn": np.int64, "row_delay": np.int32, "row_chan": np.int32, "row_proj": np.int32,
    "proj_chan": np.int32, "gap_a": np.int32, "gap_b": np.int32, "gap_g": np.float32, "ring": np.int32,
    "sensor_values": np.float32, "act_counts": np.int32, "act_out": np.float32,
}


def validate_layout(L: Layout) -> None:
    """Check every index, size and count a kernel will trust; raise ValueError naming the array."""
    n, b = L.n_neurons, L.n_brains

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ValueError(f"layout.{what}")

    for name, dt in LAYOUT_DTYPES.items():  # kernels (C, WGSL) read these buffers raw
        a = getattr(L, name)
        need(a.dtype == dt, f"{name}: expected dtype {np.dtype(dt)}, got {a.dtype}")
    need(L.brain_start.size == b + 1 and L.brain_start[0] == 0 and bool(np.all(np.diff(L.brain_start) >= 0))
         and L.brain_start[-1] == n, "brain_start: not a monotonic partition of the neurons")
    for k in stored_state(L.prototypes):
        need(k in L.neuron, f"neuron.{k}: missing")
    for k, a in L.neuron.items():
        need(k in NEURON_STATE, f"neuron.{k}: not a per-neuron state variable")
        need(a.dtype == NEURON_STATE[k], f"neuron.{k}: expected dtype {np.dtype(NEURON_STATE[k])}, got {a.dtype}")
    for k, a in L.neuron.items():
        if k not in PER_POPULATION_STATE:
            need(a.shape == (n,), f"neuron.{k}: expected {n} values, got shape {a.shape}")
    need(L.pid.shape == (n,) and (n == 0 or (L.pid.min() >= 0 and L.pid.max() < L.fparams.shape[0])),
         "pid: parameter set out of range")
    need(L.row_ptr.size == n + 1 and L.row_ptr[0] == 0 and bool(np.all(np.diff(L.row_ptr) >= 0))
         and L.row_ptr[-1] == L.n_rows, "row_ptr: not a monotonic partition of the rows")
    for k, dt in SYNAPSE_STATE.items():
        need(k in L.synapse, f"synapse.{k}: missing")
        need(L.synapse[k].dtype == dt, f"synapse.{k}: expected dtype {np.dtype(dt)}, got {L.synapse[k].dtype}")
    s = L.n_synapses
    need(L.row_syn.size == L.n_rows + 1 and L.row_syn[0] == 0 and bool(np.all(np.diff(L.row_syn) >= 0))
         and L.row_syn[-1] == s, "row_syn: not a monotonic partition of the synapses")
    need(L.row_chan.size == L.n_rows and L.row_proj.size == L.n_rows, "rows: array lengths differ")
    need(L.n_rows == 0 or (L.row_delay.min() >= 1 and L.row_delay.max() <= L.depth), "row_delay: outside 1..depth")
    need(L.n_rows == 0 or (L.row_chan.min() >= 0 and L.row_chan.max() <= 2), "row_chan: outside 0..2")
    need(L.n_rows == 0 or (L.row_proj.min() >= 0 and L.row_proj.max() < L.proj_chan.size), "row_proj: out of range")
    for k, a in L.synapse.items():
        need(a.shape == (s,), f"synapse.{k}: expected {s} values, got shape {a.shape}")
    need(s == 0 or (L.synapse["post"].min() >= 0 and L.synapse["post"].max() < n), "synapse.post: out of range")
    need(L.gap_a.size == L.gap_b.size == L.gap_g.size, "gap: array lengths differ")
    need(L.gap_a.size == 0 or (min(L.gap_a.min(), L.gap_b.min()) >= 0 and max(L.gap_a.max(), L.gap_b.max()) < n),
         "gap: index out of range")
    need(L.ring.shape == (L.depth, N_CHANNELS, n), f"ring: expected shape {(L.depth, N_CHANNELS, n)}")
    for name in ("brain_key", "brain_step", "brain_proto", "brain_serial", "lod_every", "sleeping",
                 "dopamine", "dopamine_sum", "learn"):
        need(getattr(L, name).shape == (b,), f"{name}: expected {b} values")
    need(b == 0 or (L.brain_proto.min() >= 0 and L.brain_proto.max() < len(L.prototypes)), "brain_proto: out of range")
    need(b == 0 or int(L.lod_every.min()) >= 1, "lod_every: must be >= 1")
    sizes = np.array([p.n_neurons for p in L.prototypes], np.int64)
    need(b == 0 or bool(np.all(np.diff(L.brain_start) == sizes[L.brain_proto])),
         "brain_start: a brain's neuron count differs from its prototype's")
    if b and L.neuron.keys() & set(PER_POPULATION_STATE):  # the per-population arrays are placed by pid
        own = [np.repeat(p.pid_base + np.arange(len(p.pop_size), dtype=np.int32), p.pop_size) for p in L.prototypes]
        need(bool(np.array_equal(L.pid, np.concatenate([own[int(q)] for q in L.brain_proto]))),
             "pid: a brain's parameter sets are not its prototype's populations")
    for k, a in L.neuron.items():
        if k in PER_POPULATION_STATE:  # only the neurons whose population keeps it
            m = int(L.kept_start(k)[-1])
            need(a.shape == (m,), f"neuron.{k}: expected {m} values (the neurons of the populations that keep "
                                  f"it), got shape {a.shape}")
