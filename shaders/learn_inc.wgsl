// Learning P6 (engine/plasticity.py): traces of this step's spiking neurons += the
// increment of their parameter set, saturated at its maximum (defaults 1 and +inf;
// nearest-spike pairing: max = increment), after P5 read them (so spikes of the same
// step never pair), except traces flagged PP_PREEARLY / PP_POSTEARLY (equal_time), which
// neuron.wgsl incremented before P5.

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let count = ctl[M_PCOUNT];
    for (var s = flat_index(wid, nwg, lid); s < count; s = s + nwg.x * nwg.y * WG) {
        let n = step_spk[s];
        let p = ninfo[n].x;
        if (!keeps(p, KEPT_XPRE)) { continue; }  // not a learning circuit's neuron: no traces to keep
        if (ANY_DELIVERY && keeps(p, KEPT_SHIST)) { is_set(S_SHIST * N + n, is_get(S_SHIST * N + n) | 1); }
        if (pp(p, PP_PREEARLY) == 0.0) {
            let x = fs_get(S_XPRE * N + n) + pp(p, PP_PREINC);
            fs_set(S_XPRE * N + n, select(x, pp(p, PP_PREMAX), x > pp(p, PP_PREMAX)));
        }
        if (pp(p, PP_POSTEARLY) == 0.0) {
            let x = fs_get(S_XPOST * N + n) + pp(p, PP_POSTINC);
            fs_set(S_XPOST * N + n, select(x, pp(p, PP_POSTMAX), x > pp(p, PP_POSTMAX)));
        }
    }
}
