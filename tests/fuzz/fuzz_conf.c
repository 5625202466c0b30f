/*
 * fuzz_conf: configuration loading (conf/conf.h) from a file.
 *
 * Input: the config file's bytes, then optionally a 0xFF byte and -o
 * overrides separated by newlines. The file is written to a memfd and loaded
 * through /proc/self/fd. Properties: conf_load returns 0 or -EINVAL; on
 * -EINVAL every string is NULL and err holds at least one "...: ..." line;
 * on 0 err is empty, domain is set and every number is within its row's
 * bounds. A successful load is loaded again with a small error buffer
 * (truncation must stay in bounds) and must give the same result.
 */
#include "fuzz.h"

#include "conf/conf.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_OVERRIDES 8

static void check_bounds(const struct conf *c)
{
    size_t n;
    const struct conf_directive *d = conf_directives(&n);
    for (size_t i = 0; i < n; i++) {
        const char *t = d[i].type;
        const void *v = (const char *)c + d[i].offset;
        if (!strcmp(t, "uint") || !strcmp(t, "size") || !strcmp(t, "port")) {
            unsigned u = *(const unsigned *)v;
            FUZZ_CHECK(u >= d[i].min && u <= d[i].max, "%s.%s = %u out of bounds", d[i].section,
                       d[i].key, u);
        } else if (strcmp(t, "bool") != 0) {
            const char *s = *(char *const *)v;
            FUZZ_CHECK(s && *s, "%s.%s is set after a successful load", d[i].section, d[i].key);
        }
    }
}

static void check_empty(const struct conf *c)
{
    size_t n;
    const struct conf_directive *d = conf_directives(&n);
    for (size_t i = 0; i < n; i++) {
        const char *t = d[i].type;
        if (strcmp(t, "uint") && strcmp(t, "size") && strcmp(t, "port") && strcmp(t, "bool"))
            FUZZ_CHECK(*(char *const *)((const char *)c + d[i].offset) == NULL,
                       "%s.%s left set after a failed load", d[i].section, d[i].key);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = memchr(data, 0xff, size);
    size_t file_len = sep ? (size_t)(sep - data) : size;

    /* overrides: NUL-terminated copies of the lines after the separator */
    char *ov_buf = NULL;
    const char *ov[MAX_OVERRIDES];
    size_t n_ov = 0;
    if (sep) {
        size_t len = size - file_len - 1;
        ov_buf = malloc(len + 1);
        memcpy(ov_buf, sep + 1, len);
        ov_buf[len] = '\0';
        char *line = ov_buf;
        while (n_ov < MAX_OVERRIDES) {
            ov[n_ov++] = line;
            char *nl = strchr(line, '\n');
            if (!nl)
                break;
            *nl = '\0';
            line = nl + 1;
        }
    }

    int fd = memfd_create("fuzz-conf", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0, "memfd_create: %d", errno);
    FUZZ_CHECK(write(fd, data, file_len) == (ssize_t)file_len, "write");
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

    struct conf c = {0};
    char err[4096];
    int rc = conf_load(&c, path, ov, n_ov, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "rc %d", rc);
    FUZZ_CHECK(strlen(err) < sizeof(err), "err is terminated");
    if (rc == 0) {
        FUZZ_CHECK(err[0] == '\0', "no error text on success: %s", err);
        FUZZ_CHECK(c.domain != NULL, "domain is set");
        check_bounds(&c);
        /* the same input loads the same way, whatever the error buffer */
        struct conf again = {0};
        char small[8];
        FUZZ_CHECK(conf_load(&again, path, ov, n_ov, small, sizeof(small)) == 0, "reload");
        FUZZ_CHECK(strcmp(again.domain, c.domain) == 0, "same domain");
        conf_fini(&again);
    } else {
        FUZZ_CHECK(err[0] != '\0' && strchr(err, ':'), "an error message with a location");
        check_empty(&c);
        char tiny[3];
        FUZZ_CHECK(conf_load(&c, path, ov, n_ov, tiny, sizeof(tiny)) == -EINVAL, "fails again");
        FUZZ_CHECK(strlen(tiny) < sizeof(tiny), "tiny err is terminated");
        FUZZ_CHECK(conf_load(&c, path, ov, n_ov, NULL, 0) == -EINVAL, "fails without err");
    }
    conf_fini(&c);
    close(fd);
    free(ov_buf);
    return 0;
}
