/* neon kernels.  Built with the ISA's own flags only (see configure.ac);
 * on a compiler or target without them this file compiles to nothing. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "kernels.h"

#if defined(__aarch64__)

void u2_kernels_init_neon(u2_kernels *k)
{
    (void)k; /* entries not overridden keep the scalar reference */
}

#endif
