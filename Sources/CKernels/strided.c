#include "common.h"

// Gather / scatter between a contiguous buffer and a strided view, for float tensors and for the
// simulator's int16 codes. Rows along the last dimension are the unit of work; each row is copied
// by one thread.

typedef struct {
  void *dst;
  const void *src;
  int ndim;
  const int64_t *shape, *strides;
  int64_t inner;
  int accumulate;
  int int16;  // elements are int16 codes (else float)
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

CK_CLONES
static void ck_gather_row_i16(int16_t *y, const int16_t *x, int64_t s, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = x[i * s];
}

static void ck_gather_task(void *ctx, int64_t b, int64_t e) {
  const ck_copy_job *j = (const ck_copy_job *)ctx;
  int64_t s = j->strides[j->ndim - 1];
  for (int64_t row = b; row < e; row++) {
    if (j->int16)
      ck_gather_row_i16((int16_t *)j->dst + row * j->inner, (const int16_t *)j->src + ck_view_offset(j, row), s, j->inner);
    else
      ck_gather_row((float *)j->dst + row * j->inner, (const float *)j->src + ck_view_offset(j, row), s, j->inner);
  }
}

// Rows of the job's shape; 0 when there is nothing to copy.
static int64_t ck_copy_rows(ck_copy_job *j) {
  j->inner = j->shape[j->ndim - 1];
  int64_t rows = 1;
  for (int d = 0; d < j->ndim - 1; d++) rows *= j->shape[d];
  return j->inner == 0 ? 0 : rows;
}

static void ck_gather_job(ck_copy_job *j) {
  int64_t rows = ck_copy_rows(j);
  if (rows == 0) return;
  int64_t grain = j->inner >= CK_GRAIN ? 1 : CK_GRAIN / j->inner;
  ck_parallel_for(rows, grain, ck_gather_task, j);
}

void ck_gather(float *y, const float *x, int ndim, const int64_t *shape, const int64_t *xstrides) {
  if (ndim == 0) { y[0] = x[0]; return; }
  ck_copy_job j = {y, x, ndim, shape, xstrides, 0, 0, 0};
  ck_gather_job(&j);
}

void cks_gather_i16(int16_t *y, const int16_t *x, int ndim, const int64_t *shape, const int64_t *xstrides, int64_t offset) {
  if (ndim == 0) { y[0] = x[offset]; return; }
  ck_copy_job j = {y, x + offset, ndim, shape, xstrides, 0, 0, 1};
  ck_gather_job(&j);
}

CK_CLONES
static void ck_scatter_row(float *y, int64_t s, const float *x, int64_t n, int acc) {
  if (acc) { for (int64_t i = 0; i < n; i++) y[i * s] += x[i]; }
  else if (s == 1) { for (int64_t i = 0; i < n; i++) y[i] = x[i]; }
  else { for (int64_t i = 0; i < n; i++) y[i * s] = x[i]; }
}

CK_CLONES
static void ck_scatter_row_i16(int16_t *y, int64_t s, const int16_t *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i * s] = x[i];
}

static void ck_scatter_task(void *ctx, int64_t b, int64_t e) {
  const ck_copy_job *j = (const ck_copy_job *)ctx;
  int64_t s = j->strides[j->ndim - 1];
  for (int64_t row = b; row < e; row++) {
    if (j->int16)
      ck_scatter_row_i16((int16_t *)j->dst + ck_view_offset(j, row), s, (const int16_t *)j->src + row * j->inner, j->inner);
    else
      ck_scatter_row((float *)j->dst + ck_view_offset(j, row), s, (const float *)j->src + row * j->inner, j->inner,
                     j->accumulate);
  }
}

static void ck_scatter_job(ck_copy_job *j) {
  int64_t rows = ck_copy_rows(j);
  if (rows == 0) return;
  // Accumulating scatters may hit one destination from several rows (stride 0): run them serially.
  if (j->accumulate) { ck_scatter_task(j, 0, rows); return; }
  int64_t grain = j->inner >= CK_GRAIN ? 1 : CK_GRAIN / j->inner;
  ck_parallel_for(rows, grain, ck_scatter_task, j);
}

void ck_scatter(float *y, const int64_t *ystrides, const float *x, int ndim, const int64_t *shape, int accumulate) {
  if (ndim == 0) { if (accumulate) y[0] += x[0]; else y[0] = x[0]; return; }
  ck_copy_job j = {y, x, ndim, shape, ystrides, 0, accumulate, 0};
  ck_scatter_job(&j);
}

void cks_scatter_i16(int16_t *y, const int64_t *ystrides, int64_t offset, const int16_t *x, int ndim, const int64_t *shape) {
  if (ndim == 0) { y[offset] = x[0]; return; }
  ck_copy_job j = {y + offset, x, ndim, shape, ystrides, 0, 0, 1};
  ck_scatter_job(&j);
}
