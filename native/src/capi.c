/*
 * The public C API (include/spikeforge.h): brain-file loader and world handle.
 *
 * The loader never trusts the file: every record is bounds-checked against the
 * bytes that remain, every array's length is checked against the sizes it implies,
 * and the assembled net goes through sf_net_validate before any kernel can run.
 */
#define _GNU_SOURCE
#include "../include/spikeforge.h"
#include "spikeforge_abi.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RECORDS 256
#define N_GROUP_I 9
#define N_GROUP_F 5

static __thread char g_err[512];

static int seterr(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return code;
}

SF_API uint32_t sf_version(void) {
    return ((uint32_t)SF_API_VERSION_MAJOR << 16) | ((uint32_t)SF_API_VERSION_MINOR << 8) | SF_API_VERSION_PATCH;
}
SF_API const char *sf_version_string(void) { return "1.0.0"; }
SF_API const char *sf_last_error(void) { return g_err; }

typedef struct {
    char name[65];
    int dtype;
    uint64_t count;
    void *data; /* owned, aligned copy */
} record;

struct sf_world {
    sf_net net;
    sf_engine *eng;
    record rec[MAX_RECORDS];
    int n_rec;
    sf_organ *sgroups;
    sf_organ *agroups;
    char **snames;
    char **anames;
    int64_t world_step;
    uint16_t *pid_keeps;         /* per parameter set, bit SF_KEPT_*: from the kept.<name> records */
    int64_t kept_len[SF_N_KEPT]; /* neurons of the parameter sets that keep each optional variable */
    sf_spike_fn cb;
    void *cb_user;
};

static size_t itemsize(int dtype) {
    switch (dtype) {
    case 1: return 1;
    case 2: case 3: case 5: return 4;
    case 4: case 6: return 8;
    default: return 0;
    }
}

static record *find(sf_world *w, const char *name) {
    for (int i = 0; i < w->n_rec; i++)
        if (strcmp(w->rec[i].name, name) == 0) return &w->rec[i];
    return NULL;
}

/* The record `name` with dtype `dtype` and exactly `count` elements (count < 0: any). */
static void *need(sf_world *w, const char *name, int dtype, int64_t count, int64_t *got, int *rc) {
    if (*rc != SF_OK) return NULL;
    record *r = find(w, name);
    if (!r) {
        *rc = seterr(SF_ERR_FORMAT, "brain file: missing record '%s'", name);
        return NULL;
    }
    if (r->dtype != dtype) {
        *rc = seterr(SF_ERR_FORMAT, "brain file: record '%s' has dtype %d, expected %d", name, r->dtype, dtype);
        return NULL;
    }
    if (count >= 0 && r->count != (uint64_t)count) {
        *rc = seterr(SF_ERR_FORMAT, "brain file: record '%s' has %llu elements, expected %lld", name,
                     (unsigned long long)r->count, (long long)count);
        return NULL;
    }
    if (got) *got = (int64_t)r->count;
    return r->data;
}

/* A state array the file leaves out (`name`, optional: not every population keeps it) must be kept
   by no parameter set: the file's record kept.<name> (uint8 per parameter set, written by `spikeforge
   export` from Layout.pid_keeps) says so. */
static int check_unkept(sf_world *w, const char *name, int64_t n_params) {
    char kn[80];
    snprintf(kn, sizeof kn, "kept.%s", name);
    if (!find(w, kn))
        return seterr(SF_ERR_FORMAT, "brain file: missing record '%s' (and no '%s' saying no parameter set keeps it)",
                      name, kn);
    int rc = SF_OK;
    const uint8_t *kept = (const uint8_t *)need(w, kn, SF_DTYPE_UINT8, n_params, NULL, &rc);
    if (rc != SF_OK) return rc;
    for (int64_t p = 0; p < n_params; p++)
        if (kept[p])
            return seterr(SF_ERR_FORMAT, "brain file: missing record '%s', but parameter set %lld keeps it (%s)", name,
                          (long long)p, kn);
    return SF_OK;
}

