"""Learning groups: several brains of one circuit that learn as ONE learner (shared weights).

Per-brain online learning makes every NPC learn from its own experience, so brains spawned
from one circuit drift apart. A :class:`LearningGroup` (``world.share_learning(ids)``) keeps
its members' plastic weights identical: each member's plasticity runs in the step as usual
(its own traces, eligibility and dopamine: its own rewards), and after every
:meth:`~spikeforge.runtime.world.World.advance` / :meth:`~spikeforge.runtime.world.World.step`
the members' weight changes since the previous combine are combined into one change (their
mean, or their sum) and the result is written into every member. The combine is exact
integer arithmetic over the members (:mod:`spikeforge.engine.shared` states it), so it is
deterministic, independent of the order of the members, and the same on every backend.

What is shared: the weights of the circuit's plastic synapses (every projection with an
STDP, reward-STDP or modulated-Hebbian rule), within each rule's ``[w_min, w_max]``. What
is not: eligibility traces, spike traces, dopamine and adaptive thresholds (per-brain
state: each member's own experience), and weights of projections without a rule (they do
not learn).

Example
-------
>>> from spikeforge import World, Circuit, LIF
>>> from spikeforge.model.plasticity import RewardSTDP
>>> c = Circuit("npc").add_population("a", 4, LIF(bias=20.0)).add_population("b", 2, LIF())
>>> _ = c.connect("a", "b", weight=2.0, name="a->b", plasticity=RewardSTDP(lr=0.1))
>>> world = World(backend="numpy", seed=1)
>>> npcs = world.spawn(c, 3)
>>> group = world.share_learning([b.id for b in npcs])
>>> group.members, group.synapses
([0, 1, 2], 8)
>>> world.reward([1.0, 0.0, -1.0]); _ = world.step(50)
>>> bool((npcs[0].weights("a->b").w == npcs[2].weights("a->b").w).all())
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from spikeforge.engine.layout import expand_ranges
from spikeforge.engine.plasticity import KIND_NONE, PF_WMAX, PF_WMIN, PI_KIND, compile_tables
from spikeforge.engine.shared import COMBINE_MODES, combine_changes

if TYPE_CHECKING:
    from spikeforge.runtime.world import World

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
_HOST = ("numpy", "native")


def resolve_ids(brain_ids: Iterable[int] | int, what: str) -> list[int]:
    """``brain_ids`` (ids, or one id) as a list of distinct ints; ``what`` names the argument in errors."""
    items = [brain_ids] if isinstance(brain_ids, (int, np.integer)) else list(brain_ids)
    out: list[int] = []
    for x in items:
        if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
            raise ValueError(f"{what}: expected brain ids (int), got {x!r}")
        out.append(int(x))
    if len(set(out)) != len(out):
        dup = next(x for x in out if out.count(x) > 1)
        raise ValueError(f"{what}: brain {dup} is listed twice")
    return out


@dataclass
class Wiring:
    """The shared synapses of one brain of a group's circuit, in layout order: each one's
    brain-local pre and post neuron, its projection (index within the circuit) and delay
    (steps). Two brains can share learning when their wirings are equal."""

    pre: I64
    post: I64
    proj: I64
    delay: I64

    def arrays(self) -> dict[str, I64]:
        """The four arrays by name (for snapshots)."""
        return {"pre": self.pre, "post": self.post, "proj": self.proj, "delay": self.delay}

    def differs(self, m: int, other: Wiring) -> str | None:
        """Why row ``m`` of ``other`` (a (M, S) wiring) is not this wiring, or None."""
        for name, a in self.arrays().items():
            b = other.arrays()[name]
            if b.shape[1] != a.size:
                return f"{b.shape[1]} plastic synapses, the group's brains {a.size}"
            if not np.array_equal(b[m], a):
                k = int(np.flatnonzero(b[m] != a)[0])
                return (f"its plastic synapse {k} has {name} {int(b[m, k])}, the group's {int(a[k])} "
                        "(another draw of a random connectivity rule?)")
        return None


def _tables(world: World) -> tuple[npt.NDArray[np.int32], F32, F32]:
    """(kind, w_min, w_max) per global projection of the world's current layout."""
    T = compile_tables(world.layout)
    return (T.proj_i[:, PI_KIND].astype(np.int32), T.proj_f[:, PF_WMIN].astype(np.float32),
            T.proj_f[:, PF_WMAX].astype(np.float32))


