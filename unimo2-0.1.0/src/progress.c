#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_quiet;

void u2_progress_set_quiet(int quiet) { g_quiet = quiet; }

double u2_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void u2_format_duration(double s, char *buf, int len)
{
    if (s < 0 || s != s) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, (size_t)len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, (size_t)len, "%ld:%02ld", t / 60, t % 60);
}

void u2_progress_start(u2_progress *p, const char *label, int64_t total)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total;
    p->t0 = u2_now();
    p->tty = isatty(STDERR_FILENO);
    p->quiet = g_quiet;
    p->last_decile = -1;
}

static void draw(u2_progress *p, int64_t done, int final)
{
    double el = u2_now() - p->t0;
    char eta[32] = "", els[32];
    u2_format_duration(el, els, sizeof els);
    double frac = p->total > 0 ? (double)done / (double)p->total : 0.0;
    if (frac > 1) frac = 1;
    if (!final && done > 0 && p->total > 0) {
        char t[24];
        u2_format_duration(el / (double)done * (double)(p->total - done), t, sizeof t);
        snprintf(eta, sizeof eta, " ETA %s", t);
    }
    if (p->tty) {
        char bar[26];
        int fill = (int)(frac * 24 + 0.5);
        for (int i = 0; i < 24; i++) bar[i] = i < fill ? '#' : '.';
        bar[24] = '\0';
        fprintf(stderr, "\r\033[K%s [%s] %3d%% %lld/%lld %s%s%s%s", p->label, bar,
                (int)(frac * 100), (long long)done, (long long)p->total, els, eta,
                p->extra[0] ? "  " : "", p->extra);
        if (final) fputc('\n', stderr);
    } else {
        fprintf(stderr, "%s: %3d%% %lld/%lld %s%s%s%s\n", p->label, (int)(frac * 100),
                (long long)done, (long long)p->total, els, eta, p->extra[0] ? "  " : "",
                p->extra);
    }
    fflush(stderr);
}

void u2_progress_update(u2_progress *p, int64_t done, const char *fmt, ...)
{
    if (p->quiet) return;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->extra, sizeof p->extra, fmt, ap);
        va_end(ap);
    }
    double now = u2_now();
    if (p->tty) {
        if (now - p->last_print < 0.1 && done < p->total) return;
    } else {
        int decile = p->total > 0 ? (int)(10 * done / p->total) : 0;
        if (decile == p->last_decile && now - p->last_print < 10.0) return;
        p->last_decile = decile;
    }
    p->last_print = now;
    draw(p, done, 0);
}

void u2_progress_end(u2_progress *p)
{
    if (p->quiet) return;
    draw(p, p->total, 1);
}
