/* The vectorized neuron loops for the build's baseline instruction set: all but the fast
   loops' burst variants (loops.h). */
#define SF_LOOPS_NAME sf_loops_base
#define SF_LOOPS_ISA "baseline"
#define SF_LOOP_ATTR
#define SF_LOOPS_BURST 0
#include "loops_impl.h"