/* the optional variables, SF_KEPT_* order (generated) */
static const char *const kept_names[SF_N_KEPT] = SF_KEPT_NAMES;

/* SF_KEPT_* index of an optional variable (-1: not one) */
static int kept_var(const char *name) {
    for (int j = 0; j < SF_N_KEPT; j++)
        if (strcmp(name, kept_names[j]) == 0) return j;
    return -1;
}

/* Elements of optional array `name`: the neurons of the parameter sets that keep it. */
static int64_t kept_len_of(const sf_world *w, const char *name) {
    const int j = kept_var(name);
    return j >= 0 ? w->kept_len[j] : w->net.n_neurons;
}

SF_API void sf_world_destroy(sf_world *w) {
    if (!w) return;
    sf_engine_free(w->eng);
    for (int i = 0; i < w->n_rec; i++) free(w->rec[i].data);
    free(w->sgroups);
    free(w->agroups);
    free(w->snames);
    free(w->anames);
    free(w->pid_keeps);
    free(w);
}

static int parse(sf_world *w, const unsigned char *p, size_t size) {
    if (size < 16 || memcmp(p, "SFBRAIN\0", 8) != 0) return seterr(SF_ERR_FORMAT, "brain file: bad magic (not a spikeforge brain file)");
    uint32_t version, n;
    memcpy(&version, p + 8, 4);
    memcpy(&n, p + 12, 4);
    if (version != SF_BRAIN_FORMAT_VERSION)
        return seterr(SF_ERR_FORMAT, "brain file: format version %u, this library reads %d", version,
                      SF_BRAIN_FORMAT_VERSION);
    if (n > MAX_RECORDS) return seterr(SF_ERR_FORMAT, "brain file: %u records (at most %d)", n, MAX_RECORDS);
    size_t off = 16;
    for (uint32_t i = 0; i < n; i++) {
        uint16_t len;
        if (size - off < 2) return seterr(SF_ERR_FORMAT, "brain file: truncated in record %u header", i);
        memcpy(&len, p + off, 2);
        off += 2;
        if (len < 1 || len > 64) return seterr(SF_ERR_FORMAT, "brain file: record %u name length %u", i, len);
        if (size - off < (size_t)len + 9) return seterr(SF_ERR_FORMAT, "brain file: truncated in record %u header", i);
        record *r = &w->rec[w->n_rec];
        memcpy(r->name, p + off, len);
        r->name[len] = 0;
        off += len;
        for (uint16_t c = 0; c < len; c++) {  /* names go into error messages: printable ASCII only */
            unsigned char ch = (unsigned char)r->name[c];
            if (ch < 0x21 || ch > 0x7e)
                return seterr(SF_ERR_FORMAT, "brain file: record %u name has byte 0x%02x (names are printable ASCII)",
                              i, (unsigned)ch);
        }
        r->dtype = p[off];
        off += 1;
        memcpy(&r->count, p + off, 8);
        off += 8;
        size_t is = itemsize(r->dtype);
        if (!is) return seterr(SF_ERR_FORMAT, "brain file: record '%s' has unknown dtype %d", r->name, r->dtype);
        if (r->count > (uint64_t)(size - off) / is)
            return seterr(SF_ERR_FORMAT, "brain file: record '%s' claims %llu elements but the file is truncated",
                          r->name, (unsigned long long)r->count);
        size_t bytes = (size_t)r->count * is;
        for (int j = 0; j < w->n_rec; j++)
            if (strcmp(w->rec[j].name, r->name) == 0)
                return seterr(SF_ERR_FORMAT, "brain file: duplicate record '%s'", r->name);
        r->data = malloc(bytes ? bytes : 8);
        if (!r->data) return seterr(SF_ERR_NOMEM, "brain file: out of memory for record '%s'", r->name);
        memcpy(r->data, p + off, bytes);
        off += bytes;
        w->n_rec++;
    }
    if (off != size) return seterr(SF_ERR_FORMAT, "brain file: %llu trailing bytes", (unsigned long long)(size - off));
    return SF_OK;
}

