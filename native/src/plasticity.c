/*
 * Learning inside the step, bit for bit as sdk/spikeforge/engine/plasticity.py
 * (phases P1..P7 of its docstring). P2, P3 and P4 are per neuron and run inside the
 * neuron loop (kernel.c); the phases here run between barriers:
 *   sf_learn_pre_one P5a depression at a pre spike (synapses owned by the spiking pre
 *                        neuron: one thread each, right after it propagated them;
 *                        sf_depress_rstdp the same for a neuron whose rows are all
 *                        reward-STDP with hard bounds, classified by sf_pre_class_build)
 *   sf_learn_deliver P5a' depression at delivery (rows of projections with
 *                        depress_at="delivery", from the spike history shist), and
 *                        the history's shift, over a neuron range of one brain
 *   sf_learn_post   P5b  potentiation at post spikes (synapses onto the spiking neuron;
 *                        one loop for a neuron whose inputs are all reward-STDP with hard
 *                        bounds, classified by sf_post_class_build)
 *   sf_learn_traces_early P6 of the traces that pair same-step spikes (equal_time),
 *                        after the neuron update and before P5 (kernel.c: before the
 *                        barrier that precedes P5)
 *   sf_learn_traces P6   trace increments (with saturation) of this step's other spikes
 *   sf_learn_brains P1+P7 dopamine and the reward-STDP weight update, per brain
 */
#include "plasticity.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "plasticity.c reads 8 flag bytes as one little-endian uint64 (sf_learn_deliver)"
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline float clipw(float x, float lo, float hi) {
    float y = x < lo ? lo : x;
    return y > hi ? hi : y;
}

static inline int on_brain(const sf_net *net, int64_t b) {
    return net->plast.learning && net->plast.learn[b];
}

/* P5a on synapses y0..y1 of one STDP or reward-STDP row of projection proj, the post of
   synapse y being idx[y] - o (net->post with o = 0, or the engine's ring offsets poff with
   the row's offset). The kind and the bounds are tested once per row, not per synapse;
   the float32 ops per synapse are the spec's (d = a_minus * xpost[post]; soft: d *= w - w_min;
   STDP: w = clip(w - d); reward-STDP: elig -= d). */
static void depress_range(sf_net *net, const float *restrict XPOST, int64_t y0, int64_t y1,
                          const int32_t *restrict idx, int32_t o, int64_t proj, int32_t kind) {
    const sf_plast *P = &net->plast;
    float *restrict W = net->weight;
    float *restrict E = P->elig;
    const float *pf = P->proj_f + proj * SF_NPF;
    const int soft = P->proj_i[proj * SF_NPI + SF_PI_SOFT] != 0;
    const float am = pf[SF_PF_AMINUS], wmin = pf[SF_PF_WMIN], wmax = pf[SF_PF_WMAX];
    if (kind == SF_KIND_STDP) {
        if (soft) {
            for (int64_t y = y0; y < y1; y++) {
                const float w = W[y];
                float d = am * XPOST[idx[y] - o];
                d = d * (w - wmin);
                W[y] = clipw(w - d, wmin, wmax);
            }
        } else {
            for (int64_t y = y0; y < y1; y++) {
                const float w = W[y];
                W[y] = clipw(w - am * XPOST[idx[y] - o], wmin, wmax);
            }
        }
    } else if (soft) {
        for (int64_t y = y0; y < y1; y++) {
            float d = am * XPOST[idx[y] - o];
            d = d * (W[y] - wmin);
            E[y] = E[y] - d;
        }
    } else {
        for (int64_t y = y0; y < y1; y++) E[y] = E[y] - am * XPOST[idx[y] - o];
    }
}

/* P5a on the synapses of row r (an STDP or reward-STDP row). */
static void depress_row(sf_net *net, const float *xpost, int64_t r, int64_t proj, int32_t kind) {
    depress_range(net, xpost, net->row_syn[r], net->row_syn[r + 1], net->post, 0, proj, kind);
}

void sf_learn_pre_one(sf_net *net, const float *xpost, int64_t s) {
    const sf_plast *P = &net->plast;
    for (int64_t r = net->row_ptr[s]; r < net->row_ptr[s + 1]; r++) {
        int64_t proj = net->row_proj[r];
        int32_t kind = P->proj_i[proj * SF_NPI + SF_PI_KIND];
        if (kind != SF_KIND_STDP && kind != SF_KIND_RSTDP) continue;
        if (P->proj_i[proj * SF_NPI + SF_PI_DELIVER] != 0) continue; /* sf_learn_deliver */
        depress_row(net, xpost, r, proj, kind);
    }
}

void sf_pre_rows_fill(int32_t *prow, int32_t *rptr, const sf_net *net, int64_t n0, int64_t n1) {
    const int64_t N = net->n_neurons;
    for (int64_t i = n0; i <= n1; i++) rptr[i] = (int32_t)net->row_ptr[i];
    for (int64_t r = net->row_ptr[n0]; r < net->row_ptr[n1]; r++) {
        int32_t *q = prow + 4 * r;
        q[0] = (int32_t)net->row_syn[r];
        q[1] = (int32_t)net->row_syn[r + 1];
        q[2] = (int32_t)(((int64_t)net->row_delay[r] * 3 + net->row_chan[r]) * N);
        q[3] = (int32_t)net->row_proj[r];
    }
}

