/*
 * The vectorized neuron loops, a template: loops_<isa>.c and loops_<isa>_burst.c include it
 * with their own SF_LOOPS_NAME (the table it defines), SF_LOOPS_ISA (its name), SF_LOOP_ATTR
 * (the target attribute of every loop) and SF_LOOPS_BURST (1: the burst variants of the
 * fast loops, 0: everything else), so one source gives every instruction set, in six
 * translation units of similar size that a build compiles in parallel (loops.h says why).
 * Not compiled on its own.
 */
#ifndef SF_LOOPS_NAME
#error "loops_impl.h is included by loops_<isa>[_burst].c, which define SF_LOOPS_NAME, SF_LOOPS_ISA, SF_LOOP_ATTR"
#endif
#include "loops.h"
#include "models.h"

#include <math.h>

/* Ring slots are cleared in the lean LIF loop, while their lines are in L1: without this GCC
   moves `r0[i] = 0` into a memset after the loop, which reads every slot line from L2 again. */
#if defined(__GNUC__) && !defined(__clang__)
#define SF_NO_MEMSET __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define SF_NO_MEMSET
#endif

#define SF_CAT(a, b) a##b
#define SF_XCAT(a, b) SF_CAT(a, b)
/* the burst variants' table, defined by the SF_LOOPS_BURST translation unit */
#define SF_LOOPS_BURST_TAB SF_XCAT(SF_LOOPS_NAME, _burst)
extern const sf_fast_fn SF_LOOPS_BURST_TAB[SF_N_MODELS][16];

/* The common case, branch-free so the compiler vectorizes it: LIF, excitability 1, no
   bursts, no learning, no forced-spike probability in the range (one-shot forced spikes
   are fine). Same float32 operations in the same order as the general loop (kernel.c). */
/* One loop for every model: MODEL's integration (native/src/models/<model>.h) is inlined
   into the shared part of the step. Branch-free: the excitability and forced-spike draws
   are computed for every neuron (RNG variants), which gives the same result because
   u < p is false whenever p <= 0; the burst count is computed for every neuron and kept
   only where it fired (BURST variants; numpy does the same). Variants are specialized on
   bursts, gap junctions, the modulator channel, the draws and one-shot events. */
#define SF_FAST(NAME, MODEL, BURST, GAPS, MODCH, RNG, EV)                                                        \
    SF_LOOP_ATTR static int64_t NAME(                                                                             \
        float *restrict V, float *restrict IE, float *restrict II, float *restrict W, float *restrict TH,       \
        float *restrict MOD, const float *restrict IEXT, const float *restrict PF, int32_t *restrict HOLD,      \
        int32_t *restrict CONS, int32_t *restrict BUR, uint8_t *restrict FO, int32_t *restrict FL,             \
        int32_t *restrict r0, int32_t *restrict r1, int32_t *restrict r2, int32_t *restrict ACC, int64_t lo,   \
        int64_t hi, const float *restrict fp, const int32_t *restrict ip, uint32_t pre_e, uint32_t pre_f,      \
        int64_t bs0) {                                                                                         \
        const float vreset = fp[SF_F_VRESET], vth = fp[SF_F_VTHRESH];                                          \
        const float pee = fp[SF_F_PEE], pii = fp[SF_F_PII], pth = fp[SF_F_PTH], pmod = fp[SF_F_PMOD];          \
        const float modgain = fp[SF_F_MODGAIN], bias = fp[SF_F_BIAS], wjump = fp[SF_F_WJUMP],                   \
                    thjump = fp[SF_F_THJUMP], excit = fp[SF_F_EXCIT], binv = fp[SF_F_BURST_INV];               \
        const float bmaxf = (float)ip[SF_I_BURST_MAX];                                                         \
        const int32_t ref = ip[SF_I_REF_STEPS], climit = ip[SF_I_CONSEC], snooze = ip[SF_I_SNOOZE_STEPS];      \
        const int32_t sure = excit >= 1.0f;                                                                    \
        (void)PF; (void)r2; (void)ACC; (void)pre_e; (void)pre_f; (void)bs0; (void)sure; (void)excit;             \
        (void)binv; (void)bmaxf;                                                                               \
        int32_t nf = 0;                                                                                        \
        for (int64_t i = lo; i < hi; i++) {                                                                    \
            float xe = (float)r0[i] * FIXED_INV;                                                               \
            float xi = (float)r1[i] * FIXED_INV;                                                               \
            float xm = 0.0f; /* the modulator channel is all zero when no row targets it */                    \
            if (MODCH) {                                                                                       \
                xm = (float)r2[i] * FIXED_INV;                                                                 \
                r2[i] = 0;                                                                                     \
            }                                                                                                  \
            r0[i] = 0;                                                                                         \
            r1[i] = 0;                                                                                         \
            float mod = MOD[i] * pmod + xm;                                                                    \
            float gain = 1.0f + modgain * mod;                                                                 \
            float ie = IE[i] + xe * gain;                                                                      \
            float ii = II[i] + xi;                                                                             \
            float igap = 0.0f;                                                                                 \
            if (GAPS) {                                                                                        \
                igap = (float)ACC[i] * FIXED_INV;                                                              \
                ACC[i] = 0;                                                                                    \
            }                                                                                                  \
            float v = V[i], w = W[i], theta = TH[i];                                                           \
            int32_t hold = HOLD[i];                                                                            \
            int32_t held = hold > 0;                                                                           \
            float drive = (bias + IEXT[i]) + igap;                                                             \
            float nv, nw;                                                                                      \
            sf_integrate_##MODEL(fp, v, w, ie, ii, drive, held, &nv, &nw);                                     \
            ie = ie * pee;                                                                                     \
            ii = ii * pii;                                                                                     \
            theta = theta * pth;                                                                               \
            hold = held ? hold - 1 : hold;                                                                     \
            float thr = vth + theta;                                                                           \
            int32_t above = (held == 0) & (nv >= thr);                                                         \
            int32_t forced = 0; /* without events in the range force_once is all zero: not read or written */  \
            if (EV) forced = FO[i] != 0;                                                                       \
            if (RNG) {                                                                                         \
                uint32_t local = (uint32_t)(i - bs0);                                                          \
                float ue = uniform01(pre_e, local);                                                            \
                float uf = uniform01(pre_f, local);                                                            \
                above = above & (sure | (ue < excit));                                                         \
                forced = forced | (uf < PF[i]);                                                                \
            }                                                                                                  \
            int32_t fire = above | ((held == 0) & forced);                                                     \
            int32_t burst = BUR[i];                                                                            \
            int32_t bspike = (fire == 0) & (burst > 0);                                                        \
            int32_t bm1 = burst - 1;                                                                           \
            burst = bspike ? bm1 : burst;                                                                      \
            int32_t nb = 0;                                                                                    \
            if (BURST) {                                                                                       \
                float q = floorf((nv - thr) * binv);                                                           \
                q = q > bmaxf ? bmaxf : q;                                                                     \
                nb = q >= 1.0f ? (int32_t)q : 0;                                                               \
            }                                                                                                  \
            burst = fire ? nb : burst;                                                                         \
            float nwj = nw + wjump;                                                                            \
            float thj = theta + thjump;                                                                        \
            nv = fire ? vreset : nv;                                                                           \
            nw = fire ? nwj : nw;                                                                              \
            theta = fire ? thj : theta;                                                                        \
            int32_t consec0 = CONS[i];                                                                         \
            int32_t consec = consec0;                                                                          \
            int32_t c1 = (int32_t)((uint32_t)consec + 1u);                                                     \
            int32_t hit = fire & (climit > 0) & (c1 >= climit);                                                \
            int32_t cf = hit ? 0 : c1;                                                                         \
            int32_t cn = held ? consec : 0;                                                                    \
            consec = fire ? cf : cn;                                                                           \
            int32_t hf = hit ? snooze : ref;                                                                   \
            hold = fire ? hf : hold;                                                                           \
            V[i] = nv;                                                                                         \
            IE[i] = ie;                                                                                        \
            II[i] = ii;                                                                                        \
            W[i] = nw;                                                                                         \
            TH[i] = theta;                                                                                     \
            MOD[i] = mod;                                                                                      \
            HOLD[i] = hold;                                                                                    \
            CONS[i] = climit > 0 ? consec : consec0; /* kept only under a limit */                             \
            BUR[i] = burst;                                                                                    \
            if (EV) FO[i] = 0;                                                                                 \
            FL[i] = fire | bspike;                                                                             \
            nf |= fire | bspike;                                                                               \
        }                                                                                                      \
        return nf;                                                                                             \
    }

