/* The vectorized neuron loops for AVX-512F: all but the fast loops' burst variants (loops.h). */
#include "loops.h"

#if SF_ISA_VARIANTS
#define SF_LOOPS_NAME sf_loops_avx512f
#define SF_LOOPS_ISA "avx512f"
#define SF_LOOP_ATTR __attribute__((target("avx512f")))
#define SF_LOOPS_BURST 0
#define SF_LOOPS_LEAN512 1
#include "loops_impl.h"
#else
typedef int sf_loops_avx512f_absent; /* not x86-64 GCC: the baseline loops only */
#endif