def shared_synapses(world: World, rows: I64) -> tuple[I64, Wiring, F32, F32]:
    """The plastic synapses of the brains in layout ``rows`` (all of one circuit), vectorized.

    Returns ``(index, wiring, lo, hi)``: ``index`` (M, S) global synapse indices (each row
    ascending), ``wiring`` with (M, S) arrays, and the weight bounds of the first brain's
    synapses (S,). Raises ``ValueError`` when the brains have different numbers of plastic
    synapses (then no (M, S) shape exists)."""
    L = world.layout
    kind, wmin, wmax = _tables(world)
    s, e = L.brain_start[rows], L.brain_start[rows + 1]
    r_all, r_owner = expand_ranges(L.row_ptr[s], L.row_ptr[e])
    keep = kind[L.row_proj[r_all]] != KIND_NONE if r_all.size else np.zeros(0, bool)
    r_all, r_owner = r_all[keep], r_owner[keep]
    syn, which = expand_ranges(L.row_syn[r_all], L.row_syn[r_all + 1])
    member = r_owner[which]
    counts = np.bincount(member, minlength=rows.size)
    M = int(rows.size)
    if M and bool((counts != counts[0]).any()):
        m = int(np.flatnonzero(counts != counts[0])[0])
        raise ValueError(f"brain_ids: brain {int(L.brain_serial[rows[m]])} has {int(counts[m])} plastic synapses, "
                         f"brain {int(L.brain_serial[rows[0]])} {int(counts[0])}: a learning group needs brains "
                         "wired alike (one circuit, the same draw of its connectivity)")
    S = int(counts[0]) if M else 0
    row = r_all[which]
    base = s[member]
    pre_n = np.searchsorted(L.row_ptr, row, side="right") - 1
    proto = L.prototypes[int(L.brain_proto[rows[0]])] if M else None
    proj = L.row_proj[row].astype(np.int64)
    wiring = Wiring(pre=(pre_n - base).reshape(M, S), post=(L.synapse["post"][syn] - base).reshape(M, S),
                    proj=(proj - (proto.proj_base if proto is not None else 0)).reshape(M, S),
                    delay=L.row_delay[row].astype(np.int64).reshape(M, S))
    first = proj[:S]
    return syn.reshape(M, S), wiring, wmin[first], wmax[first]


def strided_view(arr: F32, index: I64) -> F32 | None:
    """``arr[index]`` as a writable (M, S) view when ``index`` is regular (each row a run of
    consecutive synapses, the rows equally spaced upwards: brains in consecutive slots of one
    prototype, the usual case), so the combine reads and writes in place; else None."""
    M, S = index.shape
    if M == 0 or S == 0:
        return None
    start = index[:, 0]
    step = np.diff(start)
    stride = int(step[0]) if M > 1 else S
    if bool((index != start[:, None] + np.arange(S)).any()) or stride < S or bool((step != stride).any()):
        return None
    base = arr[int(start[0]):]
    return np.lib.stride_tricks.as_strided(base, shape=(M, S), strides=(stride * arr.itemsize, arr.itemsize))


