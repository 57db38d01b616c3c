#define _GNU_SOURCE /* syncfs */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "fileio.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct u2_afile {
    FILE *fp;
    char *path; /* the name the caller asked for */
    char *tmp;  /* the temp file beside it */
    int flags;
    int failed; /* a write already failed: commit must refuse */
    long long written;
};

static long long inject_enospc_at = -1;

void u2_fileio_inject_enospc(long long bytes) { inject_enospc_at = bytes; }

/* "dir/name" -> "dir" (or "." when there is no slash); malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return u2_strdup(".");
    if (slash == path) return u2_strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = u2_malloc(n + 1);
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

static int fsync_dir(const char *path)
{
    char *dir = dir_of(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    int rc = 0;
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)) {
        /* some file systems cannot fsync a directory (EINVAL): nothing to do there */
        u2_fail(path, "cannot sync its directory %s (%s)", dir, strerror(errno));
        rc = -1;
    }
    if (fd >= 0) close(fd);
    free(dir);
    return rc;
}

u2_afile *u2_atomic_open_flags(const char *path, int flags)
{
    if (!path || !*path) {
        u2_fail("", "no output file name given");
        return NULL;
    }
    size_t n = strlen(path);
    if (path[n - 1] == '/') {
        u2_fail(path, "is a directory name, not a file name");
        return NULL;
    }
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path + 1) : 0;
    /* "<dir>/.<base>.tmp.XXXXXX": hidden, and in the same directory so that
     * rename() stays on one file system and is atomic */
    char *tmp = u2_malloc(n + 16);
    memcpy(tmp, path, dlen);
    snprintf(tmp + dlen, n + 16 - dlen, ".%s.tmp.XXXXXX", path + dlen);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        u2_fail(path, "cannot create a temporary file beside it (%s)", strerror(errno));
        free(tmp);
        return NULL;
    }
    /* mkstemp makes 0600; give the file the usual 0666 less umask */
    mode_t um = umask(0);
    umask(um);
    (void)fchmod(fd, 0666 & ~um);
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        u2_fail(path, "cannot open a stream (%s)", strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return NULL;
    }
    u2_afile *f = u2_calloc(1, sizeof *f);
    f->fp = fp;
    f->path = u2_strdup(path);
    f->tmp = tmp;
    f->flags = flags;
    return f;
}

u2_afile *u2_atomic_open(const char *path) { return u2_atomic_open_flags(path, 0); }

FILE *u2_atomic_fp(u2_afile *f) { return f->fp; }

const char *u2_atomic_path(const u2_afile *f) { return f->path; }

static int write_error(u2_afile *f, int err)
{
    f->failed = 1;
    return u2_fail(f->path, "write failed (%s)", strerror(err));
}

int u2_atomic_write(u2_afile *f, const void *data, size_t n)
{
    if (f->failed) return u2_fail(f->path, "write after an earlier write error");
    if (inject_enospc_at >= 0 && f->written + (long long)n > inject_enospc_at)
        return write_error(f, ENOSPC);
    errno = 0;
    if (n && fwrite(data, 1, n, f->fp) != n) return write_error(f, errno ? errno : EIO);
    f->written += (long long)n;
    return 0;
}

int u2_atomic_printf(u2_afile *f, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return u2_fail(f->path, "cannot format output");
    if ((size_t)n < sizeof small) return u2_atomic_write(f, small, (size_t)n);
    char *big = u2_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = u2_atomic_write(f, big, (size_t)n);
    free(big);
    return rc;
}

static void discard(u2_afile *f)
{
    if (f->fp) fclose(f->fp);
    unlink(f->tmp);
    free(f->tmp);
    free(f->path);
    free(f);
}

int u2_atomic_commit(u2_afile *f)
{
    if (f->failed) {
        discard(f);
        return -1; /* the write error is already recorded */
    }
    int rc = 0;
    if (ferror(f->fp)) {
        /* a write through u2_atomic_fp() failed earlier; its errno is gone */
        f->failed = 1;
        rc = u2_fail(f->path, "write failed (an earlier write to the stream failed)");
    } else if (errno = 0, fflush(f->fp) != 0) {
        rc = write_error(f, errno ? errno : EIO);
    } else if (!(f->flags & U2_ATOMIC_NOSYNC) && fsync(fileno(f->fp)) != 0 && errno != EINVAL) {
        rc = u2_fail(f->path, "cannot sync to disk (%s)", strerror(errno));
    }
    FILE *fp = f->fp;
    f->fp = NULL;
    if (fclose(fp) != 0 && rc == 0) rc = write_error(f, errno);
    if (rc == 0 && rename(f->tmp, f->path) != 0)
        rc = u2_fail(f->path, "cannot rename the finished temporary file onto it (%s)",
                     strerror(errno));
    if (rc != 0) {
        discard(f);
        return -1;
    }
    if (!(f->flags & U2_ATOMIC_NOSYNC)) rc = fsync_dir(f->path);
    free(f->tmp);
    free(f->path);
    free(f);
    return rc;
}

void u2_atomic_abort(u2_afile *f)
{
    if (f) discard(f);
}

int u2_write_file_atomic(const char *path, const void *data, size_t len, int flags)
{
    u2_afile *f = u2_atomic_open_flags(path, flags);
    if (!f) return -1;
    if (u2_atomic_write(f, data, len) != 0) {
        u2_atomic_abort(f);
        return -1;
    }
    return u2_atomic_commit(f);
}

char *u2_read_file(const char *path, size_t *len)
{
    if (len) *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        u2_fail(path, "cannot open (%s)", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        u2_fail(path, "cannot stat (%s)", strerror(errno));
        close(fd);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        u2_fail(path, "is a directory, not a file");
        close(fd);
        return NULL;
    }
    /* st_size is a hint (0 for pipes and /proc files): grow as needed */
    size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    size_t n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        u2_fail(path, "out of memory reading %zu bytes", cap);
        close(fd);
        return NULL;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > SIZE_MAX / 2) {
                u2_fail(path, "file too large");
                free(buf);
                close(fd);
                return NULL;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                u2_fail(path, "out of memory reading %zu bytes", cap * 2);
                free(buf);
                close(fd);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            u2_fail(path, "read failed (%s)", strerror(errno));
            free(buf);
            close(fd);
            return NULL;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int u2_mkdir_p(const char *path)
{
    if (!path || !*path) return u2_fail("", "no directory name given");
    char *p = u2_strdup(path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = '\0';
    int rc = 0;
    /* create each prefix that ends before a '/' and then the whole path */
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0) {
            int err = errno;
            struct stat st;
            if (stat(p, &st) != 0) {
                rc = u2_fail(p, "cannot create directory (%s)", strerror(err));
            } else if (!S_ISDIR(st.st_mode)) {
                rc = u2_fail(p, "exists and is not a directory");
            }
        }
        *s = c;
        if (rc || c == '\0') break;
    }
    free(p);
    return rc;
}

int u2_sync_fs(const char *path)
{
#ifdef __linux__
    int fd = open(path, O_RDONLY);
    if (fd < 0) return u2_fail(path, "cannot open to sync (%s)", strerror(errno));
    int rc = syncfs(fd);
    int err = errno;
    close(fd);
    if (rc != 0) return u2_fail(path, "cannot sync the file system (%s)", strerror(err));
#else
    (void)path;
    sync();
#endif
    return 0;
}