/* The 32 variants of one model, indexed burst*16 + gaps*8 + modch*4 + rng*2 + ev. */
#define SF_FAST_E(M, B, G, C, R) SF_FAST(sf_fast_##M##_##B##G##C##R##0, M, B, G, C, R, 0) \
                                 SF_FAST(sf_fast_##M##_##B##G##C##R##1, M, B, G, C, R, 1)
#define SF_FAST_R(M, B, G, C) SF_FAST_E(M, B, G, C, 0) SF_FAST_E(M, B, G, C, 1)
#define SF_FAST_C(M, B, G) SF_FAST_R(M, B, G, 0) SF_FAST_R(M, B, G, 1)
#define SF_FAST_G(M, B) SF_FAST_C(M, B, 0) SF_FAST_C(M, B, 1)
#define SF_FAST_N(M, B, G, C, R) sf_fast_##M##_##B##G##C##R##0, sf_fast_##M##_##B##G##C##R##1,
#define SF_FAST_NR(M, B, G, C) SF_FAST_N(M, B, G, C, 0) SF_FAST_N(M, B, G, C, 1)
#define SF_FAST_NC(M, B, G) SF_FAST_NR(M, B, G, 0) SF_FAST_NR(M, B, G, 1)
#define SF_FAST_NG(M, B) SF_FAST_NC(M, B, 0) SF_FAST_NC(M, B, 1)
#define SF_FAST_ROW(M, B) {SF_FAST_NG(M, B)},
#if SF_LOOPS_BURST
#define SF_FAST_SET1(M) SF_FAST_G(M, 1)
SF_FOR_EACH_MODEL(SF_FAST_SET1)
#define SF_FAST_ROW1(M) SF_FAST_ROW(M, 1)
const sf_fast_fn SF_LOOPS_BURST_TAB[SF_N_MODELS][16] = {SF_FOR_EACH_MODEL(SF_FAST_ROW1)};
#else
#define SF_FAST_SET0(M) SF_FAST_G(M, 0)
SF_FOR_EACH_MODEL(SF_FAST_SET0)
#define SF_FAST_ROW0(M) SF_FAST_ROW(M, 0)
static const sf_fast_fn fast_b0[SF_N_MODELS][16] = {SF_FOR_EACH_MODEL(SF_FAST_ROW0)};

/* Learning phases P2 (modulator sum) and P3 (trace decay) of neurons lo..hi, for
   segments whose neuron update ran in a vectorized loop (no homeostasis there). XPRE, XPOST,
   MSUM: the segment's learning state, neuron-indexed. */
SF_LOOP_ATTR static void learn_neurons(const sf_plast *PL, float *restrict XPRE, float *restrict XPOST,
                                       float *restrict MSUM, const float *restrict MOD, int64_t lo, int64_t hi,
                                       size_t pid, int msum_same) {
    const float dpre = PL->pid_f[pid * SF_NPP + SF_PP_DPRE];
    const float dpost = PL->pid_f[pid * SF_NPP + SF_PP_DPOST];
    if (PL->any_rstdp && !msum_same) { /* else x + +0 is x for every msum (none is -0 or NaN) */
        if (MOD)
            for (int64_t i = lo; i < hi; i++) MSUM[i] = MSUM[i] + MOD[i];
        else /* mod not stored: +0 everywhere (and msum + +0 still turns -0 into +0) */
            for (int64_t i = lo; i < hi; i++) MSUM[i] = MSUM[i] + 0.0f;
    }
    /* two loops, not one: xpost often lies 4,016 bytes after xpre (small arrays from malloc),
       so in one loop each xpost load would wait on the xpre store 20 elements back ("4K
       aliasing") */
    for (int64_t i = lo; i < hi; i++) XPRE[i] = XPRE[i] * dpre;
    for (int64_t i = lo; i < hi; i++) XPOST[i] = XPOST[i] * dpost;
}

/* Background input of neurons lo..hi (brain-local index i - bs0) for the lean variants:
   BGN[i - lo] the noise current (na + nbw * r, as the general loop; +0.0 without noise),
   BGP[i - lo] 1 where a Poisson event arrives. Branch-free loops per kind, so the
   counter-based draws vectorize (the general loop draws them one neuron at a time). */
SF_LOOP_ATTR static void bg_fill(float *restrict BGN, int32_t *restrict BGP, int64_t lo, int64_t hi, int64_t bs0,
                                 int32_t nkind, float na, float nbw, uint32_t pre_n, float ppois, uint32_t pre_p) {
    const int64_t m = hi - lo;
    const uint32_t l0 = (uint32_t)(lo - bs0);
    if (nkind == SF_NOISE_UNIFORM) {
        for (int64_t j = 0; j < m; j++) BGN[j] = na + nbw * uniform01(pre_n, l0 + (uint32_t)j);
    } else if (nkind == SF_NOISE_GAUSSIAN) {
        uint32_t g[SF_GAUSS_DRAWS];
        for (uint32_t k = 0; k < SF_GAUSS_DRAWS; k++) g[k] = mix32(pre_n ^ k);
        for (int64_t j = 0; j < m; j++) BGN[j] = uniform01(g[0], l0 + (uint32_t)j);
        for (uint32_t k = 1; k < SF_GAUSS_DRAWS; k++)
            for (int64_t j = 0; j < m; j++) BGN[j] = BGN[j] + uniform01(g[k], l0 + (uint32_t)j);
        const float half = (float)(SF_GAUSS_DRAWS / 2);
        for (int64_t j = 0; j < m; j++) BGN[j] = na + nbw * (BGN[j] - half);
    } else {
        for (int64_t j = 0; j < m; j++) BGN[j] = 0.0f;
    }
    if (ppois > 0.0f) /* else no flags: the lean variant without Poisson input reads none */
        for (int64_t j = 0; j < m; j++) BGP[j] = uniform01(pre_p, l0 + (uint32_t)j) < ppois;
}

/* The lean variant: LIF populations whose adaptation, habituation, modulator and burst
   state is inert (parameters that never change it, and every value +0.0 / 0 at the start
   of the advance, checked by seg_inert). Those four arrays keep their values bit for bit
   through such steps (w*1 = w, theta*1 = theta, mod*1 + 0 = mod, +0 + 0 = +0, bursts stay
   0), and the terms they feed are exact no-ops (vl - (+0)*0 = vl, vth + (+0) = vth, ie +
   xe*1 = ie + xe), so they are neither read nor written: ~32 B less per neuron-step. No
   gap junctions, no modulator channel. */
#define SF_LIF_LEAN(NAME, RNG, EV, NI)                                                                        \
    SF_LOOP_ATTR SF_NO_MEMSET __attribute__((always_inline)) static inline int64_t NAME##_kc(                   \
        float *restrict V, float *restrict IE, float *restrict II, const float *restrict IEXT,                  \
        const float *restrict PF, int32_t *restrict HOLD, int32_t *restrict CONS, uint8_t *restrict FO,         \
        int32_t *restrict FL, int32_t *restrict r0, int32_t *restrict r1, int64_t lo, int64_t hi,               \
        const float *restrict fp, const int32_t *restrict ip, uint32_t pre_e, uint32_t pre_f, int64_t bs0,      \
        const int KC) {                                                                                         \
        const float vrest = fp[SF_F_VREST], vreset = fp[SF_F_VRESET], vth = fp[SF_F_VTHRESH];                  \
        const float pvv = fp[SF_F_PVV], pve = fp[SF_F_PVE], pvi = fp[SF_F_PVI], pvd = fp[SF_F_PVD];             \
        const float pee = fp[SF_F_PEE], pii = fp[SF_F_PII], bias = fp[SF_F_BIAS], excit = fp[SF_F_EXCIT];       \
        const int32_t ref = ip[SF_I_REF_STEPS], climit = ip[SF_I_CONSEC], snooze = ip[SF_I_SNOOZE_STEPS];      \
        const int32_t sure = excit >= 1.0f;                                                                    \
        (void)PF; (void)pre_e; (void)pre_f; (void)bs0; (void)sure; (void)FO;                                   \
        for (int64_t i = lo; i < hi; i++) {                                                                    \
            float xe = (float)r0[i] * FIXED_INV;                                                               \
            float xi = (float)r1[i] * FIXED_INV;                                                               \
            r0[i] = 0;                                                                                         \
            r1[i] = 0;                                                                                         \
            float ie = IE[i] + xe;                                                                             \
            float ii = II[i] + xi;                                                                             \
            float v = V[i];                                                                                    \
            int32_t hold = HOLD[i];                                                                            \
            int32_t held = hold > 0;                                                                           \
            float drive = (bias + (NI ? 0.0f : IEXT[i])) + 0.0f; /* NI: every iext is +0 */                   \
            float vl = vrest + (v - vrest) * pvv;                                                              \
            vl = vl + ie * pve;                                                                                \
            vl = vl + ii * pvi;                                                                                \
            vl = vl + drive * pvd;                                                                             \
            float nv = held ? v : vl;                                                                          \
            ie = ie * pee;                                                                                     \
            ii = ii * pii;                                                                                     \
            hold = held ? hold - 1 : hold;                                                                     \
            int32_t above = (held == 0) & (nv >= vth);                                                         \
            int32_t forced = 0;                                                                                \
            if (EV) forced = FO[i] != 0;                                                                       \
            if (RNG) { /* RNG 2: excitability 1 (sure), only the forced-spike draw */                          \
                uint32_t local = (uint32_t)(i - bs0);                                                          \
                if (RNG == 1) {                                                                                \
                    float ue = uniform01(pre_e, local);                                                        \
                    above = above & (sure | (ue < excit));                                                     \
                }                                                                                              \
                float uf = uniform01(pre_f, local);                                                            \
                forced = forced | (uf < PF[i]);                                                                \
            }                                                                                                  \
            int32_t fire = above | ((held == 0) & forced);                                                     \
            nv = fire ? vreset : nv;                                                                           \
            int32_t consec0 = KC ? CONS[i] : 0; /* the count is kept only under a limit (KC) */              \
            int32_t consec = consec0;                                                                          \
            int32_t c1 = (int32_t)((uint32_t)consec + 1u);                                                     \
            int32_t hit = KC ? fire & (c1 >= climit) : 0;                                                      \
            int32_t cf = hit ? 0 : c1;                                                                         \
            int32_t cn = held ? consec : 0;                                                                    \
            consec = fire ? cf : cn;                                                                           \
            int32_t hf = hit ? snooze : ref;                                                                   \
            hold = fire ? hf : hold;                                                                           \
            V[i] = nv;                                                                                         \
            IE[i] = ie;                                                                                        \
            II[i] = ii;                                                                                        \
            HOLD[i] = hold;                                                                                    \
            if (KC) CONS[i] = consec;                                                                          \
            if (EV) FO[i] = 0;                                                                                 \
            FL[i] = fire;                                                                                      \
        }                                                                                                      \
        return 1; /* a count folded into this loop stops vectorization; the caller scans FL */                 \
    }                                                                                                          \
    /* KC: a consecutive-fire limit (NI has none), so CONS is read and written; without one no                \
       population keeps the count and a layout may not store it (CONS NULL): no CONS traffic */              \
    SF_LOOP_ATTR SF_NO_MEMSET static int64_t NAME(                                                             \
        float *restrict V, float *restrict IE, float *restrict II, const float *restrict IEXT,                  \
        const float *restrict PF, int32_t *restrict HOLD, int32_t *restrict CONS, uint8_t *restrict FO,         \
        int32_t *restrict FL, int32_t *restrict r0, int32_t *restrict r1, int64_t lo, int64_t hi,               \
        const float *restrict fp, const int32_t *restrict ip, uint32_t pre_e, uint32_t pre_f, int64_t bs0) {    \
        if (!NI && ip[SF_I_CONSEC] > 0)                                                                        \
            return NAME##_kc(V, IE, II, IEXT, PF, HOLD, CONS, FO, FL, r0, r1, lo, hi, fp, ip, pre_e, pre_f, bs0, 1); \
        return NAME##_kc(V, IE, II, IEXT, PF, HOLD, CONS, FO, FL, r0, r1, lo, hi, fp, ip, pre_e, pre_f, bs0, 0);   \
    }
