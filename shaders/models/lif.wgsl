// LIF family (LIF, AdaptiveLIF, ModulatedLIF): new (v, w) before threshold.
// Bit for bit sdk/spikeforge/model/neurons/lif.py _integrate. Held neurons keep v; w decays.
// nc(): no fused multiply-add (shaders/common.wgsl).
fn integrate_lif(p: u32, v0: f32, w0: f32, ie: f32, ii: f32, drive: f32, held: bool) -> vec2<f32> {
    let vrest = pf(p, F_VREST);
    let v_lif = ((((vrest + nc((v0 - vrest) * pf(p, F_PVV))) + nc(ie * pf(p, F_PVE))) + nc(ii * pf(p, F_PVI)))
                 - nc(w0 * pf(p, F_PVW))) + nc(drive * pf(p, F_PVD));
    return vec2<f32>(select(v_lif, v0, held), w0 * pf(p, F_PWW));
}
