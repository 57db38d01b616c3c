/* Activation arena: a bump allocator whose memory is kept between batches.
 * The first pass over a batch shape may spill into extra chunks; reset()
 * folds them into one block, so later passes of that shape allocate nothing. */
#ifndef UNIMO2_ARENA_H
#define UNIMO2_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct u2_chunk u2_chunk;

typedef struct {
    u2_chunk *head;   /* current chunk */
    size_t used_total; /* floats handed out since the last reset */
    size_t peak;       /* largest used_total seen */
} u2_arena;

void u2_arena_init(u2_arena *a);
/* n floats, 64-byte aligned, uninitialised. */
float *u2_arena_alloc(u2_arena *a, size_t n);
/* n floats set to zero. */
float *u2_arena_zalloc(u2_arena *a, size_t n);
int32_t *u2_arena_alloc_i32(u2_arena *a, size_t n);
/* A position in the arena, to give back everything allocated after it. */
typedef struct {
    u2_chunk *chunk;
    size_t used, used_total;
} u2_arena_mark;
u2_arena_mark u2_arena_save(const u2_arena *a);
void u2_arena_restore(u2_arena *a, u2_arena_mark m);
/* Forget every allocation; keep (and consolidate) the memory. */
void u2_arena_reset(u2_arena *a);
void u2_arena_free(u2_arena *a);
/* Bytes held. */
size_t u2_arena_bytes(const u2_arena *a);

#endif
