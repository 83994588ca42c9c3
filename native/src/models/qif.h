/* Quadratic integrate-and-fire: v + h * (((k * (v - v_rest)) * (v - v_crit) + (ie + ii)) + drive).
 * Bit for bit sdk/spikeforge/model/neurons/quadratic_if.py _integrate. Held neurons keep v; w is kept. */
static inline void sf_integrate_qif(const float *restrict fp, float v, float w, float ie, float ii, float drive,
                                    int32_t held, float *restrict nv, float *restrict nw) {
    float dv = ((fp[SF_F_QIF_K] * (v - fp[SF_F_VREST])) * (v - fp[SF_F_QIF_VC]) + (ie + ii)) + drive;
    float v1 = v + fp[SF_F_QIF_H] * dv;
    *nv = held ? v : v1;
    *nw = w;
}