SF_LIF_LEAN(lean_r0_e0, 0, 0, 0)
SF_LIF_LEAN(lean_r0_e1, 0, 1, 0)
SF_LIF_LEAN(lean_r1_e0, 1, 0, 0)
SF_LIF_LEAN(lean_r1_e1, 1, 1, 0)
SF_LIF_LEAN(lean_r2_e0, 2, 0, 0)
SF_LIF_LEAN(lean_r2_e1, 2, 1, 0)
SF_LIF_LEAN(lean_z_r0_e0, 0, 0, 1)
SF_LIF_LEAN(lean_z_r0_e1, 0, 1, 1)
SF_LIF_LEAN(lean_z_r1_e0, 1, 0, 1)
SF_LIF_LEAN(lean_z_r1_e1, 1, 1, 1)
SF_LIF_LEAN(lean_z_r2_e0, 2, 0, 1)
SF_LIF_LEAN(lean_z_r2_e1, 2, 1, 1)

#if SF_LOOPS_LEAN512
#include <immintrin.h>
/* The lean LIF step without draws or one-shot events (RNG 0, EV 0) written for AVX-512F, that
   collects its own spikes (step-major order): the spike mask of 16 neurons stays in a mask
   register, and only a vector with a spike appends its indices to out / outsb / outbr. No
   flag array is written and scanned again (the generic loops store one flag line per 16
   neurons and collect reads it back). The same float32 operations in the same order as
   SF_LIF_LEAN (no FMA: -ffp-contract=off), so the same bits. NI as there: iext all +0 and no
   consecutive-spike limit. The last partial vector runs with masked loads and stores. */
