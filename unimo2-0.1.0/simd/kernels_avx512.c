/* avx512 kernels.  Built with the ISA's own flags only (see configure.ac);
 * on a compiler or target without them this file compiles to nothing.
 * The non-GEMM kernels are simd/kernels_tmpl.h over simd/vec_avx512.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

#if defined(__AVX512F__)

#include "vec_avx512.h"
#include "kernels_tmpl.h"

void u2_kernels_init_avx512(u2_kernels *k)
{
    u2_gemm_init_avx512(&k->gemm); /* simd/gemm_avx512.c */
    U2_FN(fill_table)(k);
}

#endif