void sf_learn_pre_rows(sf_net *net, const float *xpost, const int32_t *poff, const int32_t *prow, const int32_t *rptr,
                       int64_t s) {
    const sf_plast *P = &net->plast;
    for (int64_t r = rptr[s]; r < rptr[s + 1]; r++) {
        const int32_t *q = prow + 4 * r;
        const int64_t proj = q[3];
        const int32_t kind = P->proj_i[proj * SF_NPI + SF_PI_KIND];
        if (kind != SF_KIND_STDP && kind != SF_KIND_RSTDP) continue;
        if (P->proj_i[proj * SF_NPI + SF_PI_DELIVER] != 0) continue; /* sf_learn_deliver */
        depress_range(net, xpost, q[0], q[1], poff, q[2], proj, kind); /* poff[y] - q[2] == post[y] */
    }
}

void sf_depress_rstdp_rows(sf_net *net, const float *xpost, const int32_t *poff, const int32_t *prow,
                           const int32_t *rptr, int64_t s, int64_t proj) {
    const sf_plast *P = &net->plast;
    const float am = P->proj_f[proj * SF_NPF + SF_PF_AMINUS];
    float *restrict E = P->elig;
    const float *restrict XPOST = xpost;
    for (int64_t r = rptr[s]; r < rptr[s + 1]; r++) {
        const int32_t *q = prow + 4 * r, o = q[2];
        for (int64_t y = q[0]; y < q[1]; y++) E[y] = E[y] - am * XPOST[poff[y] - o]; /* depress_row's ops */
    }
}

void sf_depress_rstdp(sf_net *net, const float *xpost, int64_t y0, int64_t y1, int64_t proj) {
    const sf_plast *P = &net->plast;
    const float am = P->proj_f[proj * SF_NPF + SF_PF_AMINUS];
    float *restrict E = P->elig;
    const float *restrict XPOST = xpost;
    const int32_t *restrict POST = net->post;
    for (int64_t y = y0; y < y1; y++) E[y] = E[y] - am * XPOST[POST[y]]; /* depress_row's ops */
}

void sf_pre_class_build(int32_t *cls, const sf_net *net, int64_t n0, int64_t n1) {
    const sf_plast *P = &net->plast;
    for (int64_t s = n0; s < n1; s++) {
        int32_t c = SF_PRE_NONE;
        int all = 1; /* every row so far: reward-STDP, hard bounds, at the spike, one a_minus */
        for (int64_t r = net->row_ptr[s]; r < net->row_ptr[s + 1]; r++) {
            const int64_t proj = net->row_proj[r];
            const int32_t *pi = P->proj_i + proj * SF_NPI;
            const int depresses = (pi[SF_PI_KIND] == SF_KIND_STDP || pi[SF_PI_KIND] == SF_KIND_RSTDP) &&
                                  pi[SF_PI_DELIVER] == 0;
            if (depresses && c == SF_PRE_NONE) c = (int32_t)proj;
            const int fast = pi[SF_PI_KIND] == SF_KIND_RSTDP && pi[SF_PI_DELIVER] == 0 && pi[SF_PI_SOFT] == 0 &&
                             (c < 0 || memcmp(P->proj_f + proj * SF_NPF + SF_PF_AMINUS,
                                              P->proj_f + (int64_t)c * SF_NPF + SF_PF_AMINUS, sizeof(float)) == 0);
            if (!fast) all = 0;
        }
        cls[s] = c == SF_PRE_NONE ? SF_PRE_NONE : (all ? c : SF_PRE_ROWS);
    }
}

void sf_deliver_mask_build(uint32_t *mask, const sf_net *net, int64_t n0, int64_t n1) {
    const sf_plast *P = &net->plast;
    for (int64_t s = n0; s < n1; s++) {
        uint32_t m = 0;
        for (int64_t r = net->row_ptr[s]; r < net->row_ptr[s + 1]; r++) {
            const int32_t *pi = P->proj_i + net->row_proj[r] * SF_NPI;
            if (pi[SF_PI_DELIVER] == 0 || (pi[SF_PI_KIND] != SF_KIND_STDP && pi[SF_PI_KIND] != SF_KIND_RSTDP))
                continue;
            const int32_t d = net->row_delay[r];
            m |= d >= 1 && d <= 32 ? 1u << (uint32_t)(d - 1) : 0xFFFFFFFFu; /* other delays: every step */
        }
        mask[s] = m;
    }
}

