/*
 * The vectorized neuron loops (loops_impl.h), one table of them per instruction set.
 *
 * The loops are compiled for AVX-512F, AVX2 and the baseline, and kernel.c picks the widest
 * the CPU runs (sf_loops_pick). Same bits for every set: no FMA (-ffp-contract=off), no
 * reassociation, only wider vectors of the same float32 operations. Each set is two
 * translation units (loops_<isa>.c and loops_<isa>_burst.c include the one source,
 * loops_impl.h, with its target attribute), so a build compiles them in parallel: as GCC
 * target_clones in kernel.c they were one ~45 s file, most of a cold `pip install`.
 */
#ifndef SPIKEFORGE_LOOPS_H
#define SPIKEFORGE_LOOPS_H

#include "spikeforge_abi.h"

/* AVX2 and AVX-512F tables: GCC on x86-64 (clang and other CPUs get the baseline only);
   SF_NO_CLONES (the ThreadSanitizer build) also keeps the baseline only. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(SF_NO_CLONES)
#define SF_ISA_VARIANTS 1
#else
#define SF_ISA_VARIANTS 0
#endif

#define FIXED_INV (1.0f / 65536.0f)
#define INV_2_24 (1.0f / 16777216.0f)

static inline uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

static inline float uniform01(uint32_t prefix, uint32_t local) {
    return (float)(mix32(prefix ^ local) >> 8) * INV_2_24;
}

typedef int64_t (*sf_fast_fn)(float *, float *, float *, float *, float *, float *, const float *, const float *,
                              int32_t *, int32_t *, int32_t *, uint8_t *, int32_t *, int32_t *, int32_t *, int32_t *,
                              int32_t *, int64_t, int64_t, const float *, const int32_t *, uint32_t, uint32_t, int64_t);
typedef int64_t (*sf_lean_fn)(float *, float *, float *, const float *, const float *, int32_t *, int32_t *, uint8_t *,
                           int32_t *, int32_t *, int32_t *, int64_t, int64_t, const float *, const int32_t *, uint32_t,
                           uint32_t, int64_t);
typedef int64_t (*sf_leanw_fn)(float *, float *, float *, float *, const float *, const float *, int32_t *,
                               int32_t *, uint8_t *, int32_t *, int32_t *, int32_t *, int64_t, int64_t, const float *,
                               const int32_t *, uint32_t, uint32_t, int64_t, const float *, const int32_t *,
                               uint32_t);
typedef int64_t (*sf_lean_c_fn)(float *, float *, float *, const float *, int32_t *, int32_t *, int32_t *, int32_t *,
                                int64_t, int64_t, const float *, const int32_t *, int32_t *, int32_t *, int32_t *,
                                int32_t, int32_t);
typedef void (*sf_learn_neurons_fn)(const sf_plast *, float *, float *, float *, const float *, int64_t, int64_t,
                                    size_t, int);
typedef int64_t (*sf_collect_fn)(const int32_t *, int64_t, int64_t, int32_t *, int32_t *, int32_t *, int32_t, int32_t);
typedef void (*sf_bg_fill_fn)(float *, int32_t *, int64_t, int64_t, int64_t, int32_t, float, float, uint32_t, float,
                              uint32_t);

/* Every loop of one instruction set. */
typedef struct sf_loops {
    const char *isa;                    /* "baseline", "avx2", "avx512f" */
    const sf_fast_fn (*fast[2])[16];    /* [burst][model][gaps*8 + modch*4 + rng*2 + ev] */
    sf_lean_fn lif_lean[12];            /* ni*6 + rng*2 + ev (ni: iext all +0 and no spike limit; rng 0 no
                                           draws, 1 excitability and forced-spike draws, 2 forced only) */
    sf_lean_c_fn lif_lean_c[2];         /* [ni] the lean step without draws or events that collects its own
                                           spikes (no flag array); NULL where the set has none (AVX-512F, AVX2) */
    sf_leanw_fn leanw[SF_N_MODELS][24]; /* see SF_LEANW_SET in loops_impl.h */
    sf_learn_neurons_fn learn_neurons;  /* learning phases P2 and P3 after a vectorized loop */
    sf_bg_fill_fn bg_fill;              /* background input draws for the lean variants */
    sf_collect_fn collect;              /* indices of the set spike flags of a range */
} sf_loops;

extern const sf_loops sf_loops_base;
#if SF_ISA_VARIANTS
extern const sf_loops sf_loops_avx2;
extern const sf_loops sf_loops_avx512f;
#endif

#endif
