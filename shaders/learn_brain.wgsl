// Learning P1 (engine/plasticity.py): per active brain, dopamine_sum += dopamine, then
// dopamine *= da_decay. ``dopa`` holds (dopamine, dopamine_sum) per brain.

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let b = flat_index(wid, nwg, lid);
    if (b >= N_BRAINS) { return; }
    if ((binfo[b * BSTRIDE + 4u] & 1u) == 0u) { return; }
    let d = dopa[2u * b];
    dopa[2u * b + 1u] = dopa[2u * b + 1u] + d;
    dopa[2u * b] = d * bitcast<f32>(binfo[b * BSTRIDE + 7u]);
}
