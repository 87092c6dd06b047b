#include "common.h"

// Gather / scatter between a contiguous buffer and a strided view. Rows along the last dimension
// are the unit of work; each row is copied by one thread.

typedef struct {
  float *dst;
  const float *src;
  int ndim;
  const int64_t *shape, *strides;
  int64_t inner;
  int accumulate;
} ck_copy_job;

static int64_t ck_view_offset(const ck_copy_job *j, int64_t row) {
  int64_t off = 0;
  for (int d = j->ndim - 2; d >= 0; d--) {
    int64_t idx = row % j->shape[d];
    row /= j->shape[d];
    off += idx * j->strides[d];
  }
  return off;
}

CK_CLONES
static void ck_gather_row(float *y, const float *x, int64_t s, int64_t n) {
  if (s == 1) { for (int64_t i = 0; i < n; i++) y[i] = x[i]; }
  else if (s == 0) { float v = x[0]; for (int64_t i = 0; i < n; i++) y[i] = v; }
  else { for (int64_t i = 0; i < n; i++) y[i] = x[i * s]; }
}

static void ck_gather_task(void *ctx, int64_t b, int64_t e) {
  const ck_copy_job *j = (const ck_copy_job *)ctx;
  int64_t s = j->strides[j->ndim - 1];
  for (int64_t row = b; row < e; row++)
    ck_gather_row(j->dst + row * j->inner, j->src + ck_view_offset(j, row), s, j->inner);
}

void ck_gather(float *y, const float *x, int ndim, const int64_t *shape, const int64_t *xstrides) {
  if (ndim == 0) { y[0] = x[0]; return; }
  ck_copy_job j = {y, x, ndim, shape, xstrides, shape[ndim - 1], 0};
  int64_t rows = 1;
  for (int d = 0; d < ndim - 1; d++) rows *= shape[d];
  if (j.inner == 0 || rows == 0) return;
  int64_t grain = j.inner >= CK_GRAIN ? 1 : CK_GRAIN / j.inner;
  ck_parallel_for(rows, grain, ck_gather_task, &j);
}

CK_CLONES
static void ck_scatter_row(float *y, int64_t s, const float *x, int64_t n, int acc) {
  if (acc) { for (int64_t i = 0; i < n; i++) y[i * s] += x[i]; }
  else if (s == 1) { for (int64_t i = 0; i < n; i++) y[i] = x[i]; }
  else { for (int64_t i = 0; i < n; i++) y[i * s] = x[i]; }
}

static void ck_scatter_task(void *ctx, int64_t b, int64_t e) {
  const ck_copy_job *j = (const ck_copy_job *)ctx;
  int64_t s = j->strides[j->ndim - 1];
  for (int64_t row = b; row < e; row++)
    ck_scatter_row(j->dst + ck_view_offset(j, row), s, j->src + row * j->inner, j->inner, j->accumulate);
}

void ck_scatter(float *y, const int64_t *ystrides, const float *x, int ndim, const int64_t *shape, int accumulate) {
  if (ndim == 0) { if (accumulate) y[0] += x[0]; else y[0] = x[0]; return; }
  ck_copy_job j = {y, x, ndim, shape, ystrides, shape[ndim - 1], accumulate};
  int64_t rows = 1;
  for (int d = 0; d < ndim - 1; d++) rows *= shape[d];
  if (j.inner == 0 || rows == 0) return;
  // Accumulating scatters may hit one destination from several rows (stride 0): run them serially.
  if (accumulate) { ck_scatter_task(&j, 0, rows); return; }
  int64_t grain = j.inner >= CK_GRAIN ? 1 : CK_GRAIN / j.inner;
  ck_parallel_for(rows, grain, ck_scatter_task, &j);
}
