/*
 * spikeforge kernel ABI: the flat structure-of-arrays layout as C sees it.
 *
 * Every pointer below points straight into memory owned by someone else (the
 * numpy arrays of a Python ``Layout``, or the buffers of a world loaded from a
 * compiled brain file): the kernels never copy state. The constants and the
 * per-neuron state fields between GENERATED markers are written by
 * ``python -m spikeforge.engine.gen_tables`` from ``sdk/spikeforge/engine/tables.py``
 * (a test fails when they are stale): edit the Python, never this text. The text between CDEF BEGIN and CDEF END is also handed to
 * cffi as its ``cdef``, so it must stay plain C declarations and integer defines.
 */
#ifndef SPIKEFORGE_ABI_H
#define SPIKEFORGE_ABI_H

#include <stddef.h>
#include <stdint.h>

/* CDEF BEGIN */
/* GENERATED BEGIN tables (python -m spikeforge.engine.gen_tables) */
#define SF_F_VREST 0
#define SF_F_VRESET 1
#define SF_F_VTHRESH 2
#define SF_F_PVV 3
#define SF_F_PVE 4
#define SF_F_PVI 5
#define SF_F_PVW 6
#define SF_F_PVD 7
#define SF_F_PEE 8
#define SF_F_PII 9
#define SF_F_PWW 10
#define SF_F_PTH 11
#define SF_F_PMOD 12
#define SF_F_MODGAIN 13
#define SF_F_BIAS 14
#define SF_F_WJUMP 15
#define SF_F_THJUMP 16
#define SF_F_EXCIT 17
#define SF_F_BURST_INV 18
#define SF_F_NOISE_A 19
#define SF_F_NOISE_B 20
#define SF_F_POIS_P 21
#define SF_F_POIS_W 22
#define SF_F_MODEL 23
#define SF_F_IZH_A 23
#define SF_F_IZH_B 24
#define SF_F_IZH_H 25
#define SF_F_QIF_H 23
#define SF_F_QIF_K 24
#define SF_F_QIF_VC 25
#define SF_NF 26
#define SF_I_MODEL 0
#define SF_I_REF_STEPS 1
#define SF_I_CONSEC 2
#define SF_I_SNOOZE_STEPS 3
#define SF_I_BURST_MAX 4
#define SF_I_NOISE 5
#define SF_NI 6
#define SF_MODEL_LIF 0
#define SF_MODEL_IZH 1
#define SF_MODEL_QIF 2
#define SF_N_MODELS 3
#define SF_SENSOR_CURRENT 0
#define SF_SENSOR_POISSON 1
#define SF_SENSOR_GAUSSIAN 2
#define SF_SENSOR_EVENT 3
#define SF_ACT_RATE 0
#define SF_ACT_POPVEC 1
#define SF_ACT_WTA 2
#define SF_KEPT_W 0
#define SF_KEPT_THETA 1
#define SF_KEPT_MOD 2
#define SF_KEPT_CONSEC 3
#define SF_KEPT_BURST 4
#define SF_KEPT_XPRE 5
#define SF_KEPT_XPOST 6
#define SF_KEPT_MSUM 7
#define SF_KEPT_SHIST 8
#define SF_N_KEPT 9
#define SF_GAUSS_LUT_SIZE 257
#define SF_GAUSS_PER_UNIT 64
#define SF_PURPOSE_EXCITABILITY 1
#define SF_PURPOSE_FORCE 2
#define SF_PURPOSE_NOISE 3
#define SF_PURPOSE_POISSON 4
#define SF_NOISE_UNIFORM 1
#define SF_NOISE_GAUSSIAN 2
#define SF_GAUSS_DRAWS 12
#define SF_KIND_NONE 0
#define SF_KIND_STDP 1
#define SF_KIND_RSTDP 2
#define SF_KIND_HEBB 3
#define SF_PF_APLUS 0
#define SF_PF_AMINUS 1
#define SF_PF_WMIN 2
#define SF_PF_WMAX 3
#define SF_PF_RLR 4
#define SF_PF_CDECAY 5
#define SF_PF_MODW 6
#define SF_PF_DABASE 7
#define SF_PI_KIND 0
#define SF_PI_SOFT 1
#define SF_PI_DELIVER 2
#define SF_PP_DPRE 0
#define SF_PP_DPOST 1
#define SF_PP_HETA 2
#define SF_PP_HDROP 3
#define SF_PP_PREINC 4
#define SF_PP_PREMAX 5
#define SF_PP_POSTINC 6
#define SF_PP_POSTMAX 7
#define SF_PP_PREEARLY 8
#define SF_PP_POSTEARLY 9
#define SF_NPF 8
#define SF_NPI 3
#define SF_NPP 10
#define SF_DTYPE_UINT8 1
#define SF_DTYPE_INT32 2
#define SF_DTYPE_UINT32 3
#define SF_DTYPE_INT64 4
#define SF_DTYPE_FLOAT32 5
#define SF_DTYPE_FLOAT64 6
#define SF_KEPT_NAMES {"w", "theta", "mod", "consec", "burst", "xpre", "xpost", "msum", "shist"}
#define SF_TABLES_FINGERPRINT 0x7ca8b37eu
/* GENERATED END tables */

