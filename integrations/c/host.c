/*
 * A small C host of spikeforge brains (no Python at run time).
 *
 *   spikeforge export genome.json --count 4 -o npcs.sfb
 *   make -C native host && native/build/host npcs.sfb 60 16 0.7 [state.bin]
 *
 * Loads a compiled brain file, then per frame: writes every sensor value, runs
 * STEPS fixed steps in one call, receives the frame's spikes in a callback and
 * reads the actuators. Prints a summary; with STATE_OUT writes the final membrane
 * potentials (float32 per neuron) followed by the synaptic weights (float32 per
 * synapse) so a test can compare them with the Python SDK bit for bit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spikeforge.h"

typedef struct {
    long long spikes;
    long long calls;
    long long last_step;
} counter;

static void on_spikes(void *user, const int64_t *steps, const int32_t *neurons, int64_t count) {
    counter *c = (counter *)user;
    (void)neurons;
    c->calls++;
    c->spikes += count;
    if (count) c->last_step = (long long)steps[count - 1];
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s BRAIN.sfb FRAMES STEPS_PER_FRAME SENSOR_VALUE [STATE_OUT]\n", argv[0]);
        return 2;
    }
    if ((sf_version() >> 16) != SF_API_VERSION_MAJOR) {
        fprintf(stderr, "spikeforge library %s does not match header major %d\n", sf_version_string(),
                SF_API_VERSION_MAJOR);
        return 1;
    }
    long frames = strtol(argv[2], NULL, 10), steps = strtol(argv[3], NULL, 10);
    float value = strtof(argv[4], NULL);
    sf_world *w = NULL;
    if (sf_world_load(argv[1], &w) != SF_OK) {
        fprintf(stderr, "error: %s\n", sf_last_error());
        return 1;
    }
    printf("version %s\n", sf_version_string());
    printf("brains %lld neurons %lld synapses %lld\n", (long long)sf_world_brain_count(w),
           (long long)sf_world_neuron_count(w), (long long)sf_world_synapse_count(w));
    int64_t off = 0, brains = 0;
    int32_t per = 0;
    if (sf_world_find_sensor(w, "eyes", &off, &per, &brains) == SF_OK)
        printf("sensor eyes offset %lld channels %d brains %lld\n", (long long)off, per, (long long)brains);
    counter c = {0, 0, -1};
    sf_world_set_spike_callback(w, on_spikes, &c);
    int64_t ns = 0, na = 0;
    for (long f = 0; f < frames; f++) {
        float *sensors = sf_world_sensors(w, &ns); /* zero-copy: the kernel reads this memory */
        for (int64_t i = 0; i < ns; i++) sensors[i] = value;
        if (sf_world_run(w, steps) != SF_OK) {
            fprintf(stderr, "error: %s\n", sf_last_error());
            sf_world_destroy(w);
            return 1;
        }
    }
    const float *act = sf_world_actuators(w, &na);
    printf("steps %lld spikes %lld callbacks %lld last_step %lld\n", (long long)sf_world_step(w), c.spikes,
           c.calls, c.last_step);
    printf("actuators");
    for (int64_t i = 0; i < na; i++) printf(" %.9g", act[i]);
    printf("\n");
    if (sf_world_run(w, 0) == SF_OK || strlen(sf_last_error()) == 0) {
        fprintf(stderr, "expected an error for n_steps = 0\n");
        return 1;
    }
    if (argc > 5) {
        FILE *out = fopen(argv[5], "wb");
        int64_t n = 0, s = 0;
        const float *v = sf_world_state_f32(w, "v", &n);
        const float *wt = sf_world_state_f32(w, "weight", &s);
        if (!out || fwrite(v, sizeof(float), (size_t)n, out) != (size_t)n ||
            fwrite(wt, sizeof(float), (size_t)s, out) != (size_t)s) {
            fprintf(stderr, "cannot write %s\n", argv[5]);
            return 1;
        }
        fclose(out);
    }
    sf_world_destroy(w);
    printf("ok\n");
    return 0;
}
