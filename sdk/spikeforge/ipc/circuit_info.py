"""A registered circuit as the protocol describes it: its CIRCUITS entry and the synapses a brain
of it is expected to have (what LIST_CIRCUITS answers and what SPAWN's limits count).

Its own module because both the server core (:mod:`spikeforge.ipc.core`) and the upload parser's
helper process (:mod:`spikeforge.ipc.upload_parse`) need it, and the parser must not import the core.
"""

from __future__ import annotations

import numpy as np

from spikeforge.ipc import protocol as P
from spikeforge.model.circuit import Circuit


def _f32(x: float) -> float:
    return float(np.float32(x))


def circuit_info(c: Circuit) -> P.CircuitInfo:
    """The CIRCUITS entry of ``c``: name, neuron count and its sensors and actuators (channels, range)."""
    flat = c.flatten()
    return P.CircuitInfo(
        name=c.name, neurons=flat.n_neurons,
        sensors=tuple(P.OrganInfo(o.name, o.channels, _f32(o.low), _f32(o.high)) for o in flat.sensors),
        actuators=tuple(P.OrganInfo(o.name, o.width, _f32(o.low), _f32(o.high)) for o in flat.actuators),
        populations=tuple((p.name, p.size) for p in flat.populations))


def expected_synapses(c: Circuit) -> float:
    """Synapses one brain of ``c`` is expected to have (``fixed_probability``: its mean)."""
    flat = c.flatten()
    size = {p.name: p.size for p in flat.populations}
    return float(sum(pr.rule.expected_count(size.get(pr.pre, 0), size.get(pr.post, 0)) for pr in flat.projections))
