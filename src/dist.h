/* Data-parallel training across processes: the ranks of an MPI job, the
 * averaging of gradients in buckets that overlap the backward pass, and the
 * few agreements the trainer needs (doc/scaling.md).
 *
 * Built with MPI only under ./configure --with-mpi (dist_mpi.c).  Without it
 * (dist_single.c), and in an MPI build whose process no MPI launcher started,
 * there is one rank and every call below is a cheap no-op, so the trainer
 * needs no #ifdef.
 *
 * Failures end the whole job: an MPI call that fails, or a wait that makes no
 * progress for the timeout (a rank died, hangs, or cannot be reached), prints
 * one line naming this rank (and, on rank 0, the ranks it has not heard from)
 * and calls MPI_Abort.  Every collective below must be entered by all ranks in
 * the same order. */
#ifndef UNIMO2_DIST_H
#define UNIMO2_DIST_H

#include <stdint.h>

/* Join the job when an MPI launcher started this process (mpirun, mpiexec or
 * srun set OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK; UNIMO2_MPI=1 forces
 * it); otherwise stay a single rank.  0, or -1 with the error recorded. */
int u2_dist_init(void);
/* Leave the job (all ranks, after their last collective). */
void u2_dist_finalize(void);
/* "Open MPI v4.1.4, ..." when built with MPI, NULL otherwise. */
const char *u2_dist_library(void);

int u2_dist_rank(void);
int u2_dist_size(void);
/* Ranks on this machine (to share its cores among them). */
int u2_dist_local_size(void);

/* Seconds a wait may make no progress before the job is declared broken
 * (default 600, or UNIMO2_DIST_TIMEOUT). */
void u2_dist_set_timeout(double seconds);
/* Appended to the message of a fatal error, e.g. where the last checkpoint is. */
void u2_dist_set_note(const char *note);
/* The step now being computed (for heartbeats and messages). */
void u2_dist_begin_step(int64_t step);

/* A u2_grad_ready_fn: start summing grads[begin, end) over the ranks in place
 * (non-blocking; ctx is the float *grads). */
void u2_dist_grad_ready(void *ctx, int64_t begin, int64_t end);
/* Wait until every range started since the last call is summed. */
void u2_dist_grad_wait(void);

/* Sum n doubles over the ranks, in place. */
void u2_dist_sum(double *v, int n);
/* The lowest rank whose flag is non-zero, or -1 when none is. */
int u2_dist_first(int flag);
/* 1 when every rank passed the same value. */
int u2_dist_same(uint64_t v);

/* Seconds spent blocked in waits since the last call. */
double u2_dist_take_wait_s(void);

#endif
