/* neon kernels.  Built with the ISA's own flags only (see configure.ac);
 * on a compiler or target without them this file compiles to nothing.
 * The non-GEMM kernels are simd/kernels_tmpl.h over simd/vec_neon.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

#if defined(__aarch64__)

#include "vec_neon.h"
#include "kernels_tmpl.h"

void u2_kernels_init_neon(u2_kernels *k)
{
    u2_gemm_init_neon(&k->gemm); /* simd/gemm_neon.c */
    U2_FN(fill_table)(k);
}

#endif
