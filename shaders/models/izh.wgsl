// Izhikevich (2003): two half steps of v, one step of u (kept in w).
// Bit for bit sdk/spikeforge/model/neurons/izhikevich.py _integrate. Held neurons keep both.
// nc(): no fused multiply-add (shaders/common.wgsl).
fn integrate_izh(p: u32, v0: f32, w0: f32, ie: f32, ii: f32, drive: f32, held: bool) -> vec2<f32> {
    let h = pf(p, F_IZH_H);
    let i_izh = (ie + ii) + drive;
    let v1 = v0 + nc(h * (((nc((nc(0.04 * v0) + 5.0) * v0) + 140.0) - w0) + i_izh));
    let v2 = v1 + nc(h * (((nc((nc(0.04 * v1) + 5.0) * v1) + 140.0) - w0) + i_izh));
    let u = w0 + nc(pf(p, F_IZH_A) * (nc(pf(p, F_IZH_B) * v2) - w0));
    return vec2<f32>(select(v2, v0, held), select(u, w0, held));
}
