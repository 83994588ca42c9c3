/* Learning phases of one step (internal to the kernels; see plasticity.c). */
#ifndef SPIKEFORGE_PLASTICITY_H
#define SPIKEFORGE_PLASTICITY_H
#include "spikeforge_abi.h"

/* Where each brain's learning state is. xpre, xpost and msum hold only the neurons of brains
   whose circuit learns, shist only those of brains whose circuit depresses at delivery (every
   population of such a circuit keeps them, sf_net.pid_keeps, so a brain keeps them whole or
   not at all): neuron n of brain b has element n + lsh[b] (shist: n + hsh[b]); SF_NOT_KEPT
   where the brain keeps none. Plastic synapses never cross brains, so every endpoint read is
   one shift per brain. Built by the engine with its segments. */
#define SF_NOT_KEPT INT64_MIN
typedef struct {
    int64_t *lsh; /* n_brains */
    int64_t *hsh; /* n_brains */
} sf_lstate;

/* P5a of one spiking neuron s, row by row. xpost (here and below): the spiking neuron's brain's
   post traces, neuron-indexed (plast.xpost + sf_lstate.lsh[b]). */
void sf_learn_pre_one(sf_net *net, const float *xpost, int64_t s);
/* The int32 row table of sf_learn_pre_rows: per row r of neurons n0..n1, {first synapse, end,
   (row_delay * 3 + row_chan) * N, projection} at prow[4 * r], and rptr[i] = row_ptr[i] for
   i in n0..n1 (callers check that rows, synapses and offsets fit in int32). */
void sf_pre_rows_fill(int32_t *prow, int32_t *rptr, const sf_net *net, int64_t n0, int64_t n1);
/* sf_learn_pre_one from the int32 row table, the post of each synapse read from the engine's
   ring offsets poff (poff[y] - (row_delay * 3 + row_chan) * N == post[y]): two lines per spike,
   where the int64 row arrays cost five (row_ptr, row_proj, row_delay, row_chan, row_syn) and
   post one more; same ops, same bits. */
void sf_learn_pre_rows(sf_net *net, const float *xpost, const int32_t *poff, const int32_t *prow, const int32_t *rptr,
                       int64_t s);
/* P5a of reward-STDP synapses y0..y1 with hard bounds and projection proj's a_minus (the
   same float32 ops as the row path): E[y] -= a_minus * xpost[post[y]]. */
void sf_depress_rstdp(sf_net *net, const float *xpost, int64_t y0, int64_t y1, int64_t proj);
/* sf_depress_rstdp from the int32 row table (sf_pre_rows_fill) and the ring offsets poff:
   same ops, same bits. */
void sf_depress_rstdp_rows(sf_net *net, const float *xpost, const int32_t *poff, const int32_t *prow,
                           const int32_t *rptr, int64_t s, int64_t proj);
/* How P5a treats neuron s's rows, for s in n0..n1: SF_PRE_NONE no row depresses at the
   spike; p >= 0 every row is reward-STDP with hard bounds, depression at the spike and the
   a_minus of projection p (the neuron's synapses are one range for sf_depress_rstdp);
   SF_PRE_ROWS otherwise (sf_learn_pre_one). */
#define SF_PRE_NONE (-2)
#define SF_PRE_ROWS (-1)
void sf_pre_class_build(int32_t *cls, const sf_net *net, int64_t n0, int64_t n1);
/* cls: per neuron, sf_post_class_build's class (NULL: every neuron entry by entry).
   pair: sf_in_pair_fill's packed copy of (in_syn, in_pre, in_proj), read by the class >= 0
   and SF_POST_STDP loops instead of the three int64 arrays (same indices, a third of the
   bytes); NULL: every neuron entry by entry (the same ops for those classes). */
void sf_learn_post(sf_net *net, const int32_t *spk, const int32_t *br, int64_t count, const int32_t *cls,
                   const uint32_t *pair, const sf_engine *e, const sf_lstate *ls);
/* pair[2x] = in_syn[x], pair[2x + 1] = (in_pre[x] - the post neuron's brain start) | in_proj[x]
   << 16 for the entries x of neurons n0..n1 (n0 a brain's first neuron). Returns -1, leaving
   the rest unwritten, at an entry that does not fit (a synapse index past int32, a pre neuron
   outside its post neuron's brain or 65,536 or more neurons into it, a projection index of
   65,536 or more): then the caller drops the table and P5b goes entry by entry. */
int sf_in_pair_fill(uint32_t *pair, const sf_net *net, int64_t n0, int64_t n1);
/* How P5b treats the inputs of neuron s, for s in n0..n1: SF_PRE_NONE none plastic; p >= 0
   every plastic input is reward-STDP with hard bounds and the a_plus of projection p (one
   loop: E[y] += a_plus * xpre[pre]); SF_POST_STDP every plastic input is STDP with hard
   bounds (one loop, each entry's a_plus and bounds from its projection: w = clip(w + a_plus
   * xpre[pre])); SF_PRE_ROWS otherwise (entry by entry). */
#define SF_POST_STDP (-3)
void sf_post_class_build(int32_t *cls, const sf_net *net, int64_t n0, int64_t n1);
/* P6 of spikes spk[0..count) (br: each one's brain); spikes of brains that keep no traces skip. */
void sf_learn_traces(sf_net *net, const int32_t *spk, const int32_t *br, int64_t count, const sf_lstate *ls);
/* P5a' and the spike history's shift for neurons lo..hi of brain b. mask: per neuron,
   sf_deliver_mask_build's bits; a neuron whose history has none of them skips its rows
   (none would depress this step); NULL: every neuron with a history looks at its rows.
   prow, rptr (sf_pre_rows_fill) and poff: the rows from the int32 table, post from the ring
   offsets (same ops, same bits); NULL: the int64 row arrays and post. */
void sf_learn_deliver(sf_net *net, int64_t lo, int64_t hi, int64_t b, const uint32_t *mask, const int32_t *poff,
                      const int32_t *prow, const int32_t *rptr, const sf_lstate *ls);
/* mask[s] for s in n0..n1: bit d - 1 for each delay d of s's rows that depress at
   delivery (all bits for a delay outside 1..32; 0 for none). */
void sf_deliver_mask_build(uint32_t *mask, const sf_net *net, int64_t n0, int64_t n1);
void sf_learn_traces_early(sf_net *net, const int32_t *spk, const int32_t *br, int64_t count, const sf_lstate *ls);
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
void sf_learn_brains(sf_net *net, int64_t b0, int64_t b1, int64_t k, const uint8_t *active, const sf_rs_runs *R,
                     const sf_lstate *ls);
int sf_plast_validate(const sf_net *net, char *msg, size_t size);
#endif