static int organs(sf_world *w, const char *prefix, sf_organ **groups, char ***names, int32_t *n_out, int *rc) {
    char ni[64], nf[64], nn[64];
    snprintf(ni, sizeof ni, "%s_groups_i", prefix);
    snprintf(nf, sizeof nf, "%s_groups_f", prefix);
    snprintf(nn, sizeof nn, "%s_names", prefix);
    int64_t cnt = 0, blob = 0;
    int64_t *gi = (int64_t *)need(w, ni, 4, -1, &cnt, rc);
    if (*rc != SF_OK) return *rc;
    if (cnt % N_GROUP_I != 0 || cnt / N_GROUP_I > 100000)
        return *rc = seterr(SF_ERR_FORMAT, "brain file: '%s' length %lld is not groups x %d", ni, (long long)cnt,
                            N_GROUP_I);
    int64_t ng = cnt / N_GROUP_I;
    double *gf = (double *)need(w, nf, 6, ng * N_GROUP_F, NULL, rc);
    char *nm = (char *)need(w, nn, 1, -1, &blob, rc);
    if (*rc != SF_OK) return *rc;
    *groups = (sf_organ *)calloc((size_t)ng + 1, sizeof **groups);
    *names = (char **)calloc((size_t)ng + 1, sizeof **names);
    if (!*groups || !*names) return *rc = seterr(SF_ERR_NOMEM, "brain file: out of memory");
    int64_t pos = 0;
    for (int64_t g = 0; g < ng; g++) {
        const int64_t *q = gi + g * N_GROUP_I;
        for (int k = 0; k < 4; k++)
            if (q[k] < -1 || q[k] > INT32_MAX)
                return *rc = seterr(SF_ERR_INVALID, "brain file: %s[%lld] field %d out of range", ni, (long long)g, k);
        sf_organ *o = &(*groups)[g];
        o->kind = (int32_t)q[0];
        o->channels = (int32_t)q[1];
        o->width = (int32_t)q[2];
        o->per_chan = (int32_t)q[3];
        o->pop_offset = q[4];
        o->brain0 = q[5];
        o->brains = q[6];
        o->offset = q[7];
        o->out_offset = q[8];
        o->low = gf[g * N_GROUP_F + 0];
        o->high = gf[g * N_GROUP_F + 1];
        o->gain = gf[g * N_GROUP_F + 2];
        o->rate = gf[g * N_GROUP_F + 3];
        o->sigma = gf[g * N_GROUP_F + 4];
        if (pos >= blob) return *rc = seterr(SF_ERR_FORMAT, "brain file: '%s' holds fewer than %lld names", nn, (long long)ng);
        (*names)[g] = nm + pos;
        void *z = memchr(nm + pos, 0, (size_t)(blob - pos));
        if (!z) return *rc = seterr(SF_ERR_FORMAT, "brain file: '%s' name %lld is not NUL-terminated", nn, (long long)g);
        pos = (char *)z - nm + 1;
    }
    *n_out = (int32_t)ng;
    return SF_OK;
}