__attribute__((target("avx512f"), always_inline)) static inline __mmask16 lean512_vec(
    float *restrict V, float *restrict IE, float *restrict II, const float *restrict IEXT, int32_t *restrict HOLD,
    int32_t *restrict CONS, int32_t *restrict r0, int32_t *restrict r1, int64_t i, __mmask16 m, const int full,
    const int NI, const float *restrict fp, const int32_t *restrict ip, __m512 drive_ni) {
    const __m512 fixinv = _mm512_set1_ps(FIXED_INV), vrest = _mm512_set1_ps(fp[SF_F_VREST]);
    const __m512 pvv = _mm512_set1_ps(fp[SF_F_PVV]), pve = _mm512_set1_ps(fp[SF_F_PVE]);
    const __m512 pvi = _mm512_set1_ps(fp[SF_F_PVI]), pvd = _mm512_set1_ps(fp[SF_F_PVD]);
    const __m512 pee = _mm512_set1_ps(fp[SF_F_PEE]), pii = _mm512_set1_ps(fp[SF_F_PII]);
    const __m512 vth = _mm512_set1_ps(fp[SF_F_VTHRESH]), vreset = _mm512_set1_ps(fp[SF_F_VRESET]);
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1);
    const __m512i ref = _mm512_set1_epi32(ip[SF_I_REF_STEPS]);
#define SF_LD_PS(p) (full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p))
#define SF_LD_EPI32(p) (full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi32(m, p))
#define SF_ST_PS(p, x) (full ? _mm512_storeu_ps(p, x) : _mm512_mask_storeu_ps(p, m, x))
#define SF_ST_EPI32(p, x) (full ? _mm512_storeu_si512(p, x) : _mm512_mask_storeu_epi32(p, m, x))
    __m512 xe = _mm512_mul_ps(_mm512_cvtepi32_ps(SF_LD_EPI32(r0 + i)), fixinv);
    __m512 xi = _mm512_mul_ps(_mm512_cvtepi32_ps(SF_LD_EPI32(r1 + i)), fixinv);
    SF_ST_EPI32(r0 + i, zero);
    SF_ST_EPI32(r1 + i, zero);
    __m512 ie = _mm512_add_ps(SF_LD_PS(IE + i), xe);
    __m512 ii = _mm512_add_ps(SF_LD_PS(II + i), xi);
    __m512 v = SF_LD_PS(V + i);
    __m512i hold = SF_LD_EPI32(HOLD + i);
    __mmask16 held = _mm512_cmpgt_epi32_mask(hold, zero);
    __m512 drive = NI ? drive_ni
                      : _mm512_add_ps(_mm512_add_ps(_mm512_set1_ps(fp[SF_F_BIAS]), SF_LD_PS(IEXT + i)),
                                      _mm512_setzero_ps());
    __m512 vl = _mm512_add_ps(vrest, _mm512_mul_ps(_mm512_sub_ps(v, vrest), pvv));
    vl = _mm512_add_ps(vl, _mm512_mul_ps(ie, pve));
    vl = _mm512_add_ps(vl, _mm512_mul_ps(ii, pvi));
    vl = _mm512_add_ps(vl, _mm512_mul_ps(drive, pvd));
    __m512 nv = _mm512_mask_blend_ps(held, vl, v); /* held ? v : vl */
    ie = _mm512_mul_ps(ie, pee);
    ii = _mm512_mul_ps(ii, pii);
    hold = _mm512_mask_sub_epi32(hold, held, hold, one);
    __mmask16 fire = _mm512_mask_cmp_ps_mask((__mmask16)(~held & m), nv, vth, _CMP_GE_OQ);
    nv = _mm512_mask_blend_ps(fire, nv, vreset);
    /* the consecutive-fire count is kept only under a limit (NI: none): no CONS traffic otherwise */
    const int32_t climit = NI ? 0 : ip[SF_I_CONSEC];
    __mmask16 hit = 0;
    if (climit > 0) {
        __m512i consec = SF_LD_EPI32(CONS + i);
        __m512i c1 = _mm512_add_epi32(consec, one);
        hit = _mm512_mask_cmpge_epi32_mask(fire, c1, _mm512_set1_epi32(climit));
        __m512i cf = _mm512_maskz_mov_epi32((__mmask16)~hit, c1);   /* hit ? 0 : c1 */
        __m512i cn = _mm512_maskz_mov_epi32(held, consec);          /* held ? consec : 0 */
        consec = _mm512_mask_blend_epi32(fire, cn, cf);              /* fire ? cf : cn */
        SF_ST_EPI32(CONS + i, consec);
    }
    __m512i hf = hit ? _mm512_mask_blend_epi32(hit, ref, _mm512_set1_epi32(ip[SF_I_SNOOZE_STEPS])) : ref;
    hold = _mm512_mask_blend_epi32(fire, hold, hf);              /* fire ? hf : hold */
    SF_ST_PS(V + i, nv);
    SF_ST_PS(IE + i, ie);
    SF_ST_PS(II + i, ii);
    SF_ST_EPI32(HOLD + i, hold);
