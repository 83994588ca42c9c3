/* LIF family (LIF, AdaptiveLIF, ModulatedLIF): one step of v and w before threshold.
 * Bit for bit sdk/spikeforge/model/neurons/lif.py _integrate (same float32 operations,
 * same order; no FP contraction). Held (refractory/snoozing) neurons keep v; w decays. */
static inline void sf_integrate_lif(const float *restrict fp, float v, float w, float ie, float ii, float drive,
                                    int32_t held, float *restrict nv, float *restrict nw) {
    const float vrest = fp[SF_F_VREST];
    float vl = vrest + (v - vrest) * fp[SF_F_PVV];
    vl = vl + ie * fp[SF_F_PVE];
    vl = vl + ii * fp[SF_F_PVI];
    vl = vl - w * fp[SF_F_PVW];
    vl = vl + drive * fp[SF_F_PVD];
    *nv = held ? v : vl;
    *nw = w * fp[SF_F_PWW];
}
