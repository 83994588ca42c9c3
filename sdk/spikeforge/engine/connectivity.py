"""Instantiating projections: rules -> (pre, post) index pairs, weights, delays.

Connectivity is drawn once per brain at spawn from a numpy ``Generator`` seeded by
(world seed, brain serial, projection index); snapshots store the result, so this
randomness never has to be reproduced by other backends.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from spikeforge.model.errors import GenomeError
from spikeforge.model.synapses import (
    AllToAll,
    Constant,
    FixedInDegree,
    FixedProbability,
    Normal,
    OneToOne,
    Pairs,
    Projection,
    Uniform,
)

I64 = npt.NDArray[np.int64]
_DENSE_LIMIT = 1 << 22  # draw a dense Bernoulli mask below this many candidate pairs
_SPARSE_MAX_P = 0.1  # above this density, redrawing duplicate targets converges too slowly: use masks


def connect(rule: object, n_pre: int, n_post: int, same: bool, rng: np.random.Generator,
            path: str = "projection") -> tuple[I64, I64]:
    """(pre, post) local indices of one projection, sorted by pre then post."""
    if n_pre == 0 or n_post == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if isinstance(rule, AllToAll):
        pre = np.repeat(np.arange(n_pre, dtype=np.int64), n_post)
        post = np.tile(np.arange(n_post, dtype=np.int64), n_pre)
        if same and not rule.allow_self:
            keep = pre != post
            pre, post = pre[keep], post[keep]
        return pre, post
    if isinstance(rule, OneToOne):
        a = np.arange(n_pre, dtype=np.int64)
        return a, a.copy()
    if isinstance(rule, Pairs):
        pre = np.asarray(rule.pre, dtype=np.int64)
        post = np.asarray(rule.post, dtype=np.int64)
        order = np.lexsort((post, pre))
        return pre[order], post[order]
    if isinstance(rule, FixedProbability):
        return _fixed_probability(rule.p, n_pre, n_post, same and not rule.allow_self, rng)
    if isinstance(rule, FixedInDegree):
        no_self = same and not rule.allow_self
        if rule.k > n_pre - (1 if no_self else 0):
            raise GenomeError(f"{path}.rule.k", f"k={rule.k} exceeds the available pre neurons")
        return _fixed_in_degree(rule.k, n_pre, n_post, no_self, rng)
    raise GenomeError(f"{path}.rule", f"unknown rule {rule!r}")


def _fixed_probability(p: float, n_pre: int, n_post: int, no_self: bool,
                       rng: np.random.Generator) -> tuple[I64, I64]:
    if p <= 0.0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if n_pre * n_post <= _DENSE_LIMIT or p > _SPARSE_MAX_P:
        # Bernoulli masks over blocks of pre rows (one block when small): exact for any p,
        # at most _DENSE_LIMIT draws in memory at a time
        rows = max(1, _DENSE_LIMIT // n_post)
        pres, posts = [], []
        for r0 in range(0, n_pre, rows):
            r1 = min(n_pre, r0 + rows)
            mask = rng.random((r1 - r0, n_post)) < p
            if no_self:
                d = np.arange(r0, min(r1, n_post))
                mask[d - r0, d] = False
            pr, po = np.nonzero(mask)
            pres.append(pr.astype(np.int64) + r0)
            posts.append(po.astype(np.int64))
        return np.concatenate(pres), np.concatenate(posts)
    # Sparse: binomial out-degree per pre, targets without replacement per pre
    # (duplicates drawn with replacement are redrawn until none remain).
    counts = rng.binomial(n_post, p, size=n_pre).astype(np.int64)
    pre = np.repeat(np.arange(n_pre, dtype=np.int64), counts)
    post = rng.integers(0, n_post, size=pre.size, dtype=np.int64)
    return _redraw_duplicates(pre, post, n_post, no_self, rng)


def _fixed_in_degree(k: int, n_pre: int, n_post: int, no_self: bool,
                     rng: np.random.Generator) -> tuple[I64, I64]:
    if k == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    post = np.repeat(np.arange(n_post, dtype=np.int64), k)
    if 2 * k > n_pre:  # dense: a random permutation per post neuron
        keys = rng.random((n_post, n_pre))
        if no_self:
            idx = np.arange(min(n_pre, n_post))
            keys[idx, idx] = 2.0
        pre = np.argsort(keys, axis=1)[:, :k].reshape(-1).astype(np.int64)
    else:
        pre = rng.integers(0, n_pre, size=post.size, dtype=np.int64)
        post, pre = _redraw_duplicates(post, pre, n_pre, no_self, rng)
    key = np.sort(pre * n_post + post)
    return key // n_post, key % n_post


def _redraw_duplicates(fixed: I64, drawn: I64, n_draw: int, no_self: bool,
                       rng: np.random.Generator) -> tuple[I64, I64]:
    """Redraw entries of ``drawn`` that repeat within a group of equal ``fixed`` (or are self).

    Each round sorts the (fixed, drawn) keys, finds the repeats (and self pairs) in sorted
    order and redraws them in that order. Returns both arrays sorted by (fixed, drawn)."""
    key = fixed * n_draw + drawn
    for _ in range(1000):
        key = np.sort(key)  # one int64 sort instead of a lexsort
        dup = np.zeros(key.size, dtype=bool)
        if key.size > 1:
            dup[1:] = key[1:] == key[:-1]
        if no_self:
            dup |= (key // n_draw) == (key % n_draw)
        n_bad = int(dup.sum())
        if n_bad == 0:
            return key // n_draw, key % n_draw
        key[dup] = (key[dup] // n_draw) * n_draw + rng.integers(0, n_draw, size=n_bad, dtype=np.int64)
    raise RuntimeError("could not draw distinct partners")  # pragma: no cover - needs k close to n


def draw_weights(proj: Projection, n: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Weights of ``n`` synapses; Normal samples are clipped at 0 to keep their sign."""
    w = proj.weight
    if isinstance(w, Constant):
        return np.full(n, w.value, dtype=np.float32)
    if isinstance(w, Uniform):
        return rng.uniform(w.low, w.high, size=n).astype(np.float32)
    if isinstance(w, Normal):
        x = rng.normal(w.mean_, w.std, size=n)
        x = np.maximum(x, 0.0) if w.mean_ >= 0 else np.minimum(x, 0.0)
        return x.astype(np.float32)
    raise GenomeError("weight", f"unknown weight distribution {w!r}")