class LearningGroup:
    """Brains of one circuit learning as one learner (see the module docstring).

    Made by :meth:`World.share_learning <spikeforge.runtime.world.World.share_learning>`;
    the world combines the group after every step call, so between calls every member holds
    the group's weights.

    Attributes
    ----------
    combine : str
        ``"mean"`` (the members' changes averaged: one brain's learning rate) or ``"sum"``.
    prototype : int
        The index of the circuit (``world.prototypes``) its brains are spawned from.
    syncs : int
        Combines that changed weights so far (not saved in snapshots).
    """

    def __init__(self, world: World, proto: int, wiring: Wiring, weights: F32, combine: str) -> None:
        self._world = world
        self.prototype = proto
        self.combine = combine
        self._wiring = wiring
        self._ref = weights
        self._members: list[int] = []
        self._key: tuple[int, int] | None = None
        self._index = np.zeros((0, wiring.pre.size), np.int64)
        self._lo = np.zeros(wiring.pre.size, np.float32)
        self._hi = np.zeros(wiring.pre.size, np.float32)
        self._rows = np.zeros(0, np.int64)
        self._view: F32 | None = None
        self.syncs = 0
        self.closed = False

    def __repr__(self) -> str:
        return (f"LearningGroup({self._world.prototypes[self.prototype].circuit.name!r}, "
                f"{len(self._members)} brains, {self.synapses} shared synapses, combine={self.combine!r})")

    @property
    def members(self) -> list[int]:
        """Ids of the member brains, ascending (despawned brains leave the group)."""
        return list(self._members)

    @property
    def synapses(self) -> int:
        """Shared (plastic) synapses per brain."""
        return int(self._wiring.pre.size)

    def weights(self) -> F32:
        """The group's weights (a copy, shape ``(synapses,)``, the members' plastic synapses in
        layout order): what every member holds after the last combine."""
        return self._ref.copy()

    def _check_open(self, what: str) -> None:
        if self.closed:
            raise RuntimeError(f"{what}: this learning group was dissolved (World.unshare_learning)")

    # ------------------------------------------------------------------ membership
    def _check_joinable(self, ids: list[int], what: str) -> I64:
        """Rows of ``ids``: live brains of this group's circuit, wired like it, in no group."""
        w = self._world
        rows = w.rows(ids)  # LookupError names an id that is not a live brain
        L = w.layout
        name = w.prototypes[self.prototype].circuit.name
        for i, r in zip(ids, rows.tolist(), strict=True):
            p = int(L.brain_proto[r])
            if p != self.prototype:
                raise ValueError(f"{what}: brain {i} is a {w.prototypes[p].circuit.name!r} brain, the group's are "
                                 f"{name!r} brains; a learning group shares one circuit's weights")
            other = w._group_of.get(i)
            if other is not None and other is not self:
                raise ValueError(f"{what}: brain {i} is already in another learning group ({other.members}); "
                                 "remove it from that group first")
        _, wiring, _, _ = shared_synapses(w, rows)
        for m, i in enumerate(ids):
            why = self._wiring.differs(m, wiring)
            if why is not None:
                raise ValueError(f"{what}: brain {i} is wired unlike the group's brains: {why}")
        return rows

    def add(self, brain_ids: Iterable[int]) -> None:
        """Let brains join the group: they take the group's weights now (their own plastic
        weights are overwritten) and learn with it from the next step.

        Raises
        ------
        LookupError
            If an id is not a live brain.
        ValueError
            If a brain is of another circuit, wired otherwise, already in a group, or listed
            twice (nothing is changed then).
        """
        self._check_open("add")
        self._world._check_not_in_advance("LearningGroup.add")
        ids = [i for i in resolve_ids(brain_ids, "brain_ids") if i not in self._members]
        if not ids:
            return
        self._check_joinable(ids, "brain_ids")
        self.sync()  # the members' pending changes first, so the new brains get the group's weights
        w = self._world
        w.backend.pull_state()
        rows = w.rows(ids)
        idx, _, _, _ = shared_synapses(w, rows)
        w.layout.synapse["w"][idx] = self._ref[None, :]
        w._state_written(rows)
        w.backend.push_state()
        for i in ids:
            w._group_of[i] = self
        self._members = sorted(self._members + ids)
        self._key = None

    def remove(self, brain_ids: Iterable[int]) -> None:
        """Let member brains leave the group: they keep the group's current weights and learn
        on their own from then on.

        Raises
        ------
        ValueError
            If a brain is not a member (nothing is changed then).
        """
        self._check_open("remove")
        ids = resolve_ids(brain_ids, "brain_ids")
        for i in ids:
            if i not in self._members:
                raise ValueError(f"brain_ids: brain {i} is not a member of this learning group "
                                 f"(members: {self._members})")
        self.sync()
        self._drop(ids)

    def _drop(self, ids: Iterable[int]) -> None:
        """Forget members (despawned or removed) without a combine."""
        gone = set(ids)
        if not gone & set(self._members):
            return
        for i in gone:
            if self._world._group_of.get(i) is self:
                del self._world._group_of[i]
        self._members = [i for i in self._members if i not in gone]
        self._key = None

    # ------------------------------------------------------------------ the combine
    def _bind(self) -> None:
        """The members' (M, S) synapse indices in the current layout (recomputed when the
        layout or a slot changed)."""
        w = self._world
        key = (w.layout_generation, w._structure)
        if self._key == key:
            return
        self._rows = w.rows(self._members) if self._members else np.zeros(0, np.int64)
        self._view = None
        if self._members:
            self._index, wiring, self._lo, self._hi = shared_synapses(w, self._rows)
            for m in range(len(self._members)):  # an invariant: members cannot be re-wired
                why = self._wiring.differs(m, wiring)
                assert why is None, why
            self._view = strided_view(w.layout.synapse["w"], self._index)
        else:
            self._index = np.zeros((0, self.synapses), np.int64)
        self._key = key

    def sync(self) -> bool:
        """Combine the members' weight changes since the last combine now and write the
        result into every member (the world does this after every step call; call it
        yourself after writing weights between steps). Returns True when weights changed."""
        self._check_open("sync")
        if not self._members:
            return False
        self._bind()
        w = self._world
        host = w.backend_name in _HOST
        if not host:
            w.backend.pull_state()
        syn = w.layout.synapse["w"]
        view = self._view
        new = combine_changes(syn[self._index] if view is None else view, self._ref, self._lo, self._hi, self.combine)
        if new is None:
            return False
        if view is None:
            syn[self._index] = new[None, :]
        else:
            view[...] = new[None, :]
        self._ref = new
        self.syncs += 1
        w._state_written(self._rows)
        if not host:
            w.backend.push_state()
        return True