void sf_learn_deliver(sf_net *net, int64_t lo, int64_t hi, int64_t b, const uint32_t *mask, const int32_t *poff,
                      const int32_t *prow, const int32_t *rptr, const sf_lstate *ls) {
    sf_plast *P = &net->plast;
    if (!P->any_delivery || ls->hsh[b] == SF_NOT_KEPT) return; /* (no history: the brain does not deliver) */
    uint32_t *restrict H = (uint32_t *)P->shist + ls->hsh[b];
    const float *xpost = ls->lsh[b] != SF_NOT_KEPT ? P->xpost + ls->lsh[b] : NULL; /* (a delivering brain learns) */
    if (P->any_events && on_brain(net, b) && xpost) {
        /* the neurons with a history bit at one of their delivery delays (all with a history
           without mask), a chunk at a time: one flag byte each (a loop that vectorizes), then
           the set flags 8 at a time, in order; then their rows in order (each neuron's rows
           are its own synapses: the order between neurons is free) */
        int32_t cand[256];
        uint8_t flag[256];
        for (int64_t c0 = lo; c0 < hi; c0 += 256) {
            const int64_t c1 = hi - c0 < 256 ? hi : c0 + 256, m = c1 - c0, m8 = (m + 7) & ~(int64_t)7;
            const uint32_t *restrict HC = H + c0;
            if (mask) {
                const uint32_t *restrict MC = mask + c0;
                for (int64_t i = 0; i < m; i++) flag[i] = (HC[i] & MC[i]) != 0;
            } else {
                for (int64_t i = 0; i < m; i++) flag[i] = HC[i] != 0;
            }
            for (int64_t i = m; i < m8; i++) flag[i] = 0;
            int64_t k = 0;
            for (int64_t i = 0; i < m8; i += 8) {
                uint64_t f8;
                memcpy(&f8, flag + i, 8);
                for (; f8; f8 &= f8 - 1) cand[k++] = (int32_t)(i + (__builtin_ctzll(f8) >> 3)); /* flag i + j: bit 8j */
            }
            if (prow && poff) {
                const int64_t N3 = 3 * net->n_neurons;
                for (int64_t q = 0; q < k; q++) { /* the rows' lines first: their latencies overlap */
                    const int64_t n = c0 + cand[q];
                    __builtin_prefetch(prow + 4 * (int64_t)rptr[n]);
                }
                for (int64_t q = 0; q < k; q++) {
                    const int64_t n = c0 + cand[q];
                    const uint32_t h = H[n];
                    for (int64_t r = rptr[n]; r < rptr[n + 1]; r++) {
                        const int32_t *rq = prow + 4 * r;
                        const int64_t proj = rq[3];
                        const int32_t kind = P->proj_i[proj * SF_NPI + SF_PI_KIND];
                        if (P->proj_i[proj * SF_NPI + SF_PI_DELIVER] == 0) continue;
                        if (kind != SF_KIND_STDP && kind != SF_KIND_RSTDP) continue;
                        const int64_t delay = rq[2] / N3; /* rq[2] = (delay * 3 + chan) * N, chan < 3 */
                        if ((h >> (uint32_t)(delay - 1)) & 1u)
                            depress_range(net, xpost, rq[0], rq[1], poff, rq[2], proj, kind);
                    }
                }
                continue;
            }
            for (int64_t q = 0; q < k; q++) {
                const int64_t n = c0 + cand[q];
                const uint32_t h = H[n];
                for (int64_t r = net->row_ptr[n]; r < net->row_ptr[n + 1]; r++) {
                    const int64_t proj = net->row_proj[r];
                    const int32_t kind = P->proj_i[proj * SF_NPI + SF_PI_KIND];
                    if (P->proj_i[proj * SF_NPI + SF_PI_DELIVER] == 0) continue;
                    if (kind != SF_KIND_STDP && kind != SF_KIND_RSTDP) continue;
                    if ((h >> (uint32_t)(net->row_delay[r] - 1)) & 1u) depress_row(net, xpost, r, proj, kind);
                }
            }
        }
    }
    for (int64_t n = lo; n < hi; n++) H[n] = H[n] << 1; /* the history's shift (0 stays 0) */
}

/* P5b of the entries x0..x1 of the in-synapse tables, one by one. */
static void post_entries(sf_net *net, const float *xpre, int64_t x0, int64_t x1, float mod) {
    const sf_plast *P = &net->plast;
    float *W = net->weight;
    for (int64_t x = x0; x < x1; x++) {
        int64_t y = P->in_syn[x], proj = P->in_proj[x], pre = P->in_pre[x];
        int32_t kind = P->proj_i[proj * SF_NPI + SF_PI_KIND];
        if (kind == SF_KIND_NONE) continue; /* a slot's placeholder (plasticity.py _pad_slots) */
        const float *pf = P->proj_f + proj * SF_NPF;
        float wy = W[y];
        float ap = pf[SF_PF_APLUS];
        if (kind == SF_KIND_HEBB) ap = ap * mod; /* the post neuron's modulator level */
        float p = ap * xpre[pre];
        if (P->proj_i[proj * SF_NPI + SF_PI_SOFT] != 0) p = p * (pf[SF_PF_WMAX] - wy);
        if (kind == SF_KIND_RSTDP) P->elig[y] = P->elig[y] + p;
        else W[y] = clipw(wy + p, pf[SF_PF_WMIN], pf[SF_PF_WMAX]);
    }
}

