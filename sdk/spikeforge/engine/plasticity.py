"""Learning inside the step: the plasticity kernels over the flat layout (numpy spec).

The rules are declared in :mod:`spikeforge.model.plasticity`; here they are compiled
into small parameter tables and applied by :func:`learn_step`, which
:func:`spikeforge.engine.numpy_backend.step` calls once per step after spike
propagation. Everything is vectorized over neurons, brains and synapses (no per-brain
or per-spike Python) and uses float32 only, with every decay factor precomputed in
float64 and rounded once (no ``exp`` in a kernel).

NOTE FOR THE NATIVE / WGSL PORTS — the exact order of one learning step
-----------------------------------------------------------------------
For the brains advanced this step (``active``), with ``s`` = this step's spike flag
(after forced and burst spikes) and ``on(b) = layout.learning && learn[b]``:

P1  dopamine (every advanced brain, only when the world has a reward-STDP synapse,
    ``any_rstdp``; brains without reward-STDP have da_decay = 1, every = 0: inert):
        dopamine_sum[b] = dopamine_sum[b] + dopamine[b]
        dopamine[b]     = dopamine[b] * da_decay[b]
P2  (same condition) msum[n] = msum[n] + mod[n]   (mod as updated by step 1 of this step)
P3  xpre[n]  = xpre[n]  * dpre[pid[n]]
    xpost[n] = xpost[n] * dpost[pid[n]]
P4  homeostasis, only if on(b) and eta[pid] > 0:
        t = theta[n] - drop[pid]          (drop = eta * target_rate * dt, rounded once)
        theta[n] = s[n] ? t + eta[pid] : t
P5  events, only if on(b):
    a) depression, for every synapse y of a spiking *pre* neuron whose projection is
       STDP (kind 1) or reward-STDP (kind 2):
           d = a_minus[proj] * xpost[post]           ; soft: d = d * (w[y] - w_min)
           kind 1: w[y] = clip(w[y] - d)             ; kind 2: elig[y] = elig[y] - d
       Rows of projections with depress_at="delivery" (PI_DELIVER) are skipped here; instead
    a') depression at delivery: for every advanced neuron m of a brain with on(b) and
       shist[m] != 0, every PI_DELIVER row r of m with bit (row_delay[r] - 1) of shist[m]
       set (m fired row_delay[r] steps ago) gets a)'s update with this step's xpost.
    b) potentiation, for every plastic synapse y of a spiking *post* neuron
       (after a), so a synapse whose pre and post both spiked sees a)'s result):
           kind 1/2: p = a_plus[proj] * xpre[pre]    ; soft: p = p * (w_max - w[y])
           kind 1: w[y] = clip(w[y] + p)             ; kind 2: elig[y] = elig[y] + p
           kind 3 (modulated Hebbian): p = (a_plus[proj] * mod[post]) * xpre[pre]
                                        w[y] = clip(w[y] + p)
       The incoming table (``in_*``, sorted by post) pads each slot with placeholder entries
       of a kind-0 projection (:func:`_pad_slots`): they are skipped, here and in P7.
       ``a_plus``/``a_minus`` already include the projection's ``lr`` for kinds 1 and 3.
P6  for spiking neurons: x = xpre[n] + preinc[pid]; xpre[n] = x > premax[pid] ? premax[pid] : x,
    and the same for xpost with postinc/postmax (defaults 1 and +inf: ``x + 1``; nearest-spike
    pairing has max = inc, so the trace is set to inc). By default spikes of the same step
    never pair: P5 reads the traces before P6. A trace whose parameter set has
    preearly[pid] (xpre) / postearly[pid] (xpost) set (``equal_time``) takes its P6
    increment right after P3 instead (before P4/P5), so P5 sees this step's spike; the
    trace's value after the step is the same either way (P5 does not write traces).
P6' only when some projection has PI_DELIVER (any_delivery): for every neuron of nidx,
    shist = (shist << 1) | s (uint32 bits in the int32 array), learning or not.
P7  reward-STDP update, for brains with (brain_step + 1) % update_every == 0, for each
    of their reward-STDP synapses y (post n):
           D = (dopamine_sum[b] + dabase[proj]) + modw[proj] * msum[n]
                                    (dabase = update_every * dopamine_baseline, rounded once)
           if on(b): w[y] = clip(w[y] + (rlr[proj] * elig[y]) * D)
           elig[y] = elig[y] * cdecay[proj]          (cdecay = exp(-update_every*dt/tau_c))
    then dopamine_sum[b] = 0 and msum[n] = 0 for every neuron of those brains.

``clip(x)`` is ``x < w_min ? w_min : x`` followed by ``x > w_max ? w_max : x`` (NaN passes,
as in C with plain comparisons). All products are float32 in the order written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from spikeforge.engine.layout import Layout, expand_ranges
from spikeforge.model.plasticity import (
    MAX_DELIVERY_DELAY,
    STDP,
    Homeostasis,
    ModulatedHebbian,
    RewardSTDP,
    homeostasis_of,
)
from spikeforge.model.synapses import AllToAll, FixedInDegree, FixedProbability, OneToOne, Pairs

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
BoolA = npt.NDArray[np.bool_]

KIND_NONE = 0
KIND_STDP = 1
KIND_RSTDP = 2
KIND_HEBB = 3

# per-projection float32 columns (row = global projection index, as row_proj)
PF_APLUS = 0   # lr*a_plus (STDP), a_plus (reward-STDP, into elig), lr (modulated Hebbian)
PF_AMINUS = 1  # lr*a_minus (STDP), a_minus (reward-STDP)
PF_WMIN = 2
PF_WMAX = 3
PF_RLR = 4     # reward-STDP: dw = rlr * elig * D
PF_CDECAY = 5  # reward-STDP: exp(-update_every * dt / tau_c)
PF_MODW = 6    # reward-STDP: weight of the post modulator level in D
PF_DABASE = 7  # reward-STDP: update_every * dopamine_baseline (tonic dopamine per update)
NPF = 8
# per-projection int32 columns
PI_KIND = 0
PI_SOFT = 1
PI_DELIVER = 2  # 1: depression at delivery (depress_at="delivery"), 0: at emission
NPI = 3
# per-parameter-set (pid) float32 columns
PP_DPRE = 0    # exp(-dt/tau_plus) of the pre trace (1 when unused)
PP_DPOST = 1   # exp(-dt/tau_minus) of the post trace
PP_HETA = 2    # homeostasis eta (mV per spike), 0 = off
PP_HDROP = 3   # eta * target_rate * dt (mV per step)
PP_PREINC = 4  # pre trace increment per spike (1)
PP_PREMAX = 5  # pre trace saturation (+inf: none; = PREINC for nearest-spike pairing)
PP_POSTINC = 6  # post trace increment per spike (1)
PP_POSTMAX = 7  # post trace saturation
PP_PREEARLY = 8   # 1: a spike's pre trace increment happens before P5 (equal_time potentiate/both)
PP_POSTEARLY = 9  # 1: a spike's post trace increment happens before P5 (equal_time depress/both)
NPP = 10


@dataclass
class PlasticityTables:
    """Parameters compiled from the rules (pure function of the prototypes and dt)."""

    proj_f: F32       # (n_proj, NPF)
    proj_i: I32       # (n_proj, NPI)
    pid_f: F32        # (n_pid, NPP)
    proto_da_decay: F32  # (n_protos,) exp(-dt/tau_dopamine), 1 if no reward-STDP
    proto_every: I32     # (n_protos,) update_every, 0 if no reward-STDP


@dataclass
class PlasticityCache:
    """Tables plus the index arrays :func:`learn_step` needs (rebuilt with the layout)."""

    tables: PlasticityTables
    dpre: F32          # per neuron
    dpost: F32
    heta: F32
    hdrop: F32
    preinc: F32        # per neuron: trace increments and saturations (P6)
    premax: F32
    postinc: F32
    postmax: F32
    preearly: BoolA    # per neuron: pre / post trace incremented before P5 (P6 early)
    postearly: BoolA
    row_kind: I32      # per row: kind of its projection
    row_deliver: BoolA  # per row: STDP/reward-STDP row depressing at delivery (P5a')
    in_ptr: I64        # per neuron (n+1): plastic synapses sorted by post, each slot's segment
    in_syn: I64        #   padded with placeholders (kind none, skipped; see _pad_slots)
    in_pre: I64
    in_proj: I64
    rs_ptr: I64        # per brain (n_brains+1): reward-STDP synapses, ascending synapse index
    rs_syn: I64
    rs_post: I64
    rs_proj: I64
    da_decay: F32      # per brain
    every: I64         # per brain (0: no reward-STDP)
    any_rstdp: bool
    any_homeo: bool
    any_events: bool
    any_delivery: bool  # some projection depresses at delivery: shist is kept
    n_rstdp: int = 0    # reward-STDP synapses in rs_syn (the rest: placeholders of empty free slots)


def _f32(x: float) -> np.float32:
    return np.float32(x)


def default_pid_rows(n_pid: int) -> npt.NDArray[np.float64]:
    """Per-population plasticity rows of a population no rule touches, shape ``(n_pid, NPP)``.

    Traces that never decay or grow (decay 1, increment 1, no saturation) and no
    homeostasis: the rows every backend uploads when a world has no plasticity at all.
    """
    pid = np.zeros((n_pid, NPP), np.float64)
    pid[:, PP_DPRE] = 1.0
    pid[:, PP_DPOST] = 1.0
    pid[:, PP_PREINC] = 1.0
    pid[:, PP_POSTINC] = 1.0
    pid[:, PP_PREMAX] = np.inf
    pid[:, PP_POSTMAX] = np.inf
    return pid


def compile_tables(layout: Layout) -> PlasticityTables:
    """Compile every prototype's rules into the parameter tables at the layout's dt.

    Raises ``ValueError`` naming the projection when rules that share per-neuron or
    per-brain state disagree (trace time constants of one population, homeostasis of
    one population, dopamine settings of one circuit).
    """
    L = layout
    dt = float(L.dt_ms)
    n_proj = int(L.proj_chan.size)
    n_pid = int(L.fparams.shape[0])
    pf = np.zeros((n_proj, NPF), np.float64)
    pi = np.zeros((n_proj, NPI), np.int32)
    pid = default_pid_rows(n_pid)
    owner: dict[tuple[int, int], tuple[float, str]] = {}
    da = np.ones(len(L.prototypes), np.float64)
    every = np.zeros(len(L.prototypes), np.int32)
    da_owner: dict[int, tuple[float, int, str]] = {}

    def claim(pid_i: int, col: int, value: float, path: str, what: str) -> None:
        prev = owner.get((pid_i, col))
        if prev is not None and prev[0] != value:
            raise ValueError(f"{path}: {what} {value} conflicts with {prev[0]} set by {prev[1]} "
                             "(they share one per-neuron trace/threshold)")
        owner[(pid_i, col)] = (value, path)

    for p in L.prototypes:
        for j, pr in enumerate(p.circuit.projections):
            rule = pr.plasticity
            if rule is None:
                continue
            g = p.proj_base + j
            path = f"{p.circuit.name}.projections[{j}] ({pr.name}).plasticity"
            pre_pid = p.pid_base + p.pop_names.index(pr.pre)
            post_pid = p.pid_base + p.pop_names.index(pr.post)
            homeo = homeostasis_of(rule)
            if homeo is not None:
                claim(post_pid, PP_HETA, homeo.eta, path, "homeostasis.eta")
                claim(post_pid, PP_HDROP, homeo.target_rate, path, "homeostasis.target_rate")
                pid[post_pid, PP_HETA] = homeo.eta
                pid[post_pid, PP_HDROP] = homeo.eta * homeo.target_rate * dt / 1000.0
            if isinstance(rule, Homeostasis):
                continue
            pf[g, PF_WMIN], pf[g, PF_WMAX] = rule.w_min, rule.w_max
            if isinstance(rule, ModulatedHebbian):
                pi[g, PI_KIND] = KIND_HEBB
                pf[g, PF_APLUS] = rule.lr
                claim(pre_pid, PP_DPRE, rule.tau_pre, path, "tau_pre")
                claim(pre_pid, PP_PREINC, 1.0, path, "pre trace increment")
                claim(pre_pid, PP_PREMAX, np.inf, path, "pre trace saturation")
                claim(pre_pid, PP_PREEARLY, 0.0, path, "equal_time (pre trace)")
                pid[pre_pid, PP_DPRE] = math.exp(-dt / rule.tau_pre)
                continue
            assert isinstance(rule, STDP)
            claim(pre_pid, PP_DPRE, rule.tau_plus, path, "tau_plus")
            claim(post_pid, PP_DPOST, rule.tau_minus, path, "tau_minus")
            pid[pre_pid, PP_DPRE] = math.exp(-dt / rule.tau_plus)
            pid[post_pid, PP_DPOST] = math.exp(-dt / rule.tau_minus)
            inc, top = rule.trace_limits()
            claim(pre_pid, PP_PREINC, inc, path, "trace_increment (pre trace)")
            claim(pre_pid, PP_PREMAX, top, path, "trace saturation / pairing (pre trace)")
            claim(post_pid, PP_POSTINC, inc, path, "trace_increment (post trace)")
            claim(post_pid, PP_POSTMAX, top, path, "trace saturation / pairing (post trace)")
            pid[pre_pid, PP_PREINC], pid[pre_pid, PP_PREMAX] = inc, top
            pid[post_pid, PP_POSTINC], pid[post_pid, PP_POSTMAX] = inc, top
            pre_early, post_early = (float(f) for f in rule.equal_time_flags())
            claim(pre_pid, PP_PREEARLY, pre_early, path, "equal_time (pre trace)")
            claim(post_pid, PP_POSTEARLY, post_early, path, "equal_time (post trace)")
            pid[pre_pid, PP_PREEARLY], pid[post_pid, PP_POSTEARLY] = pre_early, post_early
            pi[g, PI_SOFT] = 1 if rule.soft_bound else 0
            if rule.depress_at == "delivery":
                if pr.delay_range()[1] > MAX_DELIVERY_DELAY:
                    raise ValueError(f"{path}.depress_at: 'delivery' needs delays <= {MAX_DELIVERY_DELAY} steps, "
                                     f"the projection's reach {pr.delay_range()[1]}")
                pi[g, PI_DELIVER] = 1
            if isinstance(rule, RewardSTDP):
                pi[g, PI_KIND] = KIND_RSTDP
                pf[g, PF_APLUS], pf[g, PF_AMINUS] = rule.a_plus, rule.a_minus
                pf[g, PF_RLR] = rule.lr
                pf[g, PF_CDECAY] = math.exp(-rule.update_every * dt / rule.tau_c)
                pf[g, PF_MODW] = rule.modulator_weight
                pf[g, PF_DABASE] = rule.update_every * rule.dopamine_baseline
                prev = da_owner.get(p.index)
                if prev is not None and (prev[0], prev[1]) != (rule.tau_dopamine, rule.update_every):
                    raise ValueError(f"{path}: tau_dopamine/update_every ({rule.tau_dopamine}, {rule.update_every}) "
                                     f"conflict with ({prev[0]}, {prev[1]}) set by {prev[2]} "
                                     "(dopamine is one per brain)")
                da_owner[p.index] = (rule.tau_dopamine, rule.update_every, path)
                da[p.index] = math.exp(-dt / rule.tau_dopamine)
                every[p.index] = rule.update_every
            else:
                pi[g, PI_KIND] = KIND_STDP
                pf[g, PF_APLUS], pf[g, PF_AMINUS] = rule.lr * rule.a_plus, rule.lr * rule.a_minus
    return PlasticityTables(pf.astype(np.float32), pi, pid.astype(np.float32), da.astype(np.float32), every)


def build_cache(layout: Layout) -> PlasticityCache | None:
    """The learning cache of a layout, or None when nothing in it learns."""
    L = layout
    T = compile_tables(L)
    kinds = T.proj_i[:, PI_KIND] if T.proj_i.size else np.zeros(0, np.int32)
    any_homeo = bool(np.any(T.pid_f[:, PP_HETA] > 0)) if T.pid_f.size else False
    if not np.any(kinds != KIND_NONE) and not any_homeo:
        return None
    deliver = T.proj_i[:, PI_DELIVER] != 0 if T.proj_i.size else np.zeros(0, bool)
    # layout.stored_state stores the learning state exactly when some circuit learns
    # (circuit_learns), shist when some projection depresses at delivery (circuit_delivers)
    missing = [k for k in ("xpre", "xpost", "msum", *(("shist",) if np.any(deliver) else ())) if k not in L.neuron]
    if missing:
        raise ValueError(f"layout.neuron: {', '.join(missing)} missing in a layout that learns")
    n = L.n_neurons
    pidv = L.pid
    row_kind = kinds[L.row_proj] if L.n_rows else np.zeros(0, np.int32)
    syn_proj = np.repeat(L.row_proj, np.diff(L.row_syn)).astype(np.int64)
    syn_pre = L.syn_pre().astype(np.int64)
    ps = np.flatnonzero(kinds[syn_proj] != KIND_NONE) if syn_proj.size else np.zeros(0, np.int64)
    post = L.synapse["post"][ps].astype(np.int64)
    order = np.argsort(post, kind="stable")
    in_syn = ps[order].astype(np.int64)
    post_sorted = post[order]
    in_ptr = np.searchsorted(post_sorted, np.arange(n + 1), side="left").astype(np.int64)
    in_proj = syn_proj[in_syn]
    # reward-STDP synapses in layout (CSR) order: P7 is elementwise, so the order is free, and
    # ascending synapse indices stream w/elig (a brain's synapses are one contiguous range)
    rs_syn = ps[kinds[syn_proj[ps]] == KIND_RSTDP].astype(np.int64)
    rs_post = L.synapse["post"][rs_syn].astype(np.int64)
    brain_syn = L.row_syn[L.row_ptr[L.brain_start]]
    rs_ptr = np.searchsorted(rs_syn, brain_syn, side="left").astype(np.int64)
    if bool(np.any(deliver)) and "shist" not in L.neuron:  # stored when some circuit delivers
        raise ValueError("layout.neuron: shist missing in a layout that depresses at delivery")
    if rs_syn.size and "elig" not in L.synapse:
        raise ValueError("layout.synapse.elig: reward-STDP synapses exist but no eligibility array")
    n_rstdp = int(rs_syn.size)
    in_ptr, in_syn, in_pre, in_proj, rs_ptr, rs_syn, rs_post, rs_proj = _pad_slots(
        L, kinds, in_ptr, in_syn, syn_pre[in_syn], in_proj, rs_ptr, rs_syn, rs_post, syn_proj[rs_syn], n_rstdp > 0)
    bp = L.brain_proto
    return PlasticityCache(
        tables=T,
        dpre=T.pid_f[pidv, PP_DPRE].astype(np.float32), dpost=T.pid_f[pidv, PP_DPOST].astype(np.float32),
        heta=T.pid_f[pidv, PP_HETA].astype(np.float32), hdrop=T.pid_f[pidv, PP_HDROP].astype(np.float32),
        preinc=T.pid_f[pidv, PP_PREINC].astype(np.float32), premax=T.pid_f[pidv, PP_PREMAX].astype(np.float32),
        postinc=T.pid_f[pidv, PP_POSTINC].astype(np.float32), postmax=T.pid_f[pidv, PP_POSTMAX].astype(np.float32),
        preearly=T.pid_f[pidv, PP_PREEARLY] != 0, postearly=T.pid_f[pidv, PP_POSTEARLY] != 0,
        row_kind=row_kind.astype(np.int32), row_deliver=_row_deliver(L, deliver),
        in_ptr=in_ptr, in_syn=in_syn, in_pre=in_pre,
        in_proj=in_proj, rs_ptr=rs_ptr, rs_syn=rs_syn, rs_post=rs_post, rs_proj=rs_proj,
        da_decay=T.proto_da_decay[bp].astype(np.float32) if bp.size else np.zeros(0, np.float32),
        every=T.proto_every[bp].astype(np.int64) if bp.size else np.zeros(0, np.int64),
        any_rstdp=n_rstdp > 0, any_homeo=any_homeo,
        any_events=bool(np.any(kinds != KIND_NONE)), any_delivery=bool(np.any(deliver)), n_rstdp=n_rstdp,
    )


def _slot_capacity(layout: Layout, kinds: I32) -> tuple[I64, I64]:
    """Entries one slot of each prototype holds in the incoming (by post) and the reward-STDP
    table, shape ``(n_protos,)`` each: the plastic and reward-STDP synapses of its brains where
    the wiring fixes them (all-to-all, one-to-one, fixed in-degree, pairs), plus, where a rule
    draws them (fixed probability), their mean and ``6 sqrt(mean) + 8`` of headroom (as the
    slot shape's). A brain with more gets a longer segment (``max(capacity, count)``)."""
    n_in = np.zeros(len(layout.prototypes), np.int64)
    n_rs = np.zeros(len(layout.prototypes), np.int64)
    for p in layout.prototypes:
        fixed = [0, 0]
        mean = [0.0, 0.0]
        for j, pr in enumerate(p.circuit.projections):
            kind = int(kinds[p.proj_base + j]) if p.proj_base + j < kinds.size else KIND_NONE
            if kind == KIND_NONE or pr.kind == "electrical":
                continue
            a, b = p.pop_names.index(pr.pre), p.pop_names.index(pr.post)
            n_pre, n_post = p.pop_size[a], p.pop_size[b]
            rule = pr.rule
            count = 0
            if n_pre == 0 or n_post == 0:
                count = 0
            elif isinstance(rule, AllToAll):
                count = n_pre * n_post - (n_pre if a == b and not rule.allow_self else 0)
            elif isinstance(rule, OneToOne):
                count = n_pre
            elif isinstance(rule, FixedInDegree):
                count = rule.k * n_post
            elif isinstance(rule, Pairs):
                count = len(rule.pre)
            elif isinstance(rule, FixedProbability):
                pairs = n_pre * n_post - (n_pre if a == b and not rule.allow_self else 0)
                m = max(0.0, min(1.0, float(rule.p))) * pairs
                mean[0] += m
                mean[1] += m if kind == KIND_RSTDP else 0.0
            fixed[0] += count
            fixed[1] += count if kind == KIND_RSTDP else 0
        for t in (0, 1):
            head = math.ceil(mean[t] + 6.0 * math.sqrt(mean[t]) + 8.0) if mean[t] > 0 else 0
            (n_in if t == 0 else n_rs)[p.index] = fixed[t] + head
    return n_in, n_rs


def _placeholder_proj(kinds: I32) -> int | None:
    """The projection placeholders name: the last one no rule makes plastic (a slot layout's
    pad projection), so that P5b/P7 skip them; None when every projection is plastic."""
    none = np.flatnonzero(kinds == KIND_NONE)
    return int(none[-1]) if none.size else None


def _pad_slots(L: Layout, kinds: I32, in_ptr: I64, in_syn: I64, in_pre: I64, in_proj: I64,
               rs_ptr: I64, rs_syn: I64, rs_post: I64, rs_proj: I64, rs_too: bool
               ) -> tuple[I64, I64, I64, I64, I64, I64, I64, I64]:
    """Pad every slot's segments of the incoming and reward-STDP tables to its prototype's
    capacity (:func:`_slot_capacity`) with placeholders, so that a spawn writes the new
    brain's segments in place (:func:`update_cache`) unless it has more synapses than that.
    A placeholder names the slot's first synapse and first neuron (so it stays inside the
    slot) and :func:`_placeholder_proj`, a projection of kind none: potentiation (P5b) and the
    reward-STDP update (P7) skip it. The incoming ones belong to the slot's last neuron.
    Reward-STDP placeholders only when ``rs_too`` (the world has a reward-STDP synapse: the
    kernels then have an eligibility array)."""
    pj = _placeholder_proj(kinds)
    nb = L.n_brains
    if not nb or not L.prototypes or pj is None:
        return in_ptr, in_syn, in_pre, in_proj, rs_ptr, rs_syn, rs_post, rs_proj
    cap_in, cap_rs = _slot_capacity(L, kinds)
    bs = L.brain_start.astype(np.int64)
    y_lo = L.row_syn[L.row_ptr[bs[:-1]]].astype(np.int64)
    has = L.row_syn[L.row_ptr[bs[1:]]].astype(np.int64) > y_lo  # a synapse to name
    proto = L.brain_proto.astype(np.int64)
    pad_in = np.where(has, np.maximum(cap_in[proto] - (in_ptr[bs[1:]] - in_ptr[bs[:-1]]), 0), 0)
    pad_rs = np.where(has & rs_too, np.maximum(cap_rs[proto] - np.diff(rs_ptr), 0), 0)
    g = np.flatnonzero(pad_in)
    if g.size:
        at = np.repeat(in_ptr[bs[g + 1]], pad_in[g])
        in_syn = np.insert(in_syn, at, np.repeat(y_lo[g], pad_in[g]))
        in_pre = np.insert(in_pre, at, np.repeat(bs[g], pad_in[g]))
        in_proj = np.insert(in_proj, at, np.full(at.size, pj, np.int64))
        grow = np.zeros(in_ptr.size, np.int64)
        np.add.at(grow, bs[g + 1], pad_in[g])
        in_ptr = in_ptr + np.cumsum(grow)
    g = np.flatnonzero(pad_rs)
    if g.size:
        at = np.repeat(rs_ptr[g + 1], pad_rs[g])
        rs_syn = np.insert(rs_syn, at, np.repeat(y_lo[g], pad_rs[g]))
        rs_post = np.insert(rs_post, at, np.repeat(L.synapse["post"][y_lo[g]].astype(np.int64), pad_rs[g]))
        rs_proj = np.insert(rs_proj, at, np.full(at.size, pj, np.int64))
        grow = np.zeros(rs_ptr.size, np.int64)
        np.add.at(grow, g + 1, pad_rs[g])
        rs_ptr = rs_ptr + np.cumsum(grow)
    return in_ptr, in_syn, in_pre, in_proj, rs_ptr, rs_syn, rs_post, rs_proj


def _row_deliver(L: Layout, deliver: BoolA) -> BoolA:
    """Per row: its projection depresses at delivery (only STDP/reward-STDP set PI_DELIVER)."""
    if not L.n_rows or not deliver.size:
        return np.zeros(L.n_rows, bool)
    return deliver[L.row_proj].astype(bool)


@dataclass
class _SlotSegment:
    """One rewritten slot's part of the learning index tables (see :func:`update_cache`)."""

    slot: int
    s: int             # neurons s..e
    e: int
    r0: int            # rows r0..r1
    r1: int
    in_local: I64      # (e - s + 1,) in_ptr[s:e+1] relative to the segment's start
    in_syn: I64        # the segment of in_syn / in_pre / in_proj (placeholders included)
    in_pre: I64
    in_proj: I64
    rs_syn: I64        # the segment of rs_syn / rs_post / rs_proj (placeholders included)
    rs_post: I64
    rs_proj: I64
    n_rstdp: int       # reward-STDP synapses in it (not placeholders)


def _slot_segment(L: Layout, kinds: I32, i: int, cap: tuple[I64, I64], pj: int | None, rs_too: bool
                  ) -> _SlotSegment:
    """What :func:`build_cache` puts in the index tables for brain ``i``, from its rows alone
    (padded as :func:`_pad_slots` does, with capacities ``cap`` and placeholder projection ``pj``)."""
    s, e = int(L.brain_start[i]), int(L.brain_start[i + 1])
    r0, r1 = int(L.row_ptr[s]), int(L.row_ptr[e])
    y0, y1 = int(L.row_syn[r0]), int(L.row_syn[r1])
    per_row = np.diff(L.row_syn[r0:r1 + 1])
    syn_proj = np.repeat(L.row_proj[r0:r1].astype(np.int64), per_row)
    syn_pre = np.repeat(np.repeat(np.arange(s, e, dtype=np.int64), np.diff(L.row_ptr[s:e + 1])), per_row)
    ps = np.flatnonzero(kinds[syn_proj] != KIND_NONE) if syn_proj.size else np.zeros(0, np.int64)
    post = L.synapse["post"][y0 + ps].astype(np.int64)
    order = np.argsort(post, kind="stable")
    seg = ps[order]
    in_local = np.searchsorted(post[order], np.arange(s, e + 1, dtype=np.int64), side="left").astype(np.int64)
    rs = ps[kinds[syn_proj[ps]] == KIND_RSTDP]
    in_syn, in_pre, in_proj = (y0 + seg).astype(np.int64), syn_pre[seg], syn_proj[seg]
    rs_syn, rs_post, rs_proj = (y0 + rs).astype(np.int64), L.synapse["post"][y0 + rs].astype(np.int64), syn_proj[rs]
    if pj is not None and y1 > y0:
        p = int(L.brain_proto[i])
        k = max(int(cap[0][p]) - int(seg.size), 0)
        if k:
            in_syn = np.concatenate([in_syn, np.full(k, y0, np.int64)])
            in_pre = np.concatenate([in_pre, np.full(k, s, np.int64)])
            in_proj = np.concatenate([in_proj, np.full(k, pj, np.int64)])
            in_local[-1] += k
        k = max(int(cap[1][p]) - int(rs.size), 0) if rs_too else 0
        if k:
            rs_syn = np.concatenate([rs_syn, np.full(k, y0, np.int64)])
            rs_post = np.concatenate([rs_post, np.full(k, int(L.synapse["post"][y0]), np.int64)])
            rs_proj = np.concatenate([rs_proj, np.full(k, pj, np.int64)])
    return _SlotSegment(i, s, e, r0, r1, in_local, in_syn, in_pre, in_proj, rs_syn, rs_post, rs_proj, int(rs.size))


def _splice(old: I64, spans: list[tuple[int, int]], news: list[I64]) -> I64:
    """``old`` with ``old[a:b]`` replaced by ``new`` for each (ascending, disjoint) span."""
    parts: list[I64] = []
    pos = 0
    for (a, b), new in zip(spans, news, strict=True):
        parts += [old[pos:a], new]
        pos = b
    parts.append(old[pos:])
    return np.concatenate(parts).astype(np.int64, copy=False)


def update_cache(layout: Layout, pc: PlasticityCache, slots: list[int], in_place: bool = False) -> PlasticityCache:
    """:func:`build_cache` of ``layout`` after brains ``slots`` were rewritten in place
    (``engine/slots.py``), spliced from ``pc`` (the cache before): a slot keeps its neurons,
    parameter sets and row/synapse ranges, and its synapses' targets stay inside it, so only
    its rows' kinds and its segments of the incoming (by post) and reward-STDP tables change.
    Equal, array for array, to ``build_cache(layout)``.

    Cost: O(slot) for each slot whose segments keep their lengths when ``in_place``: every
    slot's segments are padded to its prototype's capacity (:func:`_pad_slots`), so they
    do unless a brain has more plastic synapses than that (random wiring beyond its
    headroom). Otherwise one copy of each index table (the segments after a slot move); when
    the world gains its first reward-STDP synapse or loses its last, ``build_cache``.

    Parameters
    ----------
    layout : Layout
        The layout, with the slots already written.
    pc : PlasticityCache
        The cache of the layout before the slot writes.
    slots : list of int
        The rewritten slots (freed slots may be left out: freeing changes no wiring).
    in_place : bool
        Write into ``pc``'s arrays where the lengths allow (the CPU backends: a kernel
        reading them keeps its pointers); ``pc`` is then no longer the cache before.
        False (default): ``pc`` is not modified.

    Returns
    -------
    PlasticityCache
        The cache: ``pc`` itself when ``in_place`` and every segment kept its length,
        else a new one (whose unchanged arrays may be ``pc``'s when ``in_place``).
    """
    L = layout
    kinds = pc.tables.proj_i[:, PI_KIND] if pc.tables.proj_i.size else np.zeros(0, np.int32)
    deliver = pc.tables.proj_i[:, PI_DELIVER] != 0 if pc.tables.proj_i.size else np.zeros(0, bool)
    cap, pj = _slot_capacity(L, kinds), _placeholder_proj(kinds)
    order = sorted({int(x) for x in slots})
    segs = [_slot_segment(L, kinds, i, cap, pj, pc.any_rstdp) for i in order]
    rs_spans = [(int(pc.rs_ptr[i]), int(pc.rs_ptr[i + 1])) for i in order]
    # reward-STDP synapses (not placeholders) that the slots' segments held and hold now
    n_rstdp = pc.n_rstdp + sum(g.n_rstdp - int(np.count_nonzero(kinds[pc.rs_proj[c:d]] == KIND_RSTDP))
                               for g, (c, d) in zip(segs, rs_spans, strict=True))
    if (n_rstdp > 0) != pc.any_rstdp:  # reward-STDP placeholders appear or go everywhere
        fresh = build_cache(L)
        assert fresh is not None
        return fresh
    in_spans = [(int(pc.in_ptr[g.s]), int(pc.in_ptr[g.e])) for g in segs]
    same = all(g.in_syn.size == b - a for g, (a, b) in zip(segs, in_spans, strict=True)) and all(
        g.rs_syn.size == b - a for g, (a, b) in zip(segs, rs_spans, strict=True))

    def own(a: np.ndarray) -> np.ndarray:
        return a if in_place else a.copy()

    row_kind, row_deliver, in_ptr, rs_ptr = own(pc.row_kind), own(pc.row_deliver), own(pc.in_ptr), own(pc.rs_ptr)
    for g in segs:
        row_kind[g.r0:g.r1] = kinds[L.row_proj[g.r0:g.r1]]
        if deliver.size:
            row_deliver[g.r0:g.r1] = deliver[L.row_proj[g.r0:g.r1]]
    if same:  # every segment keeps its place: write it there
        in_syn, in_pre, in_proj = own(pc.in_syn), own(pc.in_pre), own(pc.in_proj)
        rs_syn, rs_post, rs_proj = own(pc.rs_syn), own(pc.rs_post), own(pc.rs_proj)
        for g, (a, b), (c, d) in zip(segs, in_spans, rs_spans, strict=True):
            in_syn[a:b], in_pre[a:b], in_proj[a:b] = g.in_syn, g.in_pre, g.in_proj
            in_ptr[g.s:g.e + 1] = a + g.in_local
            rs_syn[c:d], rs_post[c:d], rs_proj[c:d] = g.rs_syn, g.rs_post, g.rs_proj
        if in_place:
            pc.n_rstdp, pc.any_rstdp = n_rstdp, n_rstdp > 0
            return pc
    else:  # lengths changed: the segments after a slot move (one copy of each table)
        in_syn = _splice(pc.in_syn, in_spans, [g.in_syn for g in segs])
        in_pre = _splice(pc.in_pre, in_spans, [g.in_pre for g in segs])
        in_proj = _splice(pc.in_proj, in_spans, [g.in_proj for g in segs])
        rs_syn = _splice(pc.rs_syn, rs_spans, [g.rs_syn for g in segs])
        rs_post = _splice(pc.rs_post, rs_spans, [g.rs_post for g in segs])
        rs_proj = _splice(pc.rs_proj, rs_spans, [g.rs_proj for g in segs])
        for g, (a, b), (c, d) in zip(segs, in_spans, rs_spans, strict=True):
            start = int(in_ptr[g.s])  # includes the moves of the slots before
            in_ptr[g.s:g.e + 1] = start + g.in_local
            in_ptr[g.e + 1:] += g.in_syn.size - (b - a)
            rs_ptr[g.slot + 1:] += g.rs_syn.size - (d - c)
    return replace(pc, row_kind=row_kind, row_deliver=row_deliver, in_ptr=in_ptr, in_syn=in_syn, in_pre=in_pre,
                   in_proj=in_proj, rs_ptr=rs_ptr, rs_syn=rs_syn, rs_post=rs_post, rs_proj=rs_proj,
                   any_rstdp=n_rstdp > 0, n_rstdp=n_rstdp)


def clip(x: F32, lo: F32, hi: F32) -> F32:
    """``x < lo ? lo : x`` then ``x > hi ? hi : x`` (NaN passes through)."""
    y = np.where(x < lo, lo, x)
    return np.where(y > hi, hi, y).astype(np.float32)


def _depress(L: Layout, pc: PlasticityCache, rows: I64, w: F32, elig: F32) -> None:
    """P5a on the synapses of ``rows`` (STDP / reward-STDP rows, each synapse at most once)."""
    if not rows.size:
        return
    S, pf, pi = L.neuron, pc.tables.proj_f, pc.tables.proj_i
    syn, rown = expand_ranges(L.row_syn[rows], L.row_syn[rows + 1])
    proj = L.row_proj[rows][rown]
    post = L.synapse["post"][syn]
    wy = w[syn]
    d = pf[proj, PF_AMINUS] * S["xpost"][post]
    soft = pi[proj, PI_SOFT] != 0
    d = np.where(soft, d * (wy - pf[proj, PF_WMIN]), d).astype(np.float32)
    k1 = pi[proj, PI_KIND] == KIND_STDP
    s1 = syn[k1]
    w[s1] = clip(wy[k1] - d[k1], pf[proj[k1], PF_WMIN], pf[proj[k1], PF_WMAX])
    s2 = syn[~k1]
    elig[s2] = elig[s2] - d[~k1]


def _increment(x: F32, spk: I64, inc: F32, top: F32) -> None:
    """P6 for neurons ``spk``: ``x = x + inc``, saturated at ``top`` (per-neuron arrays)."""
    if spk.size:
        y = x[spk] + inc[spk]
        x[spk] = np.where(y > top[spk], top[spk], y)


def learn_step(layout: Layout, pc: PlasticityCache, nidx: I64, spike: BoolA, brain_of: I32,
               active: BoolA | None) -> None:
    """One learning step (P1..P7 of the module docstring) for the neurons ``nidx``.

    Parameters
    ----------
    layout : Layout
        Modified in place (neuron traces, theta, synapse w/elig, dopamine arrays).
    pc : PlasticityCache
        From :func:`build_cache` of this layout.
    nidx : int64 array
        The neurons advanced this step (whole brains), ascending.
    spike : bool array
        This step's spike flag of each neuron of ``nidx``.
    brain_of : int32 array
        Brain of every neuron of the layout.
    active : bool array or None
        Brains advanced this step (None: all). ``brain_step`` is still the step's number.
    """
    L, S, T = layout, layout.neuron, pc.tables
    w = L.synapse["w"]
    # "elig" exists whenever a reward-STDP synapse exists (RewardSTDP.init_synapse_state)
    elig = L.synapse["elig"] if "elig" in L.synapse else np.zeros(0, np.float32)
    pf, pi = T.proj_f, T.proj_i
    on_b = L.learn.astype(bool) & bool(L.learning)

    # P1 dopamine
    if pc.any_rstdp:
        if active is None:
            L.dopamine_sum[...] = L.dopamine_sum + L.dopamine
            L.dopamine[...] = L.dopamine * pc.da_decay
        else:
            L.dopamine_sum[active] = L.dopamine_sum[active] + L.dopamine[active]
            L.dopamine[active] = L.dopamine[active] * pc.da_decay[active]
        # P2 modulator sum
        # (no population of the world keeps mod: it is +0 everywhere, and msum + 0 still turns -0 into +0)
        S["msum"][nidx] = S["msum"][nidx] + (S["mod"][nidx] if "mod" in S else np.float32(0.0))
    # P3 trace decay
    S["xpre"][nidx] = S["xpre"][nidx] * pc.dpre[nidx]
    S["xpost"][nidx] = S["xpost"][nidx] * pc.dpost[nidx]
    spk = nidx[spike]
    # P6 (early half): traces whose population pairs same-step spikes (equal_time) take
    # this step's increment before P5 reads them
    if spk.size:
        _increment(S["xpre"], spk[pc.preearly[spk]], pc.preinc, pc.premax)
        _increment(S["xpost"], spk[pc.postearly[spk]], pc.postinc, pc.postmax)

    if bool(L.learning):
        # P4 homeostasis
        if pc.any_homeo:
            eta = pc.heta[nidx]
            th = S["theta"][nidx]
            t = th - pc.hdrop[nidx]
            t = np.where(spike, t + eta, t).astype(np.float32)
            keep = on_b[brain_of[nidx]] & (eta > 0)
            S["theta"][nidx] = np.where(keep, t, th)
        # P5 events
        if pc.any_events and spk.size:
            src = spk[on_b[brain_of[spk]]]
            # a) depression at pre spikes (STDP and reward-STDP rows depressing at emission)
            rows, _ = expand_ranges(L.row_ptr[src], L.row_ptr[src + 1])
            rk = pc.row_kind[rows]
            rows = rows[((rk == KIND_STDP) | (rk == KIND_RSTDP)) & ~pc.row_deliver[rows]]
            _depress(L, pc, rows, w, elig)
        # a') depression at delivery: rows whose pre neuron spiked row_delay steps ago
        if pc.any_events and pc.any_delivery:
            src = nidx[(S["shist"][nidx] != 0) & on_b[brain_of[nidx]]]
            rows, own = expand_ranges(L.row_ptr[src], L.row_ptr[src + 1])
            keep = pc.row_deliver[rows]
            rows, own = rows[keep], own[keep]
            bit = (S["shist"][src[own]].view(np.uint32) >> (L.row_delay[rows].astype(np.uint32) - 1)) & 1
            _depress(L, pc, rows[bit != 0], w, elig)
        if pc.any_events and spk.size:
            src = spk[on_b[brain_of[spk]]]
            # b) potentiation at post spikes (all plastic synapses onto the spiking neuron)
            idx, _ = expand_ranges(pc.in_ptr[src], pc.in_ptr[src + 1])
            idx = idx[pi[pc.in_proj[idx], PI_KIND] != KIND_NONE]  # placeholders (_pad_slots)
            if idx.size:
                syn = pc.in_syn[idx]
                proj = pc.in_proj[idx]
                pre = pc.in_pre[idx]
                kind = pi[proj, PI_KIND]
                wy = w[syn]
                ap = pf[proj, PF_APLUS]
                hebb = kind == KIND_HEBB
                post = L.synapse["post"][syn]
                if np.any(hebb):  # (a modulated Hebbian rule's post population keeps mod: stored)
                    ap = np.where(hebb, ap * S["mod"][post], ap).astype(np.float32)
                p = ap * S["xpre"][pre]
                soft = pi[proj, PI_SOFT] != 0
                p = np.where(soft, p * (pf[proj, PF_WMAX] - wy), p).astype(np.float32)
                k2 = kind == KIND_RSTDP
                s2 = syn[k2]
                elig[s2] = elig[s2] + p[k2]
                k13 = ~k2
                s13 = syn[k13]
                w[s13] = clip(wy[k13] + p[k13], pf[proj[k13], PF_WMIN], pf[proj[k13], PF_WMAX])
    # P6 trace increments (the rest: traces that did not take them early)
    if spk.size:
        _increment(S["xpre"], spk[~pc.preearly[spk]], pc.preinc, pc.premax)
        _increment(S["xpost"], spk[~pc.postearly[spk]], pc.postinc, pc.postmax)
    # P6' spike history (delivery): shift in this step's spikes
    if pc.any_delivery:
        h = S["shist"][nidx].view(np.uint32)
        S["shist"][nidx] = ((h << np.uint32(1)) | spike.astype(np.uint32)).view(np.int32)

    # P7 reward-STDP weight update
    if pc.any_rstdp:
        due = (pc.every > 0) & (((L.brain_step + 1) % np.maximum(pc.every, 1)) == 0)
        if active is not None:
            due &= active
        bdue = np.flatnonzero(due)
        if bdue.size:
            idx, own = expand_ranges(pc.rs_ptr[bdue], pc.rs_ptr[bdue + 1])
            keep = pi[pc.rs_proj[idx], PI_KIND] == KIND_RSTDP  # not placeholders (_pad_slots)
            idx, own = idx[keep], own[keep]
            if idx.size:
                syn = pc.rs_syn[idx]
                proj = pc.rs_proj[idx]
                post = pc.rs_post[idx]
                D = (L.dopamine_sum[bdue][own] + pf[proj, PF_DABASE]) + pf[proj, PF_MODW] * S["msum"][post]
                c = elig[syn]
                wy = w[syn]
                wn = clip(wy + (pf[proj, PF_RLR] * c) * D, pf[proj, PF_WMIN], pf[proj, PF_WMAX])
                w[syn] = np.where(on_b[bdue][own], wn, wy)
                elig[syn] = c * pf[proj, PF_CDECAY]
            L.dopamine_sum[bdue] = np.float32(0.0)
            nrn, _ = expand_ranges(L.brain_start[bdue], L.brain_start[bdue + 1])
            S["msum"][nrn] = np.float32(0.0)


# ----------------------------------------------------------------------------- runtime helpers


def projection_synapses(layout: Layout, brain: int, proj_global: int) -> I64:
    """Global indices of brain ``brain``'s synapses of projection ``proj_global`` (ascending,
    i.e. ordered by pre neuron, then delay, then post neuron)."""
    L = layout
    s, e = int(L.brain_start[brain]), int(L.brain_start[brain + 1])
    r0, r1 = int(L.row_ptr[s]), int(L.row_ptr[e])
    rows = np.arange(r0, r1, dtype=np.int64)
    rows = rows[L.row_proj[r0:r1] == proj_global]
    syn, _ = expand_ranges(L.row_syn[rows], L.row_syn[rows + 1])
    return syn


def row_source(layout: Layout, syn: I64) -> I64:
    """Pre (global) neuron of each synapse in ``syn``."""
    L = layout
    rows = np.searchsorted(L.row_syn, syn, side="right") - 1
    return (np.searchsorted(L.row_ptr, rows, side="right") - 1).astype(np.int64)