static int assemble_net(sf_world *w) {
    int rc = SF_OK;
    sf_net *t = &w->net;
    int64_t n = 0, nb = 0, R = 0, S = 0, G = 0, P = 0;
    /* the tables the file was exported for: another spikeforge's layout would be misread */
    if (!find(w, "tables_fingerprint"))
        return seterr(SF_ERR_FORMAT, "brain file: no 'tables_fingerprint' record: it was exported by an older "
                      "spikeforge; re-export it with the `spikeforge export` that matches this library");
    uint32_t *tables = (uint32_t *)need(w, "tables_fingerprint", SF_DTYPE_UINT32, 1, NULL, &rc);
    if (rc != SF_OK) return rc;
    if (*tables != SF_TABLES_FINGERPRINT)
        return seterr(SF_ERR_FORMAT, "brain file: exported for engine tables %08x, this library was built for %08x "
                      "(another spikeforge version): re-export it with the matching `spikeforge export`",
                      (unsigned)*tables, (unsigned)SF_TABLES_FINGERPRINT);
    double *dt = (double *)need(w, "dt_ms", 6, 1, NULL, &rc);
    int64_t *depth = (int64_t *)need(w, "depth", 4, 1, NULL, &rc);
    int64_t *ws = (int64_t *)need(w, "world_step", 4, 1, NULL, &rc);
    int64_t *nproj = (int64_t *)need(w, "n_proj", 4, 1, NULL, &rc);
    t->brain_key = (uint32_t *)need(w, "brain_key", 3, -1, &nb, &rc);
    t->v = (float *)need(w, "v", 5, -1, &n, &rc);
    t->row_delay = (int32_t *)need(w, "row_delay", 2, -1, &R, &rc);
    t->post = (int32_t *)need(w, "post", 2, -1, &S, &rc);
    t->gap_a = (int32_t *)need(w, "gap_a", 2, -1, &G, &rc);
    t->fparams = (float *)need(w, "fparams", 5, -1, &P, &rc);
    if (rc != SF_OK) return rc;
    if (P % SF_NF) return seterr(SF_ERR_FORMAT, "brain file: 'fparams' length %lld is not sets x %d", (long long)P, SF_NF);
    P /= SF_NF;
    if (*depth < 1 || *depth > (1 << 20)) return seterr(SF_ERR_INVALID, "brain file: depth %lld outside 1..2^20", (long long)*depth);
    if (n >= ((int64_t)1 << 31) || nb >= ((int64_t)1 << 31))
        return seterr(SF_ERR_INVALID, "brain file: too many neurons or brains");
    if (*ws < 0) return seterr(SF_ERR_INVALID, "brain file: world_step must be >= 0");
    if (*nproj < 0 || *nproj > INT32_MAX) return seterr(SF_ERR_INVALID, "brain file: n_proj out of range");
    t->dt_ms = *dt;
    t->depth = (int32_t)*depth;
    w->world_step = *ws;
    t->n_neurons = n;
    t->n_brains = nb;
    t->n_rows = R;
    t->n_synapses = S;
    t->n_gap = G;
    t->n_params = P;
    t->n_proj = *nproj;
    t->brain_start = (int64_t *)need(w, "brain_start", 4, nb + 1, NULL, &rc);
    t->brain_step = (int64_t *)need(w, "brain_step", 4, nb, NULL, &rc);
    t->pid = (int32_t *)need(w, "pid", 2, n, NULL, &rc);
    if (rc != SF_OK) return rc;
    for (int64_t i = 0; i < n; i++)
        if (t->pid[i] < 0 || t->pid[i] >= P)
            return seterr(SF_ERR_FORMAT, "brain file: pid[%lld] = %d outside 0..%lld", (long long)i, t->pid[i],
                          (long long)P - 1);
    /* which parameter sets keep each optional variable (kept.<name>; without the record, all of
       them): such an array holds only their neurons, in neuron order (sf_net.pid_keeps) */
    w->pid_keeps = (uint16_t *)calloc((size_t)(P > 0 ? P : 1), sizeof *w->pid_keeps);
    if (!w->pid_keeps) return seterr(SF_ERR_NOMEM, "out of memory");
    {
        for (int j = 0; j < SF_N_KEPT; j++) {
            char kn[80];
            snprintf(kn, sizeof kn, "kept.%s", kept_names[j]);
            const uint8_t *kept = find(w, kn) ? (const uint8_t *)need(w, kn, SF_DTYPE_UINT8, P, NULL, &rc) : NULL;
            if (rc != SF_OK) return rc;
            for (int64_t q = 0; q < P; q++)
                if (!kept || kept[q]) w->pid_keeps[q] |= (uint16_t)(1u << j);
            w->kept_len[j] = 0;
            for (int64_t i = 0; i < n; i++) w->kept_len[j] += (w->pid_keeps[t->pid[i]] >> j) & 1u;
        }
    }
    t->pid_keeps = w->pid_keeps;
    /* every per-neuron state array (the generated list; v again, now with its length known); one
       not every population keeps holds only the neurons of the parameter sets that keep it, and may
       be absent (no population of the exported world keeps it): NULL, which the kernels read as +0
       for every neuron */
#define NEED_STATE(name, ctype, code, optional) \
    t->name = !(optional) || find(w, #name) ? (ctype *)need(w, #name, code, (optional) ? kept_len_of(w, #name) : n, \
                                                           NULL, &rc) : NULL; \
    if ((optional) && rc == SF_OK && !t->name) rc = check_unkept(w, #name, P);
    SF_FOR_EACH_NET_STATE(NEED_STATE)
#undef NEED_STATE
    t->act_slot = (int32_t *)need(w, "act_slot", 2, n, NULL, &rc);
    t->iparams = (int32_t *)need(w, "iparams", 2, P * SF_NI, NULL, &rc);
    t->row_ptr = (int64_t *)need(w, "row_ptr", 4, n + 1, NULL, &rc);
    t->row_syn = (int64_t *)need(w, "row_syn", 4, R + 1, NULL, &rc);
    t->row_chan = (int32_t *)need(w, "row_chan", 2, R, NULL, &rc);
    t->row_proj = (int32_t *)need(w, "row_proj", 2, R, NULL, &rc);
    t->weight = (float *)need(w, "weight", 5, S, NULL, &rc);
    t->gap_b = (int32_t *)need(w, "gap_b", 2, G, NULL, &rc);
    t->gap_g = (float *)need(w, "gap_g", 5, G, NULL, &rc);
    t->ring = (int32_t *)need(w, "ring", 2, (int64_t)t->depth * 3 * n, NULL, &rc);
    t->sensor_values = (float *)need(w, "sensor_values", 5, -1, &t->n_sensor_values, &rc);
    t->act_counts = (int32_t *)need(w, "act_counts", 2, -1, &t->n_act_counts, &rc);
    t->act_out = (float *)need(w, "act_out", 5, -1, &t->n_act_out, &rc);
    t->gauss_lut = (float *)need(w, "gauss_lut", 5, SF_GAUSS_LUT_SIZE, NULL, &rc);
    if (rc != SF_OK) return rc;
    if (organs(w, "sensor", &w->sgroups, &w->snames, &t->n_sensor_groups, &rc) != SF_OK) return rc;
    if (organs(w, "actuator", &w->agroups, &w->anames, &t->n_actuator_groups, &rc) != SF_OK) return rc;
    t->sensor_groups = w->sgroups;
    t->actuator_groups = w->agroups;
    /* learning (optional) */
    int64_t *flags = find(w, "plast_flags") ? (int64_t *)need(w, "plast_flags", 4, 4, NULL, &rc) : NULL;
    sf_plast *pl = &t->plast;
    memset(pl, 0, sizeof *pl);
    if (flags && rc == SF_OK) {
        pl->any_rstdp = flags[0] != 0;
        pl->any_homeo = flags[1] != 0;
        pl->any_events = flags[2] != 0;
        pl->learning = flags[3] != 0;
        pl->proj_f = (float *)need(w, "plast_proj_f", 5, t->n_proj * SF_NPF, NULL, &rc);
        pl->proj_i = (int32_t *)need(w, "plast_proj_i", 2, t->n_proj * SF_NPI, NULL, &rc);
        pl->pid_f = (float *)need(w, "plast_pid_f", 5, P * SF_NPP, NULL, &rc);
        pl->da_decay = (float *)need(w, "da_decay", 5, nb, NULL, &rc);
        pl->every = (int64_t *)need(w, "every", 4, nb, NULL, &rc);
        pl->dopamine = (float *)need(w, "dopamine", 5, nb, NULL, &rc);
        pl->dopamine_sum = (float *)need(w, "dopamine_sum", 5, nb, NULL, &rc);
        pl->learn = (uint8_t *)need(w, "learn", 1, nb, NULL, &rc);
        /* the learning brains' neurons (kept.<name>); shist is written only where some projection
           depresses at delivery (checked below) */
#define NEED_STATE(name, ctype, code, optional) \
    pl->name = strcmp(#name, "shist") != 0 || find(w, #name) \
                   ? (ctype *)need(w, #name, code, kept_len_of(w, #name), NULL, &rc) : NULL;
        SF_FOR_EACH_PLAST_STATE(NEED_STATE)
#undef NEED_STATE
        pl->elig = find(w, "elig") ? (float *)need(w, "elig", 5, S, NULL, &rc) : NULL;
        pl->in_ptr = (int64_t *)need(w, "in_ptr", 4, n + 1, NULL, &rc);
        pl->in_syn = (int64_t *)need(w, "in_syn", 4, -1, &pl->n_in, &rc);
        pl->in_pre = (int64_t *)need(w, "in_pre", 4, pl->n_in, NULL, &rc);
        pl->in_proj = (int64_t *)need(w, "in_proj", 4, pl->n_in, NULL, &rc);
        pl->rs_ptr = (int64_t *)need(w, "rs_ptr", 4, nb + 1, NULL, &rc);
        pl->rs_syn = (int64_t *)need(w, "rs_syn", 4, -1, &pl->n_rs, &rc);
        pl->rs_post = (int64_t *)need(w, "rs_post", 4, pl->n_rs, NULL, &rc);
        pl->rs_proj = (int64_t *)need(w, "rs_proj", 4, pl->n_rs, NULL, &rc);
        if (rc == SF_OK)
            for (int64_t q = 0; q < P; q++)
                if (pl->pid_f[q * SF_NPP + SF_PP_PREEARLY] != 0.0f || pl->pid_f[q * SF_NPP + SF_PP_POSTEARLY] != 0.0f)
                    pl->any_early = 1;
        if (rc == SF_OK)
            for (int64_t q = 0; q < t->n_proj; q++)
                if (pl->proj_i[q * SF_NPI + SF_PI_DELIVER] != 0) pl->any_delivery = 1;
        if (rc == SF_OK && pl->any_delivery && !pl->shist)
            return seterr(SF_ERR_INVALID, "brain file: record 'shist' missing (a projection depresses at delivery)");
        pl->enabled = 1;
    }
    if (rc != SF_OK) return rc;
    char msg[400];
    if (sf_net_validate(t, msg, sizeof msg) != 0) return seterr(SF_ERR_INVALID, "brain file: invalid layout: %s", msg);
    return SF_OK;
}

SF_API int sf_world_load_memory(const void *data, size_t size, sf_world **out) {
    if (!out) return seterr(SF_ERR_ARG, "sf_world_load_memory: out must not be NULL");
    *out = NULL;
    if (!data && size) return seterr(SF_ERR_ARG, "sf_world_load_memory: data is NULL");
    sf_world *w = (sf_world *)calloc(1, sizeof *w);
    if (!w) return seterr(SF_ERR_NOMEM, "out of memory");
    int rc = parse(w, (const unsigned char *)data, size);
    if (rc == SF_OK) rc = assemble_net(w);
    if (rc == SF_OK) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        w->eng = sf_engine_new(cores < 1 ? 1 : cores > 256 ? 256 : (int)cores); /* all cores by default */
        if (!w->eng) rc = seterr(SF_ERR_NOMEM, "out of memory creating the engine");
        else if (sf_engine_prepare(w->eng, &w->net) != 0) rc = seterr(SF_ERR_NOMEM, "%s", sf_engine_error(w->eng));
    }
    if (rc != SF_OK) {
        sf_world_destroy(w);
        return rc;
    }
    g_err[0] = 0;
    *out = w;
    return SF_OK;
}

SF_API int sf_world_load(const char *path, sf_world **out) {
    if (!out || !path) return seterr(SF_ERR_ARG, "sf_world_load: path and out must not be NULL");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return seterr(SF_ERR_IO, "cannot open brain file '%s'", path);
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = (unsigned char *)malloc(cap);
    int rc = SF_OK;
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len < cap) break;
        if (cap > ((size_t)1 << 40)) {
            rc = seterr(SF_ERR_FORMAT, "brain file '%s' is too large", path);
            break;
        }
        unsigned char *b2 = (unsigned char *)realloc(buf, cap * 2);
        if (!b2) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b2;
        cap *= 2;
    }
    int io = ferror(f);
    fclose(f);
    if (!buf) return seterr(SF_ERR_NOMEM, "out of memory reading '%s'", path);
    if (rc == SF_OK && io) rc = seterr(SF_ERR_IO, "error reading brain file '%s'", path);
    if (rc == SF_OK) rc = sf_world_load_memory(buf, len, out);
    free(buf);
    return rc;
}

