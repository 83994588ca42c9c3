// Propagation of one step's spikes into the delay ring (numpy_backend.step part 6):
// for every synapse of every spiking neuron, add quantize(w) to the ring cell of
// (slot (brain_step + delay) % DEPTH, channel of the row, target). int32 atomics make
// the sum independent of order. ``row_dc`` packs delay << 4 | plasticity kind << 2 | channel.
//
// The step's spike count and k: without FOLD from prep.wgsl (ctl[M_PCOUNT], ctl[M_KPROP]; an indirect
// dispatch sized by prep). With FOLD (wgpu_backend.GpuBackend's fold_prep) there is no prep: the
// dispatch is a fixed grid, the count and k are the words this step's neuron kernel used (CNT_AT,
// K_AT: M_STEP / M_K on even steps of the advance, M_STEP1 / M_K1 on odd ones, "propagate1"), and one
// invocation hands the next step (of the other parity) its words: count 0, k + 1. Nothing reads those
// two during this dispatch; the next neuron dispatch does (dispatches of a pass are ordered).

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let count = ctl[select(M_PCOUNT, CNT_AT, FOLD)];
    let k = ctl[select(M_KPROP, K_AT, FOLD)];
    if (FOLD && wid.x == 0u && lid == 0u) {  // (ctl_store: generated; ctl is read only without FOLD)
        ctl_store(K_NEXT, k + 1u);
        ctl_store(CNT_NEXT, 0u);
    }
    // WG_PER_SPIKE: one workgroup per spike, its invocations share each row's synapses
    // (wide fan-out); otherwise one invocation per spike (narrow fan-out).
    var s = select(wid.x * WG + lid, wid.x, WG_PER_SPIKE);
    let stride = select(nwg.x * WG, nwg.x, WG_PER_SPIKE);
    let lane = select(0u, lid, WG_PER_SPIKE);
    let width = select(1u, WG, WG_PER_SPIKE);
    for (; s < count; s = s + stride) {
        let src = step_spk[s];
        let b = ninfo[src].y;
        let base = binfo[b * BSTRIDE + 3u] + k;
        let r1 = row_ptr[src + 1u];
        for (var r = row_ptr[src]; r < r1; r = r + 1u) {
            let dc = row_dc[r];
            let slot = (base + (dc >> 4u)) % DEPTH;
            let cell = (slot * 3u + (dc & 3u)) * N;
            let y1 = row_syn[r + 1u];
            for (var y = row_syn[r] + lane; y < y1; y = y + width) {
                let sw = syn_at(y);
                ring_add(cell + sw.x, quantize(bitcast<f32>(sw.y)));
            }
        }
    }
}
