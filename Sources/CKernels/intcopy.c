#include "common.h"

// Strided copies of int16 codes for the simulator's index-only ops (slice, pad): rows along the
// last dimension are the unit of work, each copied by one thread.

typedef struct {
  int16_t *y;
  const int16_t *x;
  int ndim;
  const int64_t *shape, *strides;  // shape of the contiguous side; strides (elements) of the strided side
  int64_t offset, inner;
  int gather;  // 1: y contiguous ← x strided; 0: y strided ← x contiguous
} cks_copy_job;

static int64_t cks_row_offset(const cks_copy_job *j, int64_t row) {
  int64_t off = j->offset;
  for (int d = j->ndim - 2; d >= 0; d--) {
    off += (row % j->shape[d]) * j->strides[d];
    row /= j->shape[d];
  }
  return off;
}

CK_CLONES static void cks_copy_task(void *ctx, int64_t b, int64_t e) {
  const cks_copy_job *j = (const cks_copy_job *)ctx;
  int64_t s = j->strides[j->ndim - 1], n = j->inner;
  for (int64_t row = b; row < e; row++) {
    int64_t at = cks_row_offset(j, row);
    if (j->gather) {
      int16_t *dst = j->y + row * n;
      const int16_t *src = j->x + at;
      for (int64_t i = 0; i < n; i++) dst[i] = src[i * s];
    } else {
      int16_t *dst = j->y + at;
      const int16_t *src = j->x + row * n;
      for (int64_t i = 0; i < n; i++) dst[i * s] = src[i];
    }
  }
}

static void cks_copy(cks_copy_job *j) {
  if (j->ndim == 0) return;
  j->inner = j->shape[j->ndim - 1];
  int64_t rows = 1;
  for (int d = 0; d < j->ndim - 1; d++) rows *= j->shape[d];
  if (j->inner == 0 || rows == 0) return;
  int64_t grain = j->inner >= CK_GRAIN ? 1 : CK_GRAIN / j->inner;
  ck_parallel_for(rows, grain, cks_copy_task, j);
}

void cks_gather_i16(int16_t *y, const int16_t *x, int ndim, const int64_t *shape, const int64_t *xstrides, int64_t offset) {
  cks_copy_job j = {y, x, ndim, shape, xstrides, offset, 0, 1};
  cks_copy(&j);
}

void cks_scatter_i16(int16_t *y, const int64_t *ystrides, int64_t offset, const int16_t *x, int ndim, const int64_t *shape) {
  cks_copy_job j = {y, x, ndim, shape, ystrides, offset, 0, 0};
  cks_copy(&j);
}