SF_API int sf_world_run(sf_world *w, int64_t n_steps) {
    if (!w) return seterr(SF_ERR_ARG, "sf_world_run: world is NULL");
    if (n_steps < 1) return seterr(SF_ERR_ARG, "sf_world_run: n_steps must be >= 1, got %lld", (long long)n_steps);
    if (sf_engine_advance(w->eng, &w->net, n_steps, w->world_step, NULL) != 0)
        return seterr(SF_ERR_RUNTIME, "sf_world_run: %s", sf_engine_error(w->eng));
    w->world_step += n_steps;
    if (w->cb) w->cb(w->cb_user, sf_engine_spike_steps(w->eng), sf_engine_spike_neurons(w->eng), sf_engine_spike_count(w->eng));
    return SF_OK;
}

SF_API int sf_world_set_threads(sf_world *w, int threads) {
    if (!w || threads < 1) return seterr(SF_ERR_ARG, "sf_world_set_threads: threads must be >= 1");
    sf_engine_set_threads(w->eng, threads, 1); /* at most the cores found at load time */
    return SF_OK;
}

SF_API void sf_world_set_spike_callback(sf_world *w, sf_spike_fn fn, void *user) {
    if (!w) return;
    w->cb = fn;
    w->cb_user = user;
}

SF_API void sf_world_set_learning(sf_world *w, int on) {
    if (w) w->net.plast.learning = on != 0;
}

