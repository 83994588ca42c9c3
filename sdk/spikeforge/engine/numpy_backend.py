"""The numpy backend: the executable specification of one step (``docs/semantics.md``).

Written plainly, in the order the semantics document gives, with every float32
operation spelled out in the order the C and WGSL kernels perform it. Pure functions
(``encode_sensors``, ``step``, ``decode_actuators``) act on an explicit
:class:`~spikeforge.engine.layout.Layout`; :class:`NumpyBackend` only holds derived
caches. No per-brain or per-spike Python: everything is vectorized over neurons,
rows and synapses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from spikeforge.engine import params as P
from spikeforge.engine import rng
from spikeforge.engine.backend import Backend, SpikeRecord, register_backend
from spikeforge.engine.layout import (
    FIXED_INV,
    FIXED_LIMIT,
    FIXED_SCALE,
    NEURON_STATE,
    Layout,
    OrganGroup,
    expand_ranges,
)
from spikeforge.engine.plasticity import PlasticityCache, learn_step, update_cache
from spikeforge.engine.plasticity import build_cache as build_plasticity
from spikeforge.model.neurons import KERNELS
from spikeforge.model.neurons.base import GAUSS_DRAWS as B_GAUSS_DRAWS
from spikeforge.model.neurons.base import Integration

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
BoolA = npt.NDArray[np.bool_]

GAUSS_LUT_PER_UNIT = 64
GAUSS_LUT_SIZE = 4 * GAUSS_LUT_PER_UNIT + 1
# exp(-z^2/2) at z = i/64, i = 0..256, rounded to float32 once (kernels interpolate linearly)
GAUSS_LUT: F32 = np.exp(-0.5 * (np.arange(GAUSS_LUT_SIZE) / GAUSS_LUT_PER_UNIT) ** 2).astype(np.float32)
ONE = np.float32(1.0)
ZERO = np.float32(0.0)


def quantize(x: F32) -> I32:
    """float32 -> fixed-point int32: NaN -> 0, clamp to +-FIXED_LIMIT, round half to even."""
    y = x * FIXED_SCALE
    y = np.where(np.isnan(y), ZERO, y)
    y = np.where(y > FIXED_LIMIT, FIXED_LIMIT, y)
    y = np.where(y < -FIXED_LIMIT, -FIXED_LIMIT, y)
    q: I32 = np.rint(y).astype(np.int32)
    return q


def clip_sensor(x: F32, lo: np.float32, hi: np.float32) -> F32:
    """``x >= lo ? x : lo`` then ``x <= hi ? x : hi`` (NaN becomes ``lo``)."""
    x = np.where(x >= lo, x, lo)
    return np.where(x <= hi, x, hi).astype(np.float32)


def gauss_lookup(z: F32) -> F32:
    """exp(-z^2/2) for z >= 0 by linear interpolation in GAUSS_LUT; 0 for z >= 4."""
    t = z * np.float32(GAUSS_LUT_PER_UNIT)
    inside = t < np.float32(GAUSS_LUT_SIZE - 1)
    t = np.where(inside, t, ZERO)
    i = np.floor(t).astype(np.int64)
    frac = t - i.astype(np.float32)
    lo = GAUSS_LUT[i]
    hi = GAUSS_LUT[i + 1]
    g = lo + (hi - lo) * frac
    return np.where(inside, g, ZERO).astype(np.float32)


def organ_rows(layout: Layout, g: OrganGroup, active: BoolA | None) -> I64:
    """Rows (brain positions within the prototype) of ``g`` whose brain is active."""
    rows = np.arange(g.brains, dtype=np.int64)
    if active is not None:
        rows = rows[active[g.brain0:g.brain0 + g.brains]]
    return rows


def organ_neurons(layout: Layout, g: OrganGroup, rows: I64) -> I64:
    """Global neuron indices of ``g`` for ``rows``, shape (rows, channels * per_chan)."""
    starts = layout.brain_start[g.brain0 + rows] + g.pop_offset
    return starts[:, None] + np.arange(g.channels * g.per_chan, dtype=np.int64)[None, :]


def encode_sensors(layout: Layout, dt_s: float, active: BoolA | None) -> None:
    """Sensor values -> ``iext`` / ``pforce`` / ``force_once`` of the channel neurons."""
    L = layout
    for g in L.sensor_groups:
        rows = organ_rows(L, g, active)
        if rows.size == 0:
            continue
        lo, hi = np.float32(g.low), np.float32(g.high)
        vals = L.sensor_values[g.offset:g.offset + g.brains * g.channels].reshape(g.brains, g.channels)
        x = vals[rows]
        idx = organ_neurons(L, g, rows)
        xn = np.repeat(x, g.per_chan, axis=1)  # value of each neuron's channel
        if g.kind == 3:  # event
            L.neuron["force_once"][idx] = (xn >= np.float32(0.5)).astype(np.uint8)
            vals[rows] = ZERO
            continue
        xc = clip_sensor(xn, lo, hi)
        if g.kind == 0:  # current
            L.neuron["iext"][idx] = np.float32(g.gain) * xc
            continue
        rate_dt = np.float32(g.rate * dt_s)
        if g.kind == 1:  # poisson
            inv_range = np.float32(1.0 / (g.high - g.low))
            L.neuron["pforce"][idx] = ((xc - lo) * inv_range) * rate_dt
        else:  # gaussian
            L.neuron["pforce"][idx] = rate_dt * gauss_lookup(np.abs(xc - gaussian_prefs(g)[None, :]) *
                                                             np.float32(1.0 / (g.sigma * (g.high - g.low))))


def gaussian_prefs(g: OrganGroup) -> F32:
    """Preferred value of each of a channel's neurons, tiled over channels (float32)."""
    m = g.per_chan
    if m == 1:
        pref = np.array([0.5 * (g.low + g.high)], dtype=np.float64)
    else:
        pref = g.low + np.arange(m) * (g.high - g.low) / (m - 1)
    return np.tile(pref.astype(np.float32), g.channels)


