/*
 * Loader fuzzer: mutates a valid brain file many ways and checks that loading it
 * either fails cleanly or gives a world that runs. Built with ASan+UBSan by
 * tests/native/test_sanitizers.py (any memory error or UB aborts the run).
 *
 *   fuzz_loader VALID.sfb [ITERATIONS] [SEED]
 *
 * With -DSF_LIBFUZZER it is a libFuzzer target instead (LLVMFuzzerTestOneInput).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spikeforge.h"

static int try_load(const unsigned char *data, size_t size) {
    sf_world *w = NULL;
    int rc = sf_world_load_memory(data, size, &w);
    if (rc == SF_OK) {
        int64_t n = 0;
        float *s = sf_world_sensors(w, &n);
        for (int64_t i = 0; i < n; i++) s[i] = (float)(i % 7) * 0.3f - 0.5f;
        sf_world_set_threads(w, 2);
        if (sf_world_run(w, 3) != SF_OK) rc = -1;
        sf_world_destroy(w);
    } else if (strlen(sf_last_error()) == 0) {
        fprintf(stderr, "load failed without a message\n");
        abort();
    }
    return rc;
}

#ifdef SF_LIBFUZZER
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    try_load(data, size);
    return 0;
}
#else
static unsigned long long rng_state;
static unsigned long long next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s VALID.sfb [ITERATIONS] [SEED]\n", argv[0]);
        return 2;
    }
    long iters = argc > 2 ? strtol(argv[2], NULL, 10) : 2000;
    rng_state = argc > 3 ? strtoull(argv[3], NULL, 10) * 2654435761ull + 1 : 88172645463325252ull;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 2;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *orig = (unsigned char *)malloc((size_t)size);
    unsigned char *buf = (unsigned char *)malloc((size_t)size);
    if (!orig || !buf || fread(orig, 1, (size_t)size, f) != (size_t)size) return 2;
    fclose(f);
    if (try_load(orig, (size_t)size) != SF_OK) {
        fprintf(stderr, "the valid file does not load: %s\n", sf_last_error());
        return 1;
    }
    long ok = 0, rejected = 0;
    /* every truncation point of the header and of a sample of the body */
    for (long cut = 0; cut < size; cut += (cut < 256 ? 1 : 1 + (long)(next() % 997))) {
        if (try_load(orig, (size_t)cut) == SF_OK) ok++;
        else rejected++;
    }
    for (long it = 0; it < iters; it++) {
        memcpy(buf, orig, (size_t)size);
        int edits = 1 + (int)(next() % 4);
        for (int e = 0; e < edits; e++) {
            long pos = (long)(next() % (unsigned long long)size);
            switch (next() % 4) {
            case 0: buf[pos] ^= (unsigned char)(1u << (next() % 8)); break;  /* bit flip */
            case 1: buf[pos] = (unsigned char)next(); break;                  /* random byte */
            case 2: {                                                         /* 32-bit extreme */
                unsigned int v[] = {0u, 1u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu, 0x7FC00000u};
                if (pos + 4 <= size) memcpy(buf + pos, &v[next() % 6], 4);
                break;
            }
            default: {                                                        /* 64-bit extreme */
                unsigned long long v[] = {0ull, ~0ull, 1ull << 62, 1ull << 40, 3ull};
                if (pos + 8 <= size) memcpy(buf + pos, &v[next() % 5], 8);
            }
            }
        }
        if (try_load(buf, (size_t)size) == SF_OK) ok++;
        else rejected++;
    }
    printf("fuzz ok=%ld rejected=%ld\n", ok, rejected);
    free(orig);
    free(buf);
    return 0;
}
#endif