SF_API int64_t sf_world_step(const sf_world *w) { return w ? w->world_step : -1; }
SF_API int64_t sf_world_neuron_count(const sf_world *w) { return w ? w->net.n_neurons : -1; }
SF_API int64_t sf_world_brain_count(const sf_world *w) { return w ? w->net.n_brains : -1; }
SF_API int64_t sf_world_synapse_count(const sf_world *w) { return w ? w->net.n_synapses : -1; }

SF_API float *sf_world_sensors(sf_world *w, int64_t *count) {
    if (count) *count = w ? w->net.n_sensor_values : 0;
    return w ? w->net.sensor_values : NULL;
}
SF_API float *sf_world_actuators(sf_world *w, int64_t *count) {
    if (count) *count = w ? w->net.n_act_out : 0;
    return w ? w->net.act_out : NULL;
}
SF_API float *sf_world_dopamine(sf_world *w, int64_t *count) {
    int on = w && w->net.plast.enabled;
    if (count) *count = on ? w->net.n_brains : 0;
    return on ? w->net.plast.dopamine : NULL;
}

static int find_organ(const sf_organ *g, char *const *names, int32_t n, const char *name, int act, int64_t *offset,
                      int32_t *per_brain, int64_t *brains) {
    for (int32_t i = 0; i < n; i++) {
        if (strcmp(names[i], name) != 0) continue;
        if (offset) *offset = act ? g[i].out_offset : g[i].offset;
        if (per_brain) *per_brain = act ? g[i].width : g[i].channels;
        if (brains) *brains = g[i].brains;
        return SF_OK;
    }
    return seterr(SF_ERR_ARG, "no %s named '%s'", act ? "actuator" : "sensor", name);
}