def channel_prefs(g: OrganGroup) -> F32:
    """Preferred value of each channel of a population-vector actuator (float32)."""
    if g.channels == 1:
        return np.array([0.5 * (g.low + g.high)], dtype=np.float32)
    return (g.low + np.arange(g.channels) * (g.high - g.low) / (g.channels - 1)).astype(np.float32)


def reset_actuators(layout: Layout, active: BoolA | None) -> None:
    """Zero the actuator spike counters of the brains about to advance.

    Parameters
    ----------
    layout : Layout
        The layout whose ``act_counts`` are reset.
    active : bool array or None
        Per brain slot: True for brains that run this advance; None for all. Rows of brains that
        do not run keep their counts (and so their last decoded outputs).
    """
    for g in layout.actuator_groups:
        rows = organ_rows(layout, g, active)
        counts = layout.act_counts[g.offset:g.offset + g.brains * g.channels].reshape(g.brains, g.channels)
        counts[rows] = 0


def decode_actuators(layout: Layout, n_steps: int, dt_s: float, active: BoolA | None) -> None:
    """Spike counts of the advance -> actuator outputs."""
    L = layout
    for g in L.actuator_groups:
        rows = organ_rows(L, g, active)
        if rows.size == 0:
            continue
        counts = L.act_counts[g.offset:g.offset + g.brains * g.channels].reshape(g.brains, g.channels)[rows]
        out = L.act_out[g.out_offset:g.out_offset + g.brains * g.width].reshape(g.brains, g.width)
        c = counts.astype(np.float32)
        if g.kind == 0:  # rate (Hz)
            out[rows] = c * np.float32(1.0 / (g.per_chan * n_steps * dt_s))
        elif g.kind == 1:  # population vector: sequential sums, channel 0 first
            prefs = channel_prefs(g)
            num = np.zeros(rows.size, np.float32)
            den = np.zeros(rows.size, np.float32)
            for ch in range(g.channels):
                num = num + c[:, ch] * prefs[ch]
                den = den + c[:, ch]
            safe = np.where(den > ZERO, den, ONE)
            out[rows, 0] = np.where(den > ZERO, num / safe, np.float32(0.5 * (g.low + g.high)))
        else:  # winner-take-all
            win = np.argmax(counts, axis=1)
            out[rows, 0] = np.where(counts.max(axis=1) > 0, win, -1).astype(np.float32)


@dataclass
class StepCache:
    """Per-neuron values derived from the layout (recomputed when the layout changes)."""

    brain_of: I32
    local: npt.NDArray[np.uint32]
    cols: dict[int, F32]
    icols: dict[int, I32]
    any_excit: bool
    models: tuple[int, ...]  # model codes present (kernels to run)
    plast: PlasticityCache | None = None  # learning (engine/plasticity.py); None: nothing learns
    any_noise: bool = False  # some neuron has a background noise current
    any_poisson: bool = False  # some neuron has a background Poisson drive