int sf_in_pair_fill(uint32_t *pair, const sf_net *net, int64_t n0, int64_t n1) {
    const sf_plast *P = &net->plast;
    int64_t b = 0, lo = 0, hi = net->n_brains; /* the brain holding n0: brain_start[b] <= n0 < brain_start[b + 1] */
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (net->brain_start[mid + 1] <= n0) lo = mid + 1;
        else hi = mid;
    }
    b = lo;
    for (int64_t s = n0; s < n1; s++) {
        while (b < net->n_brains && net->brain_start[b + 1] <= s) b++;
        const int64_t base = net->brain_start[b];
        for (int64_t x = P->in_ptr[s]; x < P->in_ptr[s + 1]; x++) {
            const int64_t pre = P->in_pre[x] - base, proj = P->in_proj[x];
            if (pre < 0 || pre > 0xFFFF || proj < 0 || proj > 0xFFFF || P->in_syn[x] > INT32_MAX) return -1;
            pair[2 * x] = (uint32_t)P->in_syn[x];
            pair[2 * x + 1] = (uint32_t)pre | (uint32_t)proj << 16;
        }
    }
    return 0;
}

void sf_learn_post(sf_net *net, const int32_t *spk, const int32_t *br, int64_t count, const int32_t *cls,
                   const uint32_t *pair, const sf_engine *e, const sf_lstate *ls) {
    const sf_plast *P = &net->plast;
    /* Each STDP entry names a weight in another presynaptic row: ~20 scattered lines per spike,
       each a dependent load after its pair. Ask for all of them first, so their latencies
       overlap instead of adding up entry after entry. The pairs themselves were prefetched by
       propagation. Prefetching changes no result. */
    if (pair && cls && count > 0) {
        const float *W = net->weight;
        for (int64_t j = 0; j < count; j++) {
            const int64_t s = spk[j];
            if (cls[s] != SF_POST_STDP || !on_brain(net, br[j])) continue; /* (reward-STDP's sum loop: no gain seen) */
            const int64_t x0 = P->in_ptr[s], x1 = P->in_ptr[s + 1];
            for (int64_t x = x0; x < x1; x++) __builtin_prefetch(W + pair[2 * x], 1);
        }
    }
    for (int64_t j = 0; j < count; j++) {
        if (!on_brain(net, br[j]) || ls->lsh[br[j]] == SF_NOT_KEPT) continue; /* (a brain that learns keeps it) */
        const int64_t s = spk[j], x0 = P->in_ptr[s], x1 = P->in_ptr[s + 1];
        const float *restrict xpre = P->xpre + ls->lsh[br[j]]; /* neuron-indexed: this brain's traces */
        const int32_t c = cls ? cls[s] : SF_PRE_ROWS;
        if (c >= 0 && pair) { /* all reward-STDP, hard bounds, one a_plus: post_entries' ops */
            const float ap = P->proj_f[(int64_t)c * SF_NPF + SF_PF_APLUS];
            float *restrict E = P->elig;
            const float *restrict XPRE = xpre + net->brain_start[br[j]]; /* pre is brain-local */
            const uint32_t *restrict PR = pair;
            for (int64_t x = x0; x < x1; x++) E[PR[2 * x]] = E[PR[2 * x]] + ap * XPRE[PR[2 * x + 1] & 0xFFFFu];
        } else if (c == SF_POST_STDP && pair) { /* all STDP, hard bounds: post_entries' ops */
            float *restrict W = net->weight;
            const float *restrict XPRE = xpre + net->brain_start[br[j]];
            const float *PF = P->proj_f;
            const uint32_t *restrict PR = pair;
            for (int64_t x = x0; x < x1; x++) {
                const uint32_t y = PR[2 * x], q = PR[2 * x + 1];
                const float *pf = PF + (int64_t)(q >> 16) * SF_NPF;
                const float p = pf[SF_PF_APLUS] * XPRE[q & 0xFFFFu];
                W[y] = clipw(W[y] + p, pf[SF_PF_WMIN], pf[SF_PF_WMAX]);
            }
        } else if (c != SF_PRE_NONE) {
            /* mod is stored per population: where this neuron's is (validated: a modulated Hebbian
               projection's post population keeps it) */
            const int64_t m = net->mod ? sf_engine_kept_index(e, SF_KEPT_MOD, s) : -1;
            post_entries(net, xpre, x0, x1, m >= 0 ? net->mod[m] : 0.0f);
        }
    }
}

void sf_post_class_build(int32_t *cls, const sf_net *net, int64_t n0, int64_t n1) {
    const sf_plast *P = &net->plast;
    for (int64_t s = n0; s < n1; s++) {
        int32_t c = SF_PRE_NONE;
        int all = 1; /* every entry so far: reward-STDP, hard bounds, one a_plus */
        int all_s = 1; /* every entry so far: STDP, hard bounds */
        for (int64_t x = P->in_ptr[s]; x < P->in_ptr[s + 1]; x++) {
            const int64_t proj = P->in_proj[x];
            const int32_t *pi = P->proj_i + proj * SF_NPI;
            if (pi[SF_PI_KIND] == SF_KIND_NONE) { /* a slot's placeholder: the entry path skips it */
                all = 0;
                all_s = 0;
                continue;
            }
            if (!(pi[SF_PI_KIND] == SF_KIND_STDP && pi[SF_PI_SOFT] == 0)) all_s = 0;
            if (c == SF_PRE_NONE) c = (int32_t)proj;
            if (!(pi[SF_PI_KIND] == SF_KIND_RSTDP && pi[SF_PI_SOFT] == 0 &&
                  memcmp(P->proj_f + proj * SF_NPF + SF_PF_APLUS, P->proj_f + (int64_t)c * SF_NPF + SF_PF_APLUS,
                         sizeof(float)) == 0))
                all = 0;
        }
        cls[s] = c == SF_PRE_NONE ? SF_PRE_NONE : (all ? c : (all_s ? SF_POST_STDP : SF_PRE_ROWS));
    }
}

