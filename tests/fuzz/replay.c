/*
 * replay: a main() for the fuzz targets when they are built without
 * libFuzzer (gcc, the sanitizer build of `make test`, valgrind). It feeds
 * every file of the target's corpus to LLVMFuzzerTestOneInput once and
 * prints one TAP line per corpus directory, so the unit runner counts it.
 *
 * With arguments, each is a file or a directory to replay (for a crash file
 * from a fuzzing run: build/tests/fuzz_xml crash-1234). Without, it replays
 * tests/fuzz/corpus/NAME, where the program is named fuzz_NAME, relative to
 * the current directory (the top of the tree, as `make unit` runs it).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_FILE (1 << 20) /* bytes; corpus files are small */

/* Replays one file. Returns 0, or -1 if it could not be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *data = malloc(REPLAY_MAX_FILE);
    size_t n = data ? fread(data, 1, REPLAY_MAX_FILE, f) : 0;
    int rc = data && !ferror(f) ? 0 : -1;
    fclose(f);
    if (rc == 0) {
        /* an exact-size copy, so that ASan sees a read past the input */
        uint8_t *exact = malloc(n ? n : 1);
        if (exact) {
            memcpy(exact, data, n);
            LLVMFuzzerTestOneInput(exact, n);
            free(exact);
        } else {
            rc = -1;
        }
    }
    free(data);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays a file, or every regular file of a directory in name order. Returns files run or -1. */
static int replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path) < 0 ? -1 : 1;
    struct dirent **names;
    int n = scandir(path, &names, NULL, NULL);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    qsort(names, (size_t)n, sizeof(*names), by_name);
    int done = 0, bad = 0;
    for (int i = 0; i < n; i++) {
        char file[4096];
        snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(file) < 0)
                bad++;
            else
                done++;
        }
        free(names[i]);
    }
    free(names);
    return bad ? -1 : done;
}

int main(int argc, char **argv)
{
    char dflt[4096];
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    const char *name = strncmp(base, "fuzz_", 5) == 0 ? base + 5 : base;
    snprintf(dflt, sizeof(dflt), "tests/fuzz/corpus/%s", name);
    char *only[] = {dflt};
    char **paths = argc > 1 ? argv + 1 : only;
    int n_paths = argc > 1 ? argc - 1 : 1;
    int failed = 0;
    for (int i = 0; i < n_paths; i++) {
        int n = replay_path(paths[i]);
        /* reaching this line means no input crashed (a sanitizer would have stopped us) */
        printf("%sok %d - %s: replayed %d inputs\n", n > 0 ? "" : "not ", i + 1, paths[i],
               n > 0 ? n : 0);
        failed += n <= 0;
    }
    printf("1..%d\n", n_paths);
    return failed ? 1 : 0;
}
