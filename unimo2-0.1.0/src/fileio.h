/* Files: atomic replacement (temp file in the same directory, fsync, rename,
 * fsync the directory), whole-file reads and mkdir -p.  Every failure is
 * recorded with u2_fail() naming the file the caller asked for (never the
 * temp name), and the function returns -1 or NULL. */
#ifndef UNIMO2_FILEIO_H
#define UNIMO2_FILEIO_H

#include <stddef.h>
#include <stdio.h>

typedef struct u2_afile u2_afile;

/* Flags for u2_atomic_open_flags. */
enum {
    /* Skip the fsync of the file and of its directory at commit: the rename is
     * still atomic (readers see the old file or the whole new one), but a power
     * loss may lose the data.  For many small files made durable together
     * afterwards with u2_sync_fs(). */
    U2_ATOMIC_NOSYNC = 1,
};

/* Start writing `path`: opens "<dir>/.<base>.tmp.XXXXXX" beside it.  The file
 * only appears under `path` at u2_atomic_commit(). */
u2_afile *u2_atomic_open(const char *path);
u2_afile *u2_atomic_open_flags(const char *path, int flags);
/* Write n bytes / formatted text.  Returns 0, or -1 with the error recorded;
 * after an error, later writes fail at once and commit refuses. */
int u2_atomic_write(u2_afile *f, const void *data, size_t n);
int u2_atomic_printf(u2_afile *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The stdio stream, for code that writes with fwrite/fprintf itself; errors
 * on it are caught at commit (ferror, fflush). */
FILE *u2_atomic_fp(u2_afile *f);
/* The name the file will get (as passed to open). */
const char *u2_atomic_path(const u2_afile *f);
/* fflush, fsync, fclose, rename onto the path, fsync the directory; frees f.
 * On failure the temp file is removed, the old file (if any) stays, and -1
 * is returned. */
int u2_atomic_commit(u2_afile *f);
/* Close and remove the temp file; frees f.  NULL is allowed. */
void u2_atomic_abort(u2_afile *f);

/* One call: write `len` bytes to `path` atomically. */
int u2_write_file_atomic(const char *path, const void *data, size_t len, int flags);

/* Read a whole file into a malloc'd buffer (free with free()), NUL-terminated
 * (the NUL is not counted in *len).  Errors name the path: missing, not a
 * regular file, unreadable. */
char *u2_read_file(const char *path, size_t *len);

/* mkdir -p with mode 0777 (less umask).  An existing directory is fine; an
 * existing non-directory is an error naming it. */
int u2_mkdir_p(const char *path);

/* Flush everything written to the file system that holds `path` to disk
 * (syncfs on Linux, sync elsewhere). */
int u2_sync_fs(const char *path);

/* Test hook: make the write that would take a temp file past `bytes` bytes
 * fail with ENOSPC, as a full disk would (-1 turns it off).  Applies to
 * every u2_afile of the process. */
void u2_fileio_inject_enospc(long long bytes);

#endif
