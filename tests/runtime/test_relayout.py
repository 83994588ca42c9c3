"""Re-layouts (a new circuit, a prototype's capacity doubling, despawns that rebuild) copy the
old brains with whole-array gathers (engine/slots.py: relayout) instead of taking every brain
out as a block: the layouts must be bit for bit those of the block-by-block build."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.engine.native_nets import feature_net

from spikeforge import World
from spikeforge.engine import slots
from spikeforge.engine.compiler import proj_channels
from spikeforge.engine.layout import BrainBlock, Layout, expand_ranges
from spikeforge.engine.slots import Slot, SlotMoves, build_layout, shape_for, strip_pad, synapse_keys
from spikeforge.ipc.testing import probe_circuit
from spikeforge.model import LIF, Circuit, FixedInDegree, FixedProbability, RewardSTDP, Uniform


class BlockWorld(World):
    """A World that re-lays out as before the vectorized relayout: every brain out as a block."""

    def _build(self, per: dict[int, list[Slot]]) -> Layout:
        old = self.layout if hasattr(self, "layout") else None
        blocks: dict[int, list[BrainBlock | None]] = {
            p: [strip_pad(old.extract(x), self._pad) if isinstance(x, int) and old is not None else x
                for x in lst if not isinstance(x, int) or old is not None]
            for p, lst in per.items()}
        pad = self._pad_projection()
        for p in self._prototypes:
            live = [b for b in blocks.get(p.index, []) if b is not None]
            self._shapes[p.index] = shape_for(p, live, self._shapes.get(p.index))
        chans = np.array([c for p in self._prototypes for c in proj_channels(p)] + [0], dtype=np.int32)
        keys = synapse_keys(old.synapse if old is not None else None,
                            [b for lst in blocks.values() for b in lst if b is not None])
        layout = build_layout(self.dt * 1000.0, self._depth(), list(self._prototypes), self._shapes, blocks,
                              pad, chans, keys)
        self._pad = pad
        self._index = {int(x): i for i, x in enumerate(layout.brain_serial) if x >= 0}
        return layout


def _arrays(L: Layout) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in vars(L).items():
        if k.startswith("_"):  # caches derived from the arrays below
            continue
        if isinstance(v, np.ndarray):
            out[k] = v
        elif isinstance(v, dict):
            out.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        elif k in ("sensor_groups", "actuator_groups"):
            out[k] = [vars(g) for g in v]
        elif k != "prototypes":
            out[k] = v
    return out


def _same(a: World, b: World) -> None:
    a.backend.pull_state()
    b.backend.pull_state()
    xa, xb = _arrays(a.layout), _arrays(b.layout)
    assert sorted(xa) == sorted(xb)
    for k in xa:
        if isinstance(xa[k], np.ndarray):
            assert xa[k].dtype == xb[k].dtype, k
            assert np.array_equal(xa[k], xb[k]), k
        else:
            assert xa[k] == xb[k], k
    assert a._shapes == b._shapes and a._pad == b._pad and a._index == b._index


def _learner() -> Circuit:
    c = Circuit("learner")
    c.add_population("in", 10, LIF(t_ref=2.0), v_init=(-65.0, -55.0))
    c.add_population("hid", 20, LIF(bias=16.0), v_init=(-65.0, -52.0))
    c.connect("in", "hid", FixedProbability(0.4), weight=Uniform(1.0, 3.0), delay=(1, 3))
    c.connect("hid", "hid", FixedInDegree(4), weight=Uniform(0.2, 1.2), delay=(1, 9),
              plasticity=RewardSTDP(update_every=5))
    c.add_sensor("eyes", "in", channels=5, kind="poisson", max_rate=200.0)
    c.add_actuator("out", "hid", channels=4, kind="rate")
    return c


def _both(op: Any, worlds: tuple[World, World]) -> None:
    for w in worlds:
        op(w)
    _same(*worlds)


@pytest.mark.parametrize("backend", ["numpy", "native"])
def test_relayouts_equal_the_block_by_block_build(backend: str) -> None:
    worlds = (World(backend=backend, seed=3), BlockWorld(backend=backend, seed=3))
    rng = np.random.default_rng(0)

    def frames(w: World, k: int = 6) -> None:
        r = np.random.default_rng(w.step_count)
        for _ in range(k):
            w.layout.sensor_values[:] = r.random(w.layout.sensor_values.size, dtype=np.float32)
            w.advance(1 / 60)

    _both(lambda w: w.spawn(probe_circuit(), 7), worlds)
    _both(frames, worlds)
    _both(lambda w: w.spawn(_learner(), 5), worlds)          # new circuit, deeper ring, learning arrays
    _both(frames, worlds)
    _both(lambda w: w.brain(2).sleep(), worlds)
    _both(lambda w: w.set_learning([8, 9], False), worlds)
    _both(lambda w: setattr(w.brain(10), "lod_every", 2), worlds)
    _both(lambda w: w.despawn([1, 9]), worlds)               # free slots (in place)
    _both(frames, worlds)
    _both(lambda w: w.spawn(_learner(), 4), worlds)          # fills a free slot, then capacity doubles
    _both(frames, worlds)
    _both(lambda w: w.spawn(feature_net(), 3), worlds)       # electrical synapses, every organ kind
    _both(frames, worlds)
    _both(lambda w: w.despawn([w.brains[-2].id]), worlds)     # a gap-junction despawn rebuilds
    _both(frames, worlds)
    _both(lambda w: w.spawn(feature_net(), 3), worlds)
    _both(lambda w: w.spawn(probe_circuit("late"), 2), worlds)
    rewards = rng.random(len(worlds[0].brains))
    _both(lambda w: w.reward(rewards), worlds)
    _both(frames, worlds)
    a, b = (w.live_layout() for w in worlds)
    xa, xb = _arrays(a), _arrays(b)
    for k in xa:
        assert (np.array_equal(xa[k], xb[k]) if isinstance(xa[k], np.ndarray) else xa[k] == xb[k]), k


def test_compact_world_relayouts_equal_the_block_by_block_build() -> None:
    worlds = (World(backend="numpy", seed=5, compact=True), BlockWorld(backend="numpy", seed=5, compact=True))
    _both(lambda w: w.spawn(_learner(), 6), worlds)
    _both(lambda w: w.step(7), worlds)
    _both(lambda w: w.despawn([0, 3]), worlds)
    _both(lambda w: w.spawn(probe_circuit(), 2), worlds)
    _both(lambda w: w.step(7), worlds)
    _both(lambda w: w.spawn(_learner(), 1), worlds)


def _world(backend: str) -> World:
    w = World(backend=backend, seed=4)
    w.spawn(_learner(), 6)
    w.spawn(probe_circuit(), 3)
    w.step(10)
    w.despawn([2])
    return w


def _meanwhile(w: World) -> None:
    """What other clients do while a re-layout is built off the lock."""
    w.step(7, only=[0, 1, 4, 7])
    w.layout.sensor_values[:] = 0.25
    w.reward(np.linspace(0.1, 0.8, len(w.brains)))
    w.set_learning([3], False)
    w.brain(7).sleep()
    w.step(3)


@pytest.mark.parametrize("backend", ["numpy", "native"])
@pytest.mark.parametrize("case", ["new", "grow", "gap"])
@pytest.mark.parametrize("copy", ["runs", "pieces", "gathers"])
def test_a_relayout_built_off_lock_equals_spawn(backend: str, case: str, copy: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    if copy != "runs":  # every copy in pieces of 7 elements
        monkeypatch.setattr(slots, "CHUNK", 7)
    if copy == "gathers":  # the state copy by index arrays (brains scattered), not by runs of slices
        plan = SlotMoves.plan

        def by_index(self: SlotMoves, which: str) -> Any:
            src, dst, ln, _, _ = plan(self, which)
            a, b, m = (self.n_old, self.n_new, self.n_len) if which == "n" else (self.y_old, self.y_new, self.y_len)
            return src, dst, ln, expand_ranges(a, a + m)[0], expand_ranges(b, b + m)[0]

        monkeypatch.setattr(SlotMoves, "plan", by_index)
    circuit, count = {"new": (probe_circuit("other"), 2), "grow": (_learner(), 9), "gap": (feature_net(), 2)}[case]
    a, b = _world(backend), _world(backend)
    if case == "gap":  # a gap-junction prototype with a free slot: still a re-layout
        for w in (a, b):
            w.spawn(feature_net(), 3)
            w.despawn([w.brains[-1].id])
        count = 1
    prep = a.prepare_spawn(circuit, count)
    assert prep is not None and prep.relayout
    prep.draw()
    gen = a.layout_generation
    _meanwhile(a)
    made = a.relayout_backends_prebuilt
    got = [h.id for h in a.commit_spawn(prep)]
    _meanwhile(b)
    want = [h.id for h in b.spawn(circuit, count)]
    assert got == want and a.layout_generation == gen + 1
    # the backend of the new layout was made in draw(), off the lock
    assert a.relayout_backends_prebuilt == made + 1 and a.backend_name == b.backend_name == backend
    _same(a, b)
    for w in (a, b):
        w.step(12)
    _same(a, b)


def test_a_relayout_whose_world_changed_meanwhile_is_redone_under_the_lock() -> None:
    a, b = _world("numpy"), _world("numpy")
    pa, pb = a.prepare_spawn(probe_circuit("other"), 2), b.prepare_spawn(probe_circuit("other"), 2)
    assert pa is not None and pb is not None
    pa.draw()  # b's is drawn at the commit, under the lock
    for w in (a, b):
        w.spawn(_learner(), 1)  # into the free slot: the slots a's layout was built from changed
        _meanwhile(w)
    assert [h.id for h in a.commit_spawn(pa)] == [h.id for h in b.commit_spawn(pb)]
    _same(a, b)
    with pytest.raises(RuntimeError, match="committed already"):
        a.commit_spawn(pa)


@pytest.mark.parametrize("backend", ["numpy", "native"])
def test_modulatory_input_written_between_draw_and_commit_remakes_the_backend(backend: str) -> None:
    """No row of these circuits is modulatory, so the native engine made off-lock saw an empty
    modulatory channel; input written there meanwhile makes the swap make the backend again
    (else the engine would not deliver it): bit for bit World.spawn."""
    a, b = _world(backend), _world(backend)
    assert not np.any(a.layout.row_chan == 2)
    prep = a.prepare_spawn(probe_circuit("other"), 2)
    assert prep is not None and prep.relayout
    prep.draw()
    made = a.relayout_backends_prebuilt
    for w in (a, b):
        w.step(4)
        w.layout.ring[:, 2, : w.layout.n_neurons // 2] = 3 << 16
    a.commit_spawn(prep)
    b.spawn(probe_circuit("other"), 2)
    assert a.relayout_backends_prebuilt == made
    for w in (a, b):
        w.step(12)
    _same(a, b)


def test_a_backend_made_off_lock_is_dropped_when_the_commit_re_lays_out_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []
    a, b = _world("native"), _world("native")
    prep, pb = a.prepare_spawn(probe_circuit("other"), 2), b.prepare_spawn(probe_circuit("other"), 2)
    assert prep is not None and prep._plan is not None and pb is not None
    prep.draw()
    made = prep._plan.backend
    assert made is not None
    monkeypatch.setattr(made, "close", lambda: closed.append("closed"))
    for w in (a, b):
        w.spawn(_learner(), 1)  # the slots changed: the commit re-lays out under the lock
    a.commit_spawn(prep)
    b.commit_spawn(pb)
    assert closed == ["closed"] and a.backend is not made
    for w in (a, b):
        w.step(9)
    _same(a, b)


def test_prepare_spawn_says_which_spawns_re_lay_out() -> None:
    w = World(backend="numpy", seed=1)
    w.spawn(probe_circuit(), 3)
    w.despawn([1])
    assert w.prepare_spawn(probe_circuit(), 1) is None  # one brain into a free slot: spawn() writes it
    grows = w.prepare_spawn(probe_circuit(), 2)  # one free slot for two brains: capacity doubles
    new = w.prepare_spawn(probe_circuit("other"), 1)
    assert grows is not None and grows.relayout and new is not None and new.relayout
    assert new.serials == [grows.serials[-1] + 1]


@pytest.mark.gpu
@pytest.mark.parametrize("case", ["new", "grow"])
def test_a_relayout_built_off_lock_on_the_gpu(case: str) -> None:
    """The GPU backend is made again for the swapped layout, from the state it held (pulled first)."""
    from tests.engine.test_gpu_common import require_lavapipe

    require_lavapipe()
    circuit, count = {"new": (probe_circuit("other"), 2), "grow": (_learner(), 9)}[case]
    a, b = World(backend="gpu", seed=4), World(backend="gpu", seed=4)
    for w in (a, b):
        w.spawn(_learner(), 6)
        w.spawn(probe_circuit(), 3)
        w.step(10)
    prep = a.prepare_spawn(circuit, count)
    assert prep is not None and prep.relayout
    prep.draw()
    for w in (a, b):
        w.step(5, only=[0, 4, 7])
    a.commit_spawn(prep)
    b.spawn(circuit, count)
    assert a.backend_name == b.backend_name == "gpu"
    for w in (a, b):
        w.step(8)
    _same(a, b)


def test_rows_of_many_ids_use_one_lookup_table() -> None:
    w = World(backend="numpy", seed=1)
    w.spawn(probe_circuit(), 400)
    w.spawn(_learner(), 3)
    w.despawn(list(range(0, 400, 3)))
    ids = [int(i) for i in w.brain_ids()][::-1]
    assert len(ids) >= 256
    assert w.rows(ids).tolist() == [w._index[i] for i in ids]
    assert w.rows(set(ids)).tolist() == [w._index[i] for i in set(ids)]
    with pytest.raises(LookupError, match=r"id 3$"):
        w.rows([*ids, 3])
    with pytest.raises(LookupError, match="id 99999"):
        w.rows([*ids, 99999])


def _meanwhile_some(w: World) -> None:
    """What other clients do while a re-layout is built off the lock, stepping only some brains."""
    w.step(7, only=[0, 1, 4])
    w.layout.sensor_values[:] = 0.25
    w.reward(np.linspace(0.1, 0.8, len(w.brains)))
    w.set_learning([3], False)
    w.brain(7).sleep()
    w.brain(5).weights("in->hid").set(1.5)  # through a Brain method: its state is copied again


@pytest.mark.parametrize("backend", ["numpy", "native"])
@pytest.mark.parametrize("case", ["new", "grow"])
def test_a_relayout_swap_copies_the_state_of_only_the_brains_touched_since_prepare(backend: str,
                                                                                  case: str) -> None:
    circuit, count = {"new": (probe_circuit("other"), 2), "grow": (_learner(), 9)}[case]
    a, b = _world(backend), _world(backend)
    prep = a.prepare_spawn(circuit, count, touched_only=True)
    assert prep is not None and prep.relayout
    prep.draw()
    _meanwhile_some(a)
    got = [h.id for h in a.commit_spawn(prep)]
    _meanwhile_some(b)
    want = [h.id for h in b.spawn(circuit, count)]
    assert got == want
    # brains 0, 1, 4 stepped, 5's weights written: the other 4 kept brains' state is the draw's copy
    assert a.relayout_copied_last == (4, 8)
    _same(a, b)
    for w in (a, b):
        w.step(12)
    _same(a, b)
    # without touched_only every kept brain is copied again
    prep = a.prepare_spawn(probe_circuit("third"), 1)
    assert prep is not None
    prep.draw()
    a.commit_spawn(prep)
    assert a.relayout_copied_last == (8 + count, 8 + count)


def test_touched_only_is_ignored_once_a_state_view_was_handed_out() -> None:
    """A write through a held view (no World or Brain method sees it) must survive a re-layout
    also with touched_only: once a state view exists, the swap copies every brain."""
    for touched_only in (True, False):
        w = _world("native")
        v = w.brain(6)["hidden"].v  # a view into the world's neuron arrays
        prep = w.prepare_spawn(probe_circuit("other"), 1, touched_only=touched_only)
        assert prep is not None
        prep.draw()
        v[:] = -12.5
        np.asarray(v)[:2] = -13.5  # a raw ndarray from the view: no write hook at all
        w.commit_spawn(prep)
        got = np.asarray(w.brain(6)["hidden"].v)
        assert got[0] == got[1] == -13.5 and bool(np.all(got[2:] == -12.5))
        kept = w.relayout_copied_last[1]
        assert w.relayout_copied_last == (kept, kept)  # every kept brain copied


def _world_without_probes(backend: str, seed: int, learners: int, probes: int, steps: int) -> World:
    """Learner brains beside a probe prototype whose brains were all despawned after ``steps``."""
    w = World(backend=backend, seed=seed)
    w.spawn(_learner(), learners)
    gone = w.spawn(probe_circuit(), probes)
    w.step(steps)
    w.despawn(gone)
    return w


@pytest.mark.parametrize("backend", ["numpy", "native"])
def test_a_relayout_gives_back_the_slots_of_prototypes_without_brains(backend: str) -> None:
    """A prototype whose brains were all despawned (a circuit evicted from a server's registry,
    say) keeps its free slots only until the next re-layout: then it holds none; spawning it
    again allocates again. Off-lock and in-place re-layouts agree bit for bit."""
    a, b = (_world_without_probes(backend, 2, 3, 40, 5) for _ in range(2))
    probe = next(p.index for p in a.prototypes if p.circuit.name == "probe")
    assert a.layout.n_brains == 43
    prep = a.prepare_spawn(probe_circuit("other"), 1, touched_only=True)
    assert prep is not None and prep.relayout
    prep.draw()
    a.commit_spawn(prep)
    b.spawn(probe_circuit("other"), 1)
    for w in (a, b):
        assert w.layout.n_brains == 4 and not np.any(w.layout.brain_proto == probe)
        assert len(w.prototypes) == 3  # the prototype itself stays (ids and indices are stable)
    _same(a, b)
    for w in (a, b):
        w.spawn("probe", 2)
        w.step(4)
        assert w.layout.n_brains == 6 and int(np.count_nonzero(w.layout.brain_proto == probe)) == 2
    _same(a, b)


@pytest.mark.gpu
def test_touched_only_copies_everything_and_empty_prototypes_give_slots_back_on_the_gpu() -> None:
    """On the GPU (the state lives on the device) touched_only copies every kept brain, as the
    default does; a prototype without brains gives its slots back: bit for bit World.spawn."""
    from tests.engine.test_gpu_common import require_lavapipe

    require_lavapipe()

    a, b = (_world_without_probes("gpu", 4, 6, 3, 10) for _ in range(2))
    prep = a.prepare_spawn(probe_circuit("other"), 2, touched_only=True)
    assert prep is not None and prep.relayout
    prep.draw()
    for w in (a, b):
        w.step(5, only=[0, 4])
    a.commit_spawn(prep)
    b.spawn(probe_circuit("other"), 2)
    assert a.relayout_copied_last == (6, 6)
    assert a.backend_name == b.backend_name == "gpu" and a.layout.n_brains == b.layout.n_brains == 8
    for w in (a, b):
        w.step(8)
    _same(a, b)