def check_combine(combine: object) -> str:
    """``combine`` if it is a known mode, else ``ValueError`` naming the field."""
    if not isinstance(combine, str) or combine not in COMBINE_MODES:
        raise ValueError(f"combine: must be one of {COMBINE_MODES}, got {combine!r}")
    return combine


def make_group(world: World, brain_ids: Iterable[int], combine: str = "mean", source: int | None = None,
               ) -> LearningGroup:
    """:meth:`World.share_learning <spikeforge.runtime.world.World.share_learning>`'s work:
    check everything, then write the source brain's plastic weights into every member."""
    combine = check_combine(combine)
    ids = resolve_ids(brain_ids, "brain_ids")
    if not ids:
        raise ValueError("brain_ids: a learning group needs at least one brain")
    if source is not None and (isinstance(source, bool) or not isinstance(source, (int, np.integer))):
        raise ValueError(f"source: expected a brain id (int) or None, got {source!r}")
    src = ids[0] if source is None else int(source)
    if src not in ids:
        raise ValueError(f"source: brain {src} is not among brain_ids {ids}")
    rows = world.rows(ids)  # LookupError names an id that is not a live brain
    L = world.layout
    proto = int(L.brain_proto[rows[0]])
    name = world.prototypes[proto].circuit.name
    for i, r in zip(ids, rows.tolist(), strict=True):
        p = int(L.brain_proto[r])
        if p != proto:
            raise ValueError(f"brain_ids: brain {i} is a {world.prototypes[p].circuit.name!r} brain, brain "
                             f"{ids[0]} a {name!r} brain; a learning group shares one circuit's weights")
        if i in world._group_of:
            raise ValueError(f"brain_ids: brain {i} is already in a learning group ({world._group_of[i].members}); "
                             "remove it from that group first")
    idx, wiring, _, _ = shared_synapses(world, rows)
    if idx.shape[1] == 0:
        raise ValueError(f"brain_ids: circuit {name!r} has no projection with a learning rule: no weights to share")
    m0 = ids.index(src)
    template = Wiring(*(a[m0].copy() for a in (wiring.pre, wiring.post, wiring.proj, wiring.delay)))
    for m, i in enumerate(ids):
        why = template.differs(m, wiring)
        if why is not None:
            raise ValueError(f"brain_ids: brain {i} is wired unlike brain {src}: {why}")
    world.backend.pull_state()
    syn = L.synapse["w"]
    ref = syn[idx[m0]].copy()
    syn[idx] = ref[None, :]
    world._state_written(rows)
    world.backend.push_state()
    group = LearningGroup(world, proto, template, ref, combine)
    group._members = sorted(ids)
    for i in ids:
        world._group_of[i] = group
    return group