def make_cache(layout: Layout) -> StepCache:
    """Per-neuron lookups the numpy step needs, derived once from a layout.

    Parameters
    ----------
    layout : Layout
        The layout.

    Returns
    -------
    StepCache
        Each neuron's brain and brain-local index, its parameter columns gathered per neuron, the
        neuron models present, and the learning rules' synapse sets. The backend builds it once,
        when it is created for a layout.
    """
    L = layout
    brain_of = L.brain_of_neuron()
    local = (np.arange(L.n_neurons, dtype=np.int64) - L.brain_start[:-1][brain_of]).astype(np.uint32)
    cols = {c: L.fparams[L.pid, c].astype(np.float32) for c in range(P.NF)} if L.n_neurons else {
        c: np.zeros(0, np.float32) for c in range(P.NF)}
    icols = {c: L.iparams[L.pid, c].astype(np.int32) for c in range(P.NI)} if L.n_neurons else {
        c: np.zeros(0, np.int32) for c in range(P.NI)}
    models = tuple(int(m) for m in np.unique(icols[P.I_MODEL]))
    return StepCache(brain_of, local, cols, icols, bool(np.any(cols[P.F_EXCIT] < ONE)), models,
                     build_plasticity(L), bool(np.any(icols[P.I_NOISE] != 0)), bool(np.any(cols[P.F_POIS_P] > ZERO)))


