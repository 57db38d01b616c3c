/* avx2 kernels.  Built with the ISA's own flags only (see configure.ac);
 * on a compiler or target without them this file compiles to nothing. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

#if defined(__AVX2__) && defined(__FMA__)

void u2_kernels_init_avx2(u2_kernels *k)
{
    u2_gemm_init_avx2(&k->gemm); /* simd/gemm_avx2.c */
    /* entries not overridden keep the scalar reference */
}

#endif