#undef SF_LD_PS
#undef SF_LD_EPI32
#undef SF_ST_PS
#undef SF_ST_EPI32
    return fire;
}

__attribute__((target("avx512f"), always_inline)) static inline int64_t lean512(
    float *restrict V, float *restrict IE, float *restrict II, const float *restrict IEXT, int32_t *restrict HOLD,
    int32_t *restrict CONS, int32_t *restrict r0, int32_t *restrict r1, int64_t lo, int64_t hi,
    const float *restrict fp, const int32_t *restrict ip, int32_t *restrict out, int32_t *restrict outsb,
    int32_t *restrict outbr, int32_t sb, int32_t b, const int NI) {
    /* NI: (bias + iext) + 0 with every iext +0, as SF_LIF_LEAN computes it */
    const __m512 drive_ni = _mm512_set1_ps((fp[SF_F_BIAS] + 0.0f) + 0.0f);
    int64_t cnt = 0, i = lo;
    for (; i + 16 <= hi; i += 16) {
        uint32_t f = lean512_vec(V, IE, II, IEXT, HOLD, CONS, r0, r1, i, 0xFFFF, 1, NI, fp, ip, drive_ni);
        while (f) { /* spikes are rare: a branch per vector, taken ~1 in 100 on CUBA */
            out[cnt] = (int32_t)(i + __builtin_ctz(f));
            outsb[cnt] = sb;
            outbr[cnt] = b;
            cnt++;
            f &= f - 1u;
        }
    }
    if (i < hi) {
        uint32_t f = lean512_vec(V, IE, II, IEXT, HOLD, CONS, r0, r1, i, (__mmask16)((1u << (hi - i)) - 1u), 0, NI,
                                 fp, ip, drive_ni);
        while (f) {
            out[cnt] = (int32_t)(i + __builtin_ctz(f));
            outsb[cnt] = sb;
            outbr[cnt] = b;
            cnt++;
            f &= f - 1u;
        }
    }
    return cnt;
}
#define SF_LEANC_IMPL lean512
#elif SF_LOOPS_LEAN256
#include <immintrin.h>
/* The same step for AVX2 (8 neurons a vector, no mask registers): the spike mask of a vector is
   a compare result turned into 8 bits (movemask), and only a vector with a spike appends its
   indices. The last partial vector runs one neuron at a time (lean1: the same operations in
   scalar float32, the same bits). KC: a consecutive-fire limit (never with NI), as in
   SF_LIF_LEAN: the count is read and written only then. */
__attribute__((target("avx2"), always_inline)) static inline uint32_t lean256_vec(
    float *restrict V, float *restrict IE, float *restrict II, const float *restrict IEXT, int32_t *restrict HOLD,
    int32_t *restrict CONS, int32_t *restrict r0, int32_t *restrict r1, int64_t i, const int NI, const int KC,
    const float *restrict fp, const int32_t *restrict ip, __m256 drive_ni) {
    const __m256 fixinv = _mm256_set1_ps(FIXED_INV), vrest = _mm256_set1_ps(fp[SF_F_VREST]);
    const __m256 pvv = _mm256_set1_ps(fp[SF_F_PVV]), pve = _mm256_set1_ps(fp[SF_F_PVE]);
    const __m256 pvi = _mm256_set1_ps(fp[SF_F_PVI]), pvd = _mm256_set1_ps(fp[SF_F_PVD]);
    const __m256 pee = _mm256_set1_ps(fp[SF_F_PEE]), pii = _mm256_set1_ps(fp[SF_F_PII]);
    const __m256 vth = _mm256_set1_ps(fp[SF_F_VTHRESH]), vreset = _mm256_set1_ps(fp[SF_F_VRESET]);
    const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1);
    const __m256i ref = _mm256_set1_epi32(ip[SF_I_REF_STEPS]);
    __m256 xe = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(r0 + i))), fixinv);
    __m256 xi = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(r1 + i))), fixinv);
    _mm256_storeu_si256((__m256i *)(r0 + i), zero);
    _mm256_storeu_si256((__m256i *)(r1 + i), zero);
    __m256 ie = _mm256_add_ps(_mm256_loadu_ps(IE + i), xe);
    __m256 ii = _mm256_add_ps(_mm256_loadu_ps(II + i), xi);
    __m256 v = _mm256_loadu_ps(V + i);
    __m256i hold = _mm256_loadu_si256((const __m256i *)(HOLD + i));
    __m256i held = _mm256_cmpgt_epi32(hold, zero); /* all ones where held */
    __m256 drive = NI ? drive_ni
                      : _mm256_add_ps(_mm256_add_ps(_mm256_set1_ps(fp[SF_F_BIAS]), _mm256_loadu_ps(IEXT + i)),
                                      _mm256_setzero_ps());
    __m256 vl = _mm256_add_ps(vrest, _mm256_mul_ps(_mm256_sub_ps(v, vrest), pvv));
    vl = _mm256_add_ps(vl, _mm256_mul_ps(ie, pve));
    vl = _mm256_add_ps(vl, _mm256_mul_ps(ii, pvi));
    vl = _mm256_add_ps(vl, _mm256_mul_ps(drive, pvd));
    __m256 nv = _mm256_blendv_ps(vl, v, _mm256_castsi256_ps(held)); /* held ? v : vl */
    ie = _mm256_mul_ps(ie, pee);
    ii = _mm256_mul_ps(ii, pii);
    hold = _mm256_sub_epi32(hold, _mm256_and_si256(held, one)); /* held ? hold - 1 : hold */
    __m256 ge = _mm256_cmp_ps(nv, vth, _CMP_GE_OQ);
    __m256i fire = _mm256_andnot_si256(held, _mm256_castps_si256(ge)); /* !held && nv >= vth */
    nv = _mm256_blendv_ps(nv, vreset, _mm256_castsi256_ps(fire));
    __m256i hf = ref;
    if (KC) {
        const int32_t climit = ip[SF_I_CONSEC]; /* > 0 */
        __m256i consec = _mm256_loadu_si256((const __m256i *)(CONS + i));
        __m256i c1 = _mm256_add_epi32(consec, one);
        __m256i hit = _mm256_and_si256(fire, _mm256_cmpgt_epi32(c1, _mm256_set1_epi32(climit - 1))); /* c1 >= climit */
        __m256i cf = _mm256_andnot_si256(hit, c1);    /* hit ? 0 : c1 */
        __m256i cn = _mm256_and_si256(held, consec);  /* held ? consec : 0 */
        consec = _mm256_blendv_epi8(cn, cf, fire);    /* fire ? cf : cn */
        _mm256_storeu_si256((__m256i *)(CONS + i), consec);
        hf = _mm256_blendv_epi8(ref, _mm256_set1_epi32(ip[SF_I_SNOOZE_STEPS]), hit);
    }
    hold = _mm256_blendv_epi8(hold, hf, fire); /* fire ? hf : hold */
    _mm256_storeu_ps(V + i, nv);
    _mm256_storeu_ps(IE + i, ie);
    _mm256_storeu_ps(II + i, ii);
    _mm256_storeu_si256((__m256i *)(HOLD + i), hold);
    return (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(fire));
}

