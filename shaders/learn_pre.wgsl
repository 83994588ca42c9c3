// Learning P5 a) (engine/plasticity.py): depression at pre spikes. For every synapse of
// an STDP or reward-STDP row of a spiking neuron whose brain learns:
//   d = a_minus * xpost[post]   (soft bound: d = d * (w - w_min))
//   STDP: w = clip(w - d)       reward-STDP: elig = elig - d
// One invocation per spike (a synapse has one pre neuron, so no two invocations share it).

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
        let src = step_spk[s];
        if ((binfo[ninfo[src].y * BSTRIDE + 4u] & 2u) == 0u) { continue; }
        let r1 = row_ptr[src + 1u];
        for (var r = row_ptr[src]; r < r1; r = r + 1u) {
            let kind = (row_dc[r] >> 2u) & 3u;
            if (kind != KIND_STDP && kind != KIND_RSTDP) { continue; }
            let pj = row_proj[r] * PROJ_STRIDE;
            if (pproj[pj + NPF + PI_DELIVER] != 0u) { continue; }  // learn_deliver
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
}
