/* neon GEMM micro-kernel and packing (placeholder: the scalar reference
 * until the vectorised micro-kernel lands). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

#if defined(__aarch64__)

void u2_gemm_init_neon(u2_gemm_info *g)
{
    u2_gemm_init_ref(g);
}

#endif
