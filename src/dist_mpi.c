/* dist.h on MPI (./configure --with-mpi): the only file built with the MPI
 * flags.
 *
 * Every call checks its return code (errors return instead of aborting inside
 * MPI: MPI_ERRORS_RETURN), and every wait polls with a deadline instead of
 * blocking, so a rank that dies, hangs or becomes unreachable ends the job
 * with one line naming it rather than leaving the others waiting forever.
 * Open MPI progresses non-blocking collectives only inside MPI calls: the
 * gradient buckets move while the backward pass runs as far as the calls made
 * at each bucket's start carry them, and the rest in the final wait (which
 * sleeps between polls, leaving the cores to the other ranks' compute). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "dist.h"
#include "util.h"

#include <limits.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Heartbeats: before each collective every rank other than 0 tells rank 0
 * how many collectives it has entered (and at which step), so that a rank 0
 * that waits too long can name the ranks that never arrived. */
enum { TAG_HB = 0x7532, MAX_REQ = 64, HB_SLOTS = 16, MAX_NAMED = 8 };

typedef struct {
    int64_t seq, step; /* seq -1: the rank is leaving (u2_dist_finalize) */
} heartbeat;

static struct {
    int on, rank, size, local;
    MPI_Comm comm;
    MPI_Datatype hb_type;
    double timeout, wait_s;
    char note[1024];
    int64_t step, seq;
    MPI_Request req[MAX_REQ]; /* gradient buckets in flight */
    int nreq;
    /* rank 0: the last heartbeat of each rank, and a receive posted for each */
    heartbeat *hb_last, *hb_in;
    MPI_Request *hb_recv;
    /* the others: sends in flight */
    heartbeat hb_out[HB_SLOTS];
    MPI_Request hb_send[HB_SLOTS];
    int hb_next;
} D = {.rank = 0, .size = 1, .local = 1, .timeout = 600.0};

static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fatal(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "unimo2: rank %d: %s; ending the job%s%s\n", D.rank, msg, D.note[0] ? "; " : "",
            D.note);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    _exit(1);
}

static void check(int rc, const char *what)
{
    if (rc == MPI_SUCCESS) return;
    char es[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, es, &len) != MPI_SUCCESS) snprintf(es, sizeof es, "MPI error %d", rc);
    fatal("%s failed at step %lld: %s (a rank died or the connection to it was lost)", what,
          (long long)D.step, es);
}

static void post_hb_recv(int r)
{
    check(MPI_Irecv(&D.hb_in[r], 1, D.hb_type, r, TAG_HB, D.comm, &D.hb_recv[r]),
          "MPI_Irecv (heartbeat)");
}

/* rank 0: take the heartbeats that have arrived */
static void hb_poll(void)
{
    if (D.rank != 0 || D.size < 2) return;
    for (;;) {
        int idx = MPI_UNDEFINED, flag = 0;
        check(MPI_Testany(D.size, D.hb_recv, &idx, &flag, MPI_STATUS_IGNORE), "MPI_Testany (heartbeat)");
        if (!flag || idx == MPI_UNDEFINED) return;
        D.hb_last[idx] = D.hb_in[idx];
        if (D.hb_in[idx].seq >= 0) post_hb_recv(idx);
    }
}

static void nap(int spins)
{
    if (spins < 64) return;
    struct timespec ts = {0, spins < 1024 ? 20000 : 200000};
    nanosleep(&ts, NULL);
}

static void timeout_fatal(const char *what, double waited) __attribute__((noreturn));
static void timeout_fatal(const char *what, double waited)
{
    char who[1024] = "";
    if (D.rank == 0) {
        hb_poll();
        size_t k = 0;
        int n = 0;
        for (int r = 1; r < D.size; r++) {
            const heartbeat *h = &D.hb_last[r];
            if (h->seq >= D.seq) continue;
            if (n < MAX_NAMED && k < sizeof who) {
                char when[64];
                if (h->step > 0) snprintf(when, sizeof when, "at step %lld", (long long)h->step);
                else snprintf(when, sizeof when, "during set-up");
                k += (size_t)snprintf(who + k, sizeof who - k, "%s%d (last heard from %s)",
                                      n ? ", rank " : "; silent: rank ", r, when);
            }
            n++;
        }
        if (n > MAX_NAMED && k < sizeof who)
            snprintf(who + k, sizeof who - k, " and %d more", n - MAX_NAMED);
    }
    fatal("%s: no progress for %.0f s at step %lld (a rank died, hangs or cannot be reached)%s", what,
          waited, (long long)D.step, who);
}

