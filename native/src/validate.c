/*
 * sf_net_validate: every index, size and count a kernel trusts is checked here
 * before any kernel runs (the C twin of layout.validate_layout, plus the organ
 * tables). A net that passes cannot make a kernel read or write out of bounds.
 */
#include "spikeforge_abi.h"
#include "plasticity.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

static int fail(char *msg, size_t size, const char *fmt, ...) {
    if (msg && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

#define NEED(cond, ...)                                  \
    do {                                                 \
        if (!(cond)) return fail(msg, size, __VA_ARGS__); \
    } while (0)

static int check_organ(const sf_net *net, const sf_organ *g, int sensor, int32_t gi, char *msg, size_t size) {
    const char *what = sensor ? "sensor_groups" : "actuator_groups";
    if (sensor)
        NEED(g->kind >= SF_SENSOR_CURRENT && g->kind <= SF_SENSOR_EVENT, "%s[%d].kind: unknown sensor kind %d", what,
             gi, g->kind);
    else
        NEED(g->kind >= SF_ACT_RATE && g->kind <= SF_ACT_WTA, "%s[%d].kind: unknown actuator kind %d", what, gi,
             g->kind);
    NEED(g->channels >= 1, "%s[%d].channels: must be >= 1, got %d", what, gi, g->channels);
    NEED(g->per_chan >= 1, "%s[%d].per_chan: must be >= 1, got %d", what, gi, g->per_chan);
    int32_t want_width = (!sensor && g->kind != SF_ACT_RATE) ? 1 : g->channels;
    NEED(g->width == want_width, "%s[%d].width: expected %d, got %d", what, gi, want_width, g->width);
    NEED(g->brain0 >= 0 && g->brains >= 0 && g->brain0 <= net->n_brains && g->brains <= net->n_brains - g->brain0,
         "%s[%d].brains: brains %lld..%lld outside 0..%lld", what, gi, (long long)g->brain0,
         (long long)(g->brain0 + g->brains), (long long)net->n_brains);
    int64_t limit = sensor ? net->n_sensor_values : net->n_act_counts;
    NEED(g->offset >= 0 && g->offset <= limit && g->brains * (int64_t)g->channels <= limit - g->offset,
         "%s[%d].offset: block of %lld values at %lld exceeds %lld", what, gi,
         (long long)(g->brains * (int64_t)g->channels), (long long)g->offset, (long long)limit);
    if (!sensor)
        NEED(g->out_offset >= 0 && g->out_offset <= net->n_act_out &&
                 g->brains * (int64_t)g->width <= net->n_act_out - g->out_offset,
             "%s[%d].out_offset: block exceeds act_out (%lld values)", what, gi, (long long)net->n_act_out);
    NEED(isfinite(g->low) && isfinite(g->high) && g->low < g->high, "%s[%d].low/high: need finite low < high", what,
         gi);
    NEED(isfinite(g->gain) && isfinite(g->rate) && isfinite(g->sigma), "%s[%d]: gain/rate/sigma must be finite",
         what, gi);
    if (sensor && g->kind == SF_SENSOR_GAUSSIAN) NEED(g->sigma > 0.0, "%s[%d].sigma: must be > 0", what, gi);
    int64_t span = (int64_t)g->channels * (int64_t)g->per_chan;
    NEED(g->pop_offset >= 0, "%s[%d].pop_offset: must be >= 0", what, gi);
    for (int64_t b = g->brain0; b < g->brain0 + g->brains; b++) {
        int64_t bsize = net->brain_start[b + 1] - net->brain_start[b];
        NEED(g->pop_offset <= bsize && span <= bsize - g->pop_offset,
             "%s[%d].pop_offset: %lld neurons at %lld do not fit brain %lld (%lld neurons)", what, gi,
             (long long)span, (long long)g->pop_offset, (long long)b, (long long)bsize);
    }
    return 0;
}

int sf_net_validate(const sf_net *net, char *msg, size_t size) {
    const int64_t n = net->n_neurons, nb = net->n_brains, nr = net->n_rows, ns = net->n_synapses;
    NEED(n >= 0 && n < ((int64_t)1 << 31), "n_neurons: must be in 0..2^31-1, got %lld", (long long)n);
    NEED(nb >= 0 && nr >= 0 && ns >= 0 && net->n_gap >= 0 && net->n_params >= 0 && net->n_proj >= 0,
         "counts: negative count");
    NEED(net->depth >= 1 && net->depth <= (1 << 20), "depth: must be in 1..2^20, got %d", net->depth);
    NEED(isfinite(net->dt_ms) && net->dt_ms > 0.0, "dt_ms: must be finite and > 0");
    NEED(net->n_sensor_groups >= 0 && net->n_actuator_groups >= 0 && net->n_sensor_values >= 0 &&
             net->n_act_counts >= 0 && net->n_act_out >= 0,
         "organs: negative count");
    NEED(net->brain_start && net->brain_start[0] == 0, "brain_start: must start at 0");
    for (int64_t b = 0; b < nb; b++)
        NEED(net->brain_start[b + 1] >= net->brain_start[b], "brain_start: not monotonic at brain %lld",
             (long long)b);
    NEED(net->brain_start[nb] == n, "brain_start: ends at %lld, expected n_neurons=%lld",
         (long long)net->brain_start[nb], (long long)n);
    for (int64_t b = 0; b < nb; b++)
        NEED(net->brain_step[b] >= 0 && net->brain_step[b] < ((int64_t)1 << 62),
             "brain_step[%lld]: must be in 0..2^62", (long long)b);
    for (int64_t p = 0; p < net->n_params; p++) {
        const int32_t *ip = net->iparams + p * SF_NI;
        NEED(ip[SF_I_MODEL] >= 0 && ip[SF_I_MODEL] < SF_N_MODELS, "iparams[%lld].model: unknown %d",
             (long long)p, ip[SF_I_MODEL]);
        NEED(ip[SF_I_NOISE] >= 0 && ip[SF_I_NOISE] <= SF_NOISE_GAUSSIAN, "iparams[%lld].noise: unknown kind %d",
             (long long)p, ip[SF_I_NOISE]);
        NEED(ip[SF_I_BURST_MAX] >= 0 && ip[SF_I_BURST_MAX] <= (1 << 24), "iparams[%lld].burst_max: outside 0..2^24",
             (long long)p);
    }
    for (int64_t i = 0; i < n; i++)
        NEED(net->pid[i] >= 0 && net->pid[i] < net->n_params, "pid[%lld]: parameter set %d out of range 0..%lld",
             (long long)i, net->pid[i], (long long)net->n_params - 1);
    for (int64_t i = 0; i < n; i++)
        NEED(net->act_slot[i] >= -1 && net->act_slot[i] < net->n_act_counts,
             "act_slot[%lld]: %d outside -1..%lld", (long long)i, net->act_slot[i], (long long)net->n_act_counts - 1);
    NEED(net->row_ptr[0] == 0, "row_ptr: must start at 0");
    for (int64_t i = 0; i < n; i++)
        NEED(net->row_ptr[i + 1] >= net->row_ptr[i], "row_ptr: not monotonic at neuron %lld", (long long)i);
    NEED(net->row_ptr[n] == nr, "row_ptr: ends at %lld, expected n_rows=%lld", (long long)net->row_ptr[n],
         (long long)nr);
    NEED(net->row_syn[0] == 0, "row_syn: must start at 0");
    for (int64_t r = 0; r < nr; r++) {
        NEED(net->row_syn[r + 1] >= net->row_syn[r], "row_syn: not monotonic at row %lld", (long long)r);
        NEED(net->row_delay[r] >= 1 && net->row_delay[r] <= net->depth, "row_delay[%lld]: %d outside 1..%d",
             (long long)r, net->row_delay[r], net->depth);
        NEED(net->row_chan[r] >= 0 && net->row_chan[r] <= 2, "row_chan[%lld]: %d outside 0..2", (long long)r,
             net->row_chan[r]);
        NEED(net->row_proj[r] >= 0 && net->row_proj[r] < net->n_proj, "row_proj[%lld]: %d out of range",
             (long long)r, net->row_proj[r]);
    }
    NEED(net->row_syn[nr] == ns, "row_syn: ends at %lld, expected n_synapses=%lld", (long long)net->row_syn[nr],
         (long long)ns);
    for (int64_t y = 0; y < ns; y++)
        NEED(net->post[y] >= 0 && net->post[y] < n, "synapse.post[%lld]: %d outside 0..%lld", (long long)y,
             net->post[y], (long long)n - 1);
    for (int64_t g = 0; g < net->n_gap; g++)
        NEED(net->gap_a[g] >= 0 && net->gap_a[g] < n && net->gap_b[g] >= 0 && net->gap_b[g] < n,
             "gap[%lld]: index out of range", (long long)g);
    NEED(net->n_sensor_groups == 0 || net->sensor_groups, "sensor_groups: missing");
    NEED(net->n_actuator_groups == 0 || net->actuator_groups, "actuator_groups: missing");
    for (int32_t g = 0; g < net->n_sensor_groups; g++)
        if (check_organ(net, &net->sensor_groups[g], 1, g, msg, size) != 0) return -1;
    for (int32_t g = 0; g < net->n_actuator_groups; g++)
        if (check_organ(net, &net->actuator_groups[g], 0, g, msg, size) != 0) return -1;
    NEED(net->gauss_lut != NULL, "gauss_lut: missing");
    if (sf_plast_validate(net, msg, size) != 0) return -1;
    if (msg && size) msg[0] = 0;
    return 0;
}
