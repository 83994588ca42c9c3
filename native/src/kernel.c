/*
 * The step of docs/semantics.md in C99, bit for bit the same as
 * sdk/spikeforge/engine/numpy_backend.py (same float32 operations in the same
 * order; built without fast-math and with -ffp-contract=off).
 *
 * One call (sf_engine_advance) encodes sensors, runs n steps and decodes the
 * actuators. The neurons are visited in *segments*: runs of one brain sharing one
 * parameter set, so parameters are scalars and plain LIF runs take a branch-free
 * loop the compiler vectorizes (loops_impl.h, built for AVX-512F, AVX2 and the baseline;
 * a lean variant when the adaptation/habituation/modulator/burst state is inert). Two orders:
 *   - brain-major (brains never touch each other): each thread takes whole brains
 *     and runs all n steps of one brain while it is in cache; no barriers;
 *   - step-major (one big brain, or cross-brain tables): each thread owns a
 *     contiguous range of neurons; per step it updates them, then after a barrier
 *     propagates its spikes into the delay ring with integer atomics.
 * Integer sums do not depend on order, so spikes and state are identical for any
 * thread count and either order (the spike list is merged into step, neuron order).
 */
#define _GNU_SOURCE
#include "spikeforge_abi.h"
#include "loops.h"
#include "plasticity.h"
#include "models.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXED_SCALE 65536.0f
#define FIXED_LIMIT 2147483520.0f
#define PURPOSE_EXCITABILITY ((uint32_t)SF_PURPOSE_EXCITABILITY)
#define PURPOSE_FORCE ((uint32_t)SF_PURPOSE_FORCE)
#define PURPOSE_NOISE ((uint32_t)SF_PURPOSE_NOISE)
#define PURPOSE_POISSON ((uint32_t)SF_PURPOSE_POISSON)
#define PLEN(net) ((net)->plast.enabled)
#define SF_BM_GROUP 4 /* brains a brain-major thread interleaves per step (run_thread_bm) */
/* state a layout may leave out (w theta mod consec burst: layout.STORED_WHEN_KEPT of sf_net), and the
   neurons a piece that needs a stand-in for them updates at a time (absent_state) */
#define SF_ABSENT_VARS SF_N_KEPT
#define SF_ABSENT_CHUNK 2048
#define SEG_INERT 1 /* the lean LIF variant applies */
#define SEG_PFORCE 2 /* some pforce > 0: forced-spike draws needed */
#define SEG_EVENT 4 /* some force_once set (only the kernel clears it during an advance) */
#define SEG_LEANW 8 /* the model's lean variant applies (theta, mod, burst inert) */
#define SEG_MSUM 16 /* P2 is the identity: mod is +0 (inert or lean) and no msum is -0 or NaN */
#define SEG_NOHOLD 32 /* no refractory steps, no consecutive-spike limit, every hold 0: hold stays 0 */
#define SEG_NOEXT 64 /* every iext is +0 (sensors are encoded once per advance, before the steps) */
#define SEG_JOIN 128 /* the next segment is of the same brain and has the same parameter rows (brain-major
                        runs the two in one call: seg_join) */
#define SEG_ALL_OF (SEG_INERT | SEG_LEANW | SEG_MSUM | SEG_NOHOLD | SEG_NOEXT) /* joined: hold for both */
#define SEG_ANY_OF (SEG_PFORCE | SEG_EVENT)                                 /* joined: hold for either */

/* ------------------------------------------------------------------ helpers */
static inline uint32_t brain_stream(uint32_t key, int64_t step, uint32_t purpose) {
    uint64_t s = (uint64_t)step;
    uint32_t p = purpose * 0x9E3779B9u;
    return mix32(mix32(mix32(key ^ p) ^ (uint32_t)(s & 0xFFFFFFFFu)) ^ (uint32_t)(s >> 32));
}

/* float32 -> fixed point: NaN -> 0, clamp to +-FIXED_LIMIT, round half to even. */
static inline uint32_t quantize(float x) {
    float y = x * FIXED_SCALE;
    if (y != y) y = 0.0f;
    y = y > FIXED_LIMIT ? FIXED_LIMIT : y;
    y = y < -FIXED_LIMIT ? -FIXED_LIMIT : y;
    /* |y| < 2^23: adding and removing 2^23 rounds to an integer, ties to even */
    if (y >= 0.0f) {
        if (y < 8388608.0f) y = (y + 8388608.0f) - 8388608.0f;
    } else {
        if (y > -8388608.0f) y = (y - 8388608.0f) + 8388608.0f;
    }
    return (uint32_t)(int32_t)y;
}

/* ------------------------------------------------------------------ barrier */
typedef struct {
    int n;
    int count;
    int sense;
} sf_barrier;

static void barrier_wait(sf_barrier *b, int *local_sense) {
    if (b->n <= 1) return;
    int s = !*local_sense;
    *local_sense = s;
    if (__atomic_sub_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == 0) {
        __atomic_store_n(&b->count, b->n, __ATOMIC_RELAXED);
        __atomic_store_n(&b->sense, s, __ATOMIC_RELEASE);
    } else {
        unsigned spins = 0;
        while (__atomic_load_n(&b->sense, __ATOMIC_ACQUIRE) != s) {
            if (++spins > 4000u) sched_yield();
#if defined(__x86_64__) || defined(__i386__)
            else __builtin_ia32_pause();
#endif
        }
    }
}

/* ------------------------------------------------------------------ engine */
typedef struct {
    int64_t start, end; /* neurons */
    int64_t brain;
    int32_t pid;
    /* per optional variable SF_KEPT_*: neuron i's element is at base + koff + i (its array holds
       only the neurons of the parameter sets that keep it, sf_net.pid_keeps); SF_NOT_KEPT when this
       segment's population does not keep it */
    int64_t koff[SF_N_KEPT];
} sf_segment;
/* (SF_NOT_KEPT: plasticity.h) */

/* Neuron-indexed pointer to segment sg's part of optional array `base` (variable j), or NULL when
   the segment's population does not keep it or no population does (+0 for every neuron there). */
static inline float *kept_f(float *base, const sf_segment *sg, int j) {
    return base && sg->koff[j] != SF_NOT_KEPT ? base + sg->koff[j] : NULL;
}
static inline int32_t *kept_i(int32_t *base, const sf_segment *sg, int j) {
    return base && sg->koff[j] != SF_NOT_KEPT ? base + sg->koff[j] : NULL;
}

typedef struct {
    int64_t seg;        /* index into the active segment list */
    int64_t lo, hi;     /* neuron sub-range */
} sf_piece;

typedef struct {
    int32_t *spk;       /* spiking neurons, all steps of the advance */
    int32_t *sb;        /* slot base (step % depth) of each spike */
    int32_t *br;        /* brain of each spike */
    int64_t len, cap;
    int64_t *step_off;  /* n_steps + 1 */
    int64_t step_cap;
    sf_piece *pieces;
    int64_t n_pieces, pieces_cap;
    int64_t bm0, bm1;   /* brain-major mode: this thread's brains */
    int64_t *boff;      /* brain-major mode: per active brain and step, its spikes' start and end in spk */
    int64_t boff_cap;
    float *bgn;         /* background noise current of the segment being updated (per neuron) */
    int32_t *bgp;       /* background Poisson event flags of that segment */
    int64_t bg_cap;
    float *zs;          /* SF_ABSENT_VARS x SF_ABSENT_CHUNK: stands in for state the layout does not store */
    int sense;
    int oom;
} sf_thread_buf;

struct sf_job;
struct sf_worker_arg;

struct sf_engine {
    int max_threads;
    int threads;
    int last_threads;
    int64_t min_per_thread;
    int bm_group; /* brain-major: brains interleaved per step (run_thread_bm) */
    int int32_tables; /* build poff, prow and in_pair where they fit (sf_engine_set_int32_tables) */
    /* derived tables */
    sf_segment *segs;
    int64_t n_segs;
    int64_t *gap_brain;
    int64_t n_gap;
    int32_t *gap_acc;
    int32_t *flags;
    int64_t n_neurons;
    int has_mod; /* some row targets the modulator channel (or the ring holds some) */
    const sf_loops *loops; /* the vectorized loops of the widest instruction set allowed (sf_loops_pick) */
    uint8_t *seg_inert; /* per segment, this advance: SEG_* flags */
    int local_ok;     /* every synapse and gap junction stays inside its brain (plastic ones always do) */
    int64_t *gap_ptr;  /* n_brains + 1 (gap junctions sorted by brain), when local_ok */
    int64_t *bseg_ptr; /* n_brains + 1: segments of each brain */
    int64_t *active_segs;
    int64_t *active_cum;
    sf_rs_runs rs_runs; /* reward-STDP synapse ranges per brain (plasticity.h) */
    sf_lstate ls;       /* where each brain's learning state is (plasticity.h) */
    /* per synapse, its ring offset from the spike's slot base, (row_delay * 3 + row_chan) * N
       + post (NULL when (depth + 1) * 3 * N does not fit in int32 or the int32 tables are switched
       off, sf_engine_set_int32_tables: then propagate walks rows) */
    int32_t *poff;
    int64_t *nsyn; /* per neuron (n + 1), its first synapse: row_syn[row_ptr[i]] (one dependent load less
                      per spike in propagate; brain-major prefetches a brain's range of it) */
    int32_t *pre_cls; /* per neuron, how P5a treats its rows (sf_pre_class_build); NULL without learning */
    int32_t *post_cls; /* per neuron, how P5b treats its inputs (sf_post_class_build); NULL without learning */
    uint32_t *in_pair; /* 2 per incoming entry: in_syn and brain-local in_pre | in_proj << 16 (sf_in_pair_fill);
                          NULL without learning, where an entry does not fit (plasticity.h) or with
                          the int32 tables switched off */
    uint32_t *dmask;   /* per neuron, the delays its rows depress at delivery (sf_deliver_mask_build);
                          NULL without learning */
    int32_t *prow;     /* 4 per row: int32 (first synapse, end, ring offset, projection) (sf_pre_rows_fill);
                          with poff when learning and the rows and synapses fit in int32, else NULL */
    int32_t *rptr;     /* per neuron (n + 1): int32 row_ptr; with prow */
    int64_t prow_n;    /* row_ptr[n] when prow was filled */
    const int64_t *prow_src; /* row_syn when prow was filled (a splice makes new arrays) */
    int64_t prow_syn;  /* n_synapses when prow was filled */
    int64_t in_pair_n;             /* plast.n_in when in_pair was filled */
    const int64_t *in_pair_src;    /* plast.in_syn when in_pair was filled */
    /* threads */
    sf_thread_buf *tb;
    pthread_t *th;
    int n_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t gen;
    int stop;
    struct sf_job *job;
    int job_threads;
    sf_barrier bar;
    struct sf_worker_arg *args;
    /* output */
    int64_t *out_steps;
    int32_t *out_neurons;
    int64_t out_len, out_cap;
    char err[256];
};