/* Complete n requests, polling, within the timeout. */
static void wait_reqs(MPI_Request *r, int n, const char *what)
{
    /* rank 0 gives up first: it can name the ranks that never arrived */
    const double limit = D.rank ? D.timeout + 2.0 : D.timeout;
    const double t0 = MPI_Wtime();
    for (int spins = 0;; spins++) {
        int done = 0;
        check(MPI_Testall(n, r, &done, MPI_STATUSES_IGNORE), what);
        if (done) break;
        hb_poll();
        const double t = MPI_Wtime();
        if (t - t0 > limit) timeout_fatal(what, t - t0);
        nap(spins);
    }
    D.wait_s += MPI_Wtime() - t0;
}

static void hb_send(int64_t seq)
{
    const int s = D.hb_next++ % HB_SLOTS;
    if (D.hb_send[s] != MPI_REQUEST_NULL) wait_reqs(&D.hb_send[s], 1, "heartbeat to rank 0");
    D.hb_out[s] = (heartbeat){seq, D.step};
    check(MPI_Isend(&D.hb_out[s], 1, D.hb_type, 0, TAG_HB, D.comm, &D.hb_send[s]),
          "MPI_Isend (heartbeat)");
}

/* Every collective starts here: one more heartbeat. */
static void enter(void)
{
    D.seq++;
    if (D.rank != 0) hb_send(D.seq);
}