def draw_delays(proj: Projection, n: int, rng: np.random.Generator) -> npt.NDArray[np.int32]:
    """Transmission delays of ``n`` synapses of one projection, in steps.

    Parameters
    ----------
    proj : Projection
        Its ``delay`` is an int (all equal, ``rng`` untouched) or a ``(lo, hi)`` range, drawn
        uniformly per synapse, both ends included.
    n : int
        Number of synapses.
    rng : numpy.random.Generator
        The brain's connectivity generator (so each brain gets its own, reproducible draw).

    Returns
    -------
    numpy.ndarray of int32
        ``n`` delays, each >= 1 step.
    """
    lo, hi = proj.delay_range()
    if lo == hi:
        return np.full(n, lo, dtype=np.int32)
    return rng.integers(lo, hi + 1, size=n).astype(np.int32)


def connect_many(rule: object, n_pre: int, n_post: int, same: bool, rngs: list[np.random.Generator],
                 path: str = "projection") -> list[tuple[I64, I64]]:
    """:func:`connect` for many brains at once, one generator each: result ``b`` is bit for
    bit ``connect(rule, n_pre, n_post, same, rngs[b])`` and leaves ``rngs[b]`` in the same
    state. Fixed in-degree (the crowd rule) is drawn as one (brains x synapses) array per
    round; other rules fall back to one call per brain."""
    if isinstance(rule, FixedInDegree) and len(rngs) > 1 and n_pre and n_post and rule.k:
        no_self = same and not rule.allow_self
        if rule.k > n_pre - (1 if no_self else 0):
            raise GenomeError(f"{path}.rule.k", f"k={rule.k} exceeds the available pre neurons")
        return _fixed_in_degree_many(rule.k, n_pre, n_post, no_self, rngs)
    return [connect(rule, n_pre, n_post, same, rng, path) for rng in rngs]


def _fixed_in_degree_many(k: int, n_pre: int, n_post: int, no_self: bool,
                          rngs: list[np.random.Generator]) -> list[tuple[I64, I64]]:
    B = len(rngs)
    m = n_post * k
    if 2 * k > n_pre:  # dense: a random permutation per post neuron (argsort row by row)
        keys = np.stack([rng.random((n_post, n_pre)) for rng in rngs])
        if no_self:
            idx = np.arange(min(n_pre, n_post))
            keys[:, idx, idx] = 2.0
        pre = np.argsort(keys, axis=2)[:, :, :k].reshape(B, m).astype(np.int64)
        post = np.broadcast_to(np.repeat(np.arange(n_post, dtype=np.int64), k), (B, m))
    else:  # sparse: _redraw_duplicates, every brain's rounds in one array
        fixed = np.repeat(np.arange(n_post, dtype=np.int64), k)
        key = fixed[None, :] * n_pre + np.stack([rng.integers(0, n_pre, size=m, dtype=np.int64) for rng in rngs])
        rows = np.arange(B)  # brains that may still hold repeats: the others are final
        for _ in range(1000):
            sub = np.sort(key[rows], axis=1)
            key[rows] = sub
            dup = np.zeros(sub.shape, dtype=bool)
            if m > 1:
                dup[:, 1:] = sub[:, 1:] == sub[:, :-1]
            if no_self:
                dup |= (sub // n_pre) == (sub % n_pre)
            n_bad = dup.sum(axis=1)
            if not n_bad.any():
                break
            for r in np.flatnonzero(n_bad):  # each brain's generator, in its own order
                b = int(rows[r])
                sel = dup[r]
                key[b, sel] = (sub[r, sel] // n_pre) * n_pre + rngs[b].integers(0, n_pre, size=int(n_bad[r]),
                                                                                 dtype=np.int64)
            rows = rows[n_bad > 0]
        else:  # pragma: no cover - needs k close to n
            raise RuntimeError("could not draw distinct partners")
        post, pre = key // n_pre, key % n_pre
    key2 = np.sort(pre * n_post + post, axis=1)
    return [(key2[b] // n_post, key2[b] % n_post) for b in range(B)]
