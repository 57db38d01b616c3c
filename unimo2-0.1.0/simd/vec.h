/* The small vector abstraction the elementwise kernels are written over.
 *
 * simd/kernels_tmpl.h holds each non-GEMM kernel body once; every ISA file
 * includes one vec_<isa>.h (the thin layer: vec_avx2.h, vec_avx512.h,
 * vec_neon.h) and then the template.  A layer defines:
 *
 *   VL                      lanes per vector (float32)
 *   U2_SFX                  suffix of the instantiated names (avx2, ...)
 *   vf                      a vector of VL floats
 *   vtail                   a tail descriptor for the first n lanes, 0 < n < VL
 *   v_load(p) v_store(p,v)  unaligned full-vector load/store
 *   v_tail(n)               the descriptor of lanes [0, n)
 *   v_load_tail(p,t,fill)   lanes [0,n) from p, the others = fill; reads
 *                           nothing at or beyond p + n
 *   v_store_tail(p,t,v)     writes lanes [0,n) only
 *   v_set1(s) v_zero()
 *   v_add v_sub v_mul v_div v_max v_sqrt
 *   v_fma(a,b,c)            a*b + c (fused where the ISA has it)
 *   v_hsum(v)               horizontal float sum (fixed order)
 *   v_hsum_d(v)             lanes widened to double, then summed in double
 *   v_hmax(v)               horizontal max
 *   v_exp(v) v_erf(v)       SLEEF u10 (<= 1 ulp) for the ISA
 *
 * Every operation is deterministic: the kernels give the same bits on
 * every call, whatever the pointer alignment and the thread count. */
#ifndef UNIMO2_SIMD_VEC_H
#define UNIMO2_SIMD_VEC_H

/* dot and sumsq accumulate products in float vector lanes for blocks of at
 * most U2_RED_LANE_TERMS (4-way unrolled) iterations per lane, then flush
 * every lane to a double total.  A lane therefore rounds at most
 * U2_RED_LANE_TERMS + 3 times before its flush (the remainder loop adds up
 * to 3 more terms to one accumulator, the masked tail one to another), so
 *   |error| <= (U2_RED_LANE_TERMS + 4) * 2^-24 * sum |a_i b_i|
 *              + (double-level rounding, n * 2^-53 * sum |a_i b_i|)
 * whatever n is (the +1 covers an unfused multiply).  Products are formed in
 * float: |a_i b_i| must stay below FLT_MAX (|x| < 1.8e19 for sumsq). */
#define U2_RED_LANE_TERMS 64

#endif
