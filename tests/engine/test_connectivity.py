"""Connectivity rules and weight/delay draws (engine/connectivity.py), and how they land
in a world's layout."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spikeforge import (
    LIF,
    AllToAll,
    Circuit,
    Constant,
    FixedInDegree,
    FixedProbability,
    GenomeError,
    Normal,
    OneToOne,
    Pairs,
    Projection,
    Uniform,
    World,
)
from spikeforge.engine.connectivity import connect, draw_delays, draw_weights


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _pairs(pre: np.ndarray, post: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(pre.tolist(), post.tolist(), strict=True))


@pytest.mark.parametrize(("n_pre", "n_post", "same", "allow_self"),
                         [(4, 6, False, True), (5, 5, True, False), (5, 5, True, True), (0, 3, False, True)])
def test_all_to_all_counts_and_self(n_pre: int, n_post: int, same: bool, allow_self: bool) -> None:
    pre, post = connect(AllToAll(allow_self), n_pre, n_post, same, _rng())
    expected = {(i, j) for i in range(n_pre) for j in range(n_post) if allow_self or not same or i != j}
    assert _pairs(pre, post) == expected
    assert pre.size == len(expected)  # no duplicates


def test_all_to_all_between_different_populations_keeps_i_to_i() -> None:
    """allow_self=False only drops i->i within one population."""
    pre, _post = connect(AllToAll(allow_self=False), 3, 3, False, _rng())
    assert pre.size == 9


def test_one_to_one() -> None:
    pre, post = connect(OneToOne(), 7, 7, False, _rng())
    assert pre.tolist() == post.tolist() == list(range(7))


def test_pairs_are_kept_and_sorted_by_pre() -> None:
    rule = Pairs(pre=(3, 0, 3, 1), post=(2, 5, 0, 1))
    pre, post = connect(rule, 4, 6, False, _rng())
    assert list(zip(pre.tolist(), post.tolist(), strict=True)) == [(0, 5), (1, 1), (3, 0), (3, 2)]


@pytest.mark.parametrize(("n_pre", "n_post", "p"), [(200, 300, 0.05), (3000, 3000, 0.002)])  # dense, sparse
@pytest.mark.parametrize("same_no_self", [False, True])
def test_fixed_probability_mean_no_duplicates_no_self(n_pre: int, n_post: int, p: float,
                                                      same_no_self: bool) -> None:
    if same_no_self and n_pre != n_post:
        n_post = n_pre
    pre, post = connect(FixedProbability(p, allow_self=not same_no_self), n_pre, n_post, same_no_self, _rng(4))
    candidates = n_pre * n_post - (n_pre if same_no_self else 0)
    mean = candidates * p
    sd = np.sqrt(candidates * p * (1 - p))
    assert abs(pre.size - mean) < 5 * sd
    assert len(_pairs(pre, post)) == pre.size
    assert pre.min() >= 0 and pre.max() < n_pre and post.min() >= 0 and post.max() < n_post
    if same_no_self:
        assert not np.any(pre == post)
    assert np.all(np.diff(pre) >= 0)  # sorted by source


def test_fixed_probability_extremes() -> None:
    assert connect(FixedProbability(0.0), 50, 50, False, _rng())[0].size == 0
    assert connect(FixedProbability(1.0), 20, 30, False, _rng())[0].size == 600


@pytest.mark.parametrize(("n_pre", "n_post", "k"), [(50, 40, 10), (50, 40, 40), (1000, 100, 30), (30, 30, 29)])
@pytest.mark.parametrize("no_self", [False, True])
def test_fixed_in_degree_is_exact(n_pre: int, n_post: int, k: int, no_self: bool) -> None:
    same = no_self
    if same:
        n_post = n_pre
    pre, post = connect(FixedInDegree(k, allow_self=not no_self), n_pre, n_post, same, _rng(2))
    np.testing.assert_array_equal(np.bincount(post, minlength=n_post), np.full(n_post, k))
    assert len(_pairs(pre, post)) == pre.size  # distinct sources per target
    if no_self:
        assert not np.any(pre == post)


def test_fixed_in_degree_too_large_without_self_is_an_error() -> None:
    with pytest.raises(GenomeError, match=r"rule\.k"):
        connect(FixedInDegree(10, allow_self=False), 10, 10, True, _rng())


@given(st.integers(1, 40), st.integers(1, 40), st.floats(0.0, 1.0), st.integers(0, 2**31))
def test_fixed_probability_property(n_pre: int, n_post: int, p: float, seed: int) -> None:
    pre, post = connect(FixedProbability(p, allow_self=False), n_pre, n_post, n_pre == n_post, _rng(seed))
    assert len(_pairs(pre, post)) == pre.size
    if n_pre == n_post:
        assert not np.any(pre == post)


def test_weight_distributions_preserve_sign() -> None:
    rng = _rng(9)
    exc = draw_weights(Projection("a", "b", weight=Normal(0.5, 2.0)), 5000, rng)
    inh = draw_weights(Projection("a", "b", weight=Normal(-0.5, 2.0)), 5000, rng)
    assert exc.min() >= 0.0 and inh.max() <= 0.0
    assert (exc == 0).mean() > 0.3  # clipped, not redrawn
    uni = draw_weights(Projection("a", "b", weight=Uniform(-3.0, -1.0)), 5000, rng)
    assert uni.min() >= -3.0 and uni.max() <= -1.0
    assert abs(uni.mean() + 2.0) < 0.05
    const = draw_weights(Projection("a", "b", weight=Constant(-0.25)), 10, rng)
    assert np.all(const == np.float32(-0.25))
    assert exc.dtype == np.float32


def test_mixed_sign_chemical_uniform_is_rejected() -> None:
    with pytest.raises(GenomeError, match="weight"):
        Projection("a", "b", weight=Uniform(-1.0, 1.0)).validate("p")


def test_delay_ranges_are_inclusive() -> None:
    d = draw_delays(Projection("a", "b", delay=(2, 5)), 4000, _rng(1))
    assert set(d.tolist()) == {2, 3, 4, 5}
    assert np.all(draw_delays(Projection("a", "b", delay=3), 10, _rng()) == 3)


def test_world_layout_holds_the_drawn_connectivity() -> None:
    c = Circuit("net").add_population("a", 30, LIF()).add_population("b", 20, LIF())
    c.connect("a", "b", FixedInDegree(5), weight=Normal(1.0, 0.5), delay=(1, 4))
    c.connect("b", "b", AllToAll(allow_self=False), weight=-0.5, name="rec")
    c.connect("a", "b", Pairs((0, 1), (0, 0)), weight=2.0, name="pairs")
    world = World(dt=0.001, backend="numpy", seed=11)
    (_brain,) = world.spawn(c)
    L = world.layout
    pre, post = L.syn_pre(), L.synapse["post"]
    in_b = (post >= 30) & (post < 50)
    assert np.all(in_b)
    from_a = pre < 30
    fid = L.row_proj[np.repeat(np.arange(L.n_rows), np.diff(L.row_syn))]
    np.testing.assert_array_equal(np.bincount(post[fid == 0] - 30, minlength=20), np.full(20, 5))
    rec = fid == 1
    assert rec.sum() == 20 * 19 and not np.any(pre[rec] == post[rec])
    assert np.all(L.synapse["w"][rec] == np.float32(-0.5))
    assert np.all(L.row_chan[L.row_proj == 1] == 1) and np.all(L.row_chan[L.row_proj == 0] == 0)
    assert from_a.sum() == 20 * 5 + 2
    # rows are (source, projection, delay) groups with one delay each
    assert set(L.row_delay[L.row_proj == 0].tolist()) <= {1, 2, 3, 4}
    # same seed -> the same draw; another seed -> another draw
    again = World(dt=0.001, backend="numpy", seed=11)
    again.spawn(c)
    np.testing.assert_array_equal(again.layout.synapse["post"], post)
    np.testing.assert_array_equal(again.layout.synapse["w"], L.synapse["w"])
    other = World(dt=0.001, backend="numpy", seed=12)
    other.spawn(c)
    assert not np.array_equal(other.layout.synapse["w"], L.synapse["w"])


@pytest.mark.parametrize(("p", "no_self"), [(1.0, True), (1.0, False), (0.7, True)])
def test_fixed_probability_dense_p_on_a_large_projection(p: float, no_self: bool) -> None:
    """Above 2^22 candidate pairs and at high p the draw must stay exact and fast
    (redrawing duplicate targets used to take minutes or fail at p = 1)."""
    n = 2050  # 4.2M candidate pairs
    pre, post = connect(FixedProbability(p, allow_self=not no_self), n, n, no_self, _rng(3))
    candidates = n * n - (n if no_self else 0)
    if p == 1.0:
        assert pre.size == candidates
    else:
        assert abs(pre.size - p * candidates) < 5 * np.sqrt(candidates * p * (1 - p))
    if no_self:
        assert not np.any(pre == post)
    assert np.all(np.diff(pre) >= 0)


def test_fixed_probability_small_draw_is_one_bernoulli_mask() -> None:
    """Small projections draw exactly one (n_pre x n_post) uniform mask from the generator."""
    pre, post = connect(FixedProbability(0.3), 40, 50, False, _rng(5))
    ref_pre, ref_post = np.nonzero(_rng(5).random((40, 50)) < 0.3)
    np.testing.assert_array_equal(pre, ref_pre)
    np.testing.assert_array_equal(post, ref_post)


@pytest.mark.parametrize(("k", "n_pre", "n_post", "same"), [(12, 64, 160, False), (16, 160, 160, True),
                                                            (32, 40, 20, False), (5, 9, 9, True)])
def test_connect_many_is_connect_per_brain_bit_for_bit(k: int, n_pre: int, n_post: int, same: bool) -> None:
    from spikeforge.engine.connectivity import connect, connect_many
    from spikeforge.model import FixedInDegree

    rule = FixedInDegree(k)
    one = [np.random.default_rng([7, s, 3]) for s in range(6)]
    many = [np.random.default_rng([7, s, 3]) for s in range(6)]
    want = [connect(rule, n_pre, n_post, same, g) for g in one]
    got = connect_many(rule, n_pre, n_post, same, many)
    for (a, b), (c, d), g1, g2 in zip(want, got, one, many, strict=True):
        assert a.tobytes() == c.tobytes() and b.tobytes() == d.tobytes()
        assert g1.integers(0, 1 << 30) == g2.integers(0, 1 << 30)  # generators left in the same state


def test_instantiate_many_is_instantiate_per_brain() -> None:
    from spikeforge.bench.crowd import npc_circuit
    from spikeforge.engine.compiler import compile_prototype, instantiate
    from spikeforge.engine.slots import instantiate_many

    p = compile_prototype(npc_circuit(), 0, 1.0, 0, 0)
    serials = [3, 4, 9]
    keys = [11, 12, 13]
    for a, b in zip([instantiate(p, s, k, 5, 4) for s, k in zip(serials, keys, strict=True)],
                    instantiate_many(p, serials, keys, 5, 4), strict=True):
        for f in ("syn_pre", "syn_delay", "syn_proj"):
            assert getattr(a, f).tobytes() == getattr(b, f).tobytes()
        for key in a.synapse:
            assert a.synapse[key].tobytes() == b.synapse[key].tobytes()
        for key in a.neuron:
            assert a.neuron[key].tobytes() == b.neuron[key].tobytes()
