// Start of an advance: zero the actuator spike counts of the active brains
// (numpy_backend.reset_actuators). ``act_brain`` is the brain of each count.

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid);
    if (i >= N_ACT) { return; }
    if ((binfo[act_brain[i] * BSTRIDE + 4u] & 1u) != 0u) {
        atomicStore(&act_counts[i], 0);
    }
}
