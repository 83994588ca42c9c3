// Learning P7 (engine/plasticity.py): reward-STDP weight update of the brains due this
// step ((brain_step + 1) % update_every == 0), one invocation per reward-STDP synapse
// (``rs_tab``: synapse, post, projection, brain):
//   D = (dopamine_sum[b] + update_every * dopamine_baseline) + modulator_weight * msum[post]
//   if the brain learns: w = clip(w + (lr * elig) * D);  elig = elig * cdecay
// learn_reset.wgsl then clears dopamine_sum and msum of those brains.

fn clip_w(x: f32, lo: f32, hi: f32) -> f32 {
    let y = select(x, lo, x < lo);
    return select(y, hi, y > hi);
}

fn due(b: u32, k: u32) -> bool {
    let every = binfo[b * BSTRIDE + 6u];
    if (every == 0u || (binfo[b * BSTRIDE + 4u] & 1u) == 0u) { return false; }
    return (binfo[b * BSTRIDE + 5u] + k + 1u) % every == 0u;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid);
    if (i >= N_RS) { return; }
    NCZ = ctl[M_ZERO];
    let e = rs_tab[i];
    let b = e.w;
    if (!due(b, ctl[M_KPROP])) { return; }
    let pj = e.z * PROJ_STRIDE;
    let D = (dopa[2u * b + 1u] + bitcast<f32>(pproj[pj + PF_DABASE]))
            + nc(bitcast<f32>(pproj[pj + PF_MODW]) * fs_get(S_MSUM * N + e.y));
    let c = elig_get(e.x);
    if ((binfo[b * BSTRIDE + 4u] & 2u) != 0u) {
        let wy = bitcast<f32>(syn_at(e.x).y);
        let wn = wy + nc((bitcast<f32>(pproj[pj + PF_RLR]) * c) * D);
        syn_set_w(e.x, clip_w(wn, bitcast<f32>(pproj[pj + PF_WMIN]), bitcast<f32>(pproj[pj + PF_WMAX])));
    }
    elig_set(e.x, c * bitcast<f32>(pproj[pj + PF_CDECAY]));
}
