/*
 * spikeforge C API, version 1 (SpikingGraph-style): run brains compiled by the
 * Python SDK from any C/C++ host, in process, without Python.
 *
 *   spikeforge export genome.json --count 8 -o npcs.sfb     # in the SDK
 *
 *   sf_world *w;
 *   if (sf_world_load("npcs.sfb", &w) != SF_OK) puts(sf_last_error());
 *   float *sensors = sf_world_sensors(w, &n);   // write: zero-copy, read by the next run
 *   sf_world_set_spike_callback(w, on_spikes, ctx);
 *   sf_world_run(w, 16);                         // 16 steps in one call, all cores
 *   const float *act = sf_world_actuators(w, &m);
 *   sf_world_destroy(w);
 *
 * Versioning: SF_API_VERSION_MAJOR changes only on incompatible changes; a host
 * compiled against major M must check (sf_version() >> 16) == M at run time.
 * Brain files carry their own format number (SF_BRAIN_FORMAT_VERSION) and the
 * fingerprint of the engine tables they were laid out by (record
 * "tables_fingerprint"); the loader rejects formats it does not know and files
 * exported by a spikeforge with other tables (saying to re-export them), and
 * validates every index, size and count before any kernel runs, so a malformed or
 * truncated file yields an error, never a crash.
 *
 * Threading: a world may be used from one thread at a time. sf_last_error() is per
 * thread. Pointers returned by the accessors stay valid until sf_world_destroy.
 *
 * Brain file format 1 (little-endian; written by spikeforge.runtime.export):
 *   bytes 0..7   magic "SFBRAIN\0"
 *   u32          format version (1)
 *   u32          number of records
 *   records, each:
 *     u16 name length L (1..64), L bytes printable ASCII name,
 *     u8 dtype (1 u8, 2 i32, 3 u32, 4 i64, 5 f32, 6 f64),
 *     u64 element count C, then C elements.
 * Record names are the fields of the flat layout (see spikeforge_abi.h and
 * sdk/spikeforge/runtime/export.py for the list); unknown records are ignored.
 */
#ifndef SPIKEFORGE_H
#define SPIKEFORGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define SF_API __declspec(dllexport)
#else
#define SF_API __attribute__((visibility("default")))
#endif

/* CAPI BEGIN */
#define SF_API_VERSION_MAJOR 1
#define SF_API_VERSION_MINOR 0
#define SF_API_VERSION_PATCH 0
#define SF_BRAIN_FORMAT_VERSION 1

#define SF_OK 0
#define SF_ERR_IO 1
#define SF_ERR_FORMAT 2
#define SF_ERR_INVALID 3
#define SF_ERR_NOMEM 4
#define SF_ERR_ARG 5
#define SF_ERR_RUNTIME 6

typedef struct sf_world sf_world;
/* Called once per sf_world_run with all spikes of the run, ordered by step then neuron. */
typedef void (*sf_spike_fn)(void *user, const int64_t *steps, const int32_t *neurons, int64_t count);

/* (major << 16) | (minor << 8) | patch */
SF_API uint32_t sf_version(void);
SF_API const char *sf_version_string(void);
/* Message of the last failed call on this thread ("" if none). */
SF_API const char *sf_last_error(void);

SF_API int sf_world_load(const char *path, sf_world **out);
SF_API int sf_world_load_memory(const void *data, size_t size, sf_world **out);
SF_API void sf_world_destroy(sf_world *w);

/* Encode sensors, run n_steps (>= 1) steps of every brain, decode actuators, report spikes. */
SF_API int sf_world_run(sf_world *w, int64_t n_steps);
/* By default a world uses up to all cores, one thread per 32,768 neurons. This forces up to
   `threads` threads (capped by the cores found at load) even for small worlds. Results do
   not depend on the thread count. */
SF_API int sf_world_set_threads(sf_world *w, int threads);
SF_API void sf_world_set_spike_callback(sf_world *w, sf_spike_fn fn, void *user);
/* 0 = learning paused (traces still evolve), 1 = on. */
SF_API void sf_world_set_learning(sf_world *w, int on);

SF_API int64_t sf_world_step(const sf_world *w);
SF_API int64_t sf_world_neuron_count(const sf_world *w);
SF_API int64_t sf_world_brain_count(const sf_world *w);
SF_API int64_t sf_world_synapse_count(const sf_world *w);

/* Zero-copy buffers: all sensor values / actuator outputs of all organs, and per-brain dopamine. */
SF_API float *sf_world_sensors(sf_world *w, int64_t *count);
SF_API float *sf_world_actuators(sf_world *w, int64_t *count);
SF_API float *sf_world_dopamine(sf_world *w, int64_t *count);
/* The first organ with this name: its block is values [offset, offset + brains * per_brain). */
SF_API int sf_world_find_sensor(const sf_world *w, const char *name, int64_t *offset, int32_t *per_brain,
                                int64_t *brains);
SF_API int sf_world_find_actuator(const sf_world *w, const char *name, int64_t *offset, int32_t *per_brain,
                                  int64_t *brains);
/* Per-neuron state: "v", "ie", "ii", "w", "theta", "mod", "iext", "pforce" (float) or per-synapse
   "weight". "w", "theta" and "mod" are stored per population (docs/semantics.md, "Which state a
   population keeps"): the array holds only the neurons of the populations that keep them, in neuron
   order (*count of them; sf_world_state_index says where a neuron's is), and is NULL, with
   sf_last_error() saying the state is not stored, when no population of the file keeps it. */
SF_API float *sf_world_state_f32(sf_world *w, const char *name, int64_t *count);
/* "hold", "consec", "burst" (int32). "consec" and "burst" are stored per population as "w" above
   ("consec" in the populations with a consecutive-fire limit, docs/semantics.md, step 5). */
SF_API int32_t *sf_world_state_i32(sf_world *w, const char *name, int64_t *count);
/* Where neuron `neuron`'s element of state array `name` is (the neuron itself for a state every
   neuron keeps); -SF_ERR_ARG, with sf_last_error() saying why, when its population does not keep
   it or the neuron is out of range. */
SF_API int64_t sf_world_state_index(const sf_world *w, const char *name, int64_t neuron);
/* CAPI END */

#ifdef __cplusplus
}
#endif
#endif
