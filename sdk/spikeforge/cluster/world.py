"""A World whose brains are sharded over Ray actors, behind the same API as :class:`World`.

The coordinator (this object, in the game server's process) holds a *mirror* of the game-facing
arrays (sensor values, actuator outputs, per-brain flags and step counters) laid out exactly as a
single-process :class:`World` would lay them out: prototypes contiguous, spawn order within. The
game reads and writes those arrays as usual (zero-copy views); one :meth:`ClusterWorld.advance`
gathers each shard's sensor slice, runs every shard's frame in parallel (on a Ray Compiled Graph
over the shard actors, see :mod:`spikeforge.cluster.graph`, or one Ray actor task per shard),
and scatters the actuator outputs and spikes back. Brains are independent and keyed by
their spawn serial, so the spikes, organ outputs and weights are bit-for-bit those of a
single-process World with the same seed and spawn order.

Faults: every ``checkpoint_every`` steps each shard returns a snapshot of itself with its frame.
When a shard's actor dies (or does not answer within ``frame_timeout``), Ray restarts it
(``max_restarts``), the coordinator restores the last checkpoint into it and re-runs the frame
there; :attr:`FrameResult.rolled_back` says which brains went back and by how many steps. A shard
that cannot be brought back within ``restart_timeout`` is marked lost: its brains stop (reported
in :attr:`ClusterWorld.lost_brains`), every other shard goes on.

Example
-------
>>> from spikeforge.cluster import ClusterWorld          # doctest: +SKIP
>>> world = ClusterWorld(shards=4, address="auto", seed=1)  # doctest: +SKIP
>>> brains = world.spawn(circuit, count=10_000)            # doctest: +SKIP
>>> frame = world.advance(1 / 60)                          # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from spikeforge.cluster.graph import FRAME_PATHS, FrameGraph, GraphBroken, ShardFrameError, unavailable_reason
from spikeforge.cluster.placement import brain_cost, split
from spikeforge.cluster.shard import ShardRestartedError
from spikeforge.cluster.wire import FrameReply, pack_request, request_size, unpack_reply
from spikeforge.engine.backend import SpikeRecord
from spikeforge.engine.compiler import compile_prototype, instantiate, max_delay
from spikeforge.engine.layout import OrganGroup, PrototypeInfo, organ_groups
from spikeforge.engine.rng import brain_key
from spikeforge.model.circuit import Circuit
from spikeforge.runtime.bus import SpikeBus
from spikeforge.runtime.clock import FixedClock
from spikeforge.runtime.handles import LiveArray, StaleHandleError
from spikeforge.runtime.world import FrameResult

log = logging.getLogger("spikeforge.cluster")

I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]


class ClusterError(RuntimeError):
    """A cluster operation failed (a shard is unreachable, lost, or answered inconsistently)."""


@dataclass(frozen=True)
class Rollback:
    """Brains of one shard that were restored from its last checkpoint.

    Attributes
    ----------
    shard : int
        Shard index.
    brains : int64 array
        Brain ids (serials) that rolled back.
    steps : int64 array
        Steps each of them lost (its step counter before the failure minus after the restore).
    reason : str
        What happened (actor died, timed out, ...).
    seconds : float
        Wall time from the start of the failed frame (kill detection included) to the shard
        being back with its checkpoint restored (s).
    """

    shard: int
    brains: I64
    steps: I64
    reason: str
    seconds: float


@dataclass(frozen=True)
class ClusterFrameResult(FrameResult):
    """A :class:`FrameResult` plus what the cluster did this frame.

    Attributes
    ----------
    rolled_back : tuple of Rollback
        Shards restored from a checkpoint during this frame.
    lost : tuple of int
        Shards that became lost during this frame (their brains no longer run).
    """

    rolled_back: tuple[Rollback, ...] = ()
    lost: tuple[int, ...] = ()


@dataclass
class ClusterLayout:
    """The coordinator's mirror of the game-facing parts of a single-process layout.

    Same names, dtypes and order as :class:`~spikeforge.engine.layout.Layout` (brains by
    prototype, spawn order within), so organ views, the SpikeBus and the server read it like a
    World's layout. Neuron and synapse state lives on the shards only.
    """

    dt_ms: float
    prototypes: list[PrototypeInfo]
    brain_serial: I64
    brain_proto: npt.NDArray[np.int32]
    brain_start: I64
    brain_step: I64
    sleeping: npt.NDArray[np.bool_]
    lod_every: npt.NDArray[np.int32]
    learn: npt.NDArray[np.uint8]
    sensor_values: F32
    act_out: F32
    sensor_groups: list[OrganGroup]
    actuator_groups: list[OrganGroup]
    n_synapses: int = 0
    learning: bool = True
    depth: int = 1

    @property
    def n_brains(self) -> int:
        """Live brains in the mirror (rows of every per-brain array)."""
        return int(self.brain_serial.size)

    @property
    def n_neurons(self) -> int:
        """Neurons of all live brains together (the neuron numbering of :class:`MergedSpikes`)."""
        return int(self.brain_start[-1]) if self.brain_start.size else 0


class MergedSpikes(SpikeRecord):
    """A frame's spikes from all shards: a :class:`SpikeRecord` whose merge into the
    single-process order runs on first use of :attr:`steps` or :attr:`neurons` (a frame loop
    that never looks at the spikes never pays for it). ``len()`` is free."""

    _parts: list[tuple[Any, ...]]
    _n: int
    _n_total: int
    _first: int
    _count: int
    _merged: tuple[I64, npt.NDArray[np.int32]] | None

    def __init__(self, parts: list[tuple[Any, ...]], n: int, n_total: int, first_step: int, count: int) -> None:
        object.__setattr__(self, "_parts", parts)
        object.__setattr__(self, "_n", n)
        object.__setattr__(self, "_n_total", n_total)
        object.__setattr__(self, "_first", first_step)
        object.__setattr__(self, "_count", count)
        object.__setattr__(self, "_merged", None)

    def __len__(self) -> int:
        return int(self._count)

    def _merge(self) -> tuple[I64, npt.NDArray[np.int32]]:
        got: tuple[I64, npt.NDArray[np.int32]] | None = self._merged
        if got is None:
            keys = []
            for reply, local_start, global_start in self._parts:
                st, nr = reply.spike_keys()
                b = np.searchsorted(local_start, nr, side="right") - 1
                g = global_start[b] + (nr - local_start[b])
                keys.append(st * self._n_total + g)
            # each shard's keys are one or a few sorted runs: a stable sort merges them
            key = np.sort(np.concatenate(keys), kind="stable")
            got = (self._first + key // self._n_total, (key % self._n_total).astype(np.int32))
            object.__setattr__(self, "_merged", got)
            object.__setattr__(self, "_parts", [])
        return got

    @property
    def steps(self) -> I64:
        """World step of each spike (int64), merged over shards into single-process order."""
        return self._merge()[0]

    @property
    def neurons(self) -> npt.NDArray[np.int32]:
        """Mirror-layout neuron index of each spike (int32), in the order of :attr:`steps`."""
        return self._merge()[1]


@dataclass
class _ShardMap:
    """How one shard's arrays map into the mirror (rebuilt after each relayout)."""

    serials: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    rows: I64 = field(default_factory=lambda: np.zeros(0, np.int64))       # mirror row of each shard row
    local_start: I64 = field(default_factory=lambda: np.zeros(1, np.int64))  # shard brain_start
    global_start: I64 = field(default_factory=lambda: np.zeros(0, np.int64))  # mirror brain_start per shard row
    sens_idx: I64 = field(default_factory=lambda: np.zeros(0, np.int64))   # mirror sensor index per shard value
    act_idx: I64 = field(default_factory=lambda: np.zeros(0, np.int64))    # mirror act_out index per shard value
    neurons: int = 0
    synapses: int = 0
    load: float = 0.0


