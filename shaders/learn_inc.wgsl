// Learning P6 (engine/plasticity.py): traces of this step's spiking neurons += the
// increment of their parameter set, saturated at its maximum (defaults 1 and +inf;
// nearest-spike pairing: max = increment), after P5 read them (so spikes of the same
// step never pair), except traces flagged PP_PREEARLY / PP_POSTEARLY (equal_time), which
// neuron.wgsl incremented before P5.

fn ppf(p: u32, c: u32) -> f32 { return bitcast<f32>(prm[p * PRM_STRIDE + NF + NI + c]); }
fn kept_here(p: u32, bit: u32) -> bool { return ((prm[p * PRM_STRIDE + PRM_KEEPS] >> bit) & 1u) != 0u; }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let count = ctl[M_PCOUNT];
    for (var s = flat_index(wid, nwg, lid); s < count; s = s + nwg.x * nwg.y * WG) {
        let n = step_spk[s];
        let p = ninfo[n].x;
        if (!kept_here(p, KEPT_XPRE)) { continue; }  // not a learning circuit's neuron: no traces to keep
        if (ANY_DELIVERY && kept_here(p, KEPT_SHIST)) { is_set(S_SHIST * N + n, is_get(S_SHIST * N + n) | 1); }
        if (ppf(p, PP_PREEARLY) == 0.0) {
            let x = fs_get(S_XPRE * N + n) + ppf(p, PP_PREINC);
            fs_set(S_XPRE * N + n, select(x, ppf(p, PP_PREMAX), x > ppf(p, PP_PREMAX)));
        }
        if (ppf(p, PP_POSTEARLY) == 0.0) {
            let x = fs_get(S_XPOST * N + n) + ppf(p, PP_POSTINC);
            fs_set(S_XPOST * N + n, select(x, ppf(p, PP_POSTMAX), x > ppf(p, PP_POSTMAX)));
        }
    }
}