static int launched_by_mpi(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"};
    const char *force = getenv("UNIMO2_MPI");
    if (force && *force) return strcmp(force, "0") != 0;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

int u2_dist_init(void)
{
    if (D.on || !launched_by_mpi()) return 0;
    int provided = 0;
    /* only the main thread calls MPI (the OpenMP and data threads never do) */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return u2_fail("MPI_Init", "cannot join the MPI job");
    D.on = 1;
    check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(MPI_Comm_dup(MPI_COMM_WORLD, &D.comm), "MPI_Comm_dup");
    check(MPI_Comm_set_errhandler(D.comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(MPI_Comm_rank(D.comm, &D.rank), "MPI_Comm_rank");
    check(MPI_Comm_size(D.comm, &D.size), "MPI_Comm_size");
    MPI_Comm node;
    check(MPI_Comm_split_type(D.comm, MPI_COMM_TYPE_SHARED, D.rank, MPI_INFO_NULL, &node),
          "MPI_Comm_split_type");
    check(MPI_Comm_size(node, &D.local), "MPI_Comm_size");
    check(MPI_Comm_free(&node), "MPI_Comm_free");
    check(MPI_Type_contiguous(2, MPI_INT64_T, &D.hb_type), "MPI_Type_contiguous");
    check(MPI_Type_commit(&D.hb_type), "MPI_Type_commit");
    const char *t = getenv("UNIMO2_DIST_TIMEOUT");
    if (t && *t && atof(t) > 0) D.timeout = atof(t);
    for (int s = 0; s < HB_SLOTS; s++) D.hb_send[s] = MPI_REQUEST_NULL;
    for (int i = 0; i < MAX_REQ; i++) D.req[i] = MPI_REQUEST_NULL;
    if (D.rank == 0 && D.size > 1) {
        D.hb_last = u2_calloc((size_t)D.size, sizeof *D.hb_last);
        D.hb_in = u2_calloc((size_t)D.size, sizeof *D.hb_in);
        D.hb_recv = u2_malloc(sizeof *D.hb_recv * (size_t)D.size);
        D.hb_recv[0] = MPI_REQUEST_NULL;
        for (int r = 1; r < D.size; r++) post_hb_recv(r);
    }
    return 0;
}

void u2_dist_finalize(void)
{
    if (!D.on) return;
    if (D.size > 1) {
        D.step = -1;
        if (D.rank != 0) {
            hb_send(-1);
            wait_reqs(D.hb_send, HB_SLOTS, "last heartbeat to rank 0");
        } else {
            /* every rank's last heartbeat says it is leaving: no receive stays posted */
            const double t0 = MPI_Wtime();
            for (int spins = 0;; spins++) {
                hb_poll();
                int left = 0;
                for (int r = 1; r < D.size; r++) left += D.hb_last[r].seq >= 0;
                if (!left) break;
                if (MPI_Wtime() - t0 > D.timeout) timeout_fatal("leaving the job", MPI_Wtime() - t0);
                nap(spins);
            }
        }
    }
    MPI_Type_free(&D.hb_type);
    MPI_Comm_free(&D.comm);
    MPI_Finalize();
    free(D.hb_last);
    free(D.hb_in);
    free(D.hb_recv);
    D.hb_last = D.hb_in = NULL;
    D.hb_recv = NULL;
    D.on = 0;
    D.rank = 0;
    D.size = D.local = 1;
}

const char *u2_dist_library(void)
{
    static char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (!lib[0] && MPI_Get_library_version(lib, &len) == MPI_SUCCESS) {
        lib[strcspn(lib, ",\n")] = '\0'; /* "Open MPI v4.1.4" */
    }
    return lib[0] ? lib : "MPI";
}

int u2_dist_rank(void) { return D.rank; }
int u2_dist_size(void) { return D.size; }
int u2_dist_local_size(void) { return D.local; }

void u2_dist_set_timeout(double seconds)
{
    if (seconds > 0) D.timeout = seconds;
}

void u2_dist_set_note(const char *note) { snprintf(D.note, sizeof D.note, "%s", note ? note : ""); }

void u2_dist_begin_step(int64_t step) { D.step = step; }

void u2_dist_grad_ready(void *ctx, int64_t begin, int64_t end)
{
    if (D.size < 2) return;
    float *g = ctx;
    const int64_t chunk = INT_MAX / 2;
    for (int64_t b = begin; b < end; b += chunk) {
        const int n = (int)(end - b < chunk ? end - b : chunk);
        if (D.nreq == MAX_REQ) fatal("more than %d gradient buckets in flight", MAX_REQ);
        check(MPI_Iallreduce(MPI_IN_PLACE, g + b, n, MPI_FLOAT, MPI_SUM, D.comm, &D.req[D.nreq++]),
              "MPI_Iallreduce (gradients)");
    }
    /* let the buckets already started move on */
    int done = 0;
    check(MPI_Testall(D.nreq, D.req, &done, MPI_STATUSES_IGNORE), "MPI_Testall (gradients)");
}

void u2_dist_grad_wait(void)
{
    if (D.size < 2) return;
    enter();
    wait_reqs(D.req, D.nreq, "gradient all-reduce");
    D.nreq = 0;
}

void u2_dist_sum(double *v, int n)
{
    if (D.size < 2) return;
    enter();
    MPI_Request r;
    check(MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, D.comm, &r), "MPI_Iallreduce");
    wait_reqs(&r, 1, "all-reduce of the step's losses");
}

int u2_dist_first(int flag)
{
    if (D.size < 2) return flag ? 0 : -1;
    enter();
    int who = flag ? D.rank : INT_MAX;
    MPI_Request r;
    check(MPI_Iallreduce(MPI_IN_PLACE, &who, 1, MPI_INT, MPI_MIN, D.comm, &r), "MPI_Iallreduce");
    wait_reqs(&r, 1, "agreement of the ranks");
    return who == INT_MAX ? -1 : who;
}

int u2_dist_same(uint64_t v)
{
    if (D.size < 2) return 1;
    enter();
    uint64_t x[2] = {v, ~v}; /* max of v and max of ~v = ~min of v */
    MPI_Request r;
    check(MPI_Iallreduce(MPI_IN_PLACE, x, 2, MPI_UINT64_T, MPI_MAX, D.comm, &r), "MPI_Iallreduce");
    wait_reqs(&r, 1, "comparison of the ranks' state");
    return x[0] == ~x[1];
}

double u2_dist_take_wait_s(void)
{
    const double w = D.wait_s;
    D.wait_s = 0.0;
    return w;
}
