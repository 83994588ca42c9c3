/* Learning phases of one step (internal to the kernels; see plasticity.c). */
#ifndef SPIKEFORGE_PLASTICITY_H
#define SPIKEFORGE_PLASTICITY_H
#include "spikeforge_abi.h"

void sf_learn_pre(sf_net *net, const int32_t *spk, const int32_t *br, int64_t count);
void sf_learn_post(sf_net *net, const int32_t *spk, const int32_t *br, int64_t count);
void sf_learn_traces(sf_net *net, const int32_t *spk, int64_t count);
void sf_learn_deliver(sf_net *net, int64_t lo, int64_t hi, int64_t b);
void sf_learn_traces_early(sf_net *net, const int32_t *spk, int64_t count);
/* Reward-STDP synapse ranges, derived once per prepared net (sf_rs_runs_build): brain b's
   reward-STDP synapses are the ranges run_y0[q] .. run_y1[q] (projection run_proj[q]) for
   q in run_ptr[b] .. run_ptr[b + 1], in storage order; neighbouring rows of projections
   with identical parameters are merged, so a sweep is a few long vector loops. */
typedef struct {
    int64_t *run_ptr; /* n_brains + 1 */
    int64_t *run_y0, *run_y1, *run_proj;
    int64_t n_runs, cap;
} sf_rs_runs;

int sf_rs_runs_build(sf_rs_runs *R, const sf_net *net);
void sf_rs_runs_free(sf_rs_runs *R);
/* Re-derive brain b's runs only (after its rows were rewritten in place; the other
   brains' runs are moved, not rebuilt). Equal to a full sf_rs_runs_build. 0 = ok. */
int sf_rs_runs_update(sf_rs_runs *R, const sf_net *net, int64_t b);
void sf_learn_brains(sf_net *net, int64_t b0, int64_t b1, int64_t k, const uint8_t *active, const sf_rs_runs *R);
int sf_plast_validate(const sf_net *net, char *msg, size_t size);
#endif