SF_API int sf_world_find_sensor(const sf_world *w, const char *name, int64_t *offset, int32_t *per_brain,
                                int64_t *brains) {
    if (!w || !name) return seterr(SF_ERR_ARG, "sf_world_find_sensor: NULL argument");
    return find_organ(w->sgroups, w->snames, w->net.n_sensor_groups, name, 0, offset, per_brain, brains);
}
SF_API int sf_world_find_actuator(const sf_world *w, const char *name, int64_t *offset, int32_t *per_brain,
                                  int64_t *brains) {
    if (!w || !name) return seterr(SF_ERR_ARG, "sf_world_find_actuator: NULL argument");
    return find_organ(w->agroups, w->anames, w->net.n_actuator_groups, name, 1, offset, per_brain, brains);
}

SF_API float *sf_world_state_f32(sf_world *w, const char *name, int64_t *count) {
    if (count) *count = 0;
    if (!w || !name) return NULL;
    sf_net *t = &w->net;
    struct { const char *n; float *p; } tab[] = {{"v", t->v}, {"ie", t->ie}, {"ii", t->ii}, {"w", t->w},
        {"theta", t->theta}, {"mod", t->mod}, {"iext", t->iext}, {"pforce", t->pforce}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(name, tab[i].n) == 0) {
            if (!tab[i].p) {
                seterr(SF_ERR_ARG, "state '%s' is not stored: no population of this brain file keeps it", name);
                return NULL;
            }
            if (count) *count = kept_len_of(w, name);
            return tab[i].p;
        }
    if (strcmp(name, "weight") == 0) {
        if (count) *count = t->n_synapses;
        return t->weight;
    }
    seterr(SF_ERR_ARG, "no float32 state named '%s'", name);
    return NULL;
}