typedef struct sf_job {
    sf_engine *e;
    sf_net *net;
    const uint8_t *active;
    int64_t n_steps;
    int threads;
    int sense0;
    int brain_major;
} sf_job;

static void set_err(sf_engine *e, const char *msg) {
    snprintf(e->err, sizeof e->err, "%s", msg);
}

const char *sf_engine_error(const sf_engine *e) { return e->err; }

/* The loops of the widest instruction set the CPU runs, no wider than cap (0 baseline, 1 AVX2,
   2 AVX-512F): the same test GCC's target_clones resolver makes (CPU and OS support). */
static const sf_loops *loops_pick(int cap) {
#if SF_ISA_VARIANTS
    __builtin_cpu_init();
    if (cap >= 2 && __builtin_cpu_supports("avx512f")) return &sf_loops_avx512f;
    if (cap >= 1 && __builtin_cpu_supports("avx2")) return &sf_loops_avx2;
#endif
    (void)cap;
    return &sf_loops_base;
}

int sf_engine_set_isa(sf_engine *e, const char *isa) {
    static const char *const names[3] = {"baseline", "avx2", "avx512f"};
    for (int cap = 0; cap < 3; cap++) {
        if (isa && strcmp(isa, names[cap]) == 0) {
            e->loops = loops_pick(cap);
            return 0;
        }
    }
    set_err(e, "isa: expected \"baseline\", \"avx2\" or \"avx512f\"");
    return -1;
}

const char *sf_engine_isa(const sf_engine *e) { return e->loops->isa; }

static void *worker_main(void *arg);

