// Learning inside the per-brain kernel (brain.wgsl), for layouts that learn: the same
// operations as the per-step learning kernels (learn_brain, learn_pre, learn_deliver,
// learn_post, learn_inc, learn_rs, learn_reset; engine/plasticity.py P1, P5-P7) in the
// same order, run by the brain's workgroup between barriers instead of as 6-7 dispatches
// per step over the whole world. P2-P4 (and P6's early half) stay in neuron_step.
//
// Per step of a brain (brain.wgsl calls these):
//   neuron phase        + learn_dopamine: P1 (one invocation)
//   propagation         + P5a: a spike's STDP/reward-STDP rows depressing at emission are
//                         depressed in the same pass over their synapses, right after the
//                         synapse's weight went into the ring (a synapse has one pre neuron
//                         and a neuron spikes at most once a step, so no other invocation
//                         reads that weight this step: propagation still sees the old one)
//   learn_after:        P5a' (depression at delivery, shist shift) | P5b (potentiation at
//                       post spikes) | P6 (trace increments, shist bit 0) with P7 (reward-
//                       STDP update of a due brain: its own rs_tab segment rs_ptr[b]..) |
//                       P7's reset (msum, dopamine_sum). "|" is a workgroup barrier; each
//                       phase runs only where it has work (constants, the brain's learn flag,
//                       whether the brain is due this step), so a step's learning work is
//                       proportional to its spikes, plus the due brain's reward-STDP sweep
//                       every update_every steps.

fn clip_w(x: f32, lo: f32, hi: f32) -> f32 {
    let y = select(x, lo, x < lo);
    return select(y, hi, y > hi);
}

// P1 (learn_brain.wgsl): dopamine_sum += dopamine, dopamine *= da_decay; before the barrier
// that ends the neuron phase (P7 reads dopamine_sum after later barriers).
fn learn_dopamine(b: u32, lid: u32) {
    if (ANY_RSTDP && lid == 0u) {
        let d = dopa[2u * b];
        dopa[2u * b + 1u] = dopa[2u * b + 1u] + d;
        dopa[2u * b] = d * bitcast<f32>(binfo[b * BSTRIDE + 7u]);
    }
}

// A row's P5a parameters (learn_pre.wgsl), read once per row.
struct Dep {
    on: bool,      // the row depresses at emission and its brain learns
    rstdp: bool,   // elig (reward-STDP) rather than w (STDP)
    soft: bool,
    aminus: f32,
    wmin: f32,
    wmax: f32,
}

fn dep_row(r: u32, dc: u32, learns: bool) -> Dep {
    var d = Dep(false, false, false, 0.0, 0.0, 0.0);
    if (!ANY_EVENTS || !learns) { return d; }
    let kind = (dc >> 2u) & 3u;
    if (kind != KIND_STDP && kind != KIND_RSTDP) { return d; }
    let pj = row_proj[r] * PROJ_STRIDE;
    if (pproj[pj + NPF + PI_DELIVER] != 0u) { return d; }  // P5a' (learn_after)
    d.on = true;
    d.rstdp = kind == KIND_RSTDP;
    d.soft = pproj[pj + NPF + PI_SOFT] != 0u;
    d.aminus = bitcast<f32>(pproj[pj + PF_AMINUS]);
    d.wmin = bitcast<f32>(pproj[pj + PF_WMIN]);
    d.wmax = bitcast<f32>(pproj[pj + PF_WMAX]);
    return d;
}

// P5a for synapse y (sw = syn_at(y), read before for propagation).
fn dep_syn(y: u32, sw: vec2<u32>, d: Dep) {
    let wy = bitcast<f32>(sw.y);
    var dd = d.aminus * fs_get(S_XPOST * N + sw.x);
    if (d.soft) { dd = dd * (wy - d.wmin); }
    if (d.rstdp) {
        elig_set(y, elig_get(y) - nc(dd));
    } else {
        syn_set_w(y, clip_w(wy - nc(dd), d.wmin, d.wmax));
    }
}

// P5a' for neuron src with spike history h (learn_deliver.wgsl), one invocation per neuron.
fn deliver_rows(src: u32, h: u32) {
    let r1 = row_ptr[src + 1u];
    for (var r = row_ptr[src]; r < r1; r = r + 1u) {
        let kind = (row_dc[r] >> 2u) & 3u;
        if (kind != KIND_STDP && kind != KIND_RSTDP) { continue; }
        let pj = row_proj[r] * PROJ_STRIDE;
        if (pproj[pj + NPF + PI_DELIVER] == 0u) { continue; }
        if (((h >> ((row_dc[r] >> 4u) - 1u)) & 1u) == 0u) { continue; }
        let aminus = bitcast<f32>(pproj[pj + PF_AMINUS]);
        let wmin = bitcast<f32>(pproj[pj + PF_WMIN]);
        let wmax = bitcast<f32>(pproj[pj + PF_WMAX]);
        let soft = pproj[pj + NPF + PI_SOFT] != 0u;
        let y1 = row_syn[r + 1u];
        for (var y = row_syn[r]; y < y1; y = y + 1u) {
            let sw = syn_at(y);
            let wy = bitcast<f32>(sw.y);
            var d = aminus * fs_get(S_XPOST * N + sw.x);
            if (soft) { d = d * (wy - wmin); }
            if (kind == KIND_STDP) {
                syn_set_w(y, clip_w(wy - nc(d), wmin, wmax));
            } else {
                elig_set(y, elig_get(y) - nc(d));
            }
        }
    }
}