/* Learning state and tables; enabled = 0 when nothing in the world learns. */
typedef struct sf_plast {
    int32_t enabled;
    int32_t learning;        /* the world's switch (layout.learning) */
    int32_t any_rstdp;       /* reward-STDP synapses exist (dopamine and msum run) */
    int32_t any_homeo;
    int32_t any_events;      /* some projection has an STDP-like rule */
    int32_t any_early;       /* some parameter set increments a trace before P5 (equal_time) */
    int32_t any_delivery;    /* some projection depresses at delivery (shist kept) */
    float *proj_f;           /* n_proj x SF_NPF */
    int32_t *proj_i;         /* n_proj x SF_NPI */
    float *pid_f;            /* n_params x SF_NPP */
    float *da_decay;         /* per brain */
    int64_t *every;          /* per brain: reward-STDP update period (steps), 0 = none */
    float *dopamine;         /* per brain */
    float *dopamine_sum;     /* per brain */
    uint8_t *learn;          /* per brain: 0 = frozen */
    /* GENERATED BEGIN plast_state (engine/tables.py NEURON_VARS) */
    float *xpre;        /* plasticity: pre-synaptic trace */
    float *xpost;       /* plasticity: post-synaptic trace */
    float *msum;        /* plasticity: modulator summed since the last reward-STDP update */
    int32_t *shist;       /* plasticity: spikes of the last 32 steps, bit k-1 = k steps ago */
    /* GENERATED END plast_state */
    float *elig;             /* per synapse, NULL if no reward-STDP projection */
    int64_t n_in;            /* plastic synapses, sorted by post */
    int64_t *in_ptr;         /* n_neurons + 1 */
    int64_t *in_syn;
    int64_t *in_pre;
    int64_t *in_proj;
    int64_t n_rs;            /* reward-STDP synapses, sorted by post */
    int64_t *rs_ptr;         /* n_brains + 1 */
    int64_t *rs_syn;
    int64_t *rs_post;
    int64_t *rs_proj;
} sf_plast;

/* 1: sf_learn_post skips placeholder entries (kind 0) of the incoming table, which pad every
   slot's segment (engine/plasticity.py _pad_slots). The Python side refuses an extension
   built without it: its kernels would write through the placeholders. */
#define SF_PLACEHOLDERS_SKIPPED 1

