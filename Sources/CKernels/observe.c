#include "common.h"
#include <stdlib.h>
#include <string.h>

// Statistics for calibration observers. Work is split into fixed chunks whose partial results are
// combined in chunk order, so every figure is independent of the thread count.

#define CK_STAT_CHUNK 65536

typedef struct {
  const float *x;
  int64_t n;
  double *partial;  // per chunk: depends on the statistic
  float a, b, c, d, e;
  int rule, bins, absolute;
} ck_stat_job;

CK_CLONES
static void ck_minmax_range(const float *x, int64_t n, double *out) {
  float lo = x[0], hi = x[0];
  int nan = 0;
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    nan |= v != v;
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  out[0] = nan ? NAN : lo;
  out[1] = nan ? NAN : hi;
}

static void ck_minmax_task(void *ctx, int64_t b, int64_t e) {
  const ck_stat_job *j = (const ck_stat_job *)ctx;
  for (int64_t c = b; c < e; c++) {
    int64_t s = c * CK_STAT_CHUNK, n = j->n - s < CK_STAT_CHUNK ? j->n - s : CK_STAT_CHUNK;
    ck_minmax_range(j->x + s, n, j->partial + 2 * c);
  }
}

void ck_min_max(const float *x, int64_t n, float *min_out, float *max_out) {
  if (n <= 0) { *min_out = 0; *max_out = 0; return; }
  int64_t chunks = (n + CK_STAT_CHUNK - 1) / CK_STAT_CHUNK;
  double *partial = malloc(sizeof(double) * 2 * chunks);
  ck_stat_job j = {x, n, partial, 0, 0, 0, 0, 0, 0, 0, 0};
  ck_parallel_for(chunks, 1, ck_minmax_task, &j);
  double lo = partial[0], hi = partial[1];
  for (int64_t c = 1; c < chunks; c++) {
    if (partial[2 * c] != partial[2 * c] || partial[2 * c] < lo) lo = partial[2 * c];
    if (partial[2 * c + 1] != partial[2 * c + 1] || partial[2 * c + 1] > hi) hi = partial[2 * c + 1];
  }
  free(partial);
  *min_out = (float)lo;
  *max_out = (float)hi;
}

// Sums of squared differences between x and its fake quantization on up to CK_MAX_GRIDS grids
// (candidate scales) in one pass. Float partial sums over 8 lanes per chunk, combined in double.
#define CK_MAX_GRIDS 24

#define CK_ERR_LOOP(RULE)                                                             \
  case RULE:                                                                          \
    for (int64_t i = 0; i + 8 <= n; i += 8)                                           \
      for (int k = 0; k < 8; k++) {                                                   \
        float v = x[i + k];                                                           \
        float q = ck_round_f32(v * inv, RULE) + zero;                                 \
        q = q < qmin ? qmin : q;                                                      \
        q = q > qmax ? qmax : q;                                                      \
        float d = v - (q - zero) * scale;                                             \
        acc[k] += d * d;                                                              \
      }                                                                               \
    for (int64_t i = n - n % 8; i < n; i++) {                                         \
      float v = x[i];                                                                 \
      float q = ck_round_f32(v * inv, RULE) + zero;                                   \
      q = q < qmin ? qmin : q;                                                        \
      q = q > qmax ? qmax : q;                                                        \
      float d = v - (q - zero) * scale;                                               \
      acc[0] += d * d;                                                                \
    }                                                                                 \
    break;

CK_CLONES
static double ck_err_range(const float *x, int64_t n, float inv, float scale, float zero, float qmin, float qmax, int rule) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  switch ((ck_rounding)rule) {
    CK_ERR_LOOP(CK_ROUND_HALF_EVEN) CK_ERR_LOOP(CK_ROUND_HALF_UP) CK_ERR_LOOP(CK_ROUND_HALF_AWAY)
    CK_ERR_LOOP(CK_ROUND_FLOOR) CK_ERR_LOOP(CK_ROUND_CEIL) CK_ERR_LOOP(CK_ROUND_TOWARD_ZERO)
  }
  double s = 0;
  for (int k = 0; k < 8; k++) s += acc[k];
  return s;
}

typedef struct {
  const float *x;
  int64_t n;
  int grids;
  const float *inv, *scale;
  float zero, qmin, qmax;
  int rule;
  double *partial;  // [chunk][grid]
} ck_err_job;

#define CK_ERR_CHUNK 8192

static void ck_err_task(void *ctx, int64_t b, int64_t e) {
  const ck_err_job *j = (const ck_err_job *)ctx;
  for (int64_t c = b; c < e; c++) {
    int64_t s = c * CK_ERR_CHUNK, n = j->n - s < CK_ERR_CHUNK ? j->n - s : CK_ERR_CHUNK;
    for (int g = 0; g < j->grids; g++)
      j->partial[c * j->grids + g] = ck_err_range(j->x + s, n, j->inv[g], j->scale[g], j->zero, j->qmin, j->qmax, j->rule);
  }
}

void ck_quant_sq_errors(const float *x, int64_t n, int grids, const float *inv_scales, const float *scales, float zero,
                        float qmin, float qmax, ck_rounding rule, double *errors) {
  for (int g = 0; g < grids; g++) errors[g] = 0;
  if (n <= 0 || grids <= 0) return;
  int64_t chunks = (n + CK_ERR_CHUNK - 1) / CK_ERR_CHUNK;
  double *partial = malloc(sizeof(double) * chunks * grids);
  ck_err_job j = {x, n, grids, inv_scales, scales, zero, qmin, qmax, rule, partial};
  ck_parallel_for(chunks, 8, ck_err_task, &j);
  for (int64_t c = 0; c < chunks; c++)
    for (int g = 0; g < grids; g++) errors[g] += partial[c * grids + g];
  free(partial);
}

// Histogram of x (or |x|) over [lo, hi) in `bins` equal bins; values at or beyond the edges go to
// the first / last bin. counts are added to (so histograms accumulate across batches).
static void ck_hist_task(void *ctx, int64_t b, int64_t e) {
  const ck_stat_job *j = (const ck_stat_job *)ctx;
  float lo = j->a, width = j->b;
  for (int64_t c = b; c < e; c++) {
    double *h = j->partial + c * j->bins;
    memset(h, 0, sizeof(double) * j->bins);
    int64_t s = c * CK_STAT_CHUNK, n = j->n - s < CK_STAT_CHUNK ? j->n - s : CK_STAT_CHUNK;
    for (int64_t i = 0; i < n; i++) {
      float v = j->x[s + i];
      if (v != v) continue;
      if (j->absolute) v = fabsf(v);
      float t = (v - lo) / width;
      int64_t k = t < 0 ? 0 : (t >= (float)j->bins ? j->bins - 1 : (int64_t)t);
      h[k] += 1;
    }
  }
}

void ck_histogram(const float *x, int64_t n, float lo, float hi, int bins, int absolute, double *counts) {
  if (n <= 0 || bins <= 0) return;
  int64_t chunks = (n + CK_STAT_CHUNK - 1) / CK_STAT_CHUNK;
  double *partial = malloc(sizeof(double) * chunks * bins);
  float width = hi > lo ? (hi - lo) / (float)bins : 1.0f;
  ck_stat_job j = {x, n, partial, lo, width, 0, 0, 0, 0, bins, absolute};
  ck_parallel_for(chunks, 1, ck_hist_task, &j);
  for (int64_t c = 0; c < chunks; c++)
    for (int k = 0; k < bins; k++) counts[k] += partial[c * bins + k];
  free(partial);
}