// P5b for entry i of the incoming table of spiking neuron post (learn_post.wgsl).
fn potentiate(i: u32, post: u32) {
    let y = in_tab[3u * i];
    let pre = in_tab[3u * i + 1u];
    let pj = in_tab[3u * i + 2u] * PROJ_STRIDE;
    let kind = pproj[pj + NPF + PI_KIND];
    if (kind == KIND_NONE) { return; }  // a slot's placeholder (plasticity.py _pad_slots)
    let wmin = bitcast<f32>(pproj[pj + PF_WMIN]);
    let wmax = bitcast<f32>(pproj[pj + PF_WMAX]);
    let wy = bitcast<f32>(syn_at(y).y);
    var ap = bitcast<f32>(pproj[pj + PF_APLUS]);
    if (kind == KIND_HEBB) { ap = ap * fs_get(S_MOD * N + post); }
    var p = ap * fs_get(S_XPRE * N + pre);
    if (pproj[pj + NPF + PI_SOFT] != 0u) { p = p * (wmax - wy); }
    if (kind == KIND_RSTDP) {
        elig_set(y, elig_get(y) + nc(p));
    } else {
        syn_set_w(y, clip_w(wy + nc(p), wmin, wmax));
    }
}

// P7 for entry i of rs_tab (learn_rs.wgsl), brain b due this step.
fn reward_update(i: u32, b: u32, learns: bool) {
    let e = rs_tab[i];
    if (e.w != b) { return; }  // a placeholder (names the always-inactive brain)
    let pj = e.z * PROJ_STRIDE;
    let D = (dopa[2u * b + 1u] + bitcast<f32>(pproj[pj + PF_DABASE]))
            + nc(bitcast<f32>(pproj[pj + PF_MODW]) * fs_get(S_MSUM * N + e.y));
    let c = elig_get(e.x);
    if (learns) {
        let wy = bitcast<f32>(syn_at(e.x).y);
        let wn = wy + nc((bitcast<f32>(pproj[pj + PF_RLR]) * c) * D);
        syn_set_w(e.x, clip_w(wn, bitcast<f32>(pproj[pj + PF_WMIN]), bitcast<f32>(pproj[pj + PF_WMAX])));
    }
    elig_set(e.x, c * bitcast<f32>(pproj[pj + PF_CDECAY]));
}

// Everything of the step's learning after propagation (and its P5a), for brain b with
// neurons n0..n1 and ``count`` spikes in step_spk[n0..]. ``learns`` and ``due`` are uniform
// over the workgroup (the barriers below depend on them).
fn learn_after(b: u32, n0: u32, n1: u32, count: u32, lid: u32, learns: bool, due: bool) {
    if (ANY_DELIVERY) {  // P5a' and the history shift (learn_inc sets bit 0 below)
        for (var n = n0 + lid; n < n1; n = n + BRAIN_WG) {
            let h = bitcast<u32>(is_get(S_SHIST * N + n));
            if (h == 0u) { continue; }
            if (learns) { deliver_rows(n, h); }
            is_set(S_SHIST * N + n, bitcast<i32>(h << 1u));
        }
        storageBarrier();
        workgroupBarrier();
    }
    if (ANY_EVENTS && learns) {  // P5b, after a) and a')
        for (var s = 0u; s < count; s = s + 1u) {
            let post = step_spk[n0 + s];
            let i1 = in_ptr[post + 1u];
            for (var i = in_ptr[post] + lid; i < i1; i = i + BRAIN_WG) { potentiate(i, post); }
        }
        storageBarrier();
        workgroupBarrier();
    }
    // P6 writes traces and shist, P7 reads elig, w, msum and dopamine_sum: no overlap
    for (var s = lid; s < count; s = s + BRAIN_WG) { add_spike_traces(step_spk[n0 + s]); }
    if (ANY_RSTDP && due) {
        let c1 = rs_ptr[b + 1u];
        for (var i = rs_ptr[b] + lid; i < c1; i = i + BRAIN_WG) { reward_update(i, b, learns); }
        storageBarrier();
        workgroupBarrier();
        for (var n = n0 + lid; n < n1; n = n + BRAIN_WG) { fs_set(S_MSUM * N + n, 0.0); }
        if (lid == 0u) { dopa[2u * b + 1u] = 0.0; }
    }
}
