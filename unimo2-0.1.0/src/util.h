/* Small shared helpers: error reporting, allocation, files, RNG. */
#ifndef UNIMO2_UTIL_H
#define UNIMO2_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Errors: a function that fails records one line, "WHAT: what is wrong",
 * and returns -1 (or NULL).  The CLI prints it as "unimo2: <line>". */
#if defined(__GNUC__)
#define U2_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define U2_PRINTF(a, b)
#endif
int u2_fail(const char *what, const char *fmt, ...) U2_PRINTF(2, 3);
const char *u2_errmsg(void);
void u2_clear_error(void);

/* Allocation that aborts with a message on failure (out of memory is not a
 * recoverable input error). 64-byte aligned. */
void *u2_malloc(size_t n);
void *u2_calloc(size_t n, size_t size);
void *u2_realloc(void *p, size_t n);
char *u2_strdup(const char *s);

#endif
