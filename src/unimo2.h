/* unimo2 — UNIMO-2 grounded vision-language model on CPUs.  Public API. */
#ifndef UNIMO2_H
#define UNIMO2_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define UNIMO2_API __attribute__((visibility("default")))
#else
#define UNIMO2_API
#endif

/* Library version, e.g. "0.1.0". */
UNIMO2_API const char *unimo2_version(void);
/* Name of the kernel set in use: "scalar", "avx2", "avx512" or "neon". */
UNIMO2_API const char *unimo2_isa(void);

#ifdef __cplusplus
}
#endif
#endif
