// Gap junctions (numpy_backend.step part 2): q = quantize(g * (v[b] - v[a])) from v at the
// start of the step, added to a's accumulator and subtracted from b's (fixed point, so
// the sum does not depend on the order of the atomics). Junctions of inactive brains skip.

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let j = flat_index(wid, nwg, lid);
    if (j >= N_GAP) { return; }
    let a = gap[3u * j];
    let b = gap[3u * j + 1u];
    let g = bitcast<f32>(gap[3u * j + 2u]);
    if ((binfo[ninfo[a].y * BSTRIDE + 4u] & 1u) == 0u) { return; }
    let q = quantize(g * (fs_get(S_V * N + b) - fs_get(S_V * N + a)));
    atomicAdd(&gap_acc[a], q);
    atomicSub(&gap_acc[b], q);
}
