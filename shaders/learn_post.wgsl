// Learning P5 b) (engine/plasticity.py): potentiation at post spikes, after a). For every
// plastic synapse onto a spiking neuron whose brain learns (``in_tab``: synapse, pre,
// projection, sorted by post; ``in_ptr`` per neuron):
//   STDP / reward-STDP: p = a_plus * xpre[pre]; modulated Hebbian: p = (lr * mod[post]) * xpre[pre]
//   soft bound: p = p * (w_max - w)
//   reward-STDP: elig = elig + p      STDP, Hebbian: w = clip(w + p)

fn clip_w(x: f32, lo: f32, hi: f32) -> f32 {
    let y = select(x, lo, x < lo);
    return select(y, hi, y > hi);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let count = ctl[M_PCOUNT];
    NCZ = ctl[M_ZERO];
    for (var s = flat_index(wid, nwg, lid); s < count; s = s + nwg.x * nwg.y * WG) {
        let post = step_spk[s];
        if ((binfo[ninfo[post].y * BSTRIDE + 4u] & 2u) == 0u) { continue; }
        let i1 = in_ptr[post + 1u];
        for (var i = in_ptr[post]; i < i1; i = i + 1u) {
            let y = in_tab[3u * i];
            let pre = in_tab[3u * i + 1u];
            let pj = in_tab[3u * i + 2u] * PROJ_STRIDE;
            let kind = pproj[pj + NPF + PI_KIND];
            if (kind == KIND_NONE) { continue; }  // a slot's placeholder (plasticity.py _pad_slots)
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
    }
}
