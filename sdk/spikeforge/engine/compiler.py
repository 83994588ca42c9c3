"""Circuits -> prototypes -> brain blocks: the compiler half of the layout.

``compile_prototype`` turns a flattened circuit into a :class:`PrototypeInfo` (parameter
rows, population offsets); ``instantiate`` draws one brain of it (connectivity, initial
state) as a :class:`BrainBlock` ready for :func:`spikeforge.engine.layout.assemble`.
"""

from __future__ import annotations

import numpy as np

from spikeforge.engine.connectivity import connect, draw_delays, draw_weights
from spikeforge.engine.layout import NEURON_STATE, SYNAPSE_STATE, BrainBlock, PrototypeInfo
from spikeforge.engine.params import NF, NI, param_row, rest_state
from spikeforge.model.circuit import Circuit
from spikeforge.model.genome import circuit_to_genome
from spikeforge.model.neurons import kernel_of


def compile_prototype(circuit: Circuit, index: int, dt_ms: float, pid_base: int, proj_base: int) -> PrototypeInfo:
    """Validate and flatten ``circuit`` and derive its parameter rows at step ``dt_ms``."""
    genome = circuit_to_genome(circuit)  # validates
    flat = circuit.flatten()
    names, offs, sizes = [], [], []
    off = 0
    fp = np.zeros((len(flat.populations), NF), dtype=np.float32)
    ip = np.zeros((len(flat.populations), NI), dtype=np.int32)
    for i, pop in enumerate(flat.populations):
        names.append(pop.name)
        offs.append(off)
        sizes.append(pop.size)
        off += pop.size
        fp[i], ip[i] = param_row(pop.model, dt_ms, pop.background)
    return PrototypeInfo(index=index, circuit=flat, genome=genome, pop_names=names, pop_offset=offs,
                         pop_size=sizes, pid_base=pid_base, proj_base=proj_base, n_neurons=off,
                         fparams=fp, iparams=ip)


def max_delay(proto: PrototypeInfo) -> int:
    """Longest transmission delay of a compiled circuit, in steps (1 when it has only gap junctions).

    Sizes the spike delay ring: a World's ring depth is the largest ``max_delay`` of its prototypes.

    Parameters
    ----------
    proto : PrototypeInfo
        The compiled circuit.

    Returns
    -------
    int
        Steps, >= 1; electrical synapses (no delay) do not count.
    """
    return max((pr.delay_range()[1] for pr in proto.circuit.projections if pr.kind != "electrical"), default=1)


def proj_channels(proto: PrototypeInfo) -> list[int]:
    """Input channel of each projection of a compiled circuit, in projection order.

    Parameters
    ----------
    proto : PrototypeInfo
        The compiled circuit.

    Returns
    -------
    list of int
        0 excitatory, 1 inhibitory, 2 modulator (see ``Projection.channel``).
    """
    return [pr.channel for pr in proto.circuit.projections]


