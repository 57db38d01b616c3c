/* Runtime choice of the kernel table.  Built at baseline flags only: the ISA
 * files are the only ones compiled with -mavx2 / -mavx512f. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "kernels.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#endif

static const char *const isa_names[U2_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon"};

const char *u2_isa_name(u2_isa isa)
{
    return (unsigned)isa < U2_ISA_COUNT ? isa_names[isa] : "unknown";
}

int u2_isa_from_name(const char *name)
{
    for (int i = 0; i < U2_ISA_COUNT; i++)
        if (name && strcmp(name, isa_names[i]) == 0) return i;
    return -1;
}

#if defined(__x86_64__) || defined(__i386__)
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                     : "a"(leaf), "c"(sub));
}

/* XCR0: which register state the OS saves on context switch. */
static unsigned long long xgetbv0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static int x86_has(u2_isa isa)
{
    unsigned r[4];
    cpuid(0, 0, r);
    unsigned max_leaf = r[0];
    if (max_leaf < 7) return 0;
    cpuid(1, 0, r);
    int osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1, fma = (r[2] >> 12) & 1,
        f16c = (r[2] >> 29) & 1;
    if (!osxsave || !avx || !fma || !f16c) return 0;
    unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return 0; /* XMM and YMM state */
    cpuid(7, 0, r);
    int avx2 = (r[1] >> 5) & 1;
    if (isa == U2_ISA_AVX2) return avx2;
    if (isa == U2_ISA_AVX512) {
        int f = (r[1] >> 16) & 1, dq = (r[1] >> 17) & 1, bw = (r[1] >> 30) & 1,
            vl = (r[1] >> 31) & 1;
        /* opmask, upper ZMM0-15 and ZMM16-31 state */
        return avx2 && f && dq && bw && vl && (xcr0 & 0xe0) == 0xe0;
    }
    return 0;
}
#endif

int u2_cpu_has(u2_isa isa)
{
    switch (isa) {
    case U2_ISA_SCALAR: return 1;
#if defined(__x86_64__) || defined(__i386__)
    case U2_ISA_AVX2:
    case U2_ISA_AVX512: return x86_has(isa);
#endif
#if defined(__aarch64__)
    case U2_ISA_NEON:
#if defined(__linux__)
        return (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
#else
        return 1;
#endif
#endif
    default: return 0;
    }
}

static int isa_built(u2_isa isa)
{
    switch (isa) {
    case U2_ISA_SCALAR: return 1;
#ifdef U2_BUILD_AVX2
    case U2_ISA_AVX2: return 1;
#endif
#ifdef U2_BUILD_AVX512
    case U2_ISA_AVX512: return 1;
#endif
#ifdef U2_BUILD_NEON
    case U2_ISA_NEON: return 1;
#endif
    default: return 0;
    }
}

static u2_kernels tables[U2_ISA_COUNT];
static int table_ok[U2_ISA_COUNT];
static const u2_kernels *active;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void fill(u2_isa isa)
{
    u2_kernels *k = &tables[isa];
    u2_kernels_init_ref(k);
    switch (isa) {
#ifdef U2_BUILD_AVX2
    case U2_ISA_AVX2: u2_kernels_init_avx2(k); break;
#endif
#ifdef U2_BUILD_AVX512
    case U2_ISA_AVX512: u2_kernels_init_avx512(k); break;
#endif
#ifdef U2_BUILD_NEON
    case U2_ISA_NEON: u2_kernels_init_neon(k); break;
#endif
    default: break;
    }
    k->isa = isa;
    k->name = isa_names[isa];
}

static void init_all(void)
{
    for (int i = 0; i < U2_ISA_COUNT; i++) {
        if (isa_built((u2_isa)i) && u2_cpu_has((u2_isa)i)) {
            fill((u2_isa)i);
            table_ok[i] = 1;
        }
    }
    /* default: the best available, AVX-512 > AVX2 > NEON > scalar */
    static const u2_isa order[] = {U2_ISA_AVX512, U2_ISA_AVX2, U2_ISA_NEON, U2_ISA_SCALAR};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (table_ok[order[i]]) {
            active = &tables[order[i]];
            break;
        }
    }
    const char *want = getenv("UNIMO2_ISA");
    if (want && *want) {
        int isa = u2_isa_from_name(want);
        if (isa < 0) {
            fprintf(stderr, "unimo2: UNIMO2_ISA=%s: unknown instruction set "
                            "(use scalar, avx2, avx512 or neon)\n", want);
            exit(2);
        }
        if (!isa_built((u2_isa)isa)) {
            fprintf(stderr, "unimo2: UNIMO2_ISA=%s: this build has no %s kernels\n", want, want);
            exit(2);
        }
        if (!table_ok[isa]) {
            fprintf(stderr, "unimo2: UNIMO2_ISA=%s: this CPU (or OS) does not support %s\n",
                    want, want);
            exit(2);
        }
        active = &tables[isa];
    }
}

const u2_kernels *u2_kern(void)
{
    pthread_once(&once, init_all);
    return active;
}

const u2_kernels *u2_kern_isa(u2_isa isa)
{
    pthread_once(&once, init_all);
    if ((unsigned)isa >= U2_ISA_COUNT || !table_ok[isa]) return NULL;
    return &tables[isa];
}

/* ------------------------------------------------------------- threads */
static int nthreads_set;

int u2_num_threads(void)
{
    if (nthreads_set > 0) return nthreads_set;
    const char *s = getenv("UNIMO2_THREADS");
    if (s && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (*end == '\0' && v > 0 && v <= 1024) return (int)v;
    }
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void u2_set_num_threads(int n)
{
    nthreads_set = n > 0 ? n : 0;
}
