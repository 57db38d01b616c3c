#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "arena.h"
#include "util.h"

#include <string.h>
#include <sys/mman.h>

struct u2_chunk {
    u2_chunk *prev;
    size_t cap, used; /* floats */
    float *mem;
};

static u2_chunk *chunk_new(size_t cap, u2_chunk *prev)
{
    u2_chunk *c = u2_malloc(sizeof *c);
    c->prev = prev;
    c->cap = cap;
    c->used = 0;
    c->mem = u2_malloc(cap * sizeof(float));
#ifdef MADV_HUGEPAGE
    /* first touch of 4 KiB pages is slow here; huge pages make it cheap */
    if (cap * sizeof(float) >= (2u << 20)) madvise(c->mem, cap * sizeof(float), MADV_HUGEPAGE);
#endif
    return c;
}

void u2_arena_init(u2_arena *a) { memset(a, 0, sizeof *a); }

float *u2_arena_alloc(u2_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15; /* keep 64-byte alignment */
    if (!a->head || a->head->used + n > a->head->cap) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        a->head = chunk_new(cap, a->head);
    }
    float *p = a->head->mem + a->head->used;
    a->head->used += n;
    a->used_total += n;
    if (a->used_total > a->peak) a->peak = a->used_total;
    return p;
}

float *u2_arena_zalloc(u2_arena *a, size_t n)
{
    float *p = u2_arena_alloc(a, n);
    memset(p, 0, n * sizeof(float));
    return p;
}

int32_t *u2_arena_alloc_i32(u2_arena *a, size_t n)
{
    return (int32_t *)u2_arena_alloc(a, n);
}

static void free_chunks(u2_chunk *c)
{
    while (c) {
        u2_chunk *p = c->prev;
        free(c->mem);
        free(c);
        c = p;
    }
}

u2_arena_mark u2_arena_save(const u2_arena *a)
{
    u2_arena_mark m = {a->head, a->head ? a->head->used : 0, a->used_total};
    return m;
}

void u2_arena_restore(u2_arena *a, u2_arena_mark m)
{
    while (a->head && a->head != m.chunk) { /* chunks opened after the mark */
        u2_chunk *p = a->head->prev;
        free(a->head->mem);
        free(a->head);
        a->head = p;
    }
    if (a->head) a->head->used = m.used;
    a->used_total = m.used_total;
}

void u2_arena_reset(u2_arena *a)
{
    if (a->head && a->head->prev) {
        /* several chunks: replace them by one block of the peak size plus a
         * quarter, so that batches a little larger than the largest so far
         * (longer captions, other negatives) do not spill and re-fault a fresh
         * block every time */
        free_chunks(a->head);
        a->head = chunk_new(a->peak + a->peak / 4, NULL);
    }
    if (a->head) a->head->used = 0;
    a->used_total = 0;
}

void u2_arena_free(u2_arena *a)
{
    free_chunks(a->head);
    memset(a, 0, sizeof *a);
}

size_t u2_arena_bytes(const u2_arena *a)
{
    size_t s = 0;
    for (const u2_chunk *c = a->head; c; c = c->prev) s += c->cap * sizeof(float);
    return s;
}