SF_API int32_t *sf_world_state_i32(sf_world *w, const char *name, int64_t *count) {
    if (count) *count = 0;
    if (!w || !name) return NULL;
    sf_net *t = &w->net;
    const int known = strcmp(name, "hold") == 0 || strcmp(name, "consec") == 0 || strcmp(name, "burst") == 0;
    int32_t *p = strcmp(name, "hold") == 0 ? t->hold : strcmp(name, "consec") == 0 ? t->consec
               : strcmp(name, "burst") == 0 ? t->burst : NULL;
    if (known && !p) {
        seterr(SF_ERR_ARG, "state '%s' is not stored: no population of this brain file keeps it", name);
        return NULL;
    }
    if (!p) {
        seterr(SF_ERR_ARG, "no int32 state named '%s'", name);
        return NULL;
    }
    if (count) *count = kept_len_of(w, name);
    return p;
}

SF_API int64_t sf_world_state_index(const sf_world *w, const char *name, int64_t neuron) {
    if (!w || !name) return -(int64_t)seterr(SF_ERR_ARG, "sf_world_state_index: NULL argument");
    if (neuron < 0 || neuron >= w->net.n_neurons)
        return -(int64_t)seterr(SF_ERR_ARG, "sf_world_state_index: neuron %lld outside 0..%lld",
                                (long long)neuron, (long long)w->net.n_neurons - 1);
    const int j = kept_var(name);
    if (j < 0) return neuron;
    const int64_t at = sf_engine_kept_index(w->eng, j, neuron);
    if (at < 0)
        return -(int64_t)seterr(SF_ERR_ARG, "sf_world_state_index: the population of neuron %lld does not keep '%s'",
                                (long long)neuron, name);
    return at;
}
