/* fileio: atomic replacement, failures (a full disk simulated two ways),
 * whole-file reads and mkdir -p. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "fileio.h"
#include "tap.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];

static char *path_in(const char *name)
{
    static char buf[4][512];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* number of entries in the test folder whose name contains ".tmp." */
static int temp_files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static int file_is(const char *path, const char *want)
{
    size_t len;
    char *got = u2_read_file(path, &len);
    int ok = got && len == strlen(want) && !memcmp(got, want, len);
    free(got);
    return ok;
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/u2-fileio-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        printf("Bail out! cannot make a temp folder\n");
        return 1;
    }

    /* ---- a complete write, then a replacement */
    const char *f1 = path_in("a.txt");
    u2_afile *f = u2_atomic_open(f1);
    tap_ok(f != NULL, "atomic open");
    tap_ok(u2_atomic_printf(f, "hello %d\n", 42) == 0 && u2_atomic_write(f, "x", 1) == 0,
           "writes succeed");
    struct stat st;
    tap_ok(stat(f1, &st) != 0 && temp_files() == 1, "nothing under the final name before commit");
    tap_ok(u2_atomic_commit(f) == 0, "commit");
    tap_ok(file_is(f1, "hello 42\nx") && temp_files() == 0, "committed content, no temp left");
    tap_ok(u2_write_file_atomic(f1, "new", 3, 0) == 0 && file_is(f1, "new"), "replace in one call");
    int st_ok = stat(f1, &st) == 0;
    tap_ok(st_ok && (st.st_mode & 0777) != 0600,
           "the file gets the usual permissions, not mkstemp's 0600 (mode %o)",
           (unsigned)(st.st_mode & 0777));

    /* ---- abort keeps the old file */
    f = u2_atomic_open(f1);
    u2_atomic_write(f, "junk", 4);
    u2_atomic_abort(f);
    tap_ok(file_is(f1, "new") && temp_files() == 0, "abort: old content kept, temp removed");
    u2_atomic_abort(NULL);

    /* ---- a long printf goes through the heap path */
    char big[3000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    f = u2_atomic_open(f1);
    tap_ok(f && u2_atomic_printf(f, "%s", big) == 0 && u2_atomic_commit(f) == 0 && file_is(f1, big),
           "printf longer than the stack buffer");

    /* ---- full disk, injected: ENOSPC during the write */
    u2_write_file_atomic(f1, "old", 3, 0);
    u2_fileio_inject_enospc(100);
    f = u2_atomic_open(f1);
    int w1 = u2_atomic_write(f, big, 50);
    int w2 = u2_atomic_write(f, big, 100);
    tap_ok(w1 == 0 && w2 == -1, "the write past the injected limit fails");
    tap_ok(starts_with(u2_errmsg(), f1) && strstr(u2_errmsg(), "No space left on device"),
           "error names the file and the cause: %s", u2_errmsg());
    tap_ok(u2_atomic_write(f, "x", 1) == -1, "later writes refuse");
    tap_ok(u2_atomic_commit(f) == -1, "commit refuses after a write error");
    tap_ok(file_is(f1, "old") && temp_files() == 0, "old file intact, temp removed");
    tap_ok(u2_write_file_atomic(f1, big, 1000, 0) == -1 && file_is(f1, "old"),
           "one-call write fails the same way");
    u2_fileio_inject_enospc(-1);

    /* ---- real kernel write failures: RLIMIT_FSIZE makes write() fail with
     * EFBIG (in a child, so the limit does not touch the rest of the test):
     * (a) during checked writes, (b) only at commit, when stdio flushes */
    for (int mode = 0; mode < 2; mode++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = {1000, 1000};
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(3);
            u2_afile *g = u2_atomic_open(f1);
            if (!g) _exit(4);
            int wrc = 0;
            if (mode == 0)
                for (int i = 0; i < 20 && !wrc; i++) wrc = u2_atomic_write(g, big, 1000);
            else
                fwrite(big, 1, 2500, u2_atomic_fp(g)); /* buffered: fails at the flush */
            if (mode == 0 && wrc != -1) _exit(5);
            int rc = u2_atomic_commit(g);
            _exit(rc == -1 && starts_with(u2_errmsg(), f1) && strstr(u2_errmsg(), "too large")
                      ? 0 : 6);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "a real write error (file size limit) %s fails commit and names the file "
               "with the cause (child status %d)",
               mode ? "at the final flush" : "in a write",
               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        tap_ok(file_is(f1, "old") && temp_files() == 0, "after it: old file intact, no temp left");
    }

    /* ---- open failures name the file */
    tap_ok(u2_atomic_open(path_in("no/such/dir/x")) == NULL &&
               starts_with(u2_errmsg(), path_in("no/such/dir/x")) &&
               strstr(u2_errmsg(), "No such file"),
           "open in a missing folder: %s", u2_errmsg());
    tap_ok(u2_atomic_open(path_in("sub/")) == NULL && strstr(u2_errmsg(), "directory"),
           "a name ending in / is refused: %s", u2_errmsg());
    tap_ok(u2_atomic_open("") == NULL, "empty name refused");

    /* ---- read_file */
    size_t len = 99;
    char *r = u2_read_file(path_in("missing"), &len);
    tap_ok(!r && len == 0 && starts_with(u2_errmsg(), path_in("missing")) &&
               strstr(u2_errmsg(), "No such file"),
           "read missing: %s", u2_errmsg());
    r = u2_read_file(dir, &len);
    tap_ok(!r && strstr(u2_errmsg(), "is a directory"), "read a directory: %s", u2_errmsg());
    u2_write_file_atomic(path_in("empty"), "", 0, 0);
    r = u2_read_file(path_in("empty"), &len);
    tap_ok(r && len == 0 && r[0] == '\0', "empty file reads as an empty, NUL-terminated buffer");
    free(r);
    char *bigfile = malloc(100000);
    for (int i = 0; i < 100000; i++) bigfile[i] = (char)('a' + i % 26);
    u2_write_file_atomic(path_in("big"), bigfile, 100000, 0);
    r = u2_read_file(path_in("big"), &len);
    tap_ok(r && len == 100000 && !memcmp(r, bigfile, len) && r[len] == '\0', "100 kB round trip");
    free(r);
    free(bigfile);
    r = u2_read_file("/proc/self/status", &len); /* st_size 0: read until EOF */
    tap_ok(r && len > 0 && strstr(r, "Name:"), "a file whose size stat does not know (/proc)");
    free(r);

    /* ---- mkdir -p */
    tap_ok(u2_mkdir_p(path_in("x/y/z/")) == 0 && stat(path_in("x/y/z"), &st) == 0 &&
               S_ISDIR(st.st_mode),
           "mkdir -p makes every level");
    tap_ok(u2_mkdir_p(path_in("x/y")) == 0, "an existing folder is fine");
    tap_ok(u2_mkdir_p(path_in("a.txt/sub")) == -1 && strstr(u2_errmsg(), "not a directory"),
           "a file in the way: %s", u2_errmsg());
    tap_ok(u2_sync_fs(dir) == 0, "sync the file system");

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) tap_diag("could not remove %s", dir);
    return tap_done();
}
