#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "plot.h"
#include "fileio.h"
#include "util.h"

#include <math.h>
#include <string.h>

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define NPAL (int)(sizeof palette / sizeof palette[0])

/* A "nice" tick step for a range: 1, 2 or 5 times a power of ten. */
static double nice_step(double range, int want)
{
    double raw = range / want, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

static void esc(u2_afile *a, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') u2_atomic_printf(a, "&lt;");
        else if (*s == '>') u2_atomic_printf(a, "&gt;");
        else if (*s == '&') u2_atomic_printf(a, "&amp;");
        else u2_atomic_printf(a, "%c", *s);
    }
}

enum { W = 760, H = 440, ML = 70, MR = 170, MT = 40, MB = 50 };

int u2_plot_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
                  const u2_series *s, int ns, int logy)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < s[i].n; j++) {
            double y = s[i].y[j];
            if (!isfinite(y) || (logy && y <= 0)) continue;
            if (logy) y = log10(y);
            x0 = fmin(x0, s[i].x[j]);
            x1 = fmax(x1, s[i].x[j]);
            y0 = fmin(y0, y);
            y1 = fmax(y1, y);
        }
    if (!isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) y1 = y0 + 1;
    double pad = 0.05 * (y1 - y0);
    y0 -= pad;
    y1 += pad;
    u2_afile *a = u2_atomic_open(path);
    if (!a) return -1;
    const double pw = W - ML - MR, ph = H - MT - MB;
#define PX(x) (ML + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (MT + ph - ((y) - y0) / (y1 - y0) * ph)
    u2_atomic_printf(a, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                        "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    u2_atomic_printf(a, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    u2_atomic_printf(a, "<text x=\"%d\" y=\"22\" font-size=\"15\">", ML);
    esc(a, title);
    u2_atomic_printf(a, "</text>\n");
    /* grid and ticks */
    double ys = nice_step(y1 - y0, 6);
    for (double y = ceil(y0 / ys) * ys; y <= y1; y += ys) {
        double v = logy ? pow(10, y) : y;
        u2_atomic_printf(a, "<line x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                            "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n",
                         ML, ML + pw, PY(y), PY(y), ML - 6, PY(y) + 4, v);
    }
    double xs = nice_step(x1 - x0, 8);
    for (double x = ceil(x0 / xs) * xs; x <= x1; x += xs)
        u2_atomic_printf(a, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>"
                            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                         PX(x), PX(x), MT, MT + ph, PX(x), MT + ph + 16, x);
    u2_atomic_printf(a, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
                        "stroke=\"#444\"/>\n", ML, MT, pw, ph);
    u2_atomic_printf(a, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", ML + pw / 2, H - 10);
    esc(a, xlabel);
    u2_atomic_printf(a, "</text>\n<text transform=\"translate(16 %.1f) rotate(-90)\" "
                        "text-anchor=\"middle\">", MT + ph / 2);
    esc(a, ylabel);
    if (logy) u2_atomic_printf(a, " (log)");
    u2_atomic_printf(a, "</text>\n");
    for (int i = 0; i < ns; i++) {
        const char *col = palette[i % NPAL];
        int open = 0;
        for (int j = 0; j < s[i].n; j++) {
            double y = s[i].y[j];
            if (!isfinite(y) || (logy && y <= 0)) {
                if (open) u2_atomic_printf(a, "\"/>\n");
                open = 0;
                continue;
            }
            if (logy) y = log10(y);
            if (!open)
                u2_atomic_printf(a, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
                                    "points=\"", col);
            u2_atomic_printf(a, "%.1f,%.1f ", PX(s[i].x[j]), PY(y));
            open = 1;
        }
        if (open) u2_atomic_printf(a, "\"/>\n");
        u2_atomic_printf(a, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" "
                            "stroke-width=\"3\"/><text x=\"%.0f\" y=\"%d\">",
                         ML + pw + 12, ML + pw + 32, MT + 10 + 18 * i, MT + 10 + 18 * i, col,
                         ML + pw + 38, MT + 14 + 18 * i);
        esc(a, s[i].name);
        u2_atomic_printf(a, "</text>\n");
    }
    u2_atomic_printf(a, "</svg>\n");
#undef PX
#undef PY
    return u2_atomic_commit(a);
}

int u2_plot_bars(const char *path, const char *title, const char *const *groups, int ngroups,
                 const char *const *bars, int nbars, const double *values, const char *ylabel)
{
    double y1 = 0;
    for (int i = 0; i < ngroups * nbars; i++)
        if (isfinite(values[i])) y1 = fmax(y1, values[i]);
    if (y1 <= 0) y1 = 1;
    y1 *= 1.1;
    u2_afile *a = u2_atomic_open(path);
    if (!a) return -1;
    const double pw = W - ML - MR, ph = H - MT - MB - 40;
    u2_atomic_printf(a, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                        "font-family=\"sans-serif\" font-size=\"12\">\n"
                        "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
                        "<text x=\"%d\" y=\"22\" font-size=\"15\">", W, H, ML);
    esc(a, title);
    u2_atomic_printf(a, "</text>\n");
    double ys = nice_step(y1, 6);
    for (double y = 0; y <= y1; y += ys)
        u2_atomic_printf(a, "<line x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                            "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n",
                         ML, ML + pw, MT + ph - y / y1 * ph, MT + ph - y / y1 * ph, ML - 6,
                         MT + ph - y / y1 * ph + 4, y);
    const double gw = pw / ngroups, bw = gw * 0.8 / nbars;
    for (int g = 0; g < ngroups; g++) {
        for (int b = 0; b < nbars; b++) {
            double v = values[g * nbars + b];
            if (!isfinite(v)) continue;
            double x = ML + g * gw + gw * 0.1 + b * bw, h = v / y1 * ph;
            u2_atomic_printf(a, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                                "fill=\"%s\"><title>%.4g</title></rect>\n",
                             x, MT + ph - h, bw * 0.95, h, palette[b % NPAL], v);
        }
        u2_atomic_printf(a, "<text transform=\"translate(%.1f %.1f) rotate(25)\">",
                         ML + g * gw + gw * 0.3, MT + ph + 14);
        esc(a, groups[g]);
        u2_atomic_printf(a, "</text>\n");
    }
    u2_atomic_printf(a, "<line x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n",
                     ML, ML + pw, MT + ph, MT + ph);
    u2_atomic_printf(a, "<text transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\">",
                     MT + ph / 2);
    esc(a, ylabel);
    u2_atomic_printf(a, "</text>\n");
    for (int b = 0; b < nbars; b++) {
        u2_atomic_printf(a, "<rect x=\"%.0f\" y=\"%d\" width=\"14\" height=\"10\" fill=\"%s\"/>"
                            "<text x=\"%.0f\" y=\"%d\">", ML + pw + 12, MT + 4 + 18 * b,
                         palette[b % NPAL], ML + pw + 32, MT + 13 + 18 * b);
        esc(a, bars[b]);
        u2_atomic_printf(a, "</text>\n");
    }
    u2_atomic_printf(a, "</svg>\n");
    return u2_atomic_commit(a);
}
