// Integer elementwise ops of the deploy format beyond add: products, the DPU's hard sigmoid and
// hard swish, and table lookups (for the simulator and the exact fake-quant path).
#include "common.h"

typedef struct {
  const int16_t *a, *b, *x, *table;
  int16_t *y;
  int shift, fi, fo, rule, qmin, qmax, lo;
  int64_t channels, inner, table_channels, entries;
} cks_ew_job;

static void cks_mul_task(void *ctx, int64_t b, int64_t e) {
  const cks_ew_job *j = (const cks_ew_job *)ctx;
  for (int64_t i = b; i < e; i++) {
    int64_t s = (int64_t)j->a[i] * (int64_t)j->b[i];
    j->y[i] = (int16_t)ck_saturate_i64(ck_shift_round_i64(s, j->shift, (ck_rounding)j->rule), j->qmin, j->qmax);
  }
}

void cks_mul_i16(const int16_t *a, const int16_t *b, int16_t *y, int64_t n, int shift, ck_rounding rule, int qmin, int qmax) {
  cks_ew_job j = {.a = a, .b = b, .y = y, .shift = shift, .rule = rule, .qmin = qmin, .qmax = qmax};
  ck_parallel_for(n, CK_GRAIN, cks_mul_task, &j);
}

// clamp(x + 3·2^fi, 0, 6·2^fi) · 2731: the DPU's relu6(x + 3) · 2731 / 2^14 at fraction 14 + fi.
static inline int64_t cks_hsig_acc(int64_t x, int fi) {
  int64_t three = (int64_t)3 << fi, s = x + three;
  s = s < 0 ? 0 : (s > 2 * three ? 2 * three : s);
  return s * 2731;
}

static void cks_hsigmoid_task(void *ctx, int64_t b, int64_t e) {
  const cks_ew_job *j = (const cks_ew_job *)ctx;
  for (int64_t i = b; i < e; i++) {
    int64_t s = cks_hsig_acc(j->x[i], j->fi);
    j->y[i] = (int16_t)ck_saturate_i64(ck_shift_round_i64(s, 14 + j->fi - j->fo, (ck_rounding)j->rule), j->qmin, j->qmax);
  }
}

void cks_hsigmoid_i16(const int16_t *x, int16_t *y, int64_t n, int fi, int fo, ck_rounding rule, int qmin, int qmax) {
  cks_ew_job j = {.x = x, .y = y, .fi = fi, .fo = fo, .rule = rule, .qmin = qmin, .qmax = qmax};
  ck_parallel_for(n, CK_GRAIN, cks_hsigmoid_task, &j);
}

static void cks_hswish_task(void *ctx, int64_t b, int64_t e) {
  const cks_ew_job *j = (const cks_ew_job *)ctx;
  for (int64_t i = b; i < e; i++) {
    int64_t h = ck_saturate_i64(ck_shift_round_i64(cks_hsig_acc(j->x[i], j->fi), 7 + j->fi, CK_ROUND_HALF_UP), -128, 127);
    int64_t s = (int64_t)j->x[i] * h;
    j->y[i] = (int16_t)ck_saturate_i64(ck_shift_round_i64(s, j->fi + 7 - j->fo, (ck_rounding)j->rule), j->qmin, j->qmax);
  }
}

void cks_hswish_i16(const int16_t *x, int16_t *y, int64_t n, int fi, int fo, ck_rounding rule, int qmin, int qmax) {
  cks_ew_job j = {.x = x, .y = y, .fi = fi, .fo = fo, .rule = rule, .qmin = qmin, .qmax = qmax};
  ck_parallel_for(n, CK_GRAIN, cks_hswish_task, &j);
}

// rows = (outer, channel) pairs
static void cks_lookup_task(void *ctx, int64_t b, int64_t e) {
  const cks_ew_job *j = (const cks_ew_job *)ctx;
  for (int64_t row = b; row < e; row++) {
    int64_t c = row % j->channels;
    const int16_t *t = j->table + (j->table_channels == 1 ? 0 : c) * j->entries;
    const int16_t *x = j->x + row * j->inner;
    int16_t *y = j->y + row * j->inner;
    for (int64_t i = 0; i < j->inner; i++) {
      int64_t k = (int64_t)x[i] - j->lo;
      y[i] = t[k < 0 ? 0 : (k >= j->entries ? j->entries - 1 : k)];
    }
  }
}

void cks_lookup_i16(const int16_t *x, int16_t *y, int64_t outer, int64_t channels, int64_t inner, const int16_t *table,
                    int64_t table_channels, int lo, int64_t entries) {
  cks_ew_job j = {.x = x, .y = y, .table = table, .lo = lo, .channels = channels, .inner = inner,
                  .table_channels = table_channels, .entries = entries};
  int64_t grain = inner >= CK_GRAIN ? 1 : CK_GRAIN / (inner ? inner : 1);
  ck_parallel_for(outer * channels, grain, cks_lookup_task, &j);
}