/* One organ of one prototype across its brains (a brains x channels block). */
typedef struct sf_organ {
    int32_t kind;        /* SF_SENSOR_* or SF_ACT_* */
    int32_t channels;
    int32_t width;       /* outputs per brain (actuators) */
    int32_t per_chan;    /* neurons per channel */
    int64_t pop_offset;  /* first neuron of the population, brain-local */
    int64_t brain0;      /* first brain of the prototype */
    int64_t brains;      /* brains of the prototype */
    int64_t offset;      /* into sensor_values / act_counts */
    int64_t out_offset;  /* into act_out */
    double low;
    double high;
    double gain;         /* current sensors: mV per unit */
    double rate;         /* poisson/gaussian: Hz at the top of the range */
    double sigma;        /* gaussian: width as a fraction of high - low */
} sf_organ;

/* The whole state of a World (see sdk/spikeforge/engine/layout.py). */
typedef struct sf_net {
    double dt_ms;
    int64_t n_neurons;
    int64_t n_brains;
    int64_t n_rows;
    int64_t n_synapses;
    int64_t n_gap;
    int64_t n_params;
    int32_t depth;
    int32_t n_sensor_groups;
    int32_t n_actuator_groups;
    int64_t n_sensor_values;
    int64_t n_act_counts;
    int64_t n_act_out;
    int64_t n_proj;
    /* brains */
    int64_t *brain_start;    /* n_brains + 1 */
    uint32_t *brain_key;
    int64_t *brain_step;
    /* neurons */
    /* GENERATED BEGIN net_state (engine/tables.py NEURON_VARS) */
    float *v;           /* membrane potential (mV) */
    float *ie;          /* excitatory synaptic current (as drive) (mV) */
    float *ii;          /* inhibitory synaptic current (as drive) (mV) */
    float *w;           /* adaptation current (AdaptiveLIF) / recovery u (Izhikevich) (mV) */
    float *theta;       /* threshold offset (habituation, homeostasis) (mV) */
    float *mod;         /* modulator level */
    float *iext;        /* external drive written by sensor encoders (mV) */
    float *pforce;      /* per-step forced-spike probability written by encoders */
    int32_t *hold;        /* steps left in refractory / snooze (steps) */
    int32_t *consec;      /* consecutive spikes (FEAGI) (spikes) */
    int32_t *burst;       /* extra burst spikes still to emit (FLUX) (spikes) */
    uint8_t *force_once;  /* one-shot forced spike (event sensors) */
    /* GENERATED END net_state */
    int32_t *pid;
    int32_t *act_slot;
    /* n_params: bit SF_KEPT_<NAME> is set when the parameter set's population keeps that optional
       variable (w theta mod consec burst xpre xpost msum shist); each such array then holds only
       the neurons of the parameter sets that keep it, in neuron order (engine/layout.py
       Layout.state_slice). NULL: every stored one holds every neuron. */
    uint16_t *pid_keeps;
    float *fparams;          /* n_params x SF_NF */
    int32_t *iparams;        /* n_params x SF_NI */
    /* synapses, CSR by source in rows */
    int64_t *row_ptr;        /* n_neurons + 1 */
    int64_t *row_syn;        /* n_rows + 1 */
    int32_t *row_delay;
    int32_t *row_chan;
    int32_t *row_proj;
    int32_t *post;
    float *weight;
    int32_t *gap_a;
    int32_t *gap_b;
    float *gap_g;
    int32_t *ring;           /* depth x 3 x n_neurons */
    /* organs */
    float *sensor_values;
    int32_t *act_counts;
    float *act_out;
    sf_organ *sensor_groups;
    sf_organ *actuator_groups;
    float *gauss_lut;        /* SF_GAUSS_LUT_SIZE values */
    sf_plast plast;
} sf_net;

typedef struct sf_engine sf_engine;

/* Engine: threads, derived tables and spike buffers for one net. */
sf_engine *sf_engine_new(int max_threads);
void sf_engine_free(sf_engine *e);
/* Derive per-segment tables from the net; call again whenever its shape changes. The net must have
   passed sf_net_validate (the engine relies on what it checks, e.g. plastic synapses inside their
   brain). 0 = ok. */
