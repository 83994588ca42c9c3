// Learning P5 a') (engine/plasticity.py): depression at delivery. One invocation per neuron
// of an advanced brain with a non-zero spike history ``shist`` (bit k-1: spiked k steps ago):
// for each of its rows of a projection with depress_at = "delivery" (PI_DELIVER) whose delay
// bit is set, if the brain learns, the P5 a) update with this step's post trace:
//   d = a_minus * xpost[post]   (soft bound: d = d * (w - w_min))
//   STDP: w = clip(w - d)       reward-STDP: elig = elig - d
// then shist = shist << 1 (learn_inc sets bit 0 for this step's spikes). A synapse has one
// pre neuron, so no two invocations share it.

fn clip_w(x: f32, lo: f32, hi: f32) -> f32 {
    let y = select(x, lo, x < lo);
    return select(y, hi, y > hi);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let src = flat_index(wid, nwg, lid);
    if (src >= N) { return; }
    NCZ = ctl[M_ZERO];
    let flags = binfo[ninfo[src].y * BSTRIDE + 4u];
    if ((flags & 1u) == 0u) { return; }
    let h = bitcast<u32>(is_get(S_SHIST * N + src));
    if (h == 0u) { return; }
    if ((flags & 2u) != 0u) {
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
    is_set(S_SHIST * N + src, bitcast<i32>(h << 1u));
}
