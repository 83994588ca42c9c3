// Learning P7, end: for the brains due this step, msum = 0 for each of their neurons and
// dopamine_sum = 0 (done by the brain's first neuron).

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let n = flat_index(wid, nwg, lid);
    if (n >= N) { return; }
    let info = ninfo[n];
    let b = info.y;
    let every = binfo[b * BSTRIDE + 6u];
    if (every == 0u || (binfo[b * BSTRIDE + 4u] & 1u) == 0u) { return; }
    if ((binfo[b * BSTRIDE + 5u] + ctl[M_KPROP] + 1u) % every != 0u) { return; }
    fs_set(S_MSUM * N + n, 0.0);
    if (info.w == 0u) { dopa[2u * b + 1u] = 0.0; }
}