class _Backend:
    """What code written for a World's ``backend`` sees: state lives on the shards, the mirror
    flags travel with every frame, so pull/push have nothing to do."""

    name = "cluster"

    def __init__(self, world: ClusterWorld) -> None:
        self._world = world

    def pull_state(self) -> None:
        """Nothing to pull: mirror arrays are current after every call."""

    def push_state(self) -> None:
        """Nothing to push: flags and sensors are sent with the next frame."""

    def close(self) -> None:
        self._world.close()


class ClusterWorld:
    """Brains sharded over Ray actors, with the :class:`World` API.

    Parameters
    ----------
    shards : int
        Number of shard actors.
    dt : float
        Fixed step (s).
    seed : int
        World seed; brain ``i`` (cluster spawn order) gets ``brain_key(seed, i)`` on whatever shard.
    max_substeps : int
        Most steps one ``advance`` runs.
    address : str or None
        Ray address to connect to when Ray is not initialised yet (``"auto"``, ``"ray://..."``,
        ``"host:port"``); ``None`` with Ray uninitialised starts a local Ray instance.
    threads : int
        Native threads per shard; each shard actor asks Ray for this many CPUs.
    backend : str
        Backend of each shard's World (``"native"``; ``"numpy"`` for debugging).
    checkpoint_every : int
        Steps between shard checkpoints (0: only after spawn/despawn/load). A checkpoint is a
        full snapshot of each shard (~0.12 MB per 256-neuron crowd brain) returned with that
        frame, so it stalls the frame; a failed shard's brains roll back at most this far.
    frame_timeout : float
        Seconds a frame waits for a shard before treating it as failed.
    restart_timeout : float
        Seconds to wait for a failed shard's actor to come back before declaring it lost.
    max_restarts : int
        Ray restarts per shard actor (-1: unlimited).
    resources : dict or None
        Extra Ray resources each shard requires (e.g. ``{"npc_host": 1}``).
    scheduling_strategy : str or None
        Ray scheduling strategy of the shard actors (default ``"SPREAD"``: one per node first).
    frame_path : str
        How a frame reaches the shards: ``"auto"`` (default) a Ray Compiled Graph over the shard
        actors (pre-allocated shared-memory channels instead of one task submission per shard
        per frame) when every shard runs on the coordinator's node, the host has a core per
        shard thread plus one (the graph's shard loops busy-wait between frames) and it
        compiles, else ordinary actor calls, with the reason logged and kept in
        :attr:`graph_reason`; ``"compiled"`` the graph whenever the shards share the
        coordinator's node, or a :class:`ClusterError` now; ``"remote"`` ordinary actor calls.
        After a shard fault frames go through ordinary calls until the old graph is torn down,
        then the graph is rebuilt (0.3-0.8 s in that frame); :attr:`frame_path_active` says
        which path runs.
    """

    def __init__(self, shards: int = 2, dt: float = 0.001, seed: int = 0, max_substeps: int = 64, *,
                 address: str | None = None, threads: int = 1, backend: str = "native",
                 checkpoint_every: int = 10_000, frame_timeout: float = 30.0, restart_timeout: float = 30.0,
                 max_restarts: int = 3, resources: dict[str, float] | None = None,
                 scheduling_strategy: str | None = "SPREAD", frame_path: str = "auto") -> None:
        import ray

        for name, val, lo in (("shards", shards, 1), ("threads", threads, 1), ("checkpoint_every", checkpoint_every, 0),
                              ("max_restarts", max_restarts, -1)):
            if isinstance(val, bool) or not isinstance(val, int) or val < lo:
                raise ValueError(f"{name}: must be an integer >= {lo}, got {val!r}")
        for name, fval in (("frame_timeout", frame_timeout), ("restart_timeout", restart_timeout)):
            if not isinstance(fval, (int, float)) or not fval > 0:
                raise ValueError(f"{name}: must be a number of seconds > 0, got {fval!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed: must be an integer >= 0, got {seed!r}")
        if frame_path not in FRAME_PATHS:
            raise ValueError(f"frame_path: must be one of {', '.join(FRAME_PATHS)}, got {frame_path!r}")
        self.frame_path = frame_path
        self.graph_reason = ""  # why the compiled graph is not in use ("" while it is, or never wanted)
        self._graph: FrameGraph | None = None
        self._old_graphs: list[FrameGraph] = []  # torn down in the background after a fault
        self._graph_wait = False  # shards placed where no graph is used: look again after a fault
        self._graph_off = frame_path == "remote"
        self._graph_failures = 0
        self._frame_seq = 0
        self.clock = FixedClock(dt, max_substeps)
        self.dt = float(dt)
        self.seed = seed
        self.threads = threads
        self.shard_backend = backend
        self.checkpoint_every = checkpoint_every
        self.frame_timeout = float(frame_timeout)
        self.restart_timeout = float(restart_timeout)
        self.max_restarts = max_restarts
        self.resources = dict(resources or {})
        self.scheduling_strategy = scheduling_strategy
        self.backend_name = "cluster"
        self.backend_request = "cluster"
        self.backend = _Backend(self)
        self.bus = SpikeBus()
        self.step_count = 0
        self.frame_count = 0
        self.total_spikes = 0
        self.rollbacks: list[Rollback] = []
        self.lost_shards: set[int] = set()
        # per frame: the frame's wall time in the coordinator minus the slowest shard's time inside
        # its World (= Ray's scheduling, transfers, (de)serialisation and the mirror scatter/gather)
        self.ray_overhead_s: list[float] = []
        self.last_frame: dict[str, float] = {}
        self._next_serial = 0
        self._closed = False
        self._in_advance = False
        self._circuits: list[Circuit] = []
        self._prototypes: list[PrototypeInfo] = []
        self._proto_key: dict[str, int] = {}
        self._proto_cost: list[float] = []
        self._owner: dict[int, int] = {}       # serial -> shard
        self._proto_of: dict[int, int] = {}    # serial -> prototype index
        self._handles: dict[int, ClusterBrain] = {}
        self._index: dict[int, int] = {}       # serial -> mirror row
        self._ckpt: list[bytes | None] = [None] * shards
        self._ckpt_step: list[int] = [0] * shards
        self._last_info: list[dict[str, Any] | None] = [None] * shards
        self._shard_protos: list[list[int]] = [[] for _ in range(shards)]  # shard proto index -> cluster's
        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True, logging_level=logging.WARNING,
                     log_to_driver=False)
        from spikeforge.cluster.shard import shard_actor_class

        self._actor_cls = shard_actor_class(max_restarts)
        self._actors: list[Any] = [self._new_actor(k) for k in range(shards)]
        self._maps = [_ShardMap() for _ in range(shards)]
        self.layout_generation = -1  # bumped whenever the mirror's arrays are replaced
        self.layout = self._build_mirror()
        self.nodes = self._call_all("ping", timeout=max(self.frame_timeout, 120.0))  # first start imports numpy etc.
        if frame_path != "remote" and self._ensure_graph() is None and frame_path == "compiled":
            self.close()
            raise ClusterError(f"frame_path='compiled': no Ray Compiled Graph: {self.graph_reason}")

    # ------------------------------------------------------------------ frame graph
    @property
    def frame_path_active(self) -> str:
        """``"compiled"`` while frames run on the compiled graph, else ``"remote"`` (ordinary calls)."""
        return "compiled" if self._graph is not None else "remote"

    def _ensure_graph(self) -> FrameGraph | None:
        """The compiled frame graph over the live shards, (re)built when they changed; None when
        frames go through ordinary actor calls (``frame_path="remote"``, or no graph)."""
        if self._graph_off:
            return None
        live = tuple(self._live())
        g = self._graph
        if g is not None and g.shards == live:
            return g
        if g is not None:
            self._drop_graph()
        # a new graph's loops queue behind the old ones: until they are gone, ordinary calls
        self._old_graphs = [o for o in self._old_graphs if not o.wait_teardown(0.0)]
        if not live or self._old_graphs or self._graph_wait:
            return None
        reason = unavailable_reason()
        permanent = reason is not None
        if reason is None:
            reason = self._graph_placement(live)
            # shards stay where they are until one is restarted: look again after a fault
            self._graph_wait = reason is not None
        if reason is None:
            try:
                g = FrameGraph({k: self._actors[k] for k in live}, self.frame_timeout)
            except Exception as exc:  # any failure means: use ordinary calls
                self._graph_failures += 1
                # a shard dying while it compiles is transient: give up after three in a row
                permanent = self._graph_failures >= 3
                reason = f"compiling it failed ({type(exc).__name__}: {exc})"
        if reason is not None:
            if reason != self.graph_reason:
                log.warning("cluster frames go through ordinary Ray actor calls%s: %s",
                            "" if permanent or self._graph_wait else " for now", reason)
            self.graph_reason = reason
            self._graph_off = permanent
            return None
        assert g is not None
        log.info("compiled frame graph over shards %s built in %.2f s", list(live), g.compile_s)
        self._graph, self._graph_failures, self.graph_reason = g, 0, ""
        return g

    def round_trip(self) -> float:
        """Seconds of one empty frame to every live shard and back over the active frame path
        (the compiled graph, else one ordinary call per shard and one ``ray.get``): Ray's floor
        under every frame (s)."""
        import ray

        self._check_usable("round_trip")
        t0 = time.perf_counter()
        g = self._ensure_graph()
        if g is not None:
            t0 = time.perf_counter()
            try:
                g.run({}, self.frame_timeout)
            except (GraphBroken, ShardFrameError) as exc:
                raise ClusterError(f"round_trip: the compiled graph failed ({exc}); the next frame recovers") from exc
        else:
            ray.get([self._actors[k].frame.remote(b"") for k in self._live()], timeout=self.frame_timeout)
        return time.perf_counter() - t0

    def _graph_placement(self, live: tuple[int, ...]) -> str | None:
        """Why the shards' places rule a compiled graph out (None: all on the coordinator's node).

        Between nodes a graph's channels are pushed raylet to raylet; in Ray 2.60 a shard dying
        with a push in flight made the receiving raylet abort (``experimental_mutable_object_
        provider.cc:154``, check failure in ``HandlePushMutableObject``, seen in this project's
        multi-node fault tests), and that raylet is the coordinator's node. Within one node the
        channels are shared memory and a death only closes them.
        """
        import ray

        try:
            where = self._call_all("ping", shards=live)
        except ClusterError as exc:  # a shard is down: recovery comes first, then another look
            return f"a shard did not answer ({exc})"
        here = ray.get_runtime_context().get_node_id()
        away = [k for k, p in zip(live, where, strict=True) if p["node"] != here]
        if away:
            return (f"shards {away} run on other nodes than the coordinator; a compiled graph between nodes is not "
                    "used (Ray 2.60's cross-node channels can abort the coordinator's raylet when a shard dies)")
        need, cores = len(live) * self.threads + 1, os.cpu_count() or 1
        if self.frame_path == "auto" and need > cores:
            # a graph loop waits for the next frame by spinning (Ray 2.60's ReadAcquire): measured
            # ~0.7 core per idle shard; without a core of its own each loop slows the others
            return (f"the graph's shard loops busy-wait between frames (about one core each): {len(live)} shards x "
                    f"{self.threads} threads + the coordinator need {need} cores, this host has {cores} "
                    "(frame_path='compiled' uses the graph anyway)")
        return None

    def _drop_graph(self) -> None:
        """Start tearing the compiled graph down (a rebuild or a fault); frames use ordinary calls
        until it is gone and :meth:`_ensure_graph` builds the next one."""
        g, self._graph = self._graph, None
        if g is not None:
            g.start_teardown()
            self._old_graphs.append(g)

    # ------------------------------------------------------------------ actors
    def _new_actor(self, k: int) -> Any:
        opts: dict[str, Any] = {"num_cpus": self.threads, "name": None}
        if self.resources:
            opts["resources"] = self.resources
        if self.scheduling_strategy:
            opts["scheduling_strategy"] = self.scheduling_strategy
        del opts["name"]
        return self._actor_cls.options(**opts).remote(k, self.dt, self.seed, self.clock.max_substeps,
                                                      self.shard_backend, self.threads)

    @property
    def shards(self) -> int:
        """Number of shard actors (lost ones included)."""
        return len(self._actors)

    def actor(self, shard: int) -> Any:
        """The Ray actor handle of one shard (for tests and tools)."""
        return self._actors[shard]

    def _live(self) -> list[int]:
        return [k for k in range(self.shards) if k not in self.lost_shards]

    def _call_all(self, method: str, *args: Any, timeout: float | None = None,
                  shards: Iterable[int] | None = None) -> list[Any]:
        """Call ``method(*args)`` on the shards (all live ones by default) in parallel; raise
        ClusterError naming the shard on failure or timeout (no recovery: for control calls)."""
        import ray

        ks = list(self._live() if shards is None else shards)
        refs = [getattr(self._actors[k], method).remote(*args) for k in ks]
        out: list[Any] = []
        for k, ref in zip(ks, refs, strict=True):
            try:
                out.append(ray.get(ref, timeout=self.frame_timeout if timeout is None else timeout))
            except ray.exceptions.GetTimeoutError:
                raise ClusterError(f"shard {k}: {method}() did not answer within "
                                   f"{self.frame_timeout if timeout is None else timeout:g} s") from None
            except ray.exceptions.RayActorError as exc:
                raise ClusterError(f"shard {k}: actor unavailable during {method}() ({type(exc).__name__})") from exc
            except ray.exceptions.RayTaskError as exc:
                if _is_restarted(exc):
                    raise ClusterError(f"shard {k}: {method}(): the shard's actor was restarted by Ray and is empty; "
                                       "the next advance()/step() restores it from its checkpoint") from exc
                raise
        return out

    # ------------------------------------------------------------------ properties (World API)
    @property
    def time(self) -> float:
        """World time (s): steps run times dt."""
        return self.step_count * self.dt

    @property
    def prototypes(self) -> list[PrototypeInfo]:
        """The distinct circuits spawned so far, in prototype order (the same on every shard)."""
        return list(self._prototypes)

    @property
    def brains(self) -> list[ClusterBrain]:
        """Live brains in layout order (prototypes contiguous, spawn order within)."""
        return [self._handles[int(s)] for s in self.layout.brain_serial]

    def brain(self, brain_id: int) -> ClusterBrain:
        """The handle of a live brain.

        Parameters
        ----------
        brain_id : int
            The id :meth:`spawn` gave it (cluster spawn order).

        Returns
        -------
        ClusterBrain

        Raises
        ------
        LookupError
            If no live brain has this id (never spawned, or despawned).
        """
        try:
            return self._handles[brain_id]
        except KeyError:
            raise LookupError(f"brain: no live brain with id {brain_id}") from None

    @property
    def lost_brains(self) -> set[int]:
        """Ids of brains whose shard is lost (they keep their rows but no longer run)."""
        return {s for s, k in self._owner.items() if k in self.lost_shards}

    def shard_of(self, brain_id: int) -> int:
        """Which shard holds a brain."""
        try:
            return self._owner[brain_id]
        except KeyError:
            raise LookupError(f"brain: no live brain with id {brain_id}") from None

    def group(self, prototype: Circuit | str) -> ClusterGroup:
        """The (brains x channels) organ arrays of one prototype (views into the mirror)."""
        if isinstance(prototype, Circuit):
            key = _circuit_key(prototype)
            if key not in self._proto_key:
                raise KeyError(f"prototype: circuit {prototype.name!r} was not spawned in this world")
            return ClusterGroup(self, self._proto_key[key])
        matches = [p.index for p in self._prototypes if p.circuit.name == prototype]
        if not matches:
            raise KeyError(f"prototype: no circuit named {prototype!r} was spawned in this world")
        if len(matches) > 1:
            raise KeyError(f"prototype: {len(matches)} different circuits are named {prototype!r}; "
                           "pass the Circuit object to choose one")
        return ClusterGroup(self, matches[0])

    # ------------------------------------------------------------------ mirror
    def _build_mirror(self) -> ClusterLayout:
        serials = np.array(sorted(self._owner), dtype=np.int64)
        protos = np.array([self._proto_of[int(s)] for s in serials], dtype=np.int32)
        order = np.lexsort((serials, protos)) if serials.size else np.zeros(0, np.int64)
        serials, protos = serials[order], protos[order]
        sizes = np.array([self._prototypes[p].n_neurons for p in protos], dtype=np.int64)
        start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        sg, ag, _slot, (s_size, _a, o_size) = organ_groups(self._prototypes, protos, start)
        n = serials.size
        new = ClusterLayout(
            dt_ms=self.dt * 1000.0, prototypes=list(self._prototypes), brain_serial=serials, brain_proto=protos,
            brain_start=start, brain_step=np.zeros(n, np.int64), sleeping=np.zeros(n, bool),
            lod_every=np.ones(n, np.int32), learn=np.ones(n, np.uint8),
            sensor_values=np.zeros(s_size, np.float32), act_out=np.zeros(o_size, np.float32),
            sensor_groups=sg, actuator_groups=ag,
            depth=max([1, *(max_delay(p) for p in self._prototypes)]))
        self.layout_generation += 1
        old = getattr(self, "layout", None)
        if old is not None:
            new.learning = old.learning
            _carry(old, new)
        self._index = {int(s): i for i, s in enumerate(serials)}
        return new

    def _apply_info(self, k: int, info: dict[str, Any], steps: bool = True) -> None:
        """Rebuild shard ``k``'s index maps from its reported layout (``steps``: also take its
        brains' step counters, which are current only in a fresh report)."""
        L = self.layout
        m = _ShardMap()
        m.serials = np.asarray(info["brain_serial"], dtype=np.int64)
        m.rows = np.array([self._index[int(s)] for s in m.serials], dtype=np.int64)
        m.local_start = np.asarray(info["brain_start"], dtype=np.int64)
        m.global_start = L.brain_start[m.rows] if m.rows.size else np.zeros(0, np.int64)
        m.neurons, m.synapses = int(info["neurons"]), int(info["synapses"])
        gp = self._shard_protos[k]
        if int(info["prototypes"]) != len(gp):
            raise ClusterError(f"shard {k} has {info['prototypes']} prototypes, the coordinator expects {len(gp)}")
        m.load = brain_cost(m.neurons, m.synapses)
        sens = np.full(int(info["sensor_size"]), -1, np.int64)
        for proto, name, b0, nb, ch, off in info["sensor_groups"]:
            if nb:
                G = _find_group(L.sensor_groups, gp[proto], name)
                r = m.rows[b0:b0 + nb] - G.brain0
                sens[off:off + nb * ch] = (G.offset + r[:, None] * ch + np.arange(ch)).reshape(-1)
        act = np.full(int(info["act_size"]), -1, np.int64)
        for proto, name, b0, nb, wd, off in info["actuator_groups"]:
            if nb:
                G = _find_group(L.actuator_groups, gp[proto], name)
                r = m.rows[b0:b0 + nb] - G.brain0
                act[off:off + nb * wd] = (G.out_offset + r[:, None] * wd + np.arange(wd)).reshape(-1)
        if (sens < 0).any() or (act < 0).any():
            raise ClusterError(f"shard {k}: organ layout does not match the coordinator's")
        m.sens_idx, m.act_idx = sens, act
        if steps:
            L.brain_step[m.rows] = np.asarray(info["brain_step"], dtype=np.int64)
        self._last_info[k] = info
        self._maps[k] = m
        L.n_synapses = sum(mm.synapses for mm in self._maps)

    # ------------------------------------------------------------------ spawning
    def _prototype_for(self, circuit: Circuit) -> int:
        key = _circuit_key(circuit)
        if key in self._proto_key:
            return self._proto_key[key]
        pid_base = sum(len(p.pop_names) for p in self._prototypes)
        proj_base = sum(len(p.circuit.projections) for p in self._prototypes)
        proto = compile_prototype(circuit, len(self._prototypes), self.dt * 1000.0, pid_base, proj_base)
        sample = instantiate(proto, 0, brain_key(self.seed, 0), self.seed, max(1, max_delay(proto)))
        self._prototypes.append(proto)
        self._circuits.append(circuit)
        self._proto_cost.append(brain_cost(proto.n_neurons, sample.syn_pre.size))
        self._proto_key[key] = proto.index
        return proto.index

    def prepare_spawn(self, circuit: Circuit, count: int, touched_only: bool = False) -> None:
        """``World.prepare_spawn``'s answer for a spawn that gains nothing from a separate draw:
        None, call :meth:`spawn` (a ClusterWorld's shards draw their brains themselves, in
        parallel, inside ``spawn``). Servers call it as they call ``World.prepare_spawn``.

        Parameters
        ----------
        circuit : Circuit
            As for :meth:`spawn`.
        count : int
            As for :meth:`spawn`.
        touched_only : bool
            Accepted for ``World.prepare_spawn``'s signature; nothing is prepared here.

        Returns
        -------
        None
        """
        return None

    def spawn(self, circuit: Circuit, count: int = 1) -> list[ClusterBrain]:
        """Spawn ``count`` brains of ``circuit``, balanced over the live shards (one call per shard)."""
        self._check_usable("spawn")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count: must be an integer >= 0, got {count!r}")
        p = self._prototype_for(circuit)
        caps = [float(self.threads)] * self.shards
        usable = [k not in self.lost_shards for k in range(self.shards)]
        shares = split(count, self._proto_cost[p], [m.load for m in self._maps], caps, usable)
        first = self._next_serial
        plan: list[tuple[int, int, int]] = []
        for k, c in enumerate(shares):
            if c:
                plan.append((k, first, c))
                first += c
        touched = [k for k, _, _ in plan]
        import ray

        refs = {}
        for k, f, c in plan:
            refs[k] = self._actors[k].spawn.remote(self._circuits[p], f, c)
        infos = {}
        try:
            for k, ref in refs.items():
                infos[k] = ray.get(ref, timeout=max(self.frame_timeout, 120.0))
        except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError) as exc:
            raise ClusterError(f"spawn: shard {k} failed ({type(exc).__name__}: {exc}); the cluster's brains may "
                               "now differ from the coordinator's view: load a snapshot") from exc
        handles = []
        for k in touched:
            if p not in self._shard_protos[k]:
                self._shard_protos[k].append(p)
        for k, f, c in plan:
            for s in range(f, f + c):
                self._owner[s] = k
                self._proto_of[s] = p
                h = ClusterBrain(self, s, circuit.name)
                self._handles[s] = h
                handles.append(h)
        self._next_serial = first
        self.layout = self._build_mirror()
        for k in range(self.shards):
            if k in infos:
                self._apply_info(k, infos[k])
            else:
                self._remap(k)
        self._checkpoint(touched)
        return handles

    def _remap(self, k: int) -> None:
        """Recompute shard ``k``'s maps after the mirror changed but the shard did not."""
        info = self._last_info[k]
        if k in self.lost_shards:
            self._maps[k] = self._lost_map(k)
        elif info is not None:
            self._apply_info(k, info, steps=False)

    def despawn(self, brains: ClusterBrain | int | Iterable[ClusterBrain | int]) -> None:
        """Remove brains; other brains' state is untouched."""
        self._check_usable("despawn")
        items = [brains] if isinstance(brains, (ClusterBrain, int)) else list(brains)
        ids = {int(b.id) if isinstance(b, ClusterBrain) else int(b) for b in items}
        missing = ids - set(self._owner)
        if missing:
            raise LookupError(f"despawn: no live brain with id(s) {sorted(missing)}")
        by_shard: dict[int, list[int]] = {}
        for s in sorted(ids):
            by_shard.setdefault(self._owner[s], []).append(s)
        live = {k: v for k, v in by_shard.items() if k not in self.lost_shards}
        infos = dict(zip(live, self._call_all_each("despawn", {k: (v,) for k, v in live.items()}), strict=True))
        for s in ids:
            del self._owner[s], self._proto_of[s]
            self._handles.pop(s, None)
        self.layout = self._build_mirror()
        for k in range(self.shards):
            if k in infos:
                self._apply_info(k, infos[k])
            else:
                self._remap(k)
        self._checkpoint(sorted(live))

    def _call_all_each(self, method: str, args: dict[int, tuple[Any, ...]]) -> list[Any]:
        import ray

        refs = {k: getattr(self._actors[k], method).remote(*a) for k, a in args.items()}
        out = []
        for k, ref in refs.items():
            try:
                out.append(ray.get(ref, timeout=self.frame_timeout))
            except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError) as exc:
                raise ClusterError(f"{method}: shard {k} failed ({type(exc).__name__}: {exc})") from exc
        return out

    # ------------------------------------------------------------------ running
    def _check_usable(self, what: str) -> None:
        if self._closed:
            raise ClusterError(f"{what}(): the cluster world is closed")
        if self._in_advance or self.bus.publishing:
            raise RuntimeError(f"{what}() was called from inside ClusterWorld.advance (a spike callback?); "
                               "defer it until advance returns")

    def advance(self, frame_dt: float) -> ClusterFrameResult:
        """Accumulate ``frame_dt`` seconds and run the whole fixed steps due on every shard in parallel."""
        if self._in_advance or self.bus.publishing:
            raise RuntimeError("advance() was called from inside a spike callback; "
                               "re-entering the world's step is not allowed")
        self._check_usable("advance")
        clock = (self.clock.accumulator, self.clock.frames)
        n = self.clock.accumulate(frame_dt)
        self.frame_count += 1
        return self._frame("advance", float(frame_dt), clock, n)

    def step(self, n: int = 1, only: npt.ArrayLike | None = None) -> SpikeRecord:
        """Run exactly ``n`` steps of every awake brain on every shard (ignores the clock and LOD).

        ``only``: a bool array over ``brains`` (rows as :meth:`rows` gives them); brains where it
        is False do not run this time (as if asleep)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n: must be an integer >= 0, got {n!r}")
        self._check_usable("step")
        mask = None
        if only is not None:
            mask = np.asarray(only)
            if mask.dtype != np.bool_ or mask.shape != (self.layout.n_brains,):
                raise ValueError(f"only: expected a bool array of shape ({self.layout.n_brains},), got "
                                 f"{mask.dtype}{mask.shape}")
        return self._frame("step", float(n), (0.0, 0), n, mask).spikes

    def rows(self, brain_ids: Iterable[int]) -> I64:
        """Position of each brain id in ``brains`` order (the rows of :meth:`step`'s mask and of
        :meth:`reward`'s values); valid until ``layout_generation`` changes."""
        out = []
        for i in brain_ids:
            try:
                out.append(self._index[int(i)])
            except KeyError:
                raise LookupError(f"brain_ids: no live brain with id {int(i)}") from None
        return np.array(out, dtype=np.int64)

    def brain_ids(self) -> I64:
        """Ids of the live brains, in ``brains`` (row) order."""
        return np.array(sorted(self._index, key=self._index.__getitem__), dtype=np.int64)

    def has_brain(self, brain_id: int) -> bool:
        """True when ``brain_id`` is a live brain of this world."""
        return int(brain_id) in self._index

    def set_learning(self, brain_ids: Iterable[int], enabled: bool) -> None:
        """Freeze (``enabled=False``) or unfreeze many brains at once (sent with the next frame)."""
        if not isinstance(enabled, (bool, np.bool_)):
            raise ValueError(f"enabled: must be true or false, got {enabled!r}")
        idx = self.rows(brain_ids)
        self.layout.learn[idx] = 1 if enabled else 0

    def _frame(self, mode: str, arg: float, clock: tuple[float, int], n: int,
               only: npt.NDArray[np.bool_] | None = None) -> ClusterFrameResult:
        import ray

        L = self.layout
        if n == 0 or L.n_brains == 0:
            self.step_count += n
            return ClusterFrameResult(n, self.clock.alpha, SpikeRecord.empty())
        nan = np.isnan(L.sensor_values)
        if nan.any():
            log.warning("%d NaN sensor value(s) this frame were read as the range's low end", int(nan.sum()))
        due = self.checkpoint_every > 0 and any(
            self.step_count + n - self._ckpt_step[k] >= self.checkpoint_every for k in self._live())
        graph = self._ensure_graph()
        self._frame_seq += 1
        seq = self._frame_seq
        wall0 = time.time()
        t0 = time.perf_counter()
        args = {k: self._frame_args(k, mode, arg, clock, due, only, seq) for k in self._live()
                if self._maps[k].serials.size}
        killed: set[int] = set()
        if graph is not None:
            results, failed, killed = self._graph_frame(graph, args, seq, wall0)
        else:
            results, failed = self._remote_frame(args)
        rolled: list[Rollback] = []
        lost: list[int] = []
        self._in_advance = True
        try:
            for k, reason in sorted(failed.items()):
                rb = self._recover(k, reason, t0, killed=k in killed)
                if rb is None:
                    lost.append(k)
                    continue
                rolled.append(rb)
                try:  # the restored shard runs this frame too, from its checkpoint state
                    redo = self._frame_args(k, mode, arg, clock, False, only, seq)
                    results[k] = ray.get(self._actors[k].frame.remote(redo), timeout=self.frame_timeout)
                except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError) as exc:
                    log.error("shard %d failed again right after its restore (%r): marking it lost", k, exc)
                    self._mark_lost(k)
                    lost.append(k)
                    results.pop(k, None)
        finally:
            self._in_advance = False
        replies: dict[int, FrameReply] = {}
        for k, r in results.items():
            if isinstance(r, tuple):  # (reply, checkpoint bytes)
                r, self._ckpt[k] = r
                self._ckpt_step[k] = self.step_count + n
            replies[k] = unpack_reply(r)
        record = self._gather(replies, n)
        wall = time.perf_counter() - t0
        if not failed and replies:
            sim = max(r.sim_s for r in replies.values())
            self.ray_overhead_s.append(wall - sim)
            self.last_frame = {"wall_s": wall, "sim_max_s": sim, "overhead_s": wall - sim}
        self.step_count += n
        self.total_spikes += len(record) if isinstance(record, MergedSpikes) else int(record.neurons.size)
        self.rollbacks.extend(rolled)
        if self.bus.subscriptions:
            self.bus.publish(L, record)  # type: ignore[arg-type]  # the mirror has the fields the bus reads
        return ClusterFrameResult(n, self.clock.alpha, record, tuple(rolled), tuple(lost))

    def _remote_frame(self, args: dict[int, bytes]) -> tuple[dict[int, Any], dict[int, str]]:
        """One frame through ordinary actor calls: (replies by shard, failure reason by shard)."""
        import ray

        refs = {k: self._actors[k].frame.remote(a) for k, a in args.items()}
        results: dict[int, Any] = {}
        failed: dict[int, str] = {}
        deadline = time.monotonic() + self.frame_timeout
        pending = dict(refs)
        try:  # the common case: every shard answers in time (one ray.get for all)
            results = dict(zip(refs, ray.get(list(refs.values()), timeout=self.frame_timeout), strict=True))
            pending = {}
        except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError, ray.exceptions.GetTimeoutError):
            pass  # find out which shards failed, below
        while pending:
            ready, _ = ray.wait(list(pending.values()), num_returns=len(pending),
                                timeout=max(0.0, deadline - time.monotonic()))
            for k in [k for k, r in pending.items() if r in ready]:
                ref = pending.pop(k)
                try:
                    results[k] = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    failed[k] = f"actor died ({type(exc).__name__})"
                except ray.exceptions.RayTaskError as exc:
                    if not _is_restarted(exc):
                        raise ClusterError(f"shard {k}: frame failed: {exc}") from exc
                    # it died between frames: this frame went to its restarted, empty actor
                    failed[k] = "actor died between frames (restarted by Ray)"
            if pending and time.monotonic() >= deadline:
                for k in pending:
                    failed[k] = f"no answer within {self.frame_timeout:g} s"
                break
        return results, failed

    def _graph_frame(self, graph: FrameGraph, args: dict[int, bytes], seq: int,
                     wall0: float) -> tuple[dict[int, Any], dict[int, str], set[int]]:
        """One frame on the compiled graph: (replies, failure reasons, shards killed as hung).

        A broken graph loses every reply and does not say which shard broke it: after a timeout
        the silent shards are killed (for Ray to restart), the graph is torn down in the
        background, and each shard is asked whether it ran frame ``seq``; one that did hands over
        its reply, one the frame never reached runs it now through an ordinary call (a shard runs
        a frame serial at most once), the rest are recovered by the caller.
        ``wall0``: ``time.time()`` at the frame's start (a restarted actor that started before
        it died between frames).
        """
        import ray

        try:
            return graph.run(args, self.frame_timeout), {}, set()
        except ShardFrameError as exc:  # the shard's own error, as on the ordinary path; the graph is fine
            raise ClusterError(f"shard {exc.shard}: frame failed: {exc.error}") from exc.error
        except GraphBroken as exc:
            broken = exc
        log.warning("frame %d: the compiled frame graph failed (%s); asking each shard what it ran", seq, broken)
        shards = [k for k in graph.shards if k not in self.lost_shards and k in args]
        killed = self._kill_silent(shards, seq) if broken.timed_out else set()
        silent = f"no answer within {self.frame_timeout:g} s"
        failed = {k: silent for k in killed}
        results: dict[int, Any] = {}
        rerun = []
        pending = [k for k in shards if k not in killed]
        deadline = time.monotonic() + max(1.0, self.frame_timeout - (time.time() - wall0))
        while pending:  # until each shard has finished the frame, never got it, or failed
            refs = {k: self._actors[k].frame_status.remote(seq) for k in pending}
            pending = []
            for k, ref in refs.items():
                try:
                    state, reply, started = ray.get(ref, timeout=max(0.5, deadline - time.monotonic()))
                except ray.exceptions.GetTimeoutError:
                    failed[k] = silent
                    continue
                except ray.exceptions.RayActorError as exc:
                    failed[k] = f"actor died ({type(exc).__name__})"
                    continue
                if state == "done":
                    results[k] = reply
                elif state == "absent":  # never got it: run it now (a late delivery then returns this reply)
                    rerun.append(k)
                elif state == "restarted":
                    failed[k] = ("actor died between frames (restarted by Ray)" if started < wall0
                                 else "actor died (restarted by Ray)")
                elif time.monotonic() < deadline:  # still running it
                    pending.append(k)
                else:
                    failed[k] = silent
            if pending:
                time.sleep(0.002)
        # torn down once every shard has settled (no reply left in flight), in the background:
        # Ray's teardown waits for killed actors to come back
        self._drop_graph()
        if rerun:  # through the ordinary path, with its failure mapping
            got, why = self._remote_frame({k: args[k] for k in rerun})
            results.update(got)
            failed.update(why)
        return results, failed, killed

    def _kill_silent(self, shards: list[int], seq: int) -> set[int]:
        """Kill (for Ray to restart) the shards that do not answer within 2 s or still run frame
        ``seq`` after its deadline; returns them."""
        import ray

        refs = {k: self._actors[k].frame_status.remote(seq) for k in shards}
        deadline = time.monotonic() + min(2.0, self.frame_timeout)
        out = set()
        for k, ref in refs.items():
            try:
                state = ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))[0]
            except ray.exceptions.GetTimeoutError:
                state = "silent"
            except ray.exceptions.RayError:  # dead: Ray restarts it (or not) by itself
                continue
            if state in ("running", "silent"):
                log.warning("shard %d gives no answer to frame %d: killing it for Ray to restart", k, seq)
                ray.kill(self._actors[k], no_restart=False)
                out.add(k)
        return out

    def _frame_args(self, k: int, mode: str, arg: float, clock: tuple[float, int], ckpt: bool,
                    only: npt.NDArray[np.bool_] | None = None, seq: int = 0) -> bytes:
        """Shard ``k``'s frame request: one bytes object (Ray's cheapest argument), filled in place."""
        L = self.layout
        m = self._maps[k]
        buf = bytearray(request_size(m.sens_idx.size, m.rows.size))
        sens, flags = pack_request(buf, mode, arg, clock, ckpt, m.sens_idx.size, m.rows.size, seq)
        np.take(L.sensor_values, m.sens_idx, out=sens, mode="clip")  # indices valid: "clip" skips a buffer
        flags[0] = L.sleeping[m.rows] if only is None else L.sleeping[m.rows] | ~only[m.rows]
        flags[1] = L.lod_every[m.rows]
        flags[2] = L.learn[m.rows]
        return bytes(buf)

    def _gather(self, results: dict[int, FrameReply], n: int) -> SpikeRecord:
        """Scatter actuators and step counters into the mirror; the shards' spikes become one
        record in the single-process order (by step, then global neuron), merged on first use."""
        L = self.layout
        parts = []
        count = 0
        for k, r in results.items():
            m = self._maps[k]
            if r.steps != n:
                raise ClusterError(f"shard {k} ran {r.steps} steps, the cluster clock says {n}")
            if r.act_out.size != m.act_idx.size or r.brain_step.size != m.rows.size:
                raise ClusterError(f"shard {k} answered for {r.brain_step.size} brains, the coordinator expects "
                                   f"{m.rows.size} (stale layout?)")
            L.act_out[m.act_idx] = r.act_out
            L.brain_step[m.rows] = r.brain_step
            if r.n_spikes:
                parts.append((r, m.local_start, m.global_start))
                count += r.n_spikes
        if not parts:
            return SpikeRecord.empty()
        return MergedSpikes(parts, n, max(L.n_neurons, 1), self.step_count, count)

    # ------------------------------------------------------------------ faults
    def _recover(self, k: int, reason: str, since: float, killed: bool = False) -> Rollback | None:
        """Bring shard ``k`` back (Ray restarts the actor), restore its checkpoint; None if lost.
        ``since``: ``time.perf_counter()`` when the failed frame started (for the report);
        ``killed``: a silent shard was killed already (a second kill would hit its replacement)."""
        import ray

        t0 = time.monotonic()
        log.warning("shard %d failed (%s): waiting for Ray to restart it", k, reason)
        actor = self._actors[k]
        if reason.startswith("no answer") and not killed:
            ray.kill(actor, no_restart=False)  # a hung shard is treated as a dead one
        deadline = t0 + self.restart_timeout
        while True:
            try:
                ray.get(actor.ping.remote(), timeout=max(0.05, min(2.0, deadline - time.monotonic())))
                break
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                if time.monotonic() >= deadline:
                    log.error("shard %d did not come back within %g s: marking it lost (its %d brains stop)",
                              k, self.restart_timeout, self._maps[k].serials.size)
                    self._mark_lost(k)
                    return None
                time.sleep(0.05)
        data = self._ckpt[k]
        m = self._maps[k]
        if data is None:
            raise ClusterError(f"shard {k}: restarted but has no checkpoint to restore")
        before = self.layout.brain_step[m.rows].copy()
        try:
            info = ray.get(actor.restore.remote(data, self.step_count), timeout=self.frame_timeout)
        except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError) as exc:
            log.error("shard %d: restore failed (%r): marking it lost", k, exc)
            self._mark_lost(k)
            return None
        if not np.array_equal(np.asarray(info["brain_serial"]), m.serials):
            raise ClusterError(f"shard {k}: its checkpoint holds other brains than the coordinator expects")
        self._apply_info(k, info)
        self._graph_wait = False  # the restarted actor may be elsewhere now
        after = self.layout.brain_step[m.rows]
        rb = Rollback(k, m.serials.copy(), (before - after).astype(np.int64), reason, time.perf_counter() - since)
        log.warning("shard %d restored from its checkpoint at step %d in %.2f s: %d brains rolled back by up to "
                    "%d steps", k, self._ckpt_step[k], rb.seconds, rb.brains.size,
                    int(rb.steps.max()) if rb.steps.size else 0)
        return rb

    def _mark_lost(self, k: int) -> None:
        import ray

        self.lost_shards.add(k)
        self._graph_wait = False  # fewer shards: a compiled graph may fit now
        try:
            ray.kill(self._actors[k], no_restart=True)
        except Exception as exc:  # already gone
            log.debug("kill of lost shard %d: %r", k, exc)
        L = self.layout
        m = self._maps[k]
        L.act_out[m.act_idx] = 0.0

    def _lost_map(self, k: int) -> _ShardMap:
        m = self._maps[k]
        keep = np.array([int(s) in self._owner for s in m.serials], dtype=bool)
        out = _ShardMap(serials=m.serials[keep])
        out.rows = np.array([self._index[int(s)] for s in out.serials], dtype=np.int64)
        return out

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint(self, shards: Iterable[int]) -> None:
        ks = [k for k in shards if k not in self.lost_shards]
        for k, data in zip(ks, self._call_all("checkpoint", shards=ks), strict=True):
            self._ckpt[k], self._ckpt_step[k] = data, self.step_count

    def checkpoint(self) -> None:
        """Take a checkpoint of every live shard now."""
        self._check_usable("checkpoint")
        self._checkpoint(self._live())

    @property
    def checkpoint_steps(self) -> list[int]:
        """World step of each shard's last checkpoint."""
        return list(self._ckpt_step)

    # ------------------------------------------------------------------ learning
    def learning(self, enabled: bool | None = None) -> bool:
        """The world's learning switch (on every shard). ``None`` only reads it."""
        if enabled is not None:
            if not isinstance(enabled, (bool, np.bool_)):
                raise ValueError(f"enabled: must be true or false, got {enabled!r}")
            self._check_usable("learning")
            self._call_all("learning", bool(enabled))
            self.layout.learning = bool(enabled)
        return bool(self.layout.learning)

    def reward(self, values: npt.ArrayLike) -> None:
        """Add ``values`` (one per brain in ``brains`` order, or one scalar) to the brains' dopamine."""
        L = self.layout
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 0:
            arr = np.full(L.n_brains, float(arr))
        if arr.shape != (L.n_brains,):
            raise ValueError(f"reward: expected {L.n_brains} values (one per brain), got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ValueError(f"reward: value for brain row {bad} is {arr[bad]!r}; rewards must be finite")
        self._check_usable("reward")
        args = {k: (arr[self._maps[k].rows],) for k in self._live() if self._maps[k].rows.size}
        self._call_all_each("reward", args)

    # ------------------------------------------------------------------ reports
    def stats(self) -> dict[str, Any]:
        """Counts for dashboards, summed over shards, plus per-shard rows and fault history."""
        L = self.layout
        ov = sorted(self.ray_overhead_s[-600:])
        return {
            "brains": L.n_brains, "neurons": L.n_neurons, "synapses": L.n_synapses,
            "steps": self.step_count, "time_s": self.time, "spikes": self.total_spikes,
            "mean_rate_hz": (self.total_spikes / (L.n_neurons * self.time) if L.n_neurons and self.time > 0 else 0.0),
            "backend": "cluster", "dropped_steps": self.clock.dropped_steps, "bus_errors": self.bus.errors,
            "shards": [{"shard": k, "brains": int(m.serials.size), "neurons": m.neurons, "synapses": m.synapses,
                        "lost": k in self.lost_shards, "checkpoint_step": self._ckpt_step[k]}
                       for k, m in enumerate(self._maps)],
            "rollbacks": len(self.rollbacks), "lost_shards": sorted(self.lost_shards),
            "ray_overhead_ms_median": 1e3 * ov[len(ov) // 2] if ov else 0.0,
            "frame_path": self.frame_path_active, "graph_reason": self.graph_reason,
        }

    # ------------------------------------------------------------------ snapshots
    def save(self, path: str | Path) -> None:
        """Write one snapshot file of the whole cluster (see :mod:`spikeforge.cluster.snapshot`)."""
        from spikeforge.cluster.snapshot import save_cluster

        self._check_usable("save")
        if self.lost_shards:
            raise ClusterError(f"save: shards {sorted(self.lost_shards)} are lost; their brains' state is gone")
        save_cluster(self, Path(path), self._call_all("checkpoint"))

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> ClusterWorld:
        """Restore a cluster saved with :meth:`save` onto new shard actors (same shard count);
        ``kwargs`` as the constructor (``address``, ``threads``, timeouts, ...)."""
        from spikeforge.cluster.snapshot import load_cluster

        return load_cluster(Path(path), **kwargs)

    def close(self) -> None:
        """Stop the shard actors (the Ray cluster itself stays up)."""
        import ray

        if self._closed:
            return
        self._closed = True
        self._graph_off = True
        self._drop_graph()  # before the kills: its loops exit cleanly
        for g in self._old_graphs:
            if not g.wait_teardown(min(self.frame_timeout, 10.0)):
                log.warning("close: a compiled frame graph's teardown still runs; killing its actors")
        self._old_graphs = []
        for a in self._actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception as exc:  # already dead
                log.debug("kill: %r", exc)

    def __enter__(self) -> ClusterWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------- handles
class ClusterBrain:
    """A handle on one brain of a :class:`ClusterWorld`.

    Organ arrays are :class:`LiveArray` handles on the coordinator's mirror (zero-copy; sensors
    travel with the next frame); neuron and synapse state lives on the brain's shard and is read
    as copies. A despawned brain's handles raise :class:`StaleHandleError`.
    """

    def __init__(self, world: ClusterWorld, serial: int, prototype: str) -> None:
        self._world = world
        self.id = serial
        self.prototype = prototype

    def __repr__(self) -> str:
        return f"ClusterBrain(id={self.id}, prototype={self.prototype!r}, alive={self.alive})"

    @property
    def alive(self) -> bool:
        """False once the brain has been despawned (its handles then raise :class:`StaleHandleError`)."""
        return self.id in self._world._index

    @property
    def lost(self) -> bool:
        """True when the brain's shard is lost (the brain no longer runs)."""
        return self._world._owner.get(self.id) in self._world.lost_shards

    @property
    def shard(self) -> int:
        """The shard that holds this brain."""
        return self._world.shard_of(self.id)

    @property
    def index(self) -> int:
        """Current row in the mirror (changes on spawn/despawn)."""
        try:
            return self._world._index[self.id]
        except KeyError:
            raise StaleHandleError(f"brain {self.id} has been despawned") from None

    def _organ(self, kind: str, name: str) -> LiveArray:
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
        """The sensor's values for this brain: a writable (channels,) :class:`LiveArray` on the
        coordinator's mirror (sent to the shard with the next frame)."""
        return self._organ("sensor", name)

    def set_sensor(self, name: str, values: npt.ArrayLike) -> None:
        """Write sensor values, rejecting NaN/inf and wrong shapes (nothing is written then)."""
        view = self.sensor(name).current()
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
        if arr.size == 1 and view.size != 1:
            arr = np.full(view.size, float(arr[0]))
        if arr.size != view.size:
            raise ValueError(f"sensor {name!r}: expected {view.size} values, got {arr.size}")
        if not np.all(np.isfinite(arr)):
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ValueError(f"sensor {name!r}: channel {bad} is {arr[bad]!r}; values must be finite")
        view[:] = arr

    def actuator(self, name: str) -> LiveArray:
        """Decoded actuator output of the last advance: a (width,) :class:`LiveArray`."""
        return self._organ("actuator", name)

    @property
    def lod_every(self) -> int:
        """Level of detail: the brain ticks on every ``lod_every``-th frame of ``advance`` (1 = every frame).

        Raise it for NPCs far from the player to save CPU; setting it raises :class:`ValueError` unless it is
        an integer >= 1. Takes effect with the next frame.
        """
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
        """Pause this brain: every advance skips it until :meth:`wake` (from the next frame on)."""
        self._world.layout.sleeping[self.index] = True

    def wake(self) -> None:
        """Resume a sleeping brain: the next frame steps it again (it does not catch up)."""
        self._world.layout.sleeping[self.index] = False

    @property
    def frozen(self) -> bool:
        """True when this brain's plasticity is switched off (see :meth:`freeze`)."""
        return not bool(self._world.layout.learn[self.index])

    def freeze(self) -> None:
        """Stop this brain's learning (takes effect with the next frame)."""
        self._world.layout.learn[self.index] = 0

    def unfreeze(self) -> None:
        """Switch this brain's learning back on (takes effect with the next frame)."""
        self._world.layout.learn[self.index] = 1

    @property
    def steps(self) -> int:
        """Steps this brain has run (as of the last frame)."""
        return int(self._world.layout.brain_step[self.index])

    def reward(self, value: float) -> None:
        """Add ``value`` to this brain's dopamine level."""
        x = float(value)
        if not np.isfinite(x):
            raise ValueError(f"reward: value must be finite, got {value!r}")
        full = np.zeros(self._world.layout.n_brains, np.float64)
        full[self.index] = x
        self._world.reward(full)

    def _shard_call(self, method: str, *args: Any) -> Any:
        w = self._world
        k = w.shard_of(self.id)
        if k in w.lost_shards:
            raise ClusterError(f"brain {self.id}: its shard {k} is lost")
        return w._call_all(method, *args, shards=[k])[0]

    def state(self, population: str, key: str) -> npt.NDArray[Any]:
        """A copy of one per-neuron state array (``"v"``, ``"w"``, ...) of one population."""
        return np.asarray(self._shard_call("brain_state", self.id, population, key))

    def weights(self, projection: str) -> dict[str, npt.NDArray[Any]]:
        """Copies of one projection's ``w``, ``elig``, and brain-local ``pre``/``post`` neurons."""
        return dict(self._shard_call("weights", self.id, projection))

    def set_weights(self, projection: str, values: npt.ArrayLike) -> None:
        """Overwrite one projection's weights in this brain (on its shard).

        Parameters
        ----------
        projection : str
            Projection name (``Circuit.connect(..., name=...)``, else ``"pre->post"``).
        values : array_like of float
            One finite value per synapse in :meth:`weights` order, or a scalar for all (mV of drive per
            spike). Learning-rule bounds are not applied.

        Raises
        ------
        ClusterError
            If the brain's shard is lost or does not answer.
        """
        self._shard_call("set_weights", self.id, projection, np.asarray(values, dtype=np.float64))


class ClusterGroup:
    """All brains of one prototype; organ arrays are (brains x channels) views into the mirror."""

    def __init__(self, world: ClusterWorld, proto_index: int) -> None:
        self._world = world
        self._p = proto_index
        self.name = world.prototypes[proto_index].circuit.name

    @property
    def brains(self) -> list[ClusterBrain]:
        """The live brains of this prototype, in row order of the organ arrays."""
        L = self._world.layout
        return [self._world._handles[int(s)] for s in L.brain_serial[L.brain_proto == self._p]]

    def _organ(self, kind: str, name: str) -> LiveArray:
        world = self._world
        sensor = kind == "sensor"
        L0 = world.layout
        _find_group(L0.sensor_groups if sensor else L0.actuator_groups, self._p, name, self.name)

        def resolve() -> np.ndarray:
            L = world.layout
            if sensor:
                g = _find_group(L.sensor_groups, self._p, name, self.name)
                return L.sensor_values[g.offset:g.offset + g.brains * g.channels].reshape(g.brains, g.channels)
            g = _find_group(L.actuator_groups, self._p, name, self.name)
            return L.act_out[g.out_offset:g.out_offset + g.brains * g.width].reshape(g.brains, g.width)

        return LiveArray(resolve, f"{kind} {name!r} of prototype {self.name!r}")

    def sensor(self, name: str) -> LiveArray:
        """The (brains x channels) sensor values, rows in :attr:`brains` order: a :class:`LiveArray`
        on the coordinator's mirror that follows spawns and despawns."""
        return self._organ("sensor", name)

    def actuator(self, name: str) -> LiveArray:
        """The (brains x width) actuator outputs of the last advance: a :class:`LiveArray`."""
        return self._organ("actuator", name)

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
        """One reward per brain of this prototype (``brains`` order) or a scalar for all."""
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


# ---------------------------------------------------------------------- helpers
def _is_restarted(exc: BaseException) -> bool:
    """Whether a Ray task error is a :class:`ShardRestartedError` raised in the shard actor."""
    return isinstance(exc, ShardRestartedError) or isinstance(getattr(exc, "cause", None), ShardRestartedError)


def _circuit_key(c: Circuit) -> str:
    import json

    return json.dumps(c.to_dict(), sort_keys=True)


def _find_group(groups: list[OrganGroup], proto: int, name: str, proto_name: str = "") -> OrganGroup:
    for g in groups:
        if g.proto == proto and g.name == name:
            return g
    raise KeyError(f"organ: prototype {proto_name or proto!r} has no organ {name!r}")


def _carry(old: ClusterLayout, new: ClusterLayout) -> None:
    """Copy the per-brain mirror values of brains present in both layouts (by serial)."""
    if old.n_brains == 0 or new.n_brains == 0:
        return
    common, oi, ni = np.intersect1d(old.brain_serial, new.brain_serial, return_indices=True)
    if common.size == 0:
        return
    for name in ("brain_step", "sleeping", "lod_every", "learn"):
        getattr(new, name)[ni] = getattr(old, name)[oi]
    row_old = {int(s): int(r) for s, r in zip(old.brain_serial[oi], oi, strict=True)}
    for groups_new, groups_old, buf_new, buf_old, w_attr, off_attr in (
            (new.sensor_groups, old.sensor_groups, new.sensor_values, old.sensor_values, "channels", "offset"),
            (new.actuator_groups, old.actuator_groups, new.act_out, old.act_out, "width", "out_offset")):
        olds = {(g.proto, g.name): g for g in groups_old}
        for g in groups_new:
            go = olds.get((g.proto, g.name))
            if go is None or g.brains == 0 or go.brains == 0:
                continue
            serials = new.brain_serial[g.brain0:g.brain0 + g.brains]
            have = np.array([int(s) in row_old for s in serials], dtype=bool)
            if not have.any():
                continue
            r_new = np.flatnonzero(have)
            r_old = np.array([row_old[int(s)] - go.brain0 for s in serials[have]], dtype=np.int64)
            w = getattr(g, w_attr)
            dst = (getattr(g, off_attr) + r_new[:, None] * w + np.arange(w)).reshape(-1)
            src = (getattr(go, off_attr) + r_old[:, None] * w + np.arange(w)).reshape(-1)
            buf_new[dst] = buf_old[src]

