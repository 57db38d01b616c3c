/* Small SVG line and bar charts (loss curves, ablation tables): no
 * dependencies, readable in any browser. */
#ifndef UNIMO2_PLOT_H
#define UNIMO2_PLOT_H

#include <stdint.h>

typedef struct {
    const char *name;
    const double *x, *y; /* n points; NaN y values are gaps */
    int n;
} u2_series;

/* Write an SVG line chart atomically.  logy: logarithmic y axis. */
int u2_plot_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
                  const u2_series *s, int ns, int logy);

/* Grouped bar chart: ngroups groups (labels), nbars bars each (bar names);
 * values[g*nbars + b]. */
int u2_plot_bars(const char *path, const char *title, const char *const *groups, int ngroups,
                 const char *const *bars, int nbars, const double *values, const char *ylabel);

#endif
