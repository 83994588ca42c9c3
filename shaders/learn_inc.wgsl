// Learning P6 (engine/plasticity.py) on the per-step path: add_spike_traces (trace_inc.wgsl) for each of
// this step's spiking neurons.

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let count = ctl[M_PCOUNT];
    for (var s = flat_index(wid, nwg, lid); s < count; s = s + nwg.x * nwg.y * WG) {
        add_spike_traces(step_spk[s]);
    }
}
