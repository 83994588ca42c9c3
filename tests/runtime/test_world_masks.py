"""The World API a server builds on: ``step(n, only=...)`` (some brains run, the others are
frozen exactly as if asleep), per-brain ``set_learning``, ``rows``/``brain_ids``/``has_brain``,
and the connectivity rules' ``expected_count``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.conftest import assert_states_equal, drive, rich_circuit

from spikeforge import LIF, AllToAll, Circuit, FixedInDegree, FixedProbability, OneToOne, Pairs, World
from spikeforge.runtime.snapshot import layout_arrays


def _arrays(world: World) -> dict[str, np.ndarray]:
    world.backend.pull_state()
    return {k: np.asarray(v).copy() for k, v in layout_arrays(world.layout).items()}


def _world(backend: str, count: int = 6) -> World:
    w = World(dt=0.001, backend=backend, seed=5)
    w.spawn(rich_circuit(), count)
    w.despawn([w.brains[2].id])  # a free slot in the middle: rows are not ids
    return w


def _sleeping_toggle(world: World, n: int, mask: np.ndarray) -> Any:
    """What ipc.server did before ``only`` existed (the behaviour ``only`` must reproduce)."""
    L = world.layout
    saved = L.sleeping.copy()
    np.logical_or(saved, ~mask, out=L.sleeping)
    try:
        return world.step(n)
    finally:
        L.sleeping[:] = saved


def _compare_only_with_toggle(backend: str, frames: int = 12) -> None:
    a, b = _world(backend), _world(backend)
    a.brains[0].sleep()
    b.brains[0].sleep()  # really asleep: ``only`` must not wake it
    rng = np.random.default_rng(3)
    for f in range(frames):
        for w in (a, b):
            for br in w.brains:
                drive(br, f)
        mask = rng.random(a.layout.n_brains) < 0.5
        if f % 4 == 0:
            mask[:] = True
        ra = a.step(4, only=mask)
        rb = _sleeping_toggle(b, 4, mask)
        np.testing.assert_array_equal(ra.steps, rb.steps)
        np.testing.assert_array_equal(ra.neurons, rb.neurons)
    np.testing.assert_array_equal(a.layout.sleeping, b.layout.sleeping)
    assert_states_equal(_arrays(a), _arrays(b))
    assert a.total_spikes > 100


@pytest.mark.parametrize("backend", ["numpy", pytest.param("native", marks=pytest.mark.native)])
def test_only_is_bit_exact_with_the_sleeping_toggle(backend: str) -> None:
    _compare_only_with_toggle(backend)


@pytest.mark.gpu
def test_only_is_bit_exact_with_the_sleeping_toggle_on_gpu() -> None:
    from tests.engine.test_gpu_common import assert_same, host_state, make_world, require_lavapipe
    from tests.engine.test_gpu_common import drive as gpu_drive

    require_lavapipe()
    a, b = make_world("gpu", brains=4), make_world("gpu", brains=4)
    rng = np.random.default_rng(3)
    for f in range(8):
        gpu_drive(a, f)
        gpu_drive(b, f)
        mask = rng.random(a.layout.n_brains) < 0.5
        ra = a.step(3, only=mask)
        rb = _sleeping_toggle(b, 3, mask)
        np.testing.assert_array_equal(ra.neurons, rb.neurons)
        np.testing.assert_array_equal(ra.steps, rb.steps)
    assert_same(host_state(a), host_state(b))


def test_only_by_ids_equals_only_by_mask() -> None:
    a, b = _world("numpy"), _world("numpy")
    ids = [a.brains[1].id, a.brains[3].id]
    mask = np.zeros(b.layout.n_brains, bool)
    mask[b.rows(ids)] = True
    for f in range(5):
        for w in (a, b):
            for br in w.brains:
                drive(br, f)
        a.step(3, only=ids)
        b.step(3, only=mask)
    assert_states_equal(_arrays(a), _arrays(b))


def test_unselected_brains_are_frozen() -> None:
    w = _world("numpy")
    keep, run = w.brains[0], w.brains[1]
    v0 = w.layout.neuron["v"][keep.neurons].copy()
    step0 = int(w.layout.brain_step[keep.index])
    for f in range(3):
        drive(run, f)
        w.step(5, only=[run.id])
    assert int(w.layout.brain_step[keep.index]) == step0
    assert int(w.layout.brain_step[run.index]) == 15
    assert w.layout.neuron["v"][keep.neurons].tobytes() == v0.tobytes()
    assert w.step_count == 15  # the world's step stamp moves on


def test_only_is_validated() -> None:
    w = _world("numpy")
    with pytest.raises(ValueError, match="shape"):
        w.step(1, only=np.ones(w.layout.n_brains + 1, bool))
    with pytest.raises(ValueError, match="only"):
        w.step(1, only=[0.5])
    with pytest.raises(LookupError, match="no live brain"):
        w.step(1, only=[10_000])
    dead = 2  # despawned in _world
    with pytest.raises(LookupError):
        w.step(1, only=[dead])
    assert w.step_count == 0
    w.step(2, only=[])  # nothing selected: nothing runs, the world's stamp moves on
    assert int(w.layout.brain_step.max()) == 0 and w.step_count == 2


def test_rows_brain_ids_has_brain() -> None:
    w = _world("numpy")
    ids = w.brain_ids()
    assert ids.tolist() == [b.id for b in w.brains] == [0, 1, 3, 4, 5]
    rows = w.rows(ids)
    assert rows.tolist() == [b.index for b in w.brains]
    assert np.all(np.diff(rows) > 0) and 2 not in w.layout.brain_serial[rows]
    assert w.has_brain(3) and not w.has_brain(2) and not w.has_brain(99)
    with pytest.raises(LookupError, match="id 2"):
        w.rows([1, 2])
    assert w.rows([]).dtype == np.int64 and w.rows([]).size == 0


@pytest.mark.parametrize("backend", ["numpy", pytest.param("native", marks=pytest.mark.native)])
def test_set_learning_is_per_brain_and_equals_freeze(backend: str) -> None:
    a, b = _world(backend), _world(backend)
    a.set_learning([a.brains[1].id, a.brains[3].id], False)
    b.brains[1].freeze()
    b.brains[3].freeze()
    assert [br.frozen for br in a.brains] == [False, True, False, True, False]
    for f in range(20):
        for w in (a, b):
            for br in w.brains:
                drive(br, f)
            w.reward(1.0)
            w.advance(1 / 60)
    assert_states_equal(_arrays(a), _arrays(b))
    assert a.learning() is True  # the world switch is not touched
    a.set_learning([a.brains[1].id], True)
    assert not a.brains[1].frozen and a.brains[3].frozen


def test_set_learning_refuses_and_changes_nothing() -> None:
    w = _world("numpy")
    with pytest.raises(LookupError):
        w.set_learning([0, 2], False)
    assert not any(br.frozen for br in w.brains)
    with pytest.raises(ValueError, match="enabled"):
        w.set_learning([0], 1)  # type: ignore[arg-type]
    w.set_learning([], False)


def test_expected_count_per_rule() -> None:
    assert AllToAll().expected_count(3, 4) == 12.0
    assert OneToOne().expected_count(5, 5) == 5.0
    assert FixedProbability(0.25).expected_count(4, 8) == 8.0
    assert FixedInDegree(3).expected_count(10, 7) == 21.0
    assert Pairs((0, 1, 1), (2, 0, 1)).expected_count(2, 3) == 3.0


def test_expected_count_matches_what_is_drawn_for_exact_rules() -> None:
    c = Circuit("x").add_population("a", 6, LIF()).add_population("b", 4, LIF())
    c.connect("a", "b", AllToAll()).connect("b", "b", FixedInDegree(2)).connect("a", "a", Pairs((0, 1), (2, 3)))
    w = World(backend="numpy")
    w.spawn(c)
    flat = c.flatten()
    size = {p.name: p.size for p in flat.populations}
    expected = sum(pr.rule.expected_count(size[pr.pre], size[pr.post]) for pr in flat.projections)
    assert expected == w.stats()["synapses"] == 24 + 8 + 2


@pytest.mark.parametrize("backend", ["numpy", pytest.param("native", marks=pytest.mark.native)])
def test_prepare_draw_commit_is_spawn(backend: str) -> None:
    """prepare_spawn + draw (on another thread, the world stepping meanwhile) + commit_spawn
    gives exactly what spawn gives (re-layout spawns, prepared too: tests/runtime/test_relayout.py)."""
    import threading

    a, b = World(backend=backend, seed=9), World(backend=backend, seed=9)
    c = rich_circuit()
    for w in (a, b):
        w.spawn(c, 3)
        w.despawn([1])
    for count in (4, 2):
        want = [x.id for x in a.spawn(c, count)]
        prep = b.prepare_spawn(c, count)
        assert prep is not None and prep.serials == want
        th = threading.Thread(target=prep.draw)
        th.start()
        th.join()
        brains = b.commit_spawn(prep)
        assert [x.id for x in brains] == prep.serials
        with pytest.raises(RuntimeError, match="committed"):
            b.commit_spawn(prep)
        for w in (a, b):
            for br in w.brains:
                drive(br, count)
            w.advance(1 / 60)
    a.spawn(c, 1)
    b.spawn(c, 1)  # the draw ahead after a commit
    assert [x.id for x in a.brains] == [x.id for x in b.brains]
    assert_states_equal(_arrays(a), _arrays(b))


def test_commit_redraws_when_the_ring_grew() -> None:
    """A draw made for a shallower delay ring than the world has at commit is drawn again."""
    c = rich_circuit()
    long = Circuit("long").add_population("n", 4, LIF(bias=20.0))
    long.connect("n", "n", AllToAll(), weight=1.0, delay=40)
    b, d = World(backend="numpy", seed=2), World(backend="numpy", seed=2)
    preps = []
    for w in (b, d):
        w.spawn(c, 2)
        prep = w.prepare_spawn(c, 3)
        assert prep is not None
        preps.append(prep)
    preps[0].draw()  # b draws for the old ring; d draws nothing before the commit
    for w, prep in zip((b, d), preps, strict=True):
        w.spawn(long, 1)  # the ring deepens between prepare and commit
        w.commit_spawn(prep)
    assert b.layout.depth == d.layout.depth >= 40 and preps[0].depth == b.layout.depth
    for w in (b, d):
        w.step(5)
    assert_states_equal(_arrays(b), _arrays(d))
