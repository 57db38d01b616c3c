/* avx512 kernels.  Built with the ISA's own flags only (see configure.ac);
 * on a compiler or target without them this file compiles to nothing. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

#if defined(__AVX512F__)

void u2_kernels_init_avx512(u2_kernels *k)
{
    u2_gemm_init_avx512(&k->gemm); /* simd/gemm_avx512.c */
    /* entries not overridden keep the scalar reference */
}

#endif
