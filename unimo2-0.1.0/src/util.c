#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "util.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local char errbuf[1024];

int u2_fail(const char *what, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (what && *what)
        snprintf(errbuf, sizeof errbuf, "%s: %s", what, msg);
    else
        snprintf(errbuf, sizeof errbuf, "%s", msg);
    return -1;
}

const char *u2_errmsg(void) { return errbuf[0] ? errbuf : "unknown error"; }

void u2_clear_error(void) { errbuf[0] = '\0'; }

static void oom(size_t n)
{
    fprintf(stderr, "unimo2: out of memory (asked for %zu bytes)\n", n);
    abort();
}

void *u2_malloc(size_t n)
{
    size_t sz = (n + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, sz ? sz : 64);
    if (!p) oom(n);
    return p;
}

void *u2_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) oom(SIZE_MAX);
    void *p = u2_malloc(n * size);
    memset(p, 0, n * size);
    return p;
}

void *u2_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *u2_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = u2_malloc(n);
    memcpy(d, s, n);
    return d;
}
