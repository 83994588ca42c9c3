// Learning P6 (engine/plasticity.py): traces of this step's spiking neurons += 1, after
// P5 read them (so spikes of the same step never pair).

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let count = ctl[M_PCOUNT];
    for (var s = flat_index(wid, nwg, lid); s < count; s = s + nwg.x * nwg.y * WG) {
        let n = step_spk[s];
        fs_set(S_XPRE * N + n, fs_get(S_XPRE * N + n) + 1.0);
        fs_set(S_XPOST * N + n, fs_get(S_XPOST * N + n) + 1.0);
    }
}