/* One neuron of the step above (SF_LIF_LEAN's operations for RNG 0, EV 0): 1 when it fires. */
static inline int32_t lean1(float *restrict V, float *restrict IE, float *restrict II, const float *restrict IEXT,
                            int32_t *restrict HOLD, int32_t *restrict CONS, int32_t *restrict r0,
                            int32_t *restrict r1, int64_t i, const int NI, const int KC, const float *restrict fp,
                            const int32_t *restrict ip) {
    float xe = (float)r0[i] * FIXED_INV;
    float xi = (float)r1[i] * FIXED_INV;
    r0[i] = 0;
    r1[i] = 0;
    float ie = IE[i] + xe;
    float ii = II[i] + xi;
    float v = V[i];
    int32_t hold = HOLD[i];
    int32_t held = hold > 0;
    const float vrest = fp[SF_F_VREST];
    float drive = (fp[SF_F_BIAS] + (NI ? 0.0f : IEXT[i])) + 0.0f;
    float vl = vrest + (v - vrest) * fp[SF_F_PVV];
    vl = vl + ie * fp[SF_F_PVE];
    vl = vl + ii * fp[SF_F_PVI];
    vl = vl + drive * fp[SF_F_PVD];
    float nv = held ? v : vl;
    ie = ie * fp[SF_F_PEE];
    ii = ii * fp[SF_F_PII];
    hold = held ? hold - 1 : hold;
    int32_t fire = (held == 0) & (nv >= fp[SF_F_VTHRESH]);
    nv = fire ? fp[SF_F_VRESET] : nv;
    int32_t hit = 0;
    if (KC) {
        int32_t consec = CONS[i];
        int32_t c1 = (int32_t)((uint32_t)consec + 1u);
        hit = fire & (c1 >= ip[SF_I_CONSEC]);
        int32_t cf = hit ? 0 : c1;
        int32_t cn = held ? consec : 0;
        CONS[i] = fire ? cf : cn;
    }
    int32_t hf = hit ? ip[SF_I_SNOOZE_STEPS] : ip[SF_I_REF_STEPS];
    hold = fire ? hf : hold;
    V[i] = nv;
    IE[i] = ie;
    II[i] = ii;
    HOLD[i] = hold;
    return fire;
}

__attribute__((target("avx2"), always_inline)) static inline int64_t lean256(
    float *restrict V, float *restrict IE, float *restrict II, const float *restrict IEXT, int32_t *restrict HOLD,
    int32_t *restrict CONS, int32_t *restrict r0, int32_t *restrict r1, int64_t lo, int64_t hi,
    const float *restrict fp, const int32_t *restrict ip, int32_t *restrict out, int32_t *restrict outsb,
    int32_t *restrict outbr, int32_t sb, int32_t b, const int NI, const int KC) {
    const __m256 drive_ni = _mm256_set1_ps((fp[SF_F_BIAS] + 0.0f) + 0.0f); /* as SF_LIF_LEAN computes it */
    int64_t cnt = 0, i = lo;
    for (; i + 8 <= hi; i += 8) {
        uint32_t f = lean256_vec(V, IE, II, IEXT, HOLD, CONS, r0, r1, i, NI, KC, fp, ip, drive_ni);
        while (f) { /* spikes are rare: a branch per vector */
            out[cnt] = (int32_t)(i + __builtin_ctz(f));
            outsb[cnt] = sb;
            outbr[cnt] = b;
            cnt++;
            f &= f - 1u;
        }
    }
    for (; i < hi; i++)
        if (lean1(V, IE, II, IEXT, HOLD, CONS, r0, r1, i, NI, KC, fp, ip)) {
            out[cnt] = (int32_t)i;
            outsb[cnt] = sb;
            outbr[cnt] = b;
            cnt++;
        }
    return cnt;
}
/* lean256 with the count read and written only under a limit (KC), as lean512 decides inside */
__attribute__((target("avx2"), always_inline)) static inline int64_t lean256_ni(
    float *restrict V, float *restrict IE, float *restrict II, const float *restrict IEXT, int32_t *restrict HOLD,
    int32_t *restrict CONS, int32_t *restrict r0, int32_t *restrict r1, int64_t lo, int64_t hi,
    const float *restrict fp, const int32_t *restrict ip, int32_t *restrict out, int32_t *restrict outsb,
    int32_t *restrict outbr, int32_t sb, int32_t b, const int NI) {
    if (!NI && ip[SF_I_CONSEC] > 0)
        return lean256(V, IE, II, IEXT, HOLD, CONS, r0, r1, lo, hi, fp, ip, out, outsb, outbr, sb, b, NI, 1);
    return lean256(V, IE, II, IEXT, HOLD, CONS, r0, r1, lo, hi, fp, ip, out, outsb, outbr, sb, b, NI, 0);
}
#define SF_LEANC_IMPL lean256_ni
#endif