/* P6 for the traces whose early flag (PP_PREEARLY / PP_POSTEARLY, from equal_time) is
   `early`: sf_learn_traces_early runs before P5 (so P5 sees this step's spike),
   sf_learn_traces after it for the others. */
static void learn_traces(sf_net *net, const int32_t *spk, const int32_t *br, int64_t count, int early,
                         const sf_lstate *ls) {
    const float *pid_f = net->plast.pid_f;
    const int hist = !early && net->plast.any_delivery;
    for (int64_t j = 0; j < count; j++) {
        const int32_t n = spk[j];
        const int64_t b = br[j];
        /* a brain that does not learn keeps no traces: the spec's values there are never read */
        if (hist && ls->hsh[b] != SF_NOT_KEPT) {
            int32_t *h = net->plast.shist + ls->hsh[b] + n;
            *h = (int32_t)((uint32_t)*h | 1u);
        }
        if (ls->lsh[b] == SF_NOT_KEPT) continue;
        float *xpre = net->plast.xpre + ls->lsh[b], *xpost = net->plast.xpost + ls->lsh[b];
        const float *pp = pid_f + (size_t)net->pid[n] * SF_NPP;
        if ((pp[SF_PP_PREEARLY] != 0.0f) == early) {
            float x = xpre[n] + pp[SF_PP_PREINC];
            xpre[n] = x > pp[SF_PP_PREMAX] ? pp[SF_PP_PREMAX] : x;
        }
        if ((pp[SF_PP_POSTEARLY] != 0.0f) == early) {
            float x = xpost[n] + pp[SF_PP_POSTINC];
            xpost[n] = x > pp[SF_PP_POSTMAX] ? pp[SF_PP_POSTMAX] : x;
        }
    }
}

void sf_learn_traces_early(sf_net *net, const int32_t *spk, const int32_t *br, int64_t count, const sf_lstate *ls) {
    if (net->plast.any_early) learn_traces(net, spk, br, count, 1, ls);
}

