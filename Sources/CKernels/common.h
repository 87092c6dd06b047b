// Shared by the kernel files: clone list and chunk sizes.
#ifndef CK_COMMON_H
#define CK_COMMON_H
#pragma clang fp contract(off)
#include "ckernels.h"
#include <math.h>
#include <stddef.h>

// Compiled three times (SSE2, AVX2, AVX-512F); the loader picks by the features the CPU reports. Floating-point contraction is
// off in every file, so each clone computes bitwise the same results.
#define CK_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))

// Elements per parallel chunk for memory-bound loops (64 KiB of floats).
#define CK_GRAIN 16384

#endif
