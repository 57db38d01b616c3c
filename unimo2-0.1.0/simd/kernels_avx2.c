/* avx2 kernels.  Built with the ISA's own flags only (see configure.ac);
 * on a compiler or target without them this file compiles to nothing.
 * The non-GEMM kernels are simd/kernels_tmpl.h over simd/vec_avx2.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

#if defined(__AVX2__) && defined(__FMA__)

#include "vec_avx2.h"
#include "kernels_tmpl.h"

void u2_kernels_init_avx2(u2_kernels *k)
{
    u2_gemm_init_avx2(&k->gemm); /* simd/gemm_avx2.c */
    U2_FN(fill_table)(k);
}

#endif
