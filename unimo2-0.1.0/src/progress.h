/* Progress line on stderr for long work: redrawn in place on a terminal,
 * a line every ~10% (or every few seconds) otherwise, silent when quiet. */
#ifndef UNIMO2_PROGRESS_H
#define UNIMO2_PROGRESS_H

#include <stdint.h>

typedef struct {
    const char *label;
    int64_t total;
    double t0, last_print;
    int tty, quiet, last_decile;
    char extra[160];
} u2_progress;

/* Global switch, e.g. from --quiet or --json. */
void u2_progress_set_quiet(int quiet);
void u2_progress_start(u2_progress *p, const char *label, int64_t total);
/* done items so far; extra text (printf format) is shown after the bar, may be NULL. */
void u2_progress_update(u2_progress *p, int64_t done, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void u2_progress_end(u2_progress *p);
/* Seconds since an arbitrary origin (monotonic). */
double u2_now(void);
/* "1:02:03" or "2:03" into buf. */
void u2_format_duration(double seconds, char *buf, int len);

#endif
