/* Learning phases of one step (internal to the kernels; see plasticity.c). */
#ifndef SPIKEFORGE_PLASTICITY_H
#define SPIKEFORGE_PLASTICITY_H
#include "spikeforge_abi.h"

void sf_learn_pre(sf_net *net, const int32_t *spk, const int32_t *br, int64_t count);
void sf_learn_post(sf_net *net, const int32_t *spk, const int32_t *br, int64_t count);
void sf_learn_traces(sf_net *net, const int32_t *spk, int64_t count);
void sf_learn_brains(sf_net *net, int64_t b0, int64_t b1, int64_t k, const uint8_t *active);
int sf_plast_validate(const sf_net *net, char *msg, size_t size);
#endif
