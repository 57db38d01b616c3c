#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "unimo2.h"
#include "kernels.h"

UNIMO2_API const char *unimo2_version(void) { return PACKAGE_VERSION; }

UNIMO2_API const char *unimo2_isa(void) { return u2_kern()->name; }
