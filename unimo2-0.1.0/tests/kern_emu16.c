/* simd/kernels_tmpl.h instantiated on the plain-C 16-lane layer
 * (tests/vec_emu16.h): the AVX-512 instance's logic, runnable anywhere. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "vec_emu16.h"
#include "kernels_tmpl.h"

void test_kernels_init_emu16(u2_kernels *k);

void test_kernels_init_emu16(u2_kernels *k)
{
    u2_kernels_init_ref(k);
    U2_FN(fill_table)(k);
    k->name = "emu16";
}