int sf_engine_prepare(sf_engine *e, const sf_net *net);
/* Brains slots[0..n_slots) were rewritten in place (spawn into a free slot: same neurons,
   parameter sets and row/synapse ranges, synapses inside the slot) and net.plast points at
   the re-derived learning index tables: update only what depends on the slots' rows
   (modulatory rows present, the reward-STDP runs). Cheaper than sf_engine_prepare, same
   result for such writes. 0 = ok, else -1 with sf_engine_error() set. */
int sf_engine_slots_written(sf_engine *e, const sf_net *net, const int64_t *slots, int64_t n_slots);
/* Where neuron `neuron`'s element of the optional array SF_KEPT_<NAME> `var` is (those arrays hold
   only the neurons of the parameter sets that keep them, sf_net.pid_keeps); -1 when its population
   does not keep it or the engine is not prepared. */
int64_t sf_engine_kept_index(const sf_engine *e, int32_t var, int64_t neuron);
/* Threads used at most, and the fewest active neurons per thread before another one is used. */
void sf_engine_set_threads(sf_engine *e, int threads, int64_t min_neurons_per_thread);
int sf_engine_threads(const sf_engine *e);
/* Threads the last advance actually used (1 for small worlds). */
int sf_engine_last_threads(const sf_engine *e);
/* Caps the vectorized loops at instruction set isa: "baseline", "avx2" or "avx512f" (the widest
   of those the CPU runs; every set gives the same bits). Returns 0, or -1 with sf_engine_error()
   set for another name. A new engine takes the widest the CPU runs. */
int sf_engine_set_isa(sf_engine *e, const char *isa);
/* The instruction set of the loops in use: "baseline", "avx2" or "avx512f". */
const char *sf_engine_isa(const sf_engine *e);
/* on = 0: the next sf_engine_prepare builds none of the engine's int32 copies of the synapse tables
   (ring offsets per synapse, the row table, the packed incoming pairs), so propagation and
   learning walk the net's own int64 rows, post array and incoming tables, as they do where the
   copies do not fit in int32 (same ops, same bits; for tests of those paths). on = 1 (a new
   engine's): build them where they fit. */
void sf_engine_set_int32_tables(sf_engine *e, int on);
/* Encode sensors, run n_steps steps of the active brains (all if active is NULL), decode actuators.
   Spikes are stamped world_step + k. Returns 0, or -1 with sf_engine_error() set. */
int sf_engine_advance(sf_engine *e, sf_net *net, int64_t n_steps, int64_t world_step, const uint8_t *active);
int64_t sf_engine_spike_count(const sf_engine *e);
const int64_t *sf_engine_spike_steps(const sf_engine *e);
const int32_t *sf_engine_spike_neurons(const sf_engine *e);
const char *sf_engine_error(const sf_engine *e);
/* Validate every index, size and count a kernel trusts. 0 = ok, else -1 and msg filled. */
int sf_net_validate(const sf_net *net, char *msg, size_t msg_size);
/* CDEF END */

/* Not for cffi (function-like macros): the per-neuron state arrays as X-macros. */
/* GENERATED BEGIN state_lists (python -m spikeforge.engine.gen_tables) */
#define SF_FOR_EACH_NET_STATE(X) X(v, float, 5, 0) X(ie, float, 5, 0) X(ii, float, 5, 0) X(w, float, 5, 1) X(theta, float, 5, 1) X(mod, float, 5, 1) X(iext, float, 5, 0) X(pforce, float, 5, 0) X(hold, int32_t, 2, 0) X(consec, int32_t, 2, 1) X(burst, int32_t, 2, 1) X(force_once, uint8_t, 1, 0)
#define SF_FOR_EACH_PLAST_STATE(X) X(xpre, float, 5, 1) X(xpost, float, 5, 1) X(msum, float, 5, 1) X(shist, int32_t, 2, 1)
/* GENERATED END state_lists */

#endif
