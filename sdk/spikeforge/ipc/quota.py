"""Per-client memory accounting of ``spikeforge serve`` (issue 17, PROTOCOL.md section 9).

Every session is charged, in estimated bytes, for what the server keeps because of it:

* its **brains**: per brain of a circuit, its neurons (state, parameters, and the delay ring
  at the World's depth, which is the longest delay of any brain ever spawned), its expected
  synapses and their rows, and its organ buffers (sensor and actuator floats plus the
  server's exchange indices), see :func:`brain_bytes`; a SPAWN that deepens the ring is
  also charged the deepening under every neuron already in the World
  (:meth:`MemoryQuota.spawn_cost`);
* the **circuits it uploaded** (UPLOAD_GENOME) while they stay registered, see
  :func:`circuit_bytes`.

A SPAWN, CLAIM or UPLOAD_GENOME that would take the session over its quota
(``--client-memory-mb``) is refused with ``LIMIT`` before anything changes, so the server's
memory stays within the sum of the quotas of its sessions (at most ``--max-clients``) plus
what ``--genome`` and ``--load`` brought. Uploaded circuits that no live brain uses are
**evictable**: they are removed when their uploader's session ends, when the registry is
full (least recently used first) and when their uploader needs the room for a new upload.

The figures are estimates from the layout's array sizes (bytes per neuron, synapse,
channel), not measurements of the process; they are stated in STATS ``session.memory``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from spikeforge.ipc.protocol import Err, ProtocolError
from spikeforge.model.circuit import Circuit

if TYPE_CHECKING:
    from spikeforge.ipc.core import ServerCore, Session
    from spikeforge.runtime.world import World

BRAIN_BYTES = 4096  # per brain: its handle, RNG key, per-brain layout rows, plan entries
NEURON_BYTES = 72  # state, parameter row index, actuator slot, per-neuron learning state (layout: ~65)
RING_BYTES_PER_STEP = 12  # delay ring: 3 int32 channels per neuron per step of delay
SYNAPSE_BYTES = 24  # post, weight and learning state per synapse (layout: ~20)
ROW_BYTES = 32  # one CSR row per (pre neuron, projection): row_ptr, row_syn, delay, channel, projection
SENSOR_CHANNEL_BYTES = 12  # a float in the sensor buffer + the server's int64 exchange index
ACTUATOR_CHANNEL_BYTES = 16  # spike counter + output float + the server's int64 exchange index
CIRCUIT_ITEM_BYTES = 1024  # a registered circuit: Python objects per population, projection, organ
CIRCUIT_BASE_BYTES = 4096
DEFAULT_CLIENT_MEMORY_MB = 1024


def ring_depth(circuit: Circuit) -> int:
    """The delay-ring depth a brain of ``circuit`` needs: its longest chemical delay (steps, >= 1)."""
    return max([1, *(pr.delay_range()[1] for pr in circuit.flatten().projections if pr.kind != "electrical")])


def brain_bytes(circuit: Circuit, world_depth: int = 1) -> int:
    """Estimated bytes the server holds for one brain of ``circuit`` in a World whose delay
    ring is ``world_depth`` steps deep (the ring spans every neuron at the World's depth)."""
    flat = circuit.flatten()
    n = flat.n_neurons
    sizes = {p.name: p.size for p in flat.populations}
    depth = max(1, world_depth)
    synapses = 0.0
    rows = 0
    for pr in flat.projections:
        n_pre, n_post = sizes.get(pr.pre, 0), sizes.get(pr.post, 0)
        synapses += pr.rule.expected_count(n_pre, n_post)
        rows += n_pre
        if pr.kind != "electrical":
            depth = max(depth, pr.delay_range()[1])
    sensors = sum(o.channels for o in flat.sensors)
    actuators = sum(o.channels + o.width for o in flat.actuators)
    return int(BRAIN_BYTES + n * (NEURON_BYTES + RING_BYTES_PER_STEP * depth) + synapses * SYNAPSE_BYTES
               + rows * ROW_BYTES + sensors * SENSOR_CHANNEL_BYTES + actuators * ACTUATOR_CHANNEL_BYTES)


def _items(c: Circuit) -> int:
    return (len(c.populations) + len(c.projections) + len(c.organs)
            + sum(1 + _items(sub) for sub in c.subcircuits.values()))


def circuit_bytes(circuit: Circuit, text_bytes: int) -> int:
    """Estimated bytes a registered circuit keeps (its objects and cached flat form)."""
    return CIRCUIT_BASE_BYTES + CIRCUIT_ITEM_BYTES * _items(circuit) + 2 * text_bytes


@dataclass
class Upload:
    """A circuit registered by UPLOAD_GENOME: who is charged for it and when it was last used."""

    session: int | None  # the uploader's session id; None once that session ended
    nbytes: int
    used: float = field(default_factory=time.monotonic)


class MemoryQuota:
    """The per-session memory quota and the evictable-circuit registry of a :class:`ServerCore`.

    Parameters
    ----------
    quota_bytes : int
        Most estimated bytes one session may be charged for (0: no quota).
    """

    def __init__(self, quota_bytes: int = DEFAULT_CLIENT_MEMORY_MB << 20) -> None:
        if isinstance(quota_bytes, bool) or not isinstance(quota_bytes, int) or quota_bytes < 0:
            raise ValueError(f"quota_bytes: must be an integer >= 0, got {quota_bytes!r}")
        self.quota_bytes = quota_bytes
        self.uploads: dict[str, Upload] = {}
        self.evicted = 0
        self.refused = 0
        self._brain_cost: dict[tuple[str, int, int], int] = {}
        self._ring_depth: dict[str, tuple[Circuit, int]] = {}  # per circuit object

    # ------------------------------------------------------------------ costs
    def brain_cost(self, circuit: Circuit, world_depth: int = 1) -> int:
        """:func:`brain_bytes`, cached per circuit object and ring depth."""
        key = (circuit.name, id(circuit), world_depth)
        got = self._brain_cost.get(key)
        if got is None:
            got = self._brain_cost[key] = brain_bytes(circuit, world_depth)
        return got

    def _depth_of(self, circuit: Circuit) -> int:
        """:func:`ring_depth`, cached per circuit object."""
        got = self._ring_depth.get(circuit.name)
        if got is None or got[0] is not circuit:
            got = self._ring_depth[circuit.name] = (circuit, ring_depth(circuit))
        return got[1]

    def warm(self, circuit: Circuit, world_depth: int) -> None:
        """Fill the caches :meth:`spawn_cost` reads for ``circuit`` at ``world_depth`` (no lock needed)."""
        self.brain_cost(circuit, max(world_depth, self._depth_of(circuit)))

    @staticmethod
    def world_depth(core: ServerCore) -> int:
        """The World's delay-ring depth (steps); it never shrinks."""
        return int(getattr(core.world.layout, "depth", 1))

    def spawn_cost(self, core: ServerCore, circuit: Circuit, count: int) -> int:
        """What SPAWNing ``count`` brains of ``circuit`` really adds: the brains at the ring depth
        the World will have, plus the deepening of the ring under every neuron already there
        (one brain with a long delay deepens the ring of the whole World)."""
        d_w = self.world_depth(core)
        d_new = max(d_w, self._depth_of(circuit))
        deepen = RING_BYTES_PER_STEP * (d_new - d_w) * int(core.world.layout.n_neurons)
        return count * self.brain_cost(circuit, d_new) + deepen

    @staticmethod
    def brains_by_circuit(core: ServerCore, ids: set[int] | list[int], world: World | None = None) -> dict[str, int]:
        """How many of the live brains ``ids`` each circuit has (in ``world``, default the core's)."""
        if not ids:
            return {}
        w = core.world if world is None else world
        L = w.layout
        try:  # usually every id is live (a session's own brains): one lookup, no call per id
            rows = w.rows(list(ids))
        except LookupError:
            rows = w.rows([i for i in ids if w.has_brain(i)])
        counts = np.bincount(L.brain_proto[rows], minlength=len(L.prototypes))
        return {L.prototypes[p].circuit.name: int(k) for p, k in enumerate(counts) if k}

    def usage(self, core: ServerCore, s: Session, counts: dict[str, int] | None = None) -> dict[str, int]:
        """Estimated bytes charged to ``s``: ``brains``, ``circuits`` (its uploads) and ``total``;
        ``counts``: ``s``'s brains per circuit if known."""
        brains = 0
        depth = self.world_depth(core)
        if counts is None:
            counts = self.brains_by_circuit(core, s.owned)
        for name, k in counts.items():
            c = core.genomes.get(name)
            if c is not None:
                brains += k * self.brain_cost(c, depth)
        circuits = sum(u.nbytes for u in self.uploads.values() if u.session == s.id)
        return {"brains": brains, "circuits": circuits, "total": brains + circuits}

    def check(self, core: ServerCore, s: Session, extra: int, what: str,
              counts: dict[str, int] | None = None) -> None:
        """Raise ``LIMIT`` if charging ``extra`` more bytes would take ``s`` over its quota
        (``counts``: see :meth:`usage`)."""
        if not self.quota_bytes:
            return
        use = self.usage(core, s, counts)
        if use["total"] + extra > self.quota_bytes:
            self.refused += 1
            raise ProtocolError(Err.LIMIT, f"{what}: the session would use about {_mib(use['total'] + extra)} of "
                                           f"memory (brains {_mib(use['brains'])}, uploaded circuits "
                                           f"{_mib(use['circuits'])}, this request {_mib(extra)}), its quota is "
                                           f"{_mib(self.quota_bytes)} (--client-memory-mb)")

    # ------------------------------------------------------------------ registry
    def in_use(self, core: ServerCore) -> set[str]:
        """Names of the circuits some live brain has."""
        return set(self.brains_by_circuit(core, [int(i) for i in core.world.brain_ids()]))

    def touch(self, name: str) -> None:
        """The circuit was used (spawned, re-uploaded): it is evicted last."""
        u = self.uploads.get(name)
        if u is not None:
            u.used = time.monotonic()

    def evict(self, core: ServerCore, names: list[str]) -> int:
        """Unregister these uploaded circuits; returns how many went."""
        for n in names:
            self.uploads.pop(n, None)
            core.genomes.pop(n, None)
            self.evicted += 1
        return len(names)

    def evictable(self, core: ServerCore, session: int | None = None, orphans: bool = True) -> list[str]:
        """Uploaded circuits no live brain uses, least recently used first: those of ``session``
        and (with ``orphans``) those whose uploader has gone."""
        busy = self.in_use(core)
        out = [(u.used, n) for n, u in self.uploads.items() if n not in busy
               and ((session is not None and u.session == session) or (orphans and u.session is None))]
        return [n for _, n in sorted(out)]

    def make_room(self, core: ServerCore, s: Session, nbytes: int, registry_full: bool) -> None:
        """Before registering an upload of ``nbytes`` for ``s``: evict unused circuits (the registry's
        orphans when it is full, then ``s``'s own least recently used ones) while that makes it fit."""
        if registry_full:
            self.evict(core, self.evictable(core, orphans=True)[:1])
        if self.quota_bytes:
            use = self.usage(core, s)["total"]
            for n in self.evictable(core, session=s.id, orphans=False):
                if use + nbytes <= self.quota_bytes:
                    break
                use -= self.uploads[n].nbytes
                self.evict(core, [n])

    def register(self, s: Session, name: str, nbytes: int) -> None:
        """``s`` uploaded the new circuit ``name``: charge it."""
        self.uploads[name] = Upload(s.id, nbytes)

    def session_ended(self, core: ServerCore, s: Session) -> None:
        """``s`` is gone: its unused uploads are evicted, the others become orphans (charged to nobody)."""
        busy = self.in_use(core)
        mine = [n for n, u in self.uploads.items() if u.session == s.id]
        self.evict(core, [n for n in mine if n not in busy])
        for n in mine:
            if n in self.uploads:
                self.uploads[n].session = None

    def stats(self, core: ServerCore, s: Session | None = None) -> dict[str, Any]:
        """Server-wide figures (and ``s``'s usage) for STATS."""
        out: dict[str, Any] = {"client_memory_bytes": self.quota_bytes, "uploaded_circuits": len(self.uploads),
                               "uploaded_circuit_bytes": sum(u.nbytes for u in self.uploads.values()),
                               "circuits_evicted": self.evicted, "refused_memory": self.refused}
        if s is not None:
            out["session"] = {**self.usage(core, s), "quota": self.quota_bytes}
        return out


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"