def instantiate(proto: PrototypeInfo, serial: int, key: int, world_seed: int, depth: int,
                pairs: dict[int, tuple[tuple[np.ndarray, np.ndarray], np.random.Generator]] | None = None
                ) -> BrainBlock:
    """Draw one brain of ``proto``: connectivity and initial state (seeded by seed and serial).

    ``pairs[j]``, if given, is projection ``j``'s (pre, post) already drawn with its
    generator, and that generator (``engine/slots.instantiate_many`` draws many brains'
    connectivity at once this way; the result is the same bits)."""
    n = proto.n_neurons
    flat = proto.circuit
    neuron = {k: np.zeros(n, dtype=dt) for k, dt in NEURON_STATE.items()}
    pid = np.zeros(n, dtype=np.int32)
    init_rng = np.random.default_rng([world_seed & 0xFFFFFFFFFFFFFFFF, serial, 0])
    for i, pop in enumerate(flat.populations):
        sl = slice(proto.pop_offset[i], proto.pop_offset[i] + pop.size)
        pid[sl] = proto.pid_base + i
        v0, w0 = rest_state(pop.model)
        vi = pop.v_init
        if isinstance(vi, tuple):
            neuron["v"][sl] = init_rng.uniform(vi[0], vi[1], size=pop.size).astype(np.float32)
        else:
            neuron["v"][sl] = np.float32(v0 if vi is None else vi)
        neuron["w"][sl] = np.float32(w0)
        w_from_v = kernel_of(pop.model)[1].w_from_v
        if w_from_v is not None and vi is not None:  # e.g. Izhikevich: u starts at b*v
            neuron["w"][sl] = w_from_v(pop.model, neuron["v"][sl])
    index = {name: i for i, name in enumerate(proto.pop_names)}
    pres, posts, ws, ds, projs = [], [], [], [], []
    gap_a, gap_b, gap_g = [], [], []
    for j, pr in enumerate(flat.projections):
        a, b = index[pr.pre], index[pr.post]
        if pairs is not None and j in pairs:
            (pre, post), rng = pairs[j]
        else:
            rng = np.random.default_rng([world_seed & 0xFFFFFFFFFFFFFFFF, serial, j + 1])
            pre, post = connect(pr.rule, proto.pop_size[a], proto.pop_size[b], a == b, rng, f"projections[{j}]")
        pre = pre + proto.pop_offset[a]
        post = post + proto.pop_offset[b]
        w = draw_weights(pr, pre.size, rng)
        if pr.kind == "electrical":
            if a == b:  # a junction is symmetric: one per unordered pair, none to itself
                lo, hi = np.minimum(pre, post), np.maximum(pre, post)
                _, first = np.unique(lo * proto.n_neurons + hi, return_index=True)
                first = first[lo[first] != hi[first]]
                pre, post, w = lo[first], hi[first], w[first]
            gap_a.append(pre.astype(np.int32))
            gap_b.append(post.astype(np.int32))
            gap_g.append(w)
            continue
        pres.append(pre.astype(np.int32))
        posts.append(post.astype(np.int32))
        ws.append(w)
        ds.append(draw_delays(pr, pre.size, rng))
        projs.append(np.full(pre.size, proto.proj_base + j, dtype=np.int32))

    def cat(xs: list[np.ndarray], dt: type[np.generic]) -> np.ndarray:
        return np.concatenate(xs).astype(dt, copy=False) if xs else np.zeros(0, dt)

    pre_a, post_a = cat(pres, np.int32), cat(posts, np.int32)
    w_a, d_a, p_a = cat(ws, np.float32), cat(ds, np.int32), cat(projs, np.int32)
    order = np.lexsort((d_a, p_a, pre_a))  # stable: posts stay sorted inside a row
    synapse = {k: np.zeros(pre_a.size, dtype=dt) for k, dt in SYNAPSE_STATE.items()}
    synapse["post"] = post_a[order]
    synapse["w"] = w_a[order]
    for pr_j, pr in enumerate(flat.projections):
        init = getattr(pr.plasticity, "init_synapse_state", None)
        if init is not None:
            init(synapse, p_a[order] == proto.proj_base + pr_j)
    sensors = {s.name: np.zeros(s.channels, np.float32) for s in flat.sensors}
    counts = {a.name: np.zeros(a.channels, np.int32) for a in flat.actuators}
    outs = {a.name: np.zeros(a.width, np.float32) for a in flat.actuators}
    return BrainBlock(proto=proto.index, serial=serial, key=key, step=0, neuron=neuron, pid=pid,
                      syn_pre=pre_a[order], syn_delay=d_a[order], syn_proj=p_a[order], synapse=synapse,
                      gap_a=cat(gap_a, np.int32), gap_b=cat(gap_b, np.int32), gap_g=cat(gap_g, np.float32),
                      pending=np.zeros((depth, 3, n), np.int32), sensors=sensors, act_counts=counts, act_out=outs)