/* The collecting lean step of this set (SF_LEANC_IMPL: lean512 or lean256_ni), for iext read
   (NI 0) and iext all +0 without a limit (NI 1); NULL where the set has none. */
#ifdef SF_LEANC_IMPL
#define SF_LEANC(NAME, NI)                                                                                     \
    SF_LOOP_ATTR SF_NO_MEMSET static int64_t NAME(                                                             \
        float *restrict V, float *restrict IE, float *restrict II, const float *restrict IEXT,                  \
        int32_t *restrict HOLD, int32_t *restrict CONS, int32_t *restrict r0, int32_t *restrict r1, int64_t lo, \
        int64_t hi, const float *restrict fp, const int32_t *restrict ip, int32_t *restrict out,                \
        int32_t *restrict outsb, int32_t *restrict outbr, int32_t sb, int32_t b) {                             \
        return SF_LEANC_IMPL(V, IE, II, IEXT, HOLD, CONS, r0, r1, lo, hi, fp, ip, out, outsb, outbr, sb, b, NI); \
    }
SF_LEANC(leanc_r0_e0, 0)
SF_LEANC(leanc_z_r0_e0, 1)
#define SF_LEANC_TABLE {leanc_r0_e0, leanc_z_r0_e0}
#else
#define SF_LEANC_TABLE {NULL, NULL}
#endif

/* Append the indices of nonzero flags in lo..hi (ascending); returns how many. */
SF_LOOP_ATTR static int64_t collect(const int32_t *restrict FL, int64_t lo, int64_t hi, int32_t *restrict out,
                                    int32_t *restrict outsb, int32_t *restrict outbr, int32_t sb, int32_t b) {
    int64_t cnt = 0, i = lo;
    for (; i + 64 <= hi; i += 64) { /* spikes are rare: test 64 flags at once (a vector OR) */
        int32_t any = 0;
        for (int j = 0; j < 64; j++) any |= FL[i + j];
        if (!any) continue;
        for (int j = 0; j < 64; j++) { /* branch-free: write always, keep it when flagged (the
                                           buffer holds one entry per neuron of the piece) */
            out[cnt] = (int32_t)(i + j);
            outsb[cnt] = sb;
            outbr[cnt] = b;
            cnt += FL[i + j] != 0;
        }
    }
    for (; i < hi; i++)
        if (FL[i]) { out[cnt] = (int32_t)i; outsb[cnt] = sb; outbr[cnt] = b; cnt++; }
    return cnt;
}

/* The lean variant of every model: populations whose habituation, modulator and burst state
   is inert (as for the lean LIF variant, checked by seg_leanw) but whose w the model uses
   (Izhikevich's u, adaptation): theta, mod and burst are neither read nor written. No gap
   junctions, no modulator channel. */
#define SF_LEANW(NAME, MODEL, RNG, EV, BG, NH, NI)                                                             \
    SF_LOOP_ATTR static int64_t NAME(                                                                             \
        float *restrict V, float *restrict IE, float *restrict II, float *restrict W,                          \
        const float *restrict IEXT, const float *restrict PF, int32_t *restrict HOLD, int32_t *restrict CONS,  \
        uint8_t *restrict FO, int32_t *restrict FL, int32_t *restrict r0, int32_t *restrict r1, int64_t lo,    \
        int64_t hi, const float *restrict fp, const int32_t *restrict ip, uint32_t pre_e, uint32_t pre_f,      \
        int64_t bs0, const float *restrict BGN, const int32_t *restrict BGP, uint32_t pre_n) {                 \
        const float vreset = fp[SF_F_VRESET], vth = fp[SF_F_VTHRESH], wjump = fp[SF_F_WJUMP];                  \
        const float pee = fp[SF_F_PEE], pii = fp[SF_F_PII], bias = fp[SF_F_BIAS], excit = fp[SF_F_EXCIT];       \
        const int32_t ref = ip[SF_I_REF_STEPS], climit = ip[SF_I_CONSEC], snooze = ip[SF_I_SNOOZE_STEPS];      \
        const int32_t sure = excit >= 1.0f;                                                                    \
        const float BGP_W = fp[SF_F_POIS_W];                                                                   \
        (void)BGP_W;                                                                                           \
        const float na = fp[SF_F_NOISE_A], nbw = fp[SF_F_NOISE_B];                                             \
        (void)PF; (void)pre_e; (void)pre_f; (void)bs0; (void)sure; (void)FO; (void)BGN; (void)BGP;             \
        (void)pre_n; (void)na; (void)nbw;                                                                      \
        for (int64_t i = lo; i < hi; i++) {                                                                    \
            float xe = (float)r0[i] * FIXED_INV;                                                               \
            float xi = (float)r1[i] * FIXED_INV;                                                               \
            r0[i] = 0;                                                                                         \
            r1[i] = 0;                                                                                         \
            float ie = IE[i] + xe;                                                                             \
            if (BG == 2) { /* background Poisson drive (flags drawn by bg_fill) */                             \
                float iep = ie + BGP_W;                                                                        \
                ie = BGP[i - lo] ? iep : ie;                                                                   \
            }                                                                                                  \
            float ii = II[i] + xi;                                                                             \
            float v = V[i], w = W[i];                                                                          \
            int32_t hold = NH ? 0 : HOLD[i]; /* NH: no refractory steps, no limit, hold all 0 */               \
            int32_t held = hold > 0;                                                                           \
            float drive = (bias + (NI ? 0.0f : IEXT[i])) + 0.0f; /* NI: every iext is +0 */                    \
            /* background noise current; never -0.0 + 0.0 here (drive is not -0.0), so a */                   \
            /* population without noise (BGN[i] = +0.0) keeps its drive bit for bit */                       \
            if (BG == 3) /* uniform noise drawn here, as bg_fill would */                                      \
                drive = drive + (na + nbw * uniform01(pre_n, (uint32_t)(i - bs0)));                           \
            else if (BG)                                                                                       \
                drive = drive + BGN[i - lo];                                                                   \
            float nv, nw;                                                                                      \
            sf_integrate_##MODEL(fp, v, w, ie, ii, drive, held, &nv, &nw);                                     \
            ie = ie * pee;                                                                                     \
            ii = ii * pii;                                                                                     \
            hold = held ? hold - 1 : hold;                                                                     \
            int32_t above = (held == 0) & (nv >= vth);                                                         \
            int32_t forced = 0;                                                                                \
            if (EV) forced = FO[i] != 0;                                                                       \
            if (RNG) {                                                                                         \
                uint32_t local = (uint32_t)(i - bs0);                                                          \
                float ue = uniform01(pre_e, local);                                                            \
                float uf = uniform01(pre_f, local);                                                            \
                above = above & (sure | (ue < excit));                                                         \
                forced = forced | (uf < PF[i]);                                                                \
            }                                                                                                  \
            int32_t fire = above | ((held == 0) & forced);                                                     \
            float nwj = nw + wjump;                                                                            \
            nv = fire ? vreset : nv;                                                                           \
            nw = fire ? nwj : nw;                                                                              \
            int32_t consec0 = CONS[i];                                                                         \
            int32_t consec = consec0;                                                                          \
            int32_t c1 = (int32_t)((uint32_t)consec + 1u);                                                     \
            int32_t hit = NH ? 0 : fire & (climit > 0) & (c1 >= climit);                                       \
            int32_t cf = hit ? 0 : c1;                                                                         \
            int32_t cn = held ? consec : 0;                                                                    \
            consec = fire ? cf : cn;                                                                           \
            int32_t hf = hit ? snooze : ref;                                                                   \
            hold = fire ? hf : hold;                                                                           \
            V[i] = nv;                                                                                         \
            W[i] = nw;                                                                                         \
            IE[i] = ie;                                                                                        \
            II[i] = ii;                                                                                        \
            if (!NH) HOLD[i] = hold; /* NH: stays 0 (no refractory steps, never a limit hit) */                \
            CONS[i] = climit > 0 ? consec : consec0; /* kept only under a limit */                             \
            if (EV) FO[i] = 0;                                                                                 \
            FL[i] = fire;                                                                                      \
        }                                                                                                      \
        return 1; /* the caller scans FL (a reduction here would keep gcc from vectorizing) */                 \
    }
