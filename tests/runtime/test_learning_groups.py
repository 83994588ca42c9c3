"""Learning groups (World.share_learning): brains of one circuit learning as one learner.

The members of a group hold identical plastic weights after every step call although each
sees other inputs and rewards; the combined change is the mean (or sum) of the members'
changes, computed exactly (engine/shared.py); numpy and native give the same bits; the
result does not depend on the members' order; bad input raises naming the field;
despawning a member leaves the group working; snapshots keep the group.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikeforge import World
from spikeforge.engine.backend import available_backends
from spikeforge.engine.shared import combine_changes
from spikeforge.model import LIF, Circuit, FixedProbability, Uniform
from spikeforge.model.plasticity import STDP, RewardSTDP
from spikeforge.runtime.sharing import strided_view

CPU = ["numpy"] + (["native"] if available_backends().get("native") is None else [])
PROJ = ("a->b", "b->a")


def npc(name: str = "npc", random_wiring: bool = False) -> Circuit:
    """A small learner: Poisson eye -> a -reward-STDP-> b, b -STDP-> a, a fixed a->a."""
    c = Circuit(name)
    c.add_population("a", 8, LIF(), v_init=(-65.0, -55.0))
    c.add_population("b", 4, LIF(bias=5.0), v_init=(-65.0, -55.0))
    c.add_sensor("eye", "a", channels=8, kind="poisson", low=0.0, high=1.0, max_rate=300.0)
    c.connect("a", "b", FixedProbability(0.5) if random_wiring else None, weight=Uniform(3.0, 7.0), name="a->b",
              plasticity=RewardSTDP(lr=0.5, w_max=12.0, update_every=5))
    c.connect("b", "a", weight=1.0, delay=2, name="b->a", plasticity=STDP(lr=0.05, w_max=4.0))
    c.connect("a", "a", FixedProbability(0.2), weight=0.5, name="a->a")
    return c


def weights(brains: list, proj: str = "a->b") -> np.ndarray:
    return np.stack([b.weights(proj).w for b in brains])


def play(world: World, calls: int = 12, n: int = 10, seed: int = 7) -> list[np.ndarray]:
    """``calls`` step calls with other eye inputs and rewards per brain; the spikes of each."""
    rng = np.random.default_rng(seed)
    eye = world.group("npc").sensor("eye")
    out = []
    for _ in range(calls):
        eye[...] = rng.random(eye.shape)
        world.reward(rng.uniform(-1.0, 1.0, len(world.brains)))
        out.append(world.step(n).neurons.copy())
    return out


@pytest.mark.parametrize("backend", CPU)
def test_members_stay_identical_and_learn(backend: str) -> None:
    world = World(backend=backend, seed=3)
    brains = world.spawn(npc(), 5)
    loner = brains[4]
    group = world.share_learning([b.id for b in brains[:4]])
    members = brains[:4]
    before = {p: weights(members, p) for p in PROJ}
    assert (before["a->b"] == before["a->b"][0]).all()  # the group starts from brain 0's weights
    play(world)
    for p in PROJ:
        w = weights(members, p)
        assert (w == w[0]).all(), p  # identical although every brain had its own inputs and rewards
        assert not np.array_equal(w[0], before[p][0]), p  # and they learned
    assert not np.array_equal(loner.weights("a->b").w, members[0].weights("a->b").w)
    assert group.syncs > 0
    np.testing.assert_array_equal(group.weights()[:len(members[0].weights("a->b"))],
                                  members[0].weights("a->b").w)


@pytest.mark.parametrize(("combine", "members"), [("mean", [0, 1, 2, 3]), ("sum", [0, 1, 2, 3]),
                                                  ("mean", [0, 1, 3])])
def test_combined_change_is_the_hand_computed_one(combine: str, members: list[int]) -> None:
    """One step call with and without the group: the group's weights are ref + mean (sum) of
    the members' changes made without it, clipped to the rule's bounds (members in regular
    slots: the combine works on a strided view; [0, 1, 3]: on gathered indices)."""
    free, shared = World(backend="numpy", seed=5), World(backend="numpy", seed=5)
    fb, sb = free.spawn(npc(), 4), shared.spawn(npc(), 4)
    fb, sb = [fb[i] for i in members], [sb[i] for i in members]
    w0 = weights(fb)[0]
    for b in fb:  # the group's start: brain 0's weights in every member
        b.weights("a->b").set(w0)
    b0 = weights(fb, "b->a")[0]
    for b in fb:
        b.weights("b->a").set(b0)
    shared.share_learning([b.id for b in sb], combine=combine)
    play(free, calls=1, n=40)
    play(shared, calls=1, n=40)
    for p, ref, hi in (("a->b", w0, 12.0), ("b->a", b0, 4.0)):
        d = weights(fb, p).astype(np.float64) - ref.astype(np.float64)
        assert np.abs(d).max() > 0, p
        c = d.mean(axis=0) if combine == "mean" else d.sum(axis=0)
        hand = np.clip((ref.astype(np.float64) + c).astype(np.float32), np.float32(0.0), np.float32(hi))
        got = weights(sb, p)
        assert (got == got[0]).all()
        np.testing.assert_array_equal(got[0], hand, err_msg=p)


@pytest.mark.skipif(len(CPU) < 2, reason="native backend not built")
def test_numpy_and_native_give_the_same_bits(tmp_path: Path) -> None:
    runs = []
    for backend in ("numpy", "native"):
        world = World(backend=backend, seed=11)
        brains = world.spawn(npc(), 6)
        world.share_learning([b.id for b in brains[1:]])
        spikes = play(world, calls=15)
        runs.append((spikes, world.layout.synapse["w"].copy()))
    (s1, w1), (s2, w2) = runs
    assert all(np.array_equal(a, b) for a, b in zip(s1, s2, strict=True))
    np.testing.assert_array_equal(w1, w2)


def test_deterministic_and_order_independent() -> None:
    def run(order: list[int]) -> np.ndarray:
        world = World(backend="numpy", seed=2)
        brains = world.spawn(npc(), 4)
        world.share_learning([brains[i].id for i in order], source=brains[0].id)
        play(world)
        return world.layout.synapse["w"].copy()
    a = run([0, 1, 2, 3])
    np.testing.assert_array_equal(a, run([0, 1, 2, 3]))
    np.testing.assert_array_equal(a, run([3, 1, 0, 2]))


def test_strided_view_only_for_regular_indices() -> None:
    arr = np.arange(40, dtype=np.float32)
    regular = np.array([[2, 3, 4], [12, 13, 14], [22, 23, 24]])
    view = strided_view(arr, regular)
    assert view is not None and np.shares_memory(view, arr)
    np.testing.assert_array_equal(view, arr[regular])
    view[...] = -1.0
    assert (arr[regular] == -1.0).all() and int((arr == -1.0).sum()) == 9
    for irregular in ([[2, 3, 4], [12, 13, 14], [23, 24, 25]], [[2, 3, 5], [12, 13, 15]], [[12, 13], [2, 3]],
                      [[2, 3, 4], [4, 5, 6]]):
        assert strided_view(arr, np.array(irregular)) is None, irregular


def test_combine_kernel() -> None:
    rng = np.random.default_rng(0)
    ref = rng.uniform(0, 10, 50).astype(np.float32)
    W = (ref + rng.normal(0, 0.01, (7, 50))).astype(np.float32)
    lo, hi = np.zeros(50, np.float32), np.full(50, 10.0, np.float32)
    out = combine_changes(W, ref, lo, hi)
    assert out is not None
    np.testing.assert_array_equal(out, combine_changes(W[::-1].copy(), ref, lo, hi))  # order-free
    np.testing.assert_allclose(out, np.clip(W.astype(np.float64).mean(axis=0), 0, 10), rtol=0, atol=1e-6)
    same = np.tile(W[0], (7, 1))  # every member made the same change: exactly that result
    np.testing.assert_array_equal(combine_changes(same, ref, lo, hi), np.clip(W[0], lo, hi))
    assert combine_changes(np.tile(ref, (3, 1)), ref, lo, hi) is None  # nothing changed
    summed = combine_changes(W, ref, lo, hi, "sum")
    assert summed is not None and summed.max() <= 10.0 and summed.min() >= 0.0
    bad = W.copy()
    bad[2, 5] = np.nan
    with pytest.raises(ValueError, match="member row 2, shared synapse 5"):
        combine_changes(bad, ref, lo, hi)
    with pytest.raises(ValueError, match="mode"):
        combine_changes(W, ref, lo, hi, "median")


def test_bad_input_names_the_field() -> None:
    world = World(backend="numpy", seed=1)
    brains = world.spawn(npc(), 3)
    other = world.spawn(npc("guard"), 1)[0]
    rand = world.spawn(npc("wild", random_wiring=True), 2)
    plain = world.spawn(Circuit("rock").add_population("n", 2, LIF()), 1)[0]
    ids = [b.id for b in brains]
    with pytest.raises(LookupError, match="brain_ids: no live brain with id 999"):
        world.share_learning([*ids, 999])
    with pytest.raises(ValueError, match="brain_ids: a learning group needs at least one brain"):
        world.share_learning([])
    with pytest.raises(ValueError, match="brain_ids: brain 1 is listed twice"):
        world.share_learning([0, 1, 1])
    with pytest.raises(ValueError, match="brain_ids: expected brain ids"):
        world.share_learning(["0"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=f"brain_ids: brain {other.id} is a 'guard' brain"):
        world.share_learning([*ids, other.id])
    with pytest.raises(ValueError, match=r"brain_ids: brain .* (wired unlike|plastic synapses)"):
        world.share_learning([b.id for b in rand])
    with pytest.raises(ValueError, match="brain_ids: circuit 'rock' has no projection with a learning rule"):
        world.share_learning([plain.id])
    with pytest.raises(ValueError, match="combine: must be one of"):
        world.share_learning(ids, combine="max")
    with pytest.raises(ValueError, match="source: brain 5 is not among brain_ids"):
        world.share_learning(ids, source=5)
    before = world.layout.synapse["w"].copy()
    group = world.share_learning(ids[:2])
    with pytest.raises(ValueError, match=r"brain_ids: brain 1 is already in a learning group \(\[0, 1\]\)"):
        world.share_learning(ids[1:])
    with pytest.raises(ValueError, match=f"brain_ids: brain {other.id} is a 'guard' brain"):
        group.add([other.id])
    with pytest.raises(ValueError, match="brain_ids: brain 2 is not a member"):
        group.remove([2])
    world.despawn(brains[2])
    with pytest.raises(LookupError, match="brain_ids: no live brain with id 2"):
        group.add([2])
    assert group.members == [0, 1]
    assert not np.array_equal(before, world.layout.synapse["w"])  # brain 1 took brain 0's weights
    world.unshare_learning(group)
    with pytest.raises(RuntimeError, match="dissolved"):
        group.add([0])
    with pytest.raises(ValueError, match="group: not a learning group of this world"):
        world.unshare_learning(group)


def test_despawn_of_a_member_and_joining_later() -> None:
    world = World(backend="numpy", seed=4)
    brains = world.spawn(npc(), 4)
    group = world.share_learning([b.id for b in brains])
    play(world, calls=4)
    world.despawn([brains[1], brains[3]])
    assert group.members == [brains[0].id, brains[2].id]
    play(world, calls=4, seed=8)
    live = [brains[0], brains[2]]
    w = weights(live)
    assert (w == w[0]).all()
    world.despawn([brains[0], brains[2]])  # an empty group survives and takes new brains
    assert group.members == []
    world.step(5)
    fresh = world.spawn(npc(), 3)  # into the freed slots, and one more (a re-layout)
    group.add([fresh[0].id, fresh[2].id])
    np.testing.assert_array_equal(fresh[0].weights("a->b").w, w[0])
    np.testing.assert_array_equal(fresh[2].weights("a->b").w, w[0])
    play(world, calls=3)
    w2 = weights([fresh[0], fresh[2]])
    assert (w2 == w2[0]).all() and not np.array_equal(w2[0], w[0])
    assert not np.array_equal(fresh[1].weights("a->b").w, w2[0])
    group.remove([fresh[2].id])  # a leaver keeps the weights and learns on its own
    assert group.members == [fresh[0].id]
    play(world, calls=3, seed=9)
    assert not np.array_equal(fresh[0].weights("a->b").w, fresh[2].weights("a->b").w)


@pytest.mark.parametrize("backend", CPU)
def test_snapshot_keeps_the_group(tmp_path: Path, backend: str) -> None:
    world = World(backend=backend, seed=6)
    brains = world.spawn(npc(), 5)
    world.share_learning([b.id for b in brains[:3]], combine="sum")
    world.share_learning([brains[3].id])
    play(world, calls=5)
    world.save(tmp_path / "w.snap")
    after = play(world, calls=6, seed=12)
    loaded = World.load(tmp_path / "w.snap", backend=backend)
    groups = loaded.learning_groups
    assert [(g.members, g.combine) for g in groups] == [([0, 1, 2], "sum"), ([3], "mean")]
    again = play(loaded, calls=6, seed=12)
    assert all(np.array_equal(a, b) for a, b in zip(after, again, strict=True))
    np.testing.assert_array_equal(world.layout.synapse["w"], loaded.layout.synapse["w"])
    w = weights(loaded.brains[:3])
    assert (w == w[0]).all()


def test_snapshot_with_a_stale_group_is_refused(tmp_path: Path) -> None:
    import json
    import zipfile

    from spikeforge.runtime.snapshot import SnapshotError

    world = World(backend="numpy", seed=6)
    brains = world.spawn(npc(), 2)
    world.share_learning([b.id for b in brains])
    world.save(tmp_path / "w.snap")
    src, dst = tmp_path / "w.snap", tmp_path / "bad.snap"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "manifest.json":
                m = json.loads(data)
                m["learning_groups"][0]["members"] = [0, 1, 7]
                data = json.dumps(m).encode()
            zout.writestr(item, data)
    with pytest.raises(SnapshotError, match=r"learning group.*no live brain with id 7"):
        World.load(dst, backend="numpy")


def test_gpu_backend_shares_too() -> None:
    """The GPU backend runs the combine between a download and an upload: same weights as numpy."""
    pytest.importorskip("wgpu")
    from tests.engine.test_gpu_common import require_lavapipe

    require_lavapipe()
    out = []
    for backend in ("numpy", "gpu"):
        world = World(backend=backend, seed=11)
        brains = world.spawn(npc(), 3)
        world.share_learning([b.id for b in brains])
        play(world, calls=4)
        w = weights(world.brains)
        assert (w == w[0]).all()
        out.append(w[0])
    np.testing.assert_array_equal(out[0], out[1])