void sf_learn_traces(sf_net *net, const int32_t *spk, const int32_t *br, int64_t count, const sf_lstate *ls) {
    learn_traces(net, spk, br, count, 0, ls);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(SF_NO_CLONES)
#define SF_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), noinline))
#else
#define SF_CLONES
#endif

/* P7 for synapses y0..y1 of one reward-STDP projection (each synapse independent of the
   others; written branch-free so it vectorizes, with the same float32 ops as the spec).
   ms_zero: every msum of the brain is +0.0, so modw * MS[post[y]] is modw * +0.0 for every
   synapse: computed once, the loop needs no gather (same bits). */
SF_CLONES static void rstdp_sweep(float *restrict W, float *restrict E, const int32_t *restrict post,
                                  const float *restrict MS, int64_t y0, int64_t y1, const float *pf, float dsum,
                                  int on, int ms_zero) {
    const float modw = pf[SF_PF_MODW], rlr = pf[SF_PF_RLR], wmin = pf[SF_PF_WMIN];
    const float wmax = pf[SF_PF_WMAX], cdecay = pf[SF_PF_CDECAY];
    dsum = dsum + pf[SF_PF_DABASE]; /* tonic dopamine of this projection's update */
    if (!on) { /* weights frozen: only the eligibility decays */
        for (int64_t y = y0; y < y1; y++) E[y] = E[y] * cdecay;
        return;
    }
    if (ms_zero) {
        const float D = dsum + modw * 0.0f;
        for (int64_t y = y0; y < y1; y++) {
            float c = E[y];
            float x = W[y] + (rlr * c) * D;
            x = x < wmin ? wmin : x;
            W[y] = x > wmax ? wmax : x;
            E[y] = c * cdecay;
        }
        return;
    }
    for (int64_t y = y0; y < y1; y++) {
        float D = dsum + modw * MS[post[y]];
        float c = E[y];
        float x = W[y] + (rlr * c) * D;
        x = x < wmin ? wmin : x;
        W[y] = x > wmax ? wmax : x;
        E[y] = c * cdecay;
    }
}

static int all_pos_zero(const float *restrict x, int64_t lo, int64_t hi) {
    uint32_t any = 0;
    for (int64_t i = lo; i < hi; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        any |= u;
    }
    return any == 0;
}

void sf_rs_runs_free(sf_rs_runs *R) {
    free(R->run_ptr);
    free(R->run_y0);
    free(R->run_y1);
    free(R->run_proj);
    memset(R, 0, sizeof *R);
}

static int grow_runs(sf_rs_runs *R, int64_t need) {
    if (need > R->cap) {
        int64_t cap = R->cap ? 2 * R->cap : 64;
        if (cap < need) cap = need;
        int64_t *a = (int64_t *)realloc(R->run_y0, (size_t)cap * sizeof(int64_t));
        if (!a) return -1;
        R->run_y0 = a;
        a = (int64_t *)realloc(R->run_y1, (size_t)cap * sizeof(int64_t));
        if (!a) return -1;
        R->run_y1 = a;
        a = (int64_t *)realloc(R->run_proj, (size_t)cap * sizeof(int64_t));
        if (!a) return -1;
        R->run_proj = a;
        R->cap = cap;
    }
    return 0;
}

static int push_run(sf_rs_runs *R, int64_t y0, int64_t y1, int64_t proj) {
    if (grow_runs(R, R->n_runs + 1) != 0) return -1;
    R->run_y0[R->n_runs] = y0;
    R->run_y1[R->n_runs] = y1;
    R->run_proj[R->n_runs] = proj;
    R->n_runs++;
    return 0;
}

/* Append brain b's runs to R (its first run, if any, goes at index R->n_runs). */
static int brain_runs(sf_rs_runs *R, const sf_net *net, int64_t b) {
    const sf_plast *P = &net->plast;
    const int64_t first = R->n_runs;
    const int64_t r_end = net->row_ptr[net->brain_start[b + 1]];
    for (int64_t r = net->row_ptr[net->brain_start[b]]; r < r_end; r++) {
        const int64_t proj = net->row_proj[r];
        if (P->proj_i[proj * SF_NPI + SF_PI_KIND] != SF_KIND_RSTDP) continue;
        const int64_t y0 = net->row_syn[r], y1 = net->row_syn[r + 1];
        if (y0 == y1) continue;
        /* extend the last run when it ends here and its projection's P7 parameters are
           the same bits (then one sweep over both is the same operations) */
        if (R->n_runs > first && R->run_y1[R->n_runs - 1] == y0) {
            const int64_t pq = R->run_proj[R->n_runs - 1];
            if (pq == proj ||
                memcmp(P->proj_f + pq * SF_NPF, P->proj_f + proj * SF_NPF, SF_NPF * sizeof(float)) == 0) {
                R->run_y1[R->n_runs - 1] = y1;
                continue;
            }
        }
        if (push_run(R, y0, y1, proj) != 0) return -1;
    }
    return 0;
}

int sf_rs_runs_build(sf_rs_runs *R, const sf_net *net) {
    sf_rs_runs_free(R);
    const sf_plast *P = &net->plast;
    if (!P->enabled || !P->any_rstdp) return 0;
    const int64_t nb = net->n_brains;
    R->run_ptr = (int64_t *)calloc((size_t)(nb + 1), sizeof(int64_t));
    if (!R->run_ptr) return -1;
    for (int64_t b = 0; b < nb; b++) {
        R->run_ptr[b] = R->n_runs;
        if (brain_runs(R, net, b) != 0) return -1;
    }
    R->run_ptr[nb] = R->n_runs;
    return 0;
}

int sf_rs_runs_update(sf_rs_runs *R, const sf_net *net, int64_t b) {
    const sf_plast *P = &net->plast;
    if (!R->run_ptr || !P->enabled || !P->any_rstdp) return sf_rs_runs_build(R, net);
    sf_rs_runs T;
    memset(&T, 0, sizeof T);
    if (brain_runs(&T, net, b) != 0) {
        sf_rs_runs_free(&T);
        return -1;
    }
    const int64_t a = R->run_ptr[b], z = R->run_ptr[b + 1], d = T.n_runs - (z - a);
    if (grow_runs(R, R->n_runs + d) != 0) {
        sf_rs_runs_free(&T);
        return -1;
    }
    const size_t tail = (size_t)(R->n_runs - z) * sizeof(int64_t);
    if (tail && d) {
        memmove(R->run_y0 + z + d, R->run_y0 + z, tail);
        memmove(R->run_y1 + z + d, R->run_y1 + z, tail);
        memmove(R->run_proj + z + d, R->run_proj + z, tail);
    }
    if (T.n_runs) {
        memcpy(R->run_y0 + a, T.run_y0, (size_t)T.n_runs * sizeof(int64_t));
        memcpy(R->run_y1 + a, T.run_y1, (size_t)T.n_runs * sizeof(int64_t));
        memcpy(R->run_proj + a, T.run_proj, (size_t)T.n_runs * sizeof(int64_t));
    }
    R->n_runs += d;
    for (int64_t q = b + 1; q <= net->n_brains; q++) R->run_ptr[q] += d;
    sf_rs_runs_free(&T);
    return 0;
}

void sf_learn_brains(sf_net *net, int64_t b0, int64_t b1, int64_t k, const uint8_t *active, const sf_rs_runs *R,
                     const sf_lstate *ls) {
    sf_plast *P = &net->plast;
    if (!P->any_rstdp) return;
    float *W = net->weight;
    for (int64_t b = b0; b < b1; b++) {
        if (active && !active[b]) continue;
        /* P1 */
        P->dopamine_sum[b] = P->dopamine_sum[b] + P->dopamine[b];
        P->dopamine[b] = P->dopamine[b] * P->da_decay[b];
        /* P7 */
        int64_t every = P->every[b];
        int64_t bstep = net->brain_step[b] + k;
        if (every <= 0 || (bstep + 1) % every != 0) continue;
        int on = on_brain(net, b);
        float dsum = P->dopamine_sum[b];
        const int64_t s0 = net->brain_start[b], s1 = net->brain_start[b + 1];
        if (ls->lsh[b] == SF_NOT_KEPT) { /* a brain that does not learn: no reward-STDP synapse, no msum */
            P->dopamine_sum[b] = 0.0f;
            continue;
        }
        float *MS = P->msum + ls->lsh[b]; /* neuron-indexed: this brain's */
        const int ms_zero = all_pos_zero(MS, s0, s1);
        /* The brain's reward-STDP synapses in storage order, as merged ranges (every
           synapse's update is independent of the others). */
        for (int64_t q = R->run_ptr[b]; q < R->run_ptr[b + 1]; q++)
            rstdp_sweep(W, P->elig, net->post, MS, R->run_y0[q], R->run_y1[q],
                        P->proj_f + R->run_proj[q] * SF_NPF, dsum, on, ms_zero);
        P->dopamine_sum[b] = 0.0f;
        for (int64_t i = s0; i < s1; i++) MS[i] = 0.0f;
    }
}

static int pfail(char *msg, size_t size, const char *fmt, ...) {
    if (msg && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

#define PNEED(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) return pfail(msg, size, __VA_ARGS__); \
    } while (0)

int sf_plast_validate(const sf_net *net, char *msg, size_t size) {
    const sf_plast *P = &net->plast;
    if (!P->enabled) return 0;
    const int64_t n = net->n_neurons, nb = net->n_brains, ns = net->n_synapses;
    PNEED(P->proj_f && P->proj_i && P->pid_f && P->da_decay && P->every && P->dopamine && P->dopamine_sum &&
              P->learn && P->xpre && P->xpost && P->msum && P->in_ptr && P->rs_ptr,
          "plast: missing table");
    PNEED(!P->any_delivery || P->shist, "plast.shist: depression at delivery needs the spike history");
    int any_r = 0;
    for (int64_t p = 0; p < net->n_proj; p++) {
        int32_t kind = P->proj_i[p * SF_NPI + SF_PI_KIND];
        PNEED(kind >= SF_KIND_NONE && kind <= SF_KIND_HEBB, "plast.proj_i[%lld].kind: unknown %d", (long long)p,
              kind);
        if (kind == SF_KIND_RSTDP) any_r = 1;
        /* the modulated Hebbian rule reads its post neuron's modulator (so its post population keeps it) */
        PNEED(kind != SF_KIND_HEBB || net->mod, "mod: missing, but projection %lld is modulated Hebbian, "
              "which reads it", (long long)p);
    }
    PNEED(!any_r || ns == 0 || P->elig, "plast.elig: reward-STDP projections need the eligibility array");
    PNEED(P->in_ptr[0] == 0 && P->n_in >= 0 && P->n_rs >= 0, "plast.in_ptr: must start at 0");
    for (int64_t i = 0; i < n; i++)
        PNEED(P->in_ptr[i + 1] >= P->in_ptr[i], "plast.in_ptr: not monotonic at %lld", (long long)i);
    PNEED(P->in_ptr[n] == P->n_in, "plast.in_ptr: ends at %lld, expected %lld", (long long)P->in_ptr[n],
          (long long)P->n_in);
    for (int64_t x = 0; x < P->n_in; x++)
        PNEED(P->in_syn[x] >= 0 && P->in_syn[x] < ns && P->in_pre[x] >= 0 && P->in_pre[x] < n &&
                  P->in_proj[x] >= 0 && P->in_proj[x] < net->n_proj,
              "plast.in_syn/in_pre/in_proj[%lld]: out of range", (long long)x);
    for (int64_t x = 0; x < P->n_in && net->pid_keeps; x++) {
        if (P->proj_i[P->in_proj[x] * SF_NPI + SF_PI_KIND] != SF_KIND_HEBB) continue;
        const int32_t post = net->post[P->in_syn[x]];
        PNEED((net->pid_keeps[net->pid[post]] >> SF_KEPT_MOD) & 1u,
              "pid_keeps: parameter set %d does not keep mod, but projection %lld into it is modulated Hebbian, "
              "which reads it", net->pid[post], (long long)P->in_proj[x]);
    }
    /* the learning state is stored per population (pid_keeps): both ends of every plastic synapse
       keep xpre, xpost and msum, and the pre neuron of a row depressing at delivery keeps shist */
    const unsigned lbits = 1u << SF_KEPT_XPRE | 1u << SF_KEPT_XPOST | 1u << SF_KEPT_MSUM;
    for (int64_t x = 0; x < P->n_in && net->pid_keeps; x++) {
        if (P->proj_i[P->in_proj[x] * SF_NPI + SF_PI_KIND] == SF_KIND_NONE) continue; /* a slot's placeholder */
        const int32_t post = net->post[P->in_syn[x]], pre = (int32_t)P->in_pre[x];
        PNEED((net->pid_keeps[net->pid[post]] & lbits) == lbits && (net->pid_keeps[net->pid[pre]] & lbits) == lbits,
              "pid_keeps: projection %lld is plastic, but parameter set %d or %d at its ends does not keep the "
              "learning state (xpre xpost msum)", (long long)P->in_proj[x], net->pid[pre], net->pid[post]);
    }
    for (int64_t i = 0; i < n && net->pid_keeps && P->any_delivery; i++) {
        if ((net->pid_keeps[net->pid[i]] >> SF_KEPT_SHIST) & 1u) continue;
        for (int64_t r = net->row_ptr[i]; r < net->row_ptr[i + 1]; r++)
            PNEED(P->proj_i[(int64_t)net->row_proj[r] * SF_NPI + SF_PI_DELIVER] == 0 ||
                      P->proj_i[(int64_t)net->row_proj[r] * SF_NPI + SF_PI_KIND] == SF_KIND_NONE,
                  "pid_keeps: parameter set %d does not keep shist, but projection %d from it depresses at delivery",
                  net->pid[i], net->row_proj[r]);
    }
    PNEED(P->rs_ptr[0] == 0, "plast.rs_ptr: must start at 0");
    for (int64_t b = 0; b < nb; b++)
        PNEED(P->rs_ptr[b + 1] >= P->rs_ptr[b], "plast.rs_ptr: not monotonic at %lld", (long long)b);
    PNEED(P->rs_ptr[nb] == P->n_rs, "plast.rs_ptr: ends at %lld, expected %lld", (long long)P->rs_ptr[nb],
          (long long)P->n_rs);
    PNEED(P->n_rs == 0 || P->elig, "plast.elig: missing");
    for (int64_t x = 0; x < P->n_rs; x++)
        PNEED(P->rs_syn[x] >= 0 && P->rs_syn[x] < ns && P->rs_post[x] >= 0 && P->rs_post[x] < n &&
                  P->rs_proj[x] >= 0 && P->rs_proj[x] < net->n_proj,
              "plast.rs_syn/rs_post/rs_proj[%lld]: out of range", (long long)x);
    for (int64_t b = 0; b < nb; b++) PNEED(P->every[b] >= 0, "plast.every[%lld]: negative", (long long)b);
    /* the learning phases read a plastic synapse's ends through one shift per brain (sf_lstate):
       plastic synapses stay inside their brain, and a brain keeps the learning state in all of
       its populations or in none (then its neurons' entries are contiguous, at one shift) */
    const unsigned hbit = 1u << SF_KEPT_SHIST;
    for (int64_t b = 0; b < nb; b++) {
        const int64_t s0 = net->brain_start[b], s1 = net->brain_start[b + 1];
        for (int64_t x = P->in_ptr[s0]; x < P->in_ptr[s1]; x++) {
            const int64_t pre = P->in_pre[x], post = net->post[P->in_syn[x]];
            PNEED(pre >= s0 && pre < s1 && post >= s0 && post < s1,
                  "plast.in_pre/in_syn[%lld]: plastic synapse %lld -> %lld leaves brain %lld (neurons %lld..%lld); "
                  "plastic synapses stay inside one brain", (long long)x, (long long)pre, (long long)post,
                  (long long)b, (long long)s0, (long long)s1 - 1);
        }
        for (int64_t x = P->rs_ptr[b]; x < P->rs_ptr[b + 1]; x++) {
            const int64_t post = P->rs_post[x], spost = net->post[P->rs_syn[x]];
            PNEED(post >= s0 && post < s1 && spost >= s0 && spost < s1,
                  "plast.rs_post/rs_syn[%lld]: reward-STDP synapse into %lld (listed at %lld) leaves brain %lld "
                  "(neurons %lld..%lld); plastic synapses stay inside one brain", (long long)x, (long long)spost,
                  (long long)post, (long long)b, (long long)s0, (long long)s1 - 1);
        }
        for (int64_t i = s0; i < s1; i++)
            for (int64_t r = net->row_ptr[i]; r < net->row_ptr[i + 1]; r++) {
                if (P->proj_i[(int64_t)net->row_proj[r] * SF_NPI + SF_PI_KIND] == SF_KIND_NONE) continue;
                for (int64_t y = net->row_syn[r]; y < net->row_syn[r + 1]; y++)
                    PNEED(net->post[y] >= s0 && net->post[y] < s1,
                          "synapse.post[%lld]: projection %d is plastic, but its synapse from neuron %lld (brain "
                          "%lld) ends in another brain at neuron %d", (long long)y, net->row_proj[r], (long long)i,
                          (long long)b, net->post[y]);
            }
        if (!net->pid_keeps || s1 == s0) continue;
        const unsigned k0 = net->pid_keeps[net->pid[s0]] & (lbits | hbit);
        PNEED((k0 & lbits) == 0 || (k0 & lbits) == lbits,
              "pid_keeps: parameter set %d keeps some of xpre xpost msum only; a population keeps all three or none",
              net->pid[s0]);
        for (int64_t i = s0 + 1; i < s1; i++)
            PNEED((net->pid_keeps[net->pid[i]] & (lbits | hbit)) == k0,
                  "pid_keeps: brain %lld keeps the learning state (xpre xpost msum shist) in some of its populations "
                  "only (parameter sets %d and %d differ); a circuit's populations keep it all or none",
                  (long long)b, net->pid[s0], net->pid[i]);
    }
    return 0;
}
