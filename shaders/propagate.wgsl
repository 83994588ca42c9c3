// Propagation of one step's spikes into the delay ring (numpy_backend.step part 6):
// for every synapse of every spiking neuron, add quantize(w) to the ring cell of
// (slot (brain_step + delay) % DEPTH, channel of the row, target). int32 atomics make
// the sum independent of order. ``row_dc`` packs delay << 4 | plasticity kind << 2 | channel.

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let count = ctl[M_PCOUNT];
    let k = ctl[M_KPROP];
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
