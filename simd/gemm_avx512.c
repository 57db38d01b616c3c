/* avx512 GEMM micro-kernel and packing (placeholder: the scalar reference
 * until the vectorised micro-kernel lands). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

#if defined(__AVX512F__)

void u2_gemm_init_avx512(u2_gemm_info *g)
{
    u2_gemm_init_ref(g);
}

#endif
