// Quadratic integrate-and-fire: v + h * (((k * (v - v_rest)) * (v - v_crit) + (ie + ii)) + drive).
// Bit for bit sdk/spikeforge/model/neurons/quadratic_if.py _integrate. Held neurons keep v; w is kept.
// nc(): no fused multiply-add (shaders/common.wgsl).
fn integrate_qif(p: u32, v0: f32, w0: f32, ie: f32, ii: f32, drive: f32, held: bool) -> vec2<f32> {
    let dv = (nc((pf(p, F_QIF_K) * (v0 - pf(p, F_VREST))) * (v0 - pf(p, F_QIF_VC))) + (ie + ii)) + drive;
    let v1 = v0 + nc(pf(p, F_QIF_H) * dv);
    return vec2<f32>(select(v1, v0, held), w0);
}