sf_engine *sf_engine_new(int max_threads) {
    sf_engine *e = (sf_engine *)calloc(1, sizeof *e);
    if (!e) return NULL;
    if (max_threads < 1) max_threads = 1;
    if (max_threads > 256) max_threads = 256;
    e->max_threads = max_threads;
    e->threads = max_threads;
    e->n_started = 1;
    e->min_per_thread = 32768;
    e->bm_group = SF_BM_GROUP;
    e->int32_tables = 1;
    e->loops = loops_pick(2);
    e->tb = (sf_thread_buf *)calloc((size_t)max_threads, sizeof *e->tb);
    e->th = (pthread_t *)calloc((size_t)max_threads, sizeof *e->th);
    if (!e->tb || !e->th) {
        free(e->tb);
        free(e->th);
        free(e);
        return NULL;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->bar.n = 1;
    e->bar.count = 1;
    return e;
}

static void stop_workers(sf_engine *e) {
    pthread_mutex_lock(&e->mu);
    e->stop = 1;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    for (int i = 1; i < e->n_started; i++) pthread_join(e->th[i], NULL);
    e->n_started = 1;
}

void sf_engine_free(sf_engine *e) {
    if (!e) return;
    if (e->n_started > 1) stop_workers(e);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    for (int t = 0; t < e->max_threads; t++) {
        free(e->tb[t].spk);
        free(e->tb[t].sb);
        free(e->tb[t].br);
        free(e->tb[t].step_off);
        free(e->tb[t].pieces);
        free(e->tb[t].boff);
        free(e->tb[t].bgn);
        free(e->tb[t].bgp);
        free(e->tb[t].zs);
    }
    free(e->tb);
    free(e->th);
    free(e->args);
    free(e->segs);
    free(e->gap_brain);
    free(e->gap_acc);
    free(e->flags);
    free(e->active_segs);
    free(e->active_cum);
    free(e->gap_ptr);
    free(e->bseg_ptr);
    free(e->seg_inert);
    sf_rs_runs_free(&e->rs_runs);
    free(e->ls.lsh);
    free(e->ls.hsh);
    free(e->poff);
    free(e->nsyn);
    free(e->pre_cls);
    free(e->post_cls);
    free(e->in_pair);
    free(e->dmask);
    free(e->prow);
    free(e->rptr);
    free(e->out_steps);
    free(e->out_neurons);
    free(e);
}

void sf_engine_set_threads(sf_engine *e, int threads, int64_t min_neurons_per_thread) {
    if (threads < 1) threads = 1;
    if (threads > e->max_threads) threads = e->max_threads;
    e->threads = threads;
    e->min_per_thread = min_neurons_per_thread < 1 ? 1 : min_neurons_per_thread;
}

int sf_engine_threads(const sf_engine *e) { return e->threads; }
int sf_engine_last_threads(const sf_engine *e) { return e->last_threads; }

/* ------------------------------------------------------------------ prepare */
/* e->poff of the synapses of neurons n0..n1 (their rows' delay and channel, their post). */
static void poff_fill(sf_engine *e, const sf_net *net, int64_t n0, int64_t n1) {
    const int64_t N = net->n_neurons;
    for (int64_t r = net->row_ptr[n0]; r < net->row_ptr[n1]; r++) {
        const int64_t o = ((int64_t)net->row_delay[r] * 3 + net->row_chan[r]) * N;
        for (int64_t y = net->row_syn[r]; y < net->row_syn[r + 1]; y++) e->poff[y] = (int32_t)(o + net->post[y]);
    }
}

/* e->prow and e->rptr of every neuron (with poff, when learning and the rows and synapses
   fit in int32), 0 = ok. */
static int pre_rows_build(sf_engine *e, const sf_net *net) {
    free(e->prow);
    free(e->rptr);
    e->prow = NULL;
    e->rptr = NULL;
    const int64_t nr = net->row_ptr[net->n_neurons];
    if (!net->plast.enabled || !e->poff || nr > INT32_MAX || net->n_synapses > INT32_MAX ||
        net->n_proj > INT32_MAX)
        return 0;
    e->prow = (int32_t *)malloc((size_t)(nr + 1) * 4 * sizeof(int32_t));
    e->rptr = (int32_t *)malloc((size_t)(net->n_neurons + 1) * sizeof(int32_t));
    if (!e->prow || !e->rptr) {
        free(e->prow);
        free(e->rptr);
        e->prow = NULL;
        e->rptr = NULL;
        return -1;
    }
    sf_pre_rows_fill(e->prow, e->rptr, net, 0, net->n_neurons);
    e->prow_n = nr;
    e->prow_src = net->row_syn;
    e->prow_syn = net->n_synapses;
    return 0;
}

/* e->in_pair of every neuron (NULL where an entry does not fit: P5b then goes entry by entry),
   0 = ok. */
static int in_pair_build(sf_engine *e, const sf_net *net) {
    free(e->in_pair);
    e->in_pair = NULL;
    if (!net->plast.enabled || net->n_synapses > INT32_MAX || !e->int32_tables) return 0;
    e->in_pair = (uint32_t *)malloc((size_t)(net->plast.n_in + 1) * 2 * sizeof(uint32_t));
    if (!e->in_pair) return -1;
    if (sf_in_pair_fill(e->in_pair, net, 0, net->n_neurons) != 0) {
        free(e->in_pair);
        e->in_pair = NULL;
    }
    e->in_pair_n = net->plast.n_in;
    e->in_pair_src = net->plast.in_syn;
    return 0;
}

int sf_engine_prepare(sf_engine *e, const sf_net *net) {
    int64_t n = net->n_neurons, nb = net->n_brains;
    free(e->segs);
    free(e->gap_brain);
    free(e->gap_acc);
    free(e->flags);
    free(e->active_segs);
    free(e->active_cum);
    free(e->gap_ptr);
    free(e->bseg_ptr);
    free(e->seg_inert);
    free(e->poff);
    free(e->nsyn);
    free(e->pre_cls);
    free(e->post_cls);
    free(e->in_pair);
    free(e->dmask);
    free(e->prow);
    free(e->rptr);
    free(e->ls.lsh);
    free(e->ls.hsh);
    e->ls.lsh = NULL;
    e->ls.hsh = NULL;
    e->prow = NULL;
    e->rptr = NULL;
    e->poff = NULL;
    e->nsyn = NULL;
    e->pre_cls = NULL;
    e->post_cls = NULL;
    e->in_pair = NULL;
    e->dmask = NULL;
    e->seg_inert = NULL;
    e->gap_ptr = NULL;
    e->bseg_ptr = NULL;
    e->segs = NULL;
    e->gap_brain = NULL;
    e->gap_acc = NULL;
    e->flags = NULL;
    e->active_segs = NULL;
    e->active_cum = NULL;
    e->n_segs = 0;
    e->n_neurons = n;
    e->n_gap = net->n_gap;
    int64_t cap = 16;
    e->segs = (sf_segment *)malloc((size_t)cap * sizeof *e->segs);
    if (!e->segs) goto oom;
    for (int64_t b = 0; b < nb; b++) {
        for (int64_t i = net->brain_start[b]; i < net->brain_start[b + 1]; i++) {
            if (i == net->brain_start[b] || net->pid[i] != net->pid[i - 1]) {
                if (e->n_segs == cap) {
                    cap *= 2;
                    sf_segment *s2 = (sf_segment *)realloc(e->segs, (size_t)cap * sizeof *e->segs);
                    if (!s2) goto oom;
                    e->segs = s2;
                }
                sf_segment *s = &e->segs[e->n_segs++];
                s->start = i;
                s->brain = b;
                s->pid = net->pid[i];
            }
            e->segs[e->n_segs - 1].end = i + 1;
        }
    }
    {   /* where each segment's neurons are in the per-population arrays: runs in neuron order */
        int64_t at[SF_N_KEPT] = {0};
        for (int64_t q = 0; q < e->n_segs; q++) {
            sf_segment *sg = &e->segs[q];
            const unsigned keeps = net->pid_keeps ? net->pid_keeps[sg->pid] : 0xFFFFu;
            for (int j = 0; j < SF_N_KEPT; j++) {
                if ((keeps >> j) & 1u) {
                    sg->koff[j] = at[j] - sg->start;
                    at[j] += sg->end - sg->start;
                } else {
                    sg->koff[j] = SF_NOT_KEPT;
                }
            }
        }
    }
    e->gap_brain = (int64_t *)calloc((size_t)(net->n_gap + 1), sizeof *e->gap_brain);
    e->gap_acc = (int32_t *)calloc((size_t)(n + 1), sizeof *e->gap_acc);
    e->flags = (int32_t *)calloc((size_t)(n + 1), sizeof(int32_t));
    e->active_segs = (int64_t *)calloc((size_t)(e->n_segs + 1), sizeof *e->active_segs);
    e->active_cum = (int64_t *)calloc((size_t)(e->n_segs + 2), sizeof *e->active_cum);
    if (!e->gap_brain || !e->gap_acc || !e->flags || !e->active_segs || !e->active_cum) goto oom;
    e->has_mod = 0;
    for (int64_t r = 0; r < net->n_rows && !e->has_mod; r++) e->has_mod = net->row_chan[r] == 2;
    for (int64_t d = 0; d < net->depth && !e->has_mod; d++)
        for (int64_t i = 0; i < n && !e->has_mod; i++) e->has_mod = net->ring[((size_t)d * 3 + 2) * (size_t)n + i] != 0;
    for (int64_t g = 0; g < net->n_gap; g++) {
        int64_t a = net->gap_a[g], lo = 0, hi = nb; /* last brain with start <= a */
        while (hi - lo > 1) {
            int64_t mid = (lo + hi) / 2;
            if (net->brain_start[mid] <= a) lo = mid;
            else hi = mid;
        }
        e->gap_brain[g] = lo;
    }
    /* brain-major mode needs brains that never touch each other */
    e->gap_ptr = (int64_t *)calloc((size_t)(nb + 1), sizeof *e->gap_ptr);
    e->bseg_ptr = (int64_t *)calloc((size_t)(nb + 1), sizeof *e->bseg_ptr);
    e->seg_inert = (uint8_t *)calloc((size_t)(e->n_segs + 1), 1);
    if (!e->gap_ptr || !e->bseg_ptr || !e->seg_inert) goto oom;
    for (int64_t q = 0, b = 0; b <= nb; b++) {
        while (q < e->n_segs && e->segs[q].brain < b) q++;
        e->bseg_ptr[b] = q;
    }
    if (sf_rs_runs_build(&e->rs_runs, net) != 0) goto oom;
    /* each brain's shift into the learning arrays: its segments all keep them, at one shift, or
       none does (sf_plast_validate: a circuit's populations keep them all or none) */
    e->ls.lsh = (int64_t *)malloc((size_t)(nb + 1) * sizeof(int64_t));
    e->ls.hsh = (int64_t *)malloc((size_t)(nb + 1) * sizeof(int64_t));
    if (!e->ls.lsh || !e->ls.hsh) goto oom;
    for (int64_t b = 0; b < nb; b++) {
        const int64_t q0 = e->bseg_ptr[b], q1 = e->bseg_ptr[b + 1];
        e->ls.lsh[b] = q0 < q1 ? e->segs[q0].koff[SF_KEPT_XPRE] : SF_NOT_KEPT;
        e->ls.hsh[b] = q0 < q1 ? e->segs[q0].koff[SF_KEPT_SHIST] : SF_NOT_KEPT;
    }
    e->nsyn = (int64_t *)malloc((size_t)(n + 1) * sizeof(int64_t));
    if (!e->nsyn) goto oom;
    for (int64_t i = 0; i <= n; i++) e->nsyn[i] = net->row_syn[net->row_ptr[i]];
    if (((int64_t)net->depth + 1) * 3 * n <= INT32_MAX && e->int32_tables) {
        e->poff = (int32_t *)malloc((size_t)(net->n_synapses + 1) * sizeof(int32_t));
        if (!e->poff) goto oom;
        poff_fill(e, net, 0, n);
    }
    if (net->plast.enabled) {
        e->pre_cls = (int32_t *)malloc((size_t)(n + 1) * sizeof(int32_t));
        e->post_cls = (int32_t *)malloc((size_t)(n + 1) * sizeof(int32_t));
        e->dmask = (uint32_t *)malloc((size_t)(n + 1) * sizeof(uint32_t));
        if (!e->pre_cls || !e->post_cls || !e->dmask) goto oom;
        sf_pre_class_build(e->pre_cls, net, 0, n);
        sf_post_class_build(e->post_cls, net, 0, n);
        sf_deliver_mask_build(e->dmask, net, 0, n);
        if (in_pair_build(e, net) != 0) goto oom;
        if (pre_rows_build(e, net) != 0) goto oom;
    }
    e->local_ok = 1;
    for (int64_t b = 0; b < nb && e->local_ok; b++) {
        int64_t s0 = net->brain_start[b], s1 = net->brain_start[b + 1];
        for (int64_t y = net->row_syn[net->row_ptr[s0]]; y < net->row_syn[net->row_ptr[s1]]; y++)
            if (net->post[y] < s0 || net->post[y] >= s1) { e->local_ok = 0; break; }
    }
    for (int64_t g = 0; g < net->n_gap && e->local_ok; g++) {
        int64_t b = e->gap_brain[g];
        if ((g > 0 && b < e->gap_brain[g - 1]) || net->gap_b[g] < net->brain_start[b] ||
            net->gap_b[g] >= net->brain_start[b + 1])
            e->local_ok = 0;
    }
    if (e->local_ok) {
        for (int64_t q = 0, b = 0; b <= nb; b++) {
            while (q < net->n_gap && e->gap_brain[q] < b) q++;
            e->gap_ptr[b] = q;
        }
    }
    /* (plastic synapses never leave their brain: sf_plast_validate) */
    /* (a stand-in is needed wherever a population does not keep one of them: always allocated) */
    for (int t = 0; t < e->max_threads; t++)
        if (!e->tb[t].zs) {
            e->tb[t].zs = (float *)malloc((size_t)SF_ABSENT_VARS * SF_ABSENT_CHUNK * sizeof(float));
            if (!e->tb[t].zs) goto oom;
        }
    e->err[0] = 0;
    return 0;
oom:
    set_err(e, "out of memory while preparing the native engine");
    return -1;
}

void sf_engine_set_int32_tables(sf_engine *e, int on) {
    if (e) e->int32_tables = on != 0;
}

int64_t sf_engine_kept_index(const sf_engine *e, int32_t var, int64_t neuron) {
    if (!e || !e->segs || var < 0 || var >= SF_N_KEPT || neuron < 0 || neuron >= e->n_neurons) return -1;
    int64_t lo = 0, hi = e->n_segs; /* the last segment starting at or before the neuron */
    while (hi - lo > 1) {
        const int64_t mid = (lo + hi) / 2;
        if (e->segs[mid].start <= neuron) lo = mid;
        else hi = mid;
    }
    const int64_t off = e->segs[lo].koff[var];
    return off == SF_NOT_KEPT ? -1 : neuron + off;
}

int sf_engine_slots_written(sf_engine *e, const sf_net *net, const int64_t *slots, int64_t n_slots) {
    /* A slot write keeps the slot's neurons, parameter sets (so the segments) and row and
       synapse ranges, and its synapses stay inside it (so local_ok holds as before); what
       can change is whether a modulatory row exists, the slot's reward-STDP runs, its
       synapses' ring offsets (poff) and its neurons' P5a and P5b classes. */
    const int64_t n = net->n_neurons;
    if (n != e->n_neurons || !e->segs) {
        set_err(e, "engine: not prepared for this net (call sf_engine_prepare first)");
        return -1;
    }
    for (int64_t k = 0; k < n_slots; k++) {
        const int64_t b = slots[k];
        if (b < 0 || b >= net->n_brains) {
            set_err(e, "slots: brain index out of range");
            return -1;
        }
        const int64_t s0 = net->brain_start[b], s1 = net->brain_start[b + 1];
        for (int64_t r = net->row_ptr[s0]; r < net->row_ptr[s1] && !e->has_mod; r++) e->has_mod = net->row_chan[r] == 2;
        for (int64_t d = 0; d < net->depth && !e->has_mod; d++)
            for (int64_t i = s0; i < s1 && !e->has_mod; i++)
                e->has_mod = net->ring[((size_t)d * 3 + 2) * (size_t)n + i] != 0;
        if (e->poff) poff_fill(e, net, s0, s1);
        for (int64_t i = s0; i <= s1; i++) e->nsyn[i] = net->row_syn[net->row_ptr[i]];
        if (e->pre_cls) sf_pre_class_build(e->pre_cls, net, s0, s1);
        if (e->post_cls) sf_post_class_build(e->post_cls, net, s0, s1);
        if (e->dmask) sf_deliver_mask_build(e->dmask, net, s0, s1);
        /* the incoming tables were spliced (new arrays, entries of every brain moved): all
           pairs again; written in place: the slot's entries */
        if (e->in_pair && (net->plast.in_syn != e->in_pair_src || net->plast.n_in != e->in_pair_n)) {
            if (in_pair_build(e, net) != 0) {
                set_err(e, "out of memory while updating the native engine");
                return -1;
            }
        } else if (e->in_pair && sf_in_pair_fill(e->in_pair, net, s0, s1) != 0) {
            free(e->in_pair); /* an entry that does not fit: P5b entry by entry from now on */
            e->in_pair = NULL;
        }
        /* a slot with another row or synapse count moved every later brain's rows: all rows again */
        if (e->prow && (net->row_ptr[n] != e->prow_n || net->row_syn != e->prow_src ||
                        net->n_synapses != e->prow_syn)) {
            if (pre_rows_build(e, net) != 0) {
                set_err(e, "out of memory while updating the native engine");
                return -1;
            }
        } else if (e->prow) {
            sf_pre_rows_fill(e->prow, e->rptr, net, s0, s1);
        }
        if (net->plast.enabled && net->plast.any_rstdp && sf_rs_runs_update(&e->rs_runs, net, b) != 0) {
            set_err(e, "out of memory while updating the native engine");
            return -1;
        }
    }
    e->err[0] = 0;
    return 0;
}

/* ------------------------------------------------------------------ organs */
static inline float clip_sensor(float x, float lo, float hi) {
    x = x >= lo ? x : lo;
    return x <= hi ? x : hi;
}

static inline float gauss_lookup(const float *lut, float z) {
    float t = z * 64.0f;
    int inside = t < (float)(SF_GAUSS_LUT_SIZE - 1);
    t = inside ? t : 0.0f;
    int i = (int)floorf(t);
    float frac = t - (float)i;
    float a = lut[i], b = lut[i + 1];
    float g = a + (b - a) * frac;
    return inside ? g : 0.0f;
}

static void encode_sensors(sf_net *net, const uint8_t *active) {
    double dt_s = net->dt_ms / 1000.0;
    for (int32_t gi = 0; gi < net->n_sensor_groups; gi++) {
        const sf_organ *g = &net->sensor_groups[gi];
        float lo = (float)g->low, hi = (float)g->high;
        float rate_dt = (float)(g->rate * dt_s);
        float inv_range = (float)(1.0 / (g->high - g->low));
        float gain = (float)g->gain;
        float ginv = (float)(1.0 / (g->sigma * (g->high - g->low)));
        int32_t m = g->per_chan;
        for (int64_t r = 0; r < g->brains; r++) {
            int64_t b = g->brain0 + r;
            if (active && !active[b]) continue;
            float *vals = net->sensor_values + g->offset + r * g->channels;
            int64_t base = net->brain_start[b] + g->pop_offset;
            for (int32_t c = 0; c < g->channels; c++) {
                float x = vals[c];
                for (int32_t j = 0; j < m; j++) {
                    int64_t i = base + (int64_t)c * m + j;
                    if (g->kind == SF_SENSOR_EVENT) {
                        net->force_once[i] = x >= 0.5f ? 1 : 0;
                        continue;
                    }
                    float xc = clip_sensor(x, lo, hi);
                    if (g->kind == SF_SENSOR_CURRENT) {
                        net->iext[i] = gain * xc;
                    } else if (g->kind == SF_SENSOR_POISSON) {
                        net->pforce[i] = ((xc - lo) * inv_range) * rate_dt;
                    } else {
                        double prefd = m == 1 ? 0.5 * (g->low + g->high)
                                              : g->low + ((double)j * (g->high - g->low)) / (double)(m - 1);
                        float pref = (float)prefd;
                        net->pforce[i] = rate_dt * gauss_lookup(net->gauss_lut, fabsf(xc - pref) * ginv);
                    }
                }
            }
            if (g->kind == SF_SENSOR_EVENT)
                for (int32_t c = 0; c < g->channels; c++) vals[c] = 0.0f;
        }
    }
}

static void reset_actuators(sf_net *net, const uint8_t *active) {
    for (int32_t gi = 0; gi < net->n_actuator_groups; gi++) {
        const sf_organ *g = &net->actuator_groups[gi];
        for (int64_t r = 0; r < g->brains; r++) {
            if (active && !active[g->brain0 + r]) continue;
            memset(net->act_counts + g->offset + r * g->channels, 0, (size_t)g->channels * sizeof(int32_t));
        }
    }
}

static void decode_actuators(sf_net *net, int64_t n_steps, const uint8_t *active) {
    double dt_s = net->dt_ms / 1000.0;
    for (int32_t gi = 0; gi < net->n_actuator_groups; gi++) {
        const sf_organ *g = &net->actuator_groups[gi];
        float mid = (float)(0.5 * (g->low + g->high));
        float scale = (float)(1.0 / ((double)((int64_t)g->per_chan * n_steps) * dt_s));
        for (int64_t r = 0; r < g->brains; r++) {
            if (active && !active[g->brain0 + r]) continue;
            const int32_t *cnt = net->act_counts + g->offset + r * g->channels;
            float *out = net->act_out + g->out_offset + r * g->width;
            if (g->kind == SF_ACT_RATE) {
                for (int32_t c = 0; c < g->channels; c++) out[c] = (float)cnt[c] * scale;
            } else if (g->kind == SF_ACT_POPVEC) {
                float num = 0.0f, den = 0.0f;
                for (int32_t c = 0; c < g->channels; c++) {
                    double pd = g->channels == 1 ? 0.5 * (g->low + g->high)
                                                 : g->low + ((double)c * (g->high - g->low)) / (double)(g->channels - 1);
                    float cf = (float)cnt[c];
                    num = num + cf * (float)pd;
                    den = den + cf;
                }
                float safe = den > 0.0f ? den : 1.0f;
                out[0] = den > 0.0f ? num / safe : mid;
            } else {
                int32_t best = 0;
                for (int32_t c = 1; c < g->channels; c++)
                    if (cnt[c] > cnt[best]) best = c;
                out[0] = cnt[best] > 0 ? (float)best : -1.0f;
            }
        }
    }
}

/* ------------------------------------------------------------------ step */
static int grow_spikes(sf_thread_buf *tb, int64_t need) {
    if (need <= tb->cap) return 0;
    int64_t cap = tb->cap ? tb->cap : 1024;
    while (cap < need) cap *= 2;
    int32_t *a = (int32_t *)realloc(tb->spk, (size_t)cap * sizeof(int32_t));
    if (!a) return -1;
    tb->spk = a;
    int32_t *b = (int32_t *)realloc(tb->sb, (size_t)cap * sizeof(int32_t));
    if (!b) return -1;
    tb->sb = b;
    int32_t *c = (int32_t *)realloc(tb->br, (size_t)cap * sizeof(int32_t));
    if (!c) return -1;
    tb->br = c;
    tb->cap = cap;
    return 0;
}

/* The vectorized neuron loops (loops_impl.h, one table per instruction set: loops.h). */


static int bits_are(const float *restrict x, int64_t lo, int64_t hi, uint32_t bits) {
    int bad = 0;
    for (int64_t i = lo; i < hi; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        bad |= u != bits;
    }
    return !bad;
}

static int all_zero_i32(const int32_t *restrict x, int64_t lo, int64_t hi) {
    int bad = 0;
    for (int64_t i = lo; i < hi; i++) bad |= x[i] != 0;
    return !bad;
}

/* x[lo..hi) all +0 (bit for bit), or x not stored (NULL: +0 for every neuron, see absent_state) */
static int zero_f(const float *restrict x, int64_t lo, int64_t hi) { return !x || bits_are(x, lo, hi, 0u); }
static int zero_i32(const int32_t *restrict x, int64_t lo, int64_t hi) { return !x || all_zero_i32(x, lo, hi); }

/* Is segment sg inert for the lean variant (parameters and current state)? */
static int seg_inert(const sf_engine *e, const sf_net *net, const sf_segment *sg) {
    const float *fp = net->fparams + (size_t)sg->pid * SF_NF;
    const int32_t *ip = net->iparams + (size_t)sg->pid * SF_NI;
    uint32_t vth_bits;
    memcpy(&vth_bits, &fp[SF_F_VTHRESH], 4);
    if (ip[SF_I_MODEL] != SF_MODEL_LIF || fp[SF_F_BURST_INV] != 0.0f || fp[SF_F_PWW] != 1.0f ||
        fp[SF_F_WJUMP] != 0.0f || fp[SF_F_PVW] != 0.0f || fp[SF_F_PTH] != 1.0f || fp[SF_F_THJUMP] != 0.0f ||
        fp[SF_F_PMOD] != 1.0f || fp[SF_F_MODGAIN] != 0.0f || vth_bits == 0x80000000u || e->n_gap > 0 ||
        e->has_mod)
        return 0;
    return zero_f(kept_f(net->w, sg, SF_KEPT_W), sg->start, sg->end) &&
           zero_f(kept_f(net->theta, sg, SF_KEPT_THETA), sg->start, sg->end) &&
           zero_f(kept_f(net->mod, sg, SF_KEPT_MOD), sg->start, sg->end) &&
           zero_i32(kept_i(net->burst, sg, SF_KEPT_BURST), sg->start, sg->end);
}

/* Is segment sg inert but for w (the model's own lean variant: theta, mod, burst untouched)? */
static int seg_leanw(const sf_engine *e, const sf_net *net, const sf_segment *sg) {
    const float *fp = net->fparams + (size_t)sg->pid * SF_NF;
    uint32_t vth_bits;
    memcpy(&vth_bits, &fp[SF_F_VTHRESH], 4);
    if (fp[SF_F_BURST_INV] != 0.0f || fp[SF_F_PTH] != 1.0f || fp[SF_F_THJUMP] != 0.0f || fp[SF_F_PMOD] != 1.0f ||
        fp[SF_F_MODGAIN] != 0.0f || vth_bits == 0x80000000u || e->n_gap > 0 || e->has_mod)
        return 0;
    return zero_f(kept_f(net->theta, sg, SF_KEPT_THETA), sg->start, sg->end) &&
           zero_f(kept_f(net->mod, sg, SF_KEPT_MOD), sg->start, sg->end) &&
           zero_i32(kept_i(net->burst, sg, SF_KEPT_BURST), sg->start, sg->end);
}

/* No value in x[lo..hi) is -0.0 or NaN (then x + +0.0 is x, bit for bit). */
static int msum_plain(const float *restrict x, int64_t lo, int64_t hi) {
    int bad = 0;
    for (int64_t i = lo; i < hi; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        bad |= (u == 0x80000000u) | ((u & 0x7FFFFFFFu) > 0x7F800000u);
    }
    return !bad;
}

static int any_nonzero_u8(const uint8_t *restrict x, int64_t lo, int64_t hi) {
    int any = 0;
    for (int64_t i = lo; i < hi; i++) any |= x[i];
    return any != 0;
}

static int any_positive(const float *restrict x, int64_t lo, int64_t hi) {
    int any = 0;
    for (int64_t i = lo; i < hi; i++) any |= x[i] > 0.0f;
    return any;
}

/* The SEG_* facts of segment q that hold for a whole advance, in e->seg_inert[q]: pforce and
   force_once change only in encode_sensors (before the steps) and the kernel only clears
   force_once; inert state stays inert. */
static void seg_facts(sf_engine *e, const sf_net *net, int64_t q) {
    const sf_segment *sg = &e->segs[q];
    const int inert = seg_inert(e, net, sg);
    const int leanw = !inert && seg_leanw(e, net, sg);
    /* inert and lean segments keep mod at +0 for the whole advance and P7 resets msum to
       +0, so P2 (msum + mod) leaves every msum as it is when none is -0 or NaN now */
    const float *ms = kept_f(net->plast.msum, sg, SF_KEPT_MSUM);
    const int msum_same = (inert || leanw) && PLEN(net) && ms && msum_plain(ms, sg->start, sg->end);
    const int32_t *ipq = net->iparams + (size_t)sg->pid * SF_NI;
    /* a spike sets hold to the refractory steps (0), or to the snooze after a limit hit
       (never without a limit), and hold > 0 is the only way to be held: hold stays 0 */
    const int nohold =
        ipq[SF_I_REF_STEPS] == 0 && ipq[SF_I_CONSEC] <= 0 && all_zero_i32(net->hold, sg->start, sg->end);
    /* the next segment runs with this one when every parameter its neurons' step reads (neuron
       rows, and the plasticity row with learning) is the same: the loops are per neuron, and their
       draws are keyed by the neuron's place in its brain, not in its segment */
    const sf_segment *nx = sg + 1;
    /* (and the same places in the per-population arrays: the same koff, one pointer for both) */
    const int join = q + 1 < e->n_segs && nx->brain == sg->brain && nx->start == sg->end &&
                     memcmp(nx->koff, sg->koff, sizeof sg->koff) == 0 &&
                     (nx->pid == sg->pid ||
                      (memcmp(net->fparams + (size_t)sg->pid * SF_NF, net->fparams + (size_t)nx->pid * SF_NF,
                              SF_NF * sizeof(float)) == 0 &&
                       memcmp(net->iparams + (size_t)sg->pid * SF_NI, net->iparams + (size_t)nx->pid * SF_NI,
                              SF_NI * sizeof(int32_t)) == 0 &&
                       (!PLEN(net) || memcmp(net->plast.pid_f + (size_t)sg->pid * SF_NPP,
                                             net->plast.pid_f + (size_t)nx->pid * SF_NPP,
                                             SF_NPP * sizeof(float)) == 0)));
    e->seg_inert[q] = (uint8_t)((join ? SEG_JOIN : 0) | (inert ? SEG_INERT : 0) | (leanw ? SEG_LEANW : 0) |
                                (msum_same ? SEG_MSUM : 0) |
                                (nohold ? SEG_NOHOLD : 0) |
                                (bits_are(net->iext, sg->start, sg->end, 0u) ? SEG_NOEXT : 0) |
                                (any_positive(net->pforce, sg->start, sg->end) ? SEG_PFORCE : 0) |
                                (any_nonzero_u8(net->force_once, sg->start, sg->end) ? SEG_EVENT : 0));
}

/* Update neurons lo..hi of one parameter-set run; returns spikes appended. */
/* learn_neurons and bg_fill, vectorized, are in loops_impl.h too. */

static int grow_bg(sf_thread_buf *tb, int64_t need) {
    if (need <= tb->bg_cap) return 0;
    int64_t cap = tb->bg_cap ? tb->bg_cap : 256;
    while (cap < need) cap *= 2;
    float *a = (float *)realloc(tb->bgn, (size_t)cap * sizeof(float));
    if (!a) return -1;
    tb->bgn = a;
    int32_t *b = (int32_t *)realloc(tb->bgp, (size_t)cap * sizeof(int32_t));
    if (!b) return -1;
    tb->bgp = b;
    tb->bg_cap = cap;
    return 0;
}

/* Update neurons lo..hi of segment sg at the brain's step bstep (ring slot sb = bstep % depth).
   With defer (brain-major order), the spike flags are left in e->flags for the caller to
   collect once for the whole brain; otherwise this piece's spikes are appended to tb. */
static void update_piece(sf_engine *e, sf_net *net, const sf_segment *sg, int64_t lo, int64_t hi, int64_t bstep,
                         int32_t sb, uint8_t segf, int defer, sf_thread_buf *tb) {
    const int64_t N = net->n_neurons;
    const int64_t b = sg->brain;
    int32_t *restrict r0 = net->ring + ((size_t)sb * 3 + 0) * (size_t)N;
    int32_t *restrict r1 = net->ring + ((size_t)sb * 3 + 1) * (size_t)N;
    int32_t *restrict r2 = net->ring + ((size_t)sb * 3 + 2) * (size_t)N;
    const float *fp = net->fparams + (size_t)sg->pid * SF_NF;
    const int32_t *ip = net->iparams + (size_t)sg->pid * SF_NI;
    const float vreset = fp[SF_F_VRESET], vth = fp[SF_F_VTHRESH];
    const float pee = fp[SF_F_PEE], pii = fp[SF_F_PII], pth = fp[SF_F_PTH], pmod = fp[SF_F_PMOD];
    const float modgain = fp[SF_F_MODGAIN], bias = fp[SF_F_BIAS], wjump = fp[SF_F_WJUMP],
                thjump = fp[SF_F_THJUMP];
    const float excit = fp[SF_F_EXCIT], binv = fp[SF_F_BURST_INV];
    const int32_t model = ip[SF_I_MODEL];
    const int32_t ref = ip[SF_I_REF_STEPS], climit = ip[SF_I_CONSEC], snooze = ip[SF_I_SNOOZE_STEPS];
    const float bmaxf = (float)ip[SF_I_BURST_MAX];
    const int rng_excit = !(excit >= 1.0f);
    const uint32_t key = net->brain_key[b];
    const uint32_t pre_e = rng_excit ? brain_stream(key, bstep, PURPOSE_EXCITABILITY) : 0u;
    const uint32_t pre_f = (segf & SEG_PFORCE) ? brain_stream(key, bstep, PURPOSE_FORCE) : 0u;
    const int64_t bs0 = net->brain_start[b];
    const int gaps = e->n_gap > 0;
    float *restrict V = net->v, *restrict IE = net->ie, *restrict II = net->ii;
    const float *restrict IEXT = net->iext, *restrict PF = net->pforce;
    int32_t *restrict HOLD = net->hold;
    uint8_t *restrict FO = net->force_once;
    int32_t *restrict ACC = e->gap_acc;
    int32_t *restrict out = tb->spk + tb->len;
    int32_t *restrict outsb = tb->sb + tb->len;
    int32_t *restrict outbr = tb->br + tb->len;
    int64_t cnt = 0;
    const sf_plast *PL = &net->plast;
    /* the segment's learning state (kept whole by the brains whose circuit learns) */
    float *restrict XPRE = kept_f(PL->xpre, sg, SF_KEPT_XPRE), *restrict XPOST = kept_f(PL->xpost, sg, SF_KEPT_XPOST);
    float *restrict MSUM = kept_f(PL->msum, sg, SF_KEPT_MSUM);
    const int learn = PLEN(net) && XPRE && XPOST && MSUM;
    const float heta = learn ? PL->pid_f[(size_t)sg->pid * SF_NPP + SF_PP_HETA] : 0.0f;
    /* background input (model/background.py): noise current and Poisson drive */
    const int32_t nkind = ip[SF_I_NOISE];
    const float na = fp[SF_F_NOISE_A], nbw = fp[SF_F_NOISE_B];
    const float ppois = fp[SF_F_POIS_P], pwt = fp[SF_F_POIS_W];
    const int bg = nkind != 0 || ppois > 0.0f;
    /* Plastic segments take the vectorized loops too unless homeostasis may move theta
       (P4 needs the spike flag inside the neuron loop); P2 and P3 are per neuron and
       independent of the step's other state, so they run after it, same ops, same bits. */
    /* With background input only the model's lean variant takes it (its draws come from
       bg_fill); otherwise the general loop below. */
    const int lean_bg = bg && (segf & (SEG_INERT | SEG_LEANW)) && grow_bg(tb, hi - lo) == 0;
    const int vec = (!bg || lean_bg) && model >= 0 && model < SF_N_MODELS && !(learn && PL->any_homeo && heta > 0.0f);
    /* State the layout does not store (NULL) is +0 for every neuron, and stays so (no population
       of the world keeps it: layout.STATE_KEPT_WHEN). The lean LIF loops never read it (consec
       only under a limit, which keeps it); every other loop reads and writes all five, so they
       get a zeroed stand-in per piece of at most SF_ABSENT_CHUNK neurons, indexed like the real
       arrays; what they write there (+0 again) is dropped. */
    float *W = kept_f(net->w, sg, SF_KEPT_W), *TH = kept_f(net->theta, sg, SF_KEPT_THETA);
    float *MOD = kept_f(net->mod, sg, SF_KEPT_MOD);
    int32_t *CONS = kept_i(net->consec, sg, SF_KEPT_CONSEC), *BUR = kept_i(net->burst, sg, SF_KEPT_BURST);
    /* (a limit with no count stored cannot come from a layout, whose limited populations keep it,
       but a brain file for the C API may say so: the lean loops would read CONS, so a stand-in) */
    if ((!W || !TH || !MOD || !CONS || !BUR) &&
        (!(vec && !lean_bg && (segf & SEG_INERT)) || (!CONS && climit > 0))) {
        if (hi - lo > SF_ABSENT_CHUNK) { /* pieces are independent runs of neurons: split this one */
            for (int64_t c = lo; c < hi; c += SF_ABSENT_CHUNK)
                update_piece(e, net, sg, c, hi - c > SF_ABSENT_CHUNK ? c + SF_ABSENT_CHUNK : hi, bstep, sb, segf,
                             defer, tb);
            return;
        }
        const size_t m = (size_t)(hi - lo);
        float *z = tb->zs;
        /* z + k*chunk - lo: element i of the stand-in is neuron i's (lo <= i < hi) */
        if (!W) { memset(z, 0, m * sizeof(float)); W = z - lo; }
        if (!TH) { memset(z + SF_ABSENT_CHUNK, 0, m * sizeof(float)); TH = z + SF_ABSENT_CHUNK - lo; }
        if (!MOD) { memset(z + 2 * SF_ABSENT_CHUNK, 0, m * sizeof(float)); MOD = z + 2 * SF_ABSENT_CHUNK - lo; }
        if (!CONS) {
            memset(z + 3 * SF_ABSENT_CHUNK, 0, m * sizeof(int32_t));
            CONS = (int32_t *)(z + 3 * SF_ABSENT_CHUNK) - lo;
        }
        if (!BUR) {
            memset(z + 4 * SF_ABSENT_CHUNK, 0, m * sizeof(int32_t));
            BUR = (int32_t *)(z + 4 * SF_ABSENT_CHUNK) - lo;
        }
    }
    if (vec) {
        int rng = rng_excit || (segf & SEG_PFORCE);
        int ev = (segf & SEG_EVENT) != 0;
        int64_t fired; /* nonzero when some neuron spiked */
        if (lean_bg) {
            const uint32_t pre_n = nkind != 0 ? brain_stream(key, bstep, PURPOSE_NOISE) : 0u;
            const int inline_noise = nkind == SF_NOISE_UNIFORM && !(ppois > 0.0f);
            if (!inline_noise)
                e->loops->bg_fill(tb->bgn, tb->bgp, lo, hi, bs0, nkind, na, nbw, pre_n, ppois,
                                  ppois > 0.0f ? brain_stream(key, bstep, PURPOSE_POISSON) : 0u);
            const int base = !inline_noise           ? (ppois > 0.0f ? 8 : 4)
                             : !(segf & SEG_NOHOLD) ? 12
                             : (segf & SEG_NOEXT)   ? 20
                                                    : 16;
            fired = e->loops->leanw[model][base + (rng ? 2 : 0) + (ev ? 1 : 0)](
                V, IE, II, W, IEXT, PF, HOLD, CONS, FO, e->flags, r0, r1, lo, hi, fp, ip, pre_e, pre_f, bs0, tb->bgn,
                tb->bgp, pre_n);
        } else if (segf & SEG_INERT) {
            const int ni = (segf & SEG_NOEXT) && climit <= 0; /* no iext read, no limit test */
            const int lr = rng_excit ? 1 : rng ? 2 : 0; /* 2: excitability 1, only the forced-spike draw */
            const int v = (ni ? 6 : 0) + lr * 2 + (ev ? 1 : 0);
            if (!defer && lr == 0 && !ev && e->loops->lif_lean_c[ni]) { /* collects its own spikes */
                tb->len += e->loops->lif_lean_c[ni](V, IE, II, IEXT, HOLD, CONS, r0, r1, lo, hi, fp, ip, out, outsb,
                                                    outbr, sb, (int32_t)b);
                if (learn) e->loops->learn_neurons(PL, XPRE, XPOST, MSUM, MOD, lo, hi, (size_t)sg->pid, (segf & SEG_MSUM) != 0);
                return;
            }
            fired = e->loops->lif_lean[v](V, IE, II, IEXT, PF, HOLD, CONS, FO, e->flags, r0, r1, lo, hi, fp, ip,
                                          pre_e, pre_f, bs0);
        } else if (segf & SEG_LEANW) {
            fired = e->loops->leanw[model][(rng ? 2 : 0) + (ev ? 1 : 0)](V, IE, II, W, IEXT, PF, HOLD, CONS, FO,
                                                                        e->flags, r0, r1, lo, hi, fp, ip, pre_e,
                                                                        pre_f, bs0, NULL, NULL, 0u);
        } else {
            sf_fast_fn fn = e->loops->fast[binv != 0.0f][model][(gaps ? 8 : 0) + (e->has_mod ? 4 : 0) + (rng ? 2 : 0) +
                                                            (ev ? 1 : 0)];
            fired = fn(V, IE, II, W, TH, MOD, IEXT, PF, HOLD, CONS, BUR, FO, e->flags, r0, r1, r2, ACC, lo, hi, fp,
                       ip, pre_e, pre_f, bs0);
        }
        if (fired && !defer) tb->len += e->loops->collect(e->flags, lo, hi, out, outsb, outbr, sb, (int32_t)b);
        if (learn) e->loops->learn_neurons(PL, XPRE, XPOST, MSUM, MOD, lo, hi, (size_t)sg->pid, (segf & SEG_MSUM) != 0);
        return;
    }
    /* learning, per neuron (P2 modulator sum, P3 trace decay, P4 homeostasis) */
    const int msum_on = learn && PL->any_rstdp;
    const float dpre = learn ? PL->pid_f[(size_t)sg->pid * SF_NPP + SF_PP_DPRE] : 1.0f;
    const float dpost = learn ? PL->pid_f[(size_t)sg->pid * SF_NPP + SF_PP_DPOST] : 1.0f;
    const float hdrop = learn ? PL->pid_f[(size_t)sg->pid * SF_NPP + SF_PP_HDROP] : 0.0f;
    const int homeo = learn && PL->learning && PL->any_homeo && PL->learn[b] && heta > 0.0f;
    const uint32_t pre_n = nkind != 0 ? brain_stream(key, bstep, PURPOSE_NOISE) : 0u;
    const uint32_t pre_p = ppois > 0.0f ? brain_stream(key, bstep, PURPOSE_POISSON) : 0u;
    uint32_t pre_g[SF_GAUSS_DRAWS];
    for (uint32_t k = 0; k < SF_GAUSS_DRAWS; k++) pre_g[k] = nkind == SF_NOISE_GAUSSIAN ? mix32(pre_n ^ k) : 0u;

    for (int64_t i = lo; i < hi; i++) {
        /* 1. delivery */
        float xe = (float)r0[i] * FIXED_INV;
        float xi = (float)r1[i] * FIXED_INV;
        float xm = (float)r2[i] * FIXED_INV;
        r0[i] = 0;
        r1[i] = 0;
        r2[i] = 0;
        float mod = MOD[i] * pmod + xm;
        float gain = 1.0f + modgain * mod;
        float ie = IE[i] + xe * gain;
        float ii = II[i] + xi;
        uint32_t local = (uint32_t)(i - bs0);
        if (ppois > 0.0f && uniform01(pre_p, local) < ppois) ie = ie + pwt; /* background Poisson drive */
        /* 2. gap junctions */
        float igap = 0.0f;
        if (gaps) {
            igap = (float)ACC[i] * FIXED_INV;
            ACC[i] = 0;
        }
        /* 3. integration */
        float v = V[i], w = W[i], theta = TH[i];
        int32_t hold = HOLD[i];
        int held = hold > 0;
        float drive = (bias + IEXT[i]) + igap;
        if (nkind != 0) { /* background noise current, this step only */
            float r;
            if (nkind == SF_NOISE_GAUSSIAN) {
                float sum = uniform01(pre_g[0], local);
                for (uint32_t k = 1; k < SF_GAUSS_DRAWS; k++) sum = sum + uniform01(pre_g[k], local);
                r = sum - (float)(SF_GAUSS_DRAWS / 2);
            } else {
                r = uniform01(pre_n, local);
            }
            drive = drive + (na + nbw * r);
        }
        float nv, nw;
        sf_integrate(model, fp, v, w, ie, ii, drive, held, &nv, &nw);
        ie = ie * pee;
        ii = ii * pii;
        theta = theta * pth;
        if (held) hold = hold - 1;
        /* 4. threshold, excitability, forced and burst spikes */
        int can = !held;
        float thr = vth + theta;
        int above = can && nv >= thr;
        if (above && rng_excit) above = uniform01(pre_e, local) < excit;
        int forced = FO[i] != 0;
        float pf = PF[i];
        if (!forced && pf > 0.0f) forced = uniform01(pre_f, local) < pf;
        forced = forced && can;
        int fire = above || forced;
        int32_t burst = BUR[i];
        int bspike = !fire && burst > 0;
        if (bspike) burst = burst - 1;
        /* 5. effects of firing */
        int32_t consec = CONS[i];
        if (fire) {
            float q = floorf((nv - thr) * binv);
            q = q > bmaxf ? bmaxf : q;
            burst = q >= 1.0f ? (int32_t)q : 0;
            nv = vreset;
            nw = nw + wjump;
            theta = theta + thjump;
            consec = (int32_t)((uint32_t)consec + 1u); /* wraps like numpy int32 */
            int hit = climit > 0 && consec >= climit;
            hold = hit ? snooze : ref;
            if (hit) consec = 0;
        } else if (can) {
            consec = 0;
        }
        if (climit <= 0) consec = CONS[i]; /* the count is kept only under a limit (semantics.md) */
        int spike = fire || bspike;
        if (learn) {
            if (msum_on) MSUM[i] = MSUM[i] + mod;
            XPRE[i] = XPRE[i] * dpre;
            XPOST[i] = XPOST[i] * dpost;
            if (homeo) {
                float t = theta - hdrop;
                theta = spike ? t + heta : t;
            }
        }
        V[i] = nv;
        IE[i] = ie;
        II[i] = ii;
        W[i] = nw;
        TH[i] = theta;
        MOD[i] = mod;
        HOLD[i] = hold;
        CONS[i] = consec;
        BUR[i] = burst;
        FO[i] = 0;
        if (defer) {
            e->flags[i] = spike;
        } else if (spike) {
            out[cnt] = (int32_t)i;
            outsb[cnt] = sb;
            outbr[cnt] = (int32_t)b;
            cnt++;
        }
    }
    tb->len += cnt;
}

/* Ask for the lines propagating spike s reads (its synapses' ring offsets and weights) and,
   with learning events, those its learning reads next (pfe: the eligibilities P5a depresses,
   reward-STDP; pfr: its P5a row records; pfp: its P5b incoming pairs; NULL: none). */
static inline void prefetch_spike(const sf_engine *e, const sf_net *net, int64_t s, const float *pfe,
                                  const uint32_t *pfp, const int32_t *pfr) {
    const int64_t y1 = e->nsyn[s + 1];
    for (int64_t y = e->nsyn[s]; y < y1; y += 16) {
        if (e->poff) __builtin_prefetch(e->poff + y);
        __builtin_prefetch(net->weight + y);
        if (pfe) __builtin_prefetch(pfe + y, 1);
    }
    if (pfr) __builtin_prefetch(pfr + 4 * (int64_t)e->rptr[s]); /* its P5a rows (sf_learn_pre_rows) */
    if (pfp) {
        const int64_t x1 = 2 * net->plast.in_ptr[s + 1];
        for (int64_t x = 2 * net->plast.in_ptr[s]; x < x1; x += 16) __builtin_prefetch(pfp + x);
    }
}

/* The learning tables prefetch_spike asks for with learning events on (NULL: none). */
static inline void spike_prefetch_tables(const sf_engine *e, const sf_net *net, int events, const float **pfe,
                                         const uint32_t **pfp, const int32_t **pfr) {
    *pfe = events && net->plast.any_rstdp && net->plast.elig ? net->plast.elig : NULL;
    *pfp = events ? e->in_pair : NULL;
    *pfr = events ? e->prow : NULL;
}

/* Propagation of this step's spikes into the delay ring, each spiking neuron followed by
   its P5a depression at the spike when `events` (learning with event rules on): a neuron's
   synapses are its own, so propagating and depressing neuron by neuron is the same as all
   propagation, then all P5a (propagation reads only the weights of the spiking neuron's
   rows, P5a writes only those rows). */
static void propagate(const sf_engine *e, sf_net *net, const int32_t *spk, const int32_t *sbs, const int32_t *brs,
                      int64_t count, int atomic, int events, int prefetched) {
    const int64_t N = net->n_neurons;
    const int32_t D = net->depth;
    const int64_t RS = (int64_t)D * 3 * N;
    uint32_t *restrict ring = (uint32_t *)net->ring;
    uint32_t *counts = (uint32_t *)net->act_counts;
    const int32_t *restrict poff = e->poff;
    const int64_t *restrict nsyn = e->nsyn;
    const float *restrict W = net->weight;
    /* The synapse tables (poff, weights: 8 B per synapse) are larger than L2 in most nets, so
       each spike's range comes from L3 or memory; ask for every spike's lines first, so their
       latencies overlap instead of adding up spike after spike. With learning events, also
       the incoming-synapse pairs P5b reads after propagation (sf_learn_post), and with
       reward-STDP the eligibilities P5a depresses (the same range), even for a single spike:
       its P5a and P5b lines then arrive while it propagates. Prefetching changes no result. */
    const float *pfe;
    const uint32_t *pfp;
    const int32_t *pfr;
    spike_prefetch_tables(e, net, events, &pfe, &pfp, &pfr);
    if (poff && !prefetched && (count > 1 || (pfp && count == 1)))
        for (int64_t j = 0; j < count; j++) prefetch_spike(e, net, spk[j], pfe, pfp, pfr);
    for (int64_t j = 0; j < count; j++) {
        int64_t s = spk[j];
        const int64_t s_y0 = nsyn[s], s_y1 = nsyn[s + 1];
        if (poff) { /* the neuron's synapses in one run, slot and channel from poff */
            const int64_t base = (int64_t)sbs[j] * 3 * N;
            if (atomic) {
                for (int64_t y = s_y0; y < s_y1; y++) {
                    int64_t x = base + poff[y];
                    x = x >= RS ? x - RS : x;
                    __atomic_fetch_add(&ring[x], quantize(W[y]), __ATOMIC_RELAXED);
                }
            } else {
                for (int64_t y = s_y0; y < s_y1; y++) {
                    int64_t x = base + poff[y];
                    x = x >= RS ? x - RS : x;
                    ring[x] += quantize(W[y]);
                }
            }
        } else {
            for (int64_t r = net->row_ptr[s]; r < net->row_ptr[s + 1]; r++) {
                int32_t sl = sbs[j] + net->row_delay[r];
                if (sl >= D) sl -= D;
                uint32_t *restrict dst = ring + ((size_t)sl * 3 + (size_t)net->row_chan[r]) * (size_t)N;
                const int64_t y1 = net->row_syn[r + 1];
                if (atomic) {
                    for (int64_t y = net->row_syn[r]; y < y1; y++)
                        __atomic_fetch_add(&dst[net->post[y]], quantize(W[y]), __ATOMIC_RELAXED);
                } else {
                    for (int64_t y = net->row_syn[r]; y < y1; y++) dst[net->post[y]] += quantize(W[y]);
                }
            }
        }
        int32_t a = net->act_slot[s];
        if (a >= 0) {
            if (atomic) __atomic_fetch_add(&counts[a], 1u, __ATOMIC_RELAXED);
            else counts[a] += 1u;
        }
        if (events && e->pre_cls && net->plast.learn[brs[j]] && e->ls.lsh[brs[j]] != SF_NOT_KEPT) {
            const int32_t c = e->pre_cls[s];
            const float *xpost = net->plast.xpost + e->ls.lsh[brs[j]];
            if (c >= 0) {
                /* (prow exists wherever poff does, but past 2^31 rows or synapses) */
                if (e->prow) sf_depress_rstdp_rows(net, xpost, poff, e->prow, e->rptr, s, c);
                else sf_depress_rstdp(net, xpost, s_y0, s_y1, c);
            }
            else if (c == SF_PRE_ROWS) {
                if (e->prow) sf_learn_pre_rows(net, xpost, poff, e->prow, e->rptr, s);
                else sf_learn_pre_one(net, xpost, s);
            }
        }
    }
}

/* Brain-major order: brains never touch each other, so a thread runs all n steps of
   one brain while its state is in cache, then the next brain; no barriers at all.
   The same operations happen in the same order within each brain, so the results
   (and, after the merge, the spike list) are those of the step-major order.
   A thread runs a group of up to bm_group brains step by step: every brain of the group
   updates its neurons and asks for its spikes' synapse lines (with learning, also those its
   learning reads next), then every brain propagates and learns, so the synapse tables'
   misses of the group's spikes (they come from memory: a crowd's tables do not fit in L3)
   overlap instead of adding up. Each brain's steps stay in order and its operations are
   the same (its learning phases follow its own propagation); only brains interleave. */
static void run_thread_bm(sf_job *job, int t) {
    sf_engine *e = job->e;
    sf_net *net = job->net;
    sf_thread_buf *tb = &e->tb[t];
    const int64_t n = job->n_steps;
    tb->sense = job->sense0; /* brain-major threads meet only at the final barrier */
    tb->len = 0;
    tb->oom = 0;
    int64_t idx = 0;
    uint32_t *acc = (uint32_t *)e->gap_acc;
    const int G = e->bm_group;
    const int events = net->plast.enabled && net->plast.learning && net->plast.any_events;
    const float *pfe; /* the learning lines each spike's propagation prefetches */
    const uint32_t *pfp;
    const int32_t *pfr;
    spike_prefetch_tables(e, net, events, &pfe, &pfp, &pfr);
    int64_t b = tb->bm0;
    while (b < tb->bm1) {
        int64_t gb[SF_BM_GROUP], *goff[SF_BM_GROUP], gsize = 0;
        int32_t gsb[SF_BM_GROUP];
        int ng = 0;
        for (; b < tb->bm1 && ng < G; b++) {
            if (job->active && !job->active[b]) continue;
            const int64_t bs0 = net->brain_start[b], bs1 = net->brain_start[b + 1];
            gb[ng] = b;
            goff[ng] = tb->boff + idx * 2 * n;
            gsb[ng] = (int32_t)(net->brain_step[b] % net->depth);
            gsize += bs1 - bs0;
            idx++;
            ng++;
            /* the per-neuron tables propagate reads for each spike (first synapse, actuator
               slot): ask for the brain's lines now, so a spike's synapses are one miss away */
            for (int64_t i = bs0; i <= bs1; i += 8) __builtin_prefetch(e->nsyn + i);
            for (int64_t i = bs0; i < bs1; i += 16) __builtin_prefetch(net->act_slot + i);
            if (events && e->pre_cls) { /* and those of its learning: P5a and P5b classes, inputs, rows, histories */
                for (int64_t i = bs0; i < bs1; i += 16) {
                    __builtin_prefetch(e->pre_cls + i);
                    __builtin_prefetch(e->post_cls + i);
                    if (e->rptr) __builtin_prefetch(e->rptr + i);
                    if (net->plast.any_delivery && e->ls.hsh[b] != SF_NOT_KEPT) { /* P5a' reads every history and mask */
                        __builtin_prefetch(e->dmask + i);
                        __builtin_prefetch(net->plast.shist + e->ls.hsh[b] + i);
                    }
                }
                for (int64_t i = bs0; i <= bs1; i += 8) __builtin_prefetch(net->plast.in_ptr + i);
            }
            for (int64_t q = e->bseg_ptr[b]; q < e->bseg_ptr[b + 1]; q++) seg_facts(e, net, q);
        }
        for (int64_t k = 0; k < n; k++) {
            /* capacity for the group's step (one brain's was reserved before the job; past
               that, growth may fail: then this thread keeps simulating and stops recording) */
            if (!tb->oom && grow_spikes(tb, tb->len + gsize) != 0) tb->oom = 1;
            if (tb->oom) tb->len = 0;
            for (int m = 0; m < ng; m++) {
                const int64_t bm = gb[m], bs0 = net->brain_start[bm], bs1 = net->brain_start[bm + 1];
                for (int64_t g = e->gap_ptr[bm]; g < e->gap_ptr[bm + 1]; g++) {
                    int32_t a = net->gap_a[g], bb = net->gap_b[g];
                    uint32_t q = quantize(net->gap_g[g] * (net->v[bb] - net->v[a]));
                    acc[a] += q;
                    acc[bb] -= q;
                }
                const int64_t before = tb->len;
                for (int64_t q = e->bseg_ptr[bm], q1; q < e->bseg_ptr[bm + 1]; q = q1 + 1) {
                    uint8_t f = e->seg_inert[q];
                    for (q1 = q; e->seg_inert[q1] & SEG_JOIN; q1++) /* runs of equal parameter rows: one call */
                        f = (uint8_t)((f & e->seg_inert[q1 + 1] & SEG_ALL_OF) |
                                      ((f | e->seg_inert[q1 + 1]) & SEG_ANY_OF) | (e->seg_inert[q1 + 1] & SEG_JOIN));
                    update_piece(e, net, &e->segs[q], e->segs[q].start, e->segs[q1].end, net->brain_step[bm] + k,
                                 gsb[m], f, 1, tb);
                }
                /* the brain's spikes of this step, in neuron order (segments are ascending runs) */
                tb->len += e->loops->collect(e->flags, bs0, bs1, tb->spk + tb->len, tb->sb + tb->len,
                                             tb->br + tb->len, gsb[m], (int32_t)bm);
                goff[m][2 * k] = before;
                goff[m][2 * k + 1] = tb->len;
                if (ng > 1)
                    for (int64_t j = before; j < tb->len; j++) prefetch_spike(e, net, tb->spk[j], pfe, pfp, pfr);
            }
            for (int m = 0; m < ng; m++) {
                const int64_t bm = gb[m], before = goff[m][2 * k], cnt = goff[m][2 * k + 1] - before;
                if (net->plast.enabled) sf_learn_traces_early(net, tb->spk + before, tb->br + before, cnt, &e->ls);
                propagate(e, net, tb->spk + before, tb->sb + before, tb->br + before, cnt, 0, events, ng > 1);
                if (net->plast.enabled) {
                    sf_learn_deliver(net, net->brain_start[bm], net->brain_start[bm + 1], bm, e->dmask, e->poff, e->prow,
                                     e->rptr, &e->ls);
                    if (events)
                        sf_learn_post(net, tb->spk + before, tb->br + before, cnt, e->post_cls, e->in_pair, e, &e->ls);
                    sf_learn_traces(net, tb->spk + before, tb->br + before, cnt, &e->ls);
                    sf_learn_brains(net, bm, bm + 1, k, job->active, &e->rs_runs, &e->ls);
                }
                gsb[m] = gsb[m] + 1 == net->depth ? 0 : gsb[m] + 1;
            }
        }
    }
}

static void run_thread(sf_job *job, int t) {
    sf_engine *e = job->e;
    sf_net *net = job->net;
    sf_thread_buf *tb = &e->tb[t];
    const int T = job->threads;
    const int atomic = T > 1;
    tb->sense = job->sense0;
    tb->len = 0;
    tb->oom = 0;
    int64_t g0 = e->n_gap * t / T, g1 = e->n_gap * (t + 1) / T;
    int64_t mine = 0;
    for (int64_t p = 0; p < tb->n_pieces; p++) mine += tb->pieces[p].hi - tb->pieces[p].lo;
    for (int64_t k = 0; k < job->n_steps; k++) {
        if (e->n_gap) {
            uint32_t *acc = (uint32_t *)e->gap_acc;
            for (int64_t g = g0; g < g1; g++) {
                if (job->active && !job->active[e->gap_brain[g]]) continue;
                int32_t a = net->gap_a[g], bb = net->gap_b[g];
                uint32_t q = quantize(net->gap_g[g] * (net->v[bb] - net->v[a]));
                if (atomic) {
                    __atomic_fetch_add(&acc[a], q, __ATOMIC_RELAXED);
                    __atomic_fetch_sub(&acc[bb], q, __ATOMIC_RELAXED);
                } else {
                    acc[a] += q;
                    acc[bb] -= q;
                }
            }
            barrier_wait(&e->bar, &tb->sense);
        }
        /* capacity for one step was reserved before the job; past that, growth may fail:
           then this thread keeps simulating and stops recording (the advance reports it) */
        if (!tb->oom && grow_spikes(tb, tb->len + mine) != 0) tb->oom = 1;
        if (tb->oom) tb->len = 0;
        tb->step_off[k] = tb->len;
        int64_t before = tb->len;
        for (int64_t p = 0; p < tb->n_pieces; p++) {
            const sf_piece *pc = &tb->pieces[p];
            const sf_segment *sg = &e->segs[e->active_segs[pc->seg]];
            const int64_t bstep = net->brain_step[sg->brain] + k;
            update_piece(e, net, sg, pc->lo, pc->hi, bstep, (int32_t)(bstep % net->depth),
                         e->seg_inert[e->active_segs[pc->seg]], 0, tb);
        }
        /* P6 of equal_time traces before the barrier: other threads' P5 read them */
        if (net->plast.enabled) sf_learn_traces_early(net, tb->spk + before, tb->br + before, tb->len - before, &e->ls);
        barrier_wait(&e->bar, &tb->sense);
        const int events = net->plast.enabled && net->plast.learning && net->plast.any_events;
        propagate(e, net, tb->spk + before, tb->sb + before, tb->br + before, tb->len - before, atomic, events, 0);
        if (net->plast.enabled) {
            if (net->plast.any_delivery)
                for (int64_t p = 0; p < tb->n_pieces; p++) {
                    const sf_piece *pc = &tb->pieces[p];
                    const int64_t sb = e->active_segs[pc->seg];
                    sf_learn_deliver(net, pc->lo, pc->hi, e->segs[sb].brain, e->dmask, e->poff, e->prow, e->rptr,
                                     &e->ls);
                }
            barrier_wait(&e->bar, &tb->sense);
            if (events) {
                sf_learn_post(net, tb->spk + before, tb->br + before, tb->len - before, e->post_cls, e->in_pair, e,
                              &e->ls);
                barrier_wait(&e->bar, &tb->sense);
            }
            sf_learn_traces(net, tb->spk + before, tb->br + before, tb->len - before, &e->ls);
            sf_learn_brains(net, net->n_brains * t / T, net->n_brains * (t + 1) / T, k, job->active, &e->rs_runs,
                            &e->ls);
        }
        barrier_wait(&e->bar, &tb->sense);
    }
    tb->step_off[job->n_steps] = tb->len;
}

/* ------------------------------------------------------------------ threads */
typedef struct sf_worker_arg {
    sf_engine *e;
    int id;
} sf_worker_arg;

static void *worker_main(void *arg) {
    sf_worker_arg *wa = (sf_worker_arg *)arg;
    sf_engine *e = wa->e;
    uint64_t seen = 0; /* a new worker is always started for the job being published */
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (!e->stop && e->gen == seen) pthread_cond_wait(&e->cv, &e->mu);
        if (e->stop) break;
        seen = e->gen;
        sf_job *job = e->job;
        int participants = e->job_threads; /* read under the lock: job lives only while they run */
        pthread_mutex_unlock(&e->mu);
        if (wa->id < participants) {
            if (job->brain_major) run_thread_bm(job, wa->id);
            else run_thread(job, wa->id);
            barrier_wait(&e->bar, &e->tb[wa->id].sense); /* job done */
        }
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

static int start_workers(sf_engine *e, int want) {
    if (!e->args) {
        e->args = (sf_worker_arg *)calloc((size_t)e->max_threads, sizeof *e->args);
        if (!e->args) return -1;
    }
    while (e->n_started < want) {
        int id = e->n_started;
        e->args[id].e = e;
        e->args[id].id = id;
        if (pthread_create(&e->th[id], NULL, worker_main, &e->args[id]) != 0) return -1;
        e->n_started++;
    }
    return 0;
}

/* ------------------------------------------------------------------ advance */
static int add_piece(sf_thread_buf *tb, int64_t seg, int64_t lo, int64_t hi) {
    if (tb->n_pieces == tb->pieces_cap) {
        int64_t cap = tb->pieces_cap ? 2 * tb->pieces_cap : 16;
        sf_piece *p = (sf_piece *)realloc(tb->pieces, (size_t)cap * sizeof *p);
        if (!p) return -1;
        tb->pieces = p;
        tb->pieces_cap = cap;
    }
    tb->pieces[tb->n_pieces].seg = seg;
    tb->pieces[tb->n_pieces].lo = lo;
    tb->pieces[tb->n_pieces].hi = hi;
    tb->n_pieces++;
    return 0;
}

int sf_engine_advance(sf_engine *e, sf_net *net, int64_t n_steps, int64_t world_step, const uint8_t *active) {
    e->err[0] = 0;
    e->out_len = 0;
    if (n_steps < 1) {
        set_err(e, "n_steps: must be >= 1");
        return -1;
    }
    if (net->n_neurons != e->n_neurons || !e->segs) {
        set_err(e, "engine: not prepared for this net (call sf_engine_prepare after the layout changes)");
        return -1;
    }
    /* active segments and their cumulative sizes */
    int64_t na = 0, A = 0;
    e->active_cum[0] = 0;
    for (int64_t s = 0; s < e->n_segs; s++) {
        if (active && !active[e->segs[s].brain]) continue;
        e->active_segs[na] = s;
        A += e->segs[s].end - e->segs[s].start;
        e->active_cum[++na] = A;
    }
    int64_t nab = 0;
    for (int64_t b = 0; b < net->n_brains; b++) nab += !active || active[b];
    const int bm = e->local_ok && nab >= 2 && nab * (n_steps + 1) <= ((int64_t)1 << 23);
    /* min_per_thread is per synchronisation: step-major threads meet at every step, brain-major
       ones once per advance, so there it counts neuron-steps (500 brains of 100 neurons ran on one
       thread of sixteen: 0.37 ms per step where the work of a 16-step advance is ~6 ms) */
    int T = e->threads;
    const int64_t work = bm ? A * n_steps : A;
    int64_t by_size = work / e->min_per_thread;
    if (by_size < T) T = by_size < 1 ? 1 : (int)by_size;
    if (bm) {
        if (nab < T) T = (int)nab;
        if (T > 1 && start_workers(e, T) != 0) T = 1;
        /* whole brains per thread, balanced by neurons */
        int64_t b = 0, cum = 0;
        for (int t = 0; t < T; t++) {
            sf_thread_buf *tb = &e->tb[t];
            int64_t a1 = A * (t + 1) / T, cnt = 0, biggest = 0;
            tb->bm0 = b;
            while (b < net->n_brains && (t == T - 1 || cum < a1)) {
                if (!active || active[b]) {
                    int64_t size = net->brain_start[b + 1] - net->brain_start[b];
                    cum += size;
                    cnt++;
                    if (size > biggest) biggest = size;
                }
                b++;
            }
            tb->bm1 = b;
            if (tb->boff_cap < cnt * 2 * n_steps) {
                int64_t *bo = (int64_t *)realloc(tb->boff, (size_t)(cnt * 2 * n_steps + 1) * sizeof *bo);
                if (!bo) goto oom;
                tb->boff = bo;
                tb->boff_cap = cnt * 2 * n_steps;
            }
            if (grow_spikes(tb, biggest * e->bm_group) != 0) goto oom;
        }
    } else {
        /* split the active neurons into T contiguous ranges */
        int64_t s = 0;
        for (int t = 0; t < T; t++) {
            sf_thread_buf *tb = &e->tb[t];
            tb->n_pieces = 0;
            int64_t a0 = A * t / T, a1 = A * (t + 1) / T;
            while (s < na && e->active_cum[s + 1] <= a0) s++;
            for (int64_t q = s; q < na && e->active_cum[q] < a1; q++) {
                const sf_segment *sg = &e->segs[e->active_segs[q]];
                int64_t c0 = e->active_cum[q];
                int64_t lo = sg->start + (a0 > c0 ? a0 - c0 : 0);
                int64_t hi = sg->start + ((a1 < e->active_cum[q + 1] ? a1 : e->active_cum[q + 1]) - c0);
                if (hi > lo && add_piece(tb, q, lo, hi) != 0) goto oom;
            }
            if (tb->step_cap < n_steps + 1) {
                int64_t *so = (int64_t *)realloc(tb->step_off, (size_t)(n_steps + 1) * sizeof *so);
                if (!so) goto oom;
                tb->step_off = so;
                tb->step_cap = n_steps + 1;
            }
            if (grow_spikes(tb, a1 - a0) != 0) goto oom;
        }
        if (T > 1 && start_workers(e, T) != 0) {
            T = 1; /* could not start threads: run on the calling thread (same results) */
            e->tb[0].n_pieces = 0;
            for (int64_t q = 0; q < na; q++) {
                const sf_segment *sg = &e->segs[e->active_segs[q]];
                if (add_piece(&e->tb[0], q, sg->start, sg->end) != 0) goto oom;
            }
            if (grow_spikes(&e->tb[0], A) != 0) goto oom;
        }
    }

    encode_sensors(net, active);
    reset_actuators(net, active);
    /* per-segment facts that hold for the whole advance (seg_facts); brain-major threads find
       those of their brains themselves, as they reach them (in parallel, and it brings the
       brain's state into cache just before its steps) */
    if (!bm)
        for (int64_t q = 0; q < e->n_segs; q++) {
            if (active && !active[e->segs[q].brain]) e->seg_inert[q] = 0;
            else seg_facts(e, net, q);
        }

    sf_job job;
    job.e = e;
    job.net = net;
    job.active = active;
    job.n_steps = n_steps;
    job.threads = T;
    job.sense0 = e->bar.sense;
    job.brain_major = bm;
    e->last_threads = T;
    e->bar.n = T;
    e->bar.count = T;
    if (T > 1) {
        pthread_mutex_lock(&e->mu);
        e->job = &job;
        e->job_threads = T;
        e->gen++;
        pthread_cond_broadcast(&e->cv);
        pthread_mutex_unlock(&e->mu);
        if (bm) run_thread_bm(&job, 0);
        else run_thread(&job, 0);
        barrier_wait(&e->bar, &e->tb[0].sense);
    } else if (bm) {
        run_thread_bm(&job, 0);
    } else {
        run_thread(&job, 0);
    }

    /* the step counters of the brains that ran */
    for (int64_t b = 0; b < net->n_brains; b++)
        if (!active || active[b]) net->brain_step[b] += n_steps;
    decode_actuators(net, n_steps, active);

    /* merge the threads' spikes: by step, then neuron (threads own ascending ranges) */
    int oom_spikes = 0;
    int64_t total = 0;
    for (int t = 0; t < T; t++) {
        if (e->tb[t].oom) oom_spikes = 1;
        total += e->tb[t].len;
    }
    if (oom_spikes) {
        set_err(e, "out of memory recording spikes (the steps ran; their spike list is incomplete)");
        return -1;
    }
    if (total > e->out_cap) {
        int64_t cap = e->out_cap ? e->out_cap : 1024;
        while (cap < total) cap *= 2;
        int64_t *a = (int64_t *)realloc(e->out_steps, (size_t)cap * sizeof *a);
        if (!a) goto oom_out;
        e->out_steps = a;
        int32_t *b = (int32_t *)realloc(e->out_neurons, (size_t)cap * sizeof *b);
        if (!b) goto oom_out;
        e->out_neurons = b;
        e->out_cap = cap;
    }
    int64_t o = 0;
    for (int64_t k = 0; k < n_steps; k++) {
        for (int t = 0; t < T; t++) {
            const sf_thread_buf *tb = &e->tb[t];
            if (bm) {
                int64_t idx = 0;
                for (int64_t b = tb->bm0; b < tb->bm1; b++) {
                    if (active && !active[b]) continue;
                    const int64_t *off = tb->boff + idx * 2 * n_steps;
                    idx++;
                    int64_t c0 = off[2 * k], c1 = off[2 * k + 1];
                    memcpy(e->out_neurons + o, tb->spk + c0, (size_t)(c1 - c0) * sizeof(int32_t));
                    for (int64_t j = 0; j < c1 - c0; j++) e->out_steps[o + j] = world_step + k;
                    o += c1 - c0;
                }
                continue;
            }
            int64_t c0 = tb->step_off[k], c1 = tb->step_off[k + 1];
            memcpy(e->out_neurons + o, tb->spk + c0, (size_t)(c1 - c0) * sizeof(int32_t));
            for (int64_t j = 0; j < c1 - c0; j++) e->out_steps[o + j] = world_step + k;
            o += c1 - c0;
        }
    }
    e->out_len = o;
    return 0;
oom:
    set_err(e, "out of memory before the advance (nothing ran)");
    return -1;
oom_out:
    set_err(e, "out of memory collecting spikes (the steps ran; no spike list)");
    return -1;
}

int64_t sf_engine_spike_count(const sf_engine *e) { return e->out_len; }
const int64_t *sf_engine_spike_steps(const sf_engine *e) { return e->out_steps; }
const int32_t *sf_engine_spike_neurons(const sf_engine *e) { return e->out_neurons; }
