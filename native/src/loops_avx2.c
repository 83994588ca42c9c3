/* The vectorized neuron loops for AVX2: all but the fast loops' burst variants (loops.h). */
#include "loops.h"

#if SF_ISA_VARIANTS
#define SF_LOOPS_NAME sf_loops_avx2
#define SF_LOOPS_ISA "avx2"
#define SF_LOOP_ATTR __attribute__((target("avx2")))
#define SF_LOOPS_BURST 0
#define SF_LOOPS_LEAN256 1
#include "loops_impl.h"
#else
typedef int sf_loops_avx2_absent; /* not x86-64 GCC: the baseline loops only */
#endif
