// Actuator decoders (numpy_backend.decode_actuators) for one actuator group: one
// invocation per brain row. rate: count * scale (Hz); winner-take-all: first channel
// with the most spikes, -1 if none. Population vectors are decoded on the host from the
// counts read back (WGSL f32 division is only 2.5 ULP accurate).

struct ActuatorGroup {
    kind: u32, channels: u32, width: u32, offset: u32,
    out_offset: u32, brain0: u32, brains: u32, pref_offset: u32,
    scale: f32, mid: f32, pad0: f32, pad1: f32,
}
@group(1) @binding(0) var<uniform> ag: ActuatorGroup;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let r = flat_index(wid, nwg, lid);
    if (r >= ag.brains) { return; }
    if ((binfo[(ag.brain0 + r) * BSTRIDE + 4u] & 1u) == 0u) { return; }
    let c0 = ag.offset + r * ag.channels;
    let o0 = ag.out_offset + r * ag.width;
    if (ag.kind == 0u) {
        for (var ch = 0u; ch < ag.channels; ch = ch + 1u) {
            act_out[o0 + ch] = f32(atomicLoad(&act_counts[c0 + ch])) * ag.scale;
        }
    } else {
        var best: i32 = 0;
        var win: u32 = 0u;
        for (var ch = 0u; ch < ag.channels; ch = ch + 1u) {
            let c = atomicLoad(&act_counts[c0 + ch]);
            if (ch == 0u || c > best) { best = c; win = ch; }
        }
        act_out[o0] = select(-1.0, f32(win), best > 0);
    }
}