/* index: BG * 4 + RNG * 2 + EV (BG: background input, 1 the noise current from bg_fill,
   2 also Poisson events from bg_fill, 3 uniform noise only, drawn in the loop); 16 + RNG * 2 + EV
   for BG 3 with NH (SEG_NOHOLD: hold neither read nor written), 20 + RNG * 2 + EV also with NI
   (SEG_NOEXT: iext not read) */
#define SF_LEANW_SET(M)                                                                                                \
    SF_LEANW(sf_leanw_##M##_000, M, 0, 0, 0, 0, 0) SF_LEANW(sf_leanw_##M##_001, M, 0, 1, 0, 0, 0)                      \
    SF_LEANW(sf_leanw_##M##_010, M, 1, 0, 0, 0, 0) SF_LEANW(sf_leanw_##M##_011, M, 1, 1, 0, 0, 0)                      \
    SF_LEANW(sf_leanw_##M##_100, M, 0, 0, 1, 0, 0) SF_LEANW(sf_leanw_##M##_101, M, 0, 1, 1, 0, 0)                      \
    SF_LEANW(sf_leanw_##M##_110, M, 1, 0, 1, 0, 0) SF_LEANW(sf_leanw_##M##_111, M, 1, 1, 1, 0, 0)                      \
    SF_LEANW(sf_leanw_##M##_200, M, 0, 0, 2, 0, 0) SF_LEANW(sf_leanw_##M##_201, M, 0, 1, 2, 0, 0)                      \
    SF_LEANW(sf_leanw_##M##_210, M, 1, 0, 2, 0, 0) SF_LEANW(sf_leanw_##M##_211, M, 1, 1, 2, 0, 0)                      \
    SF_LEANW(sf_leanw_##M##_300, M, 0, 0, 3, 0, 0) SF_LEANW(sf_leanw_##M##_301, M, 0, 1, 3, 0, 0)                      \
    SF_LEANW(sf_leanw_##M##_310, M, 1, 0, 3, 0, 0) SF_LEANW(sf_leanw_##M##_311, M, 1, 1, 3, 0, 0)                      \
    SF_LEANW(sf_leanw_##M##_n300, M, 0, 0, 3, 1, 0) SF_LEANW(sf_leanw_##M##_n301, M, 0, 1, 3, 1, 0)                    \
    SF_LEANW(sf_leanw_##M##_n310, M, 1, 0, 3, 1, 0) SF_LEANW(sf_leanw_##M##_n311, M, 1, 1, 3, 1, 0)                    \
    SF_LEANW(sf_leanw_##M##_z300, M, 0, 0, 3, 1, 1) SF_LEANW(sf_leanw_##M##_z301, M, 0, 1, 3, 1, 1)                    \
    SF_LEANW(sf_leanw_##M##_z310, M, 1, 0, 3, 1, 1) SF_LEANW(sf_leanw_##M##_z311, M, 1, 1, 3, 1, 1)
SF_FOR_EACH_MODEL(SF_LEANW_SET)
#define SF_LEANW_ROW(M)                                                                                                \
    {                                                                                                                  \
        sf_leanw_##M##_000, sf_leanw_##M##_001, sf_leanw_##M##_010, sf_leanw_##M##_011,                                \
        sf_leanw_##M##_100, sf_leanw_##M##_101, sf_leanw_##M##_110, sf_leanw_##M##_111,                                \
        sf_leanw_##M##_200, sf_leanw_##M##_201, sf_leanw_##M##_210, sf_leanw_##M##_211,                                \
        sf_leanw_##M##_300, sf_leanw_##M##_301, sf_leanw_##M##_310, sf_leanw_##M##_311,                                \
        sf_leanw_##M##_n300, sf_leanw_##M##_n301, sf_leanw_##M##_n310, sf_leanw_##M##_n311,                            \
        sf_leanw_##M##_z300, sf_leanw_##M##_z301, sf_leanw_##M##_z310, sf_leanw_##M##_z311},

const sf_loops SF_LOOPS_NAME = {
    SF_LOOPS_ISA,
    {fast_b0, SF_LOOPS_BURST_TAB},
    {lean_r0_e0, lean_r0_e1, lean_r1_e0, lean_r1_e1, lean_r2_e0, lean_r2_e1,
     lean_z_r0_e0, lean_z_r0_e1, lean_z_r1_e0, lean_z_r1_e1, lean_z_r2_e0, lean_z_r2_e1},
    SF_LEANC_TABLE,
    {SF_FOR_EACH_MODEL(SF_LEANW_ROW)},
    learn_neurons,
    bg_fill,
    collect,
};
#endif
