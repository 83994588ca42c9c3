// Learning P6 (engine/plasticity.py) for spiking neuron n: its traces += the increment of its
// parameter set, saturated at its maximum (defaults 1 and +inf; nearest-spike pairing: max =
// increment), after P5 read them (so spikes of the same step never pair), except traces flagged
// PP_PREEARLY / PP_POSTEARLY (equal_time), which neuron.wgsl incremented before P5; with depression
// at delivery, its spike-history bit. Called by learn_inc.wgsl (per-step path) and brain_learn.wgsl
// (the per-brain kernel); included in both by wgpu_backend.kernel_source.
fn add_spike_traces(n: u32) {
    let p = ninfo[n].x;
    if (!keeps(p, KEPT_XPRE)) { return; }  // not a learning circuit's neuron: no traces to keep
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
