"""Where new brains go: balance the expected per-step cost over the shards.

A brain's cost is ``neurons + SYNAPSE_WEIGHT * synapses`` (neuron updates run every step,
synapses are touched per spike and by plasticity). One ``spawn(circuit, count)`` is split
into ONE contiguous run of serials per shard (one spawn call per shard, no relayout per
brain), sized by water-filling: the least-loaded shards are filled up to a common level
first, shards weighted by their capacity (threads).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SYNAPSE_WEIGHT = 0.25


def brain_cost(neurons: int, synapses: float) -> float:
    """Expected relative per-step cost of one brain."""
    return float(neurons) + SYNAPSE_WEIGHT * float(synapses)


def split(count: int, cost: float, loads: Sequence[float], capacity: Sequence[float],
          usable: Sequence[bool]) -> list[int]:
    """How many of ``count`` new brains (each costing ``cost``) each shard takes.

    Parameters
    ----------
    count : int
        Brains to place.
    cost : float
        Cost of one of them (see :func:`brain_cost`).
    loads : sequence of float
        Current cost held by each shard.
    capacity : sequence of float
        Relative speed of each shard (e.g. its threads); loads are compared per unit capacity.
    usable : sequence of bool
        Shards that may take brains (lost shards may not).

    Returns
    -------
    list of int
        Brains per shard; sums to ``count``.
    """
    n = len(loads)
    ok = [i for i in range(n) if usable[i]]
    if count and not ok:
        raise RuntimeError("placement: no live shard can take brains")
    out = [0] * n
    if count == 0:
        return out
    cost = max(cost, 1e-9)
    load = np.array([loads[i] for i in ok], dtype=np.float64)
    cap = np.array([max(capacity[i], 1e-9) for i in ok], dtype=np.float64)
    # water level L with sum(max(0, L*cap - load)) = count*cost, then whole brains
    lo, hi = 0.0, float((load.sum() + count * cost) / cap.min()) + 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if np.maximum(0.0, mid * cap - load).sum() >= count * cost:
            hi = mid
        else:
            lo = mid
    share = np.floor(np.maximum(0.0, hi * cap - load) / cost).astype(np.int64)
    while share.sum() > count:  # floor of a level above the exact one can overshoot
        share[int(np.argmax(share))] -= 1
    while share.sum() < count:  # hand the rest to the shard that ends lightest per capacity
        share[int(np.argmin((load + (share + 1) * cost) / cap))] += 1
    for j, i in enumerate(ok):
        out[i] = int(share[j])
    return out