def background_noise(keys: npt.NDArray[np.uint32], bstep: I64, local: npt.NDArray[np.uint32], kind: I32,
                     a: F32, b: F32) -> F32:
    """This step's background noise current of each neuron (0 where ``kind`` is 0).

    Uniform: ``a + b * u``; gaussian: ``a + b * z`` with ``z = (u_0 + ... + u_11) - 6``
    summed in order, ``u_k = uniform(mix32(prefix ^ k), i)``; the prefix is the brain's
    stream for purpose ``PURPOSE_NOISE`` at its step, ``i`` the brain-local index.
    """
    pre = rng.brain_stream(keys, bstep, rng.PURPOSE_NOISE)
    u = rng.uniform(pre, local)
    z = np.zeros(local.size, np.float32)
    if np.any(kind == P.NOISE_GAUSSIAN):
        s = rng.uniform(rng.mix32(pre ^ np.uint32(0)), local)
        for k in range(1, B_GAUSS_DRAWS):
            s = s + rng.uniform(rng.mix32(pre ^ np.uint32(k)), local)
        z = (s - np.float32(B_GAUSS_DRAWS // 2)).astype(np.float32)
    r = np.where(kind == P.NOISE_GAUSSIAN, z, u)
    return np.where(kind != 0, a + b * r, ZERO).astype(np.float32)


def step(layout: Layout, cache: StepCache, sel: I64 | None, active: BoolA | None) -> I64:
    """Advance the neurons ``sel`` (all if None; whole brains only) by one step.

    Returns the global indices of the neurons that spiked, ascending.
    """
    L, C = layout, cache
    nidx: I64 = np.arange(L.n_neurons, dtype=np.int64) if sel is None else sel
    S = L.neuron

    def g(name: str) -> np.ndarray:
        # a variable the layout does not store is +0 for every neuron (layout.STATE_KEPT_WHEN)
        if name not in S:
            return np.zeros(nidx.size, NEURON_STATE[name])
        return S[name] if sel is None else S[name][nidx]

    def col(c: int) -> F32:
        return C.cols[c] if sel is None else C.cols[c][nidx]

    def icol(c: int) -> I32:
        return C.icols[c] if sel is None else C.icols[c][nidx]

    brain = C.brain_of if sel is None else C.brain_of[nidx]
    bstep = L.brain_step[brain]
    D = L.depth
    slot = bstep % D

    # 1. delivery: ring slot of this step -> currents and modulator; clear the slot
    xe = L.ring[slot, 0, nidx].astype(np.float32) * FIXED_INV
    xi = L.ring[slot, 1, nidx].astype(np.float32) * FIXED_INV
    xm = L.ring[slot, 2, nidx].astype(np.float32) * FIXED_INV
    L.ring[slot, :, nidx] = 0
    mod = g("mod") * col(P.F_PMOD) + xm
    gain = ONE + col(P.F_MODGAIN) * mod
    ie = g("ie") + xe * gain
    ii = g("ii") + xi
    if C.any_poisson:  # background Poisson drive: an event adds POIS_W to ie
        ppois = col(P.F_POIS_P)
        pre_p = rng.brain_stream(L.brain_key[brain], bstep, rng.PURPOSE_POISSON)
        ev = (ppois > ZERO) & (rng.uniform(pre_p, C.local[nidx]) < ppois)
        ie = np.where(ev, ie + col(P.F_POIS_W), ie).astype(np.float32)

    # 2. gap junctions, from v at the start of the step
    igap = np.zeros(nidx.size, np.float32)
    if L.gap_a.size:
        ga, gb = L.gap_a.astype(np.int64), L.gap_b.astype(np.int64)
        if active is not None:
            keep = active[C.brain_of[ga]]
            ga, gb, gg = ga[keep], gb[keep], L.gap_g[keep]
        else:
            gg = L.gap_g
        q = quantize(gg * (S["v"][gb] - S["v"][ga]))
        acc = np.zeros(L.n_neurons, np.int32)
        np.add.at(acc, ga, q)
        np.subtract.at(acc, gb, q)
        igap = acc[nidx].astype(np.float32) * FIXED_INV

    # 3. integration (held neurons keep v): each model's kernel (model/neurons/<model>.py)
    v, w, theta = g("v"), g("w"), g("theta")
    hold = g("hold")
    held = hold > 0
    drive = (col(P.F_BIAS) + g("iext")) + igap
    if C.any_noise:  # background noise current, this step only
        nkind = icol(P.I_NOISE)
        noise = background_noise(L.brain_key[brain], bstep, C.local[nidx], nkind, col(P.F_NOISE_A),
                                 col(P.F_NOISE_B))
        drive = np.where(nkind != 0, drive + noise, drive).astype(np.float32)
    x = Integration(v=v, w=w, ie=ie, ii=ii, drive=drive, held=held, col=col)
    code = icol(P.I_MODEL)
    v_new, w_new = v, w
    for m in C.models:
        vm, wm = KERNELS[m].integrate(x)
        if len(C.models) == 1:
            v_new, w_new = vm, wm
        else:
            v_new, w_new = np.where(code == m, vm, v_new), np.where(code == m, wm, w_new)
    v, w = v_new.astype(np.float32), w_new.astype(np.float32)
    ie = ie * col(P.F_PEE)
    ii = ii * col(P.F_PII)
    theta = theta * col(P.F_PTH)
    hold = np.where(held, hold - 1, hold).astype(np.int32)

    # 4. threshold, excitability, forced and burst spikes
    can = ~held
    thr = col(P.F_VTHRESH) + theta
    above = can & (v >= thr)
    excit = col(P.F_EXCIT)
    if C.any_excit:
        pre_e = rng.brain_stream(L.brain_key[brain], bstep, rng.PURPOSE_EXCITABILITY)
        above &= (excit >= ONE) | (rng.uniform(pre_e, C.local[nidx]) < excit)
    pforce = g("pforce")
    forced = g("force_once") != 0
    if np.any(pforce > ZERO):
        pre_f = rng.brain_stream(L.brain_key[brain], bstep, rng.PURPOSE_FORCE)
        forced |= rng.uniform(pre_f, C.local[nidx]) < pforce
    forced &= can
    fire = above | forced
    burst = g("burst")
    burst_spike = ~fire & (burst > 0)
    burst = np.where(burst_spike, burst - 1, burst)
    spike = fire | burst_spike

    # 5. effects of firing
    binv = col(P.F_BURST_INV)
    with np.errstate(all="ignore"):
        q_b = np.floor((v - thr) * binv)
    q_b = np.where(q_b > icol(P.I_BURST_MAX).astype(np.float32), icol(P.I_BURST_MAX).astype(np.float32), q_b)
    nb = np.where(q_b >= ONE, q_b, ZERO).astype(np.int32)
    burst = np.where(fire, nb, burst).astype(np.int32)
    v = np.where(fire, col(P.F_VRESET), v).astype(np.float32)
    w = np.where(fire, w + col(P.F_WJUMP), w).astype(np.float32)
    theta = np.where(fire, theta + col(P.F_THJUMP), theta).astype(np.float32)
    # the count is kept only where it matters, in populations with a consecutive-fire limit
    # (elsewhere it stays as it is, and no backend reads or writes it: 8 B per neuron-step)
    consec0 = g("consec")
    consec = np.where(fire, consec0 + 1, np.where(can, 0, consec0)).astype(np.int32)
    climit = icol(P.I_CONSEC)
    hit = fire & (climit > 0) & (consec >= climit)
    hold = np.where(fire, np.where(hit, icol(P.I_SNOOZE_STEPS), icol(P.I_REF_STEPS)), hold).astype(np.int32)
    consec = np.where(climit > 0, np.where(hit, 0, consec), consec0).astype(np.int32)

    for name, arr in (("v", v), ("ie", ie), ("ii", ii), ("w", w), ("theta", theta), ("mod", mod),
                      ("hold", hold), ("consec", consec), ("burst", burst)):
        if name not in S:  # not stored: no population keeps it, it stays +0
            continue
        if sel is None:
            S[name][...] = arr
        else:
            S[name][nidx] = arr
    if sel is None:
        S["force_once"][...] = 0
    else:
        S["force_once"][nidx] = 0

    # 6. propagation of this step's spikes into the delay ring (fixed-point, order-free)
    spk: I64 = nidx[spike]
    if spk.size:
        rows, owner = expand_ranges(L.row_ptr[spk], L.row_ptr[spk + 1])
        if rows.size:
            syn, rown = expand_ranges(L.row_syn[rows], L.row_syn[rows + 1])
            row_slot = (L.brain_step[C.brain_of[spk[owner]]] + L.row_delay[rows]) % D
            flat = (row_slot[rown] * 3 + L.row_chan[rows][rown]) * L.n_neurons + L.synapse["post"][syn]
            np.add.at(L.ring.reshape(-1), flat, quantize(L.synapse["w"][syn]))
        # 7. actuator spike counts
        slots = L.act_slot[spk]
        slots = slots[slots >= 0]
        if slots.size:
            np.add.at(L.act_counts, slots, 1)

    # 7b. learning: plasticity rules (engine/plasticity.py, docs/semantics.md "Plasticity")
    if C.plast is not None:
        learn_step(L, C.plast, nidx, spike, C.brain_of, active)

    # 8. the step is done for these brains
    if active is None:
        L.brain_step += 1
    else:
        L.brain_step[active] += 1
    return spk


def active_neurons(layout: Layout, active: BoolA | None) -> I64 | None:
    """Global indices of the neurons of the brains that run this advance.

    Parameters
    ----------
    layout : Layout
        The layout.
    active : bool array or None
        Per brain slot: True for brains that run.

    Returns
    -------
    int64 array or None
        The neurons, ascending; None when every brain runs (the step then works on whole arrays).
    """
    if active is None or bool(active.all()):
        return None
    idx: I64
    idx, _ = expand_ranges(layout.brain_start[:-1][active], layout.brain_start[1:][active])
    return idx


class NumpyBackend(Backend):
    """The reference backend (slow, plain, exact)."""

    name: ClassVar[str] = "numpy"

    def __init__(self, layout: Layout) -> None:
        super().__init__(layout)
        self.cache = make_cache(layout)

    def write_slots(self, slots: list[int]) -> bool:
        """Slot writes keep every slot's neurons and parameter sets, so the per-neuron cache
        stands. With learning, a spawn splices the slots' segments into the learning cache
        (:func:`~spikeforge.engine.plasticity.update_cache`; a despawn changes no wiring); it
        is derived anew only when the world gets its first reward-STDP synapse (that checks
        the eligibility array) or loses its last.

        Parameters
        ----------
        slots : list of int
            The slots (brain indices) just written; a slot whose ``brain_serial`` is -1 was freed.

        Returns
        -------
        bool
            True: always taken over.
        """
        L = self.layout
        old = self.cache.plast
        spawned = sorted({int(i) for i in slots if L.brain_serial[int(i)] >= 0})
        if old is None or not spawned:  # whether anything learns depends on the prototypes only
            return True
        any_rstdp = old.any_rstdp
        pc = update_cache(L, old, spawned, in_place=True)
        self.cache.plast = build_plasticity(L) if pc.any_rstdp != any_rstdp else pc
        return True

    def advance(self, n_steps: int, world_step: int, active: BoolA | None) -> SpikeRecord:
        L = self.layout
        dt_s = L.dt_ms / 1000.0
        if active is not None and bool(active.all()):
            active = None
        sel = active_neurons(L, active)
        encode_sensors(L, dt_s, active)
        reset_actuators(L, active)
        steps: list[I64] = []
        neurons: list[I64] = []
        with L.per_neuron_state():  # the spec indexes every state array by neuron
            for k in range(n_steps):
                spk = step(L, self.cache, sel, active)
                if spk.size:
                    neurons.append(spk)
                    steps.append(np.full(spk.size, world_step + k, np.int64))
        decode_actuators(L, n_steps, dt_s, active)
        if not neurons:
            return SpikeRecord.empty()
        return SpikeRecord(np.concatenate(steps), np.concatenate(neurons).astype(np.int32))


register_backend("numpy", NumpyBackend, lambda: None, auto_priority=99)