def save_groups(world: World) -> tuple[list[dict[str, object]], dict[str, np.ndarray]]:
    """A snapshot's record of the world's learning groups: manifest entries (members,
    combine, circuit) and arrays (``learning_group.<i>.<name>``: the group's weights, which
    may differ from a member's if weights were written since the last combine, and its
    wiring, so an empty group survives too)."""
    entries: list[dict[str, object]] = []
    arrays: dict[str, np.ndarray] = {}
    for i, g in enumerate(world.learning_groups):
        entries.append({"members": g.members, "combine": g.combine, "prototype": g.prototype})
        arrays[f"learning_group.{i}.w"] = g._ref
        for name, a in g._wiring.arrays().items():
            arrays[f"learning_group.{i}.{name}"] = a
    return entries, arrays


def restore_groups(world: World, entries: list[dict[str, object]], arrays: dict[str, np.ndarray]) -> None:
    """Re-make the learning groups of a snapshot in a freshly loaded ``world`` (bit-exact:
    the members' weights are the file's, the group's weights its own array). Raises
    ``ValueError``/``KeyError``/``LookupError`` naming what does not fit."""
    if not isinstance(entries, list):
        raise ValueError(f"learning_groups: expected a list, got {type(entries).__name__}")
    for i, e in enumerate(entries):
        proto = e["prototype"]
        combine = check_combine(e["combine"])
        if isinstance(proto, bool) or not isinstance(proto, int) or not 0 <= proto < len(world.prototypes):
            raise ValueError(f"learning_groups[{i}].prototype: no circuit {proto!r} in this snapshot")
        members = e["members"]
        if not isinstance(members, list):
            raise ValueError(f"learning_groups[{i}].members: expected a list of brain ids")
        ref = np.asarray(arrays[f"learning_group.{i}.w"])
        wiring = Wiring(*(np.asarray(arrays[f"learning_group.{i}.{n}"]).astype(np.int64)
                          for n in ("pre", "post", "proj", "delay")))
        if ref.dtype != np.float32 or ref.ndim != 1 or any(a.shape != ref.shape for a in wiring.arrays().values()):
            raise ValueError(f"learning_group.{i}: weights and wiring must be 1-d arrays of one length "
                             "(float32 weights)")
        group = LearningGroup(world, proto, wiring, ref.copy(), combine)
        ids = resolve_ids(members, f"learning_groups[{i}].members")
        if ids:
            group._check_joinable(ids, f"learning_groups[{i}].members")
        group._members = sorted(ids)
        for b in ids:
            world._group_of[b] = group
        world._learning_groups.append(group)
