/* The one-process build of dist.h (no MPI): one rank, nothing to exchange. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "dist.h"

#include <stddef.h>

int u2_dist_init(void) { return 0; }
void u2_dist_finalize(void) {}
const char *u2_dist_library(void) { return NULL; }
int u2_dist_rank(void) { return 0; }
int u2_dist_size(void) { return 1; }
int u2_dist_local_size(void) { return 1; }
void u2_dist_set_timeout(double seconds) { (void)seconds; }
void u2_dist_set_note(const char *note) { (void)note; }
void u2_dist_begin_step(int64_t step) { (void)step; }
void u2_dist_grad_ready(void *ctx, int64_t begin, int64_t end)
{
    (void)ctx;
    (void)begin;
    (void)end;
}
void u2_dist_grad_wait(void) {}
void u2_dist_sum(double *v, int n)
{
    (void)v;
    (void)n;
}
int u2_dist_first(int flag) { return flag ? 0 : -1; }
int u2_dist_same(uint64_t v)
{
    (void)v;
    return 1;
}
double u2_dist_take_wait_s(void) { return 0.0; }
