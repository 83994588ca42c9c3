/* Izhikevich (2003): two half steps of v, one step of u (kept in w).
 * Bit for bit sdk/spikeforge/model/neurons/izhikevich.py _integrate. Held neurons keep both. */
static inline void sf_integrate_izh(const float *restrict fp, float v, float w, float ie, float ii, float drive,
                                    int32_t held, float *restrict nv, float *restrict nw) {
    const float h = fp[SF_F_IZH_H];
    float iz = (ie + ii) + drive;
    float v1 = v + h * ((((0.04f * v + 5.0f) * v + 140.0f) - w) + iz);
    float v2 = v1 + h * ((((0.04f * v1 + 5.0f) * v1 + 140.0f) - w) + iz);
    float u = w + fp[SF_F_IZH_A] * (fp[SF_F_IZH_B] * v2 - w);
    *nv = held ? v : v2;
    *nw = held ? w : u;
}
