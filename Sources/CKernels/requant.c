// Requantization for the integer simulator and the exact fake-quant path: one rounding, by
// integer shift, of an exact accumulator (plus bias, through a fused activation) onto the output
// grid. The rounding is ck_shift_round_i64, the integer twin of ck_round_f32 (ck_round.h).
#include "common.h"

typedef struct {
  const int32_t *acc32;
  const int64_t *acc64;
  int64_t c, p;
  int left;
  const int64_t *bias;
  ck_activation act;
  int64_t relu6_limit;
  int shift, rule, qmin, qmax;
  int16_t *out;
} cks_rq_job;

// int32 fast path: acc32, no left shift, the biased sum fits int32, activation none / relu,
// shift in [1, 30]. Rounding written per rule so the loops vectorize.
#define CKS_RQ32(NAME, ROUND)                                                                  \
  CK_CLONES static void NAME(const int32_t *a, int32_t bias, int64_t n, int shift, int relu,    \
                             int32_t qmin, int32_t qmax, int16_t *o) {                         \
    const int32_t half = 1 << (shift - 1), mask = (1 << shift) - 1;                            \
    for (int64_t i = 0; i < n; i++) {                                                          \
      int32_t s = a[i] + bias;                                                                 \
      if (relu) s = s > 0 ? s : 0;                                                             \
      int32_t q = s >> shift, r = s & mask;                                                    \
      ROUND;                                                                                   \
      q = q < qmin ? qmin : (q > qmax ? qmax : q);                                             \
      o[i] = (int16_t)q;                                                                       \
    }                                                                                          \
  }

CKS_RQ32(cks_rq32_half_up, q += r >= half)
CKS_RQ32(cks_rq32_half_even, q += (r > half) | ((r == half) & (q & 1)))
CKS_RQ32(cks_rq32_half_away, q += (r > half) | ((r == half) & (s > 0)))
CKS_RQ32(cks_rq32_floor, (void)r)
CKS_RQ32(cks_rq32_ceil, q += r != 0)
CKS_RQ32(cks_rq32_toward_zero, q += (r != 0) & (s < 0))

static int cks_rq32_row(const cks_rq_job *j, int64_t row, int64_t bias) {
  if (!j->acc32 || j->left != 0 || j->shift < 1 || j->shift > 30) return 0;
  if (j->act != CK_ACT_NONE && j->act != CK_ACT_RELU) return 0;
  if (bias > (1 << 30) || bias < -(1 << 30)) return 0;  // |acc| < 2^30 is guaranteed by the int32 conv
  const int32_t *a = j->acc32 + row * j->p;
  int16_t *o = j->out + row * j->p;
  int relu = j->act == CK_ACT_RELU;
  switch ((ck_rounding)j->rule) {
  case CK_ROUND_HALF_UP: cks_rq32_half_up(a, (int32_t)bias, j->p, j->shift, relu, j->qmin, j->qmax, o); break;
  case CK_ROUND_HALF_EVEN: cks_rq32_half_even(a, (int32_t)bias, j->p, j->shift, relu, j->qmin, j->qmax, o); break;
  case CK_ROUND_HALF_AWAY: cks_rq32_half_away(a, (int32_t)bias, j->p, j->shift, relu, j->qmin, j->qmax, o); break;
  case CK_ROUND_FLOOR: cks_rq32_floor(a, (int32_t)bias, j->p, j->shift, relu, j->qmin, j->qmax, o); break;
  case CK_ROUND_CEIL: cks_rq32_ceil(a, (int32_t)bias, j->p, j->shift, relu, j->qmin, j->qmax, o); break;
  case CK_ROUND_TOWARD_ZERO: cks_rq32_toward_zero(a, (int32_t)bias, j->p, j->shift, relu, j->qmin, j->qmax, o); break;
  }
  return 1;
}

static void cks_rq_task(void *ctx, int64_t b, int64_t e) {
  const cks_rq_job *j = (const cks_rq_job *)ctx;
  int64_t lmul = (int64_t)1 << j->left;
  for (int64_t row = b; row < e; row++) {  // row = (image, channel)
    int64_t bias = j->bias ? j->bias[row % j->c] : 0;
    if (cks_rq32_row(j, row, bias)) continue;
    int16_t *o = j->out + row * j->p;
    for (int64_t i = 0; i < j->p; i++) {
      int64_t a = j->acc32 ? (int64_t)j->acc32[row * j->p + i] : j->acc64[row * j->p + i];
      int64_t s = a * lmul + bias;
      switch (j->act) {
      case CK_ACT_NONE: break;
      case CK_ACT_RELU: s = s > 0 ? s : 0; break;
      case CK_ACT_RELU6: s *= 256; s = s < 0 ? 0 : (s > j->relu6_limit ? j->relu6_limit : s); break;
      case CK_ACT_LEAKY_DPU: s = s < 0 ? s * 26 : s * 256; break;
      }
      o[i] = (int16_t)ck_saturate_i64(ck_shift_round_i64(s, j->shift, (ck_rounding)j->rule), j->qmin, j->qmax);
    }
  }
}

void cks_requantize(const int32_t *acc32, const int64_t *acc64, int64_t n, int64_t c, int64_t p, int left_shift,
                    const int64_t *bias, ck_activation act, int64_t relu6_limit, int shift, ck_rounding rule,
                    int qmin, int qmax, int16_t *out) {
  cks_rq_job j = {acc32, acc64, c, p, left_shift, bias, act, relu6_limit, shift, rule, qmin, qmax, out};
  int64_t grain = p >= 4096 ? 1 : 4096 / (p ? p : 1);
  ck_parallel_for(n * c, grain, cks_rq_task, &j);
}

// Elementwise requantization of int16 values from fraction `from` to `to` (shift = from − to;
// negative shifts multiply exactly), with optional activation as above.
typedef struct {
  const int16_t *x;
  int16_t *y;
  int shift, rule, qmin, qmax;
  ck_activation act;
  int64_t relu6_limit;
} cks_rs_job;

static void cks_rs_task(void *ctx, int64_t b, int64_t e) {
  const cks_rs_job *j = (const cks_rs_job *)ctx;
  for (int64_t i = b; i < e; i++) {
    int64_t s = j->x[i];
    switch (j->act) {
    case CK_ACT_NONE: break;
    case CK_ACT_RELU: s = s > 0 ? s : 0; break;
    case CK_ACT_RELU6: s *= 256; s = s < 0 ? 0 : (s > j->relu6_limit ? j->relu6_limit : s); break;
    case CK_ACT_LEAKY_DPU: s = s < 0 ? s * 26 : s * 256; break;
    }
    j->y[i] = (int16_t)ck_saturate_i64(ck_shift_round_i64(s, j->shift, (ck_rounding)j->rule), j->qmin, j->qmax);
  }
}

void cks_rescale(const int16_t *x, int16_t *y, int64_t n, int shift, ck_rounding rule, int qmin, int qmax,
                 ck_activation act, int64_t relu6_limit) {
  cks_rs_job j = {x, y, shift, rule, qmin, qmax, act, relu6_limit};
  ck_parallel_for(n, CK_GRAIN, cks_rs_task, &j);
}

// a ± b with both aligned to fraction F by left shifts (la, lb), activation, shift to the output.
typedef struct {
  const int16_t *a, *b;
  int16_t *y;
  int la, lb, sign, shift, rule, qmin, qmax;
  ck_activation act;
  int64_t relu6_limit;
} cks_add_job;

// int32 fast path of the add: both shifts small enough that the sum fits int32, activation none
// or ReLU, half-up or half-even rounding, shift in [1, 30] (the common DPU case).
CK_CLONES static void cks_add32(const int16_t *a, int la, const int16_t *b, int lb, int sign, int16_t *y, int64_t n,
                                int shift, int relu, int even, int32_t qmin, int32_t qmax) {
  const int32_t half = shift > 0 ? 1 << (shift - 1) : 0, mask = (1 << shift) - 1;
  for (int64_t i = 0; i < n; i++) {
    int32_t s = ((int32_t)a[i] << la) + sign * ((int32_t)b[i] << lb);
    if (shift == 0) {
      if (relu) s = s > 0 ? s : 0;
      y[i] = (int16_t)(s < qmin ? qmin : (s > qmax ? qmax : s));
      continue;
    }
    if (relu) s = s > 0 ? s : 0;
    int32_t q = s >> shift, r = s & mask;
    q += even ? ((r > half) | ((r == half) & (q & 1))) : (r >= half);
    q = q < qmin ? qmin : (q > qmax ? qmax : q);
    y[i] = (int16_t)q;
  }
}

static void cks_add_task(void *ctx, int64_t b, int64_t e) {
  const cks_add_job *j = (const cks_add_job *)ctx;
  if (j->la <= 14 && j->lb <= 14 && j->shift >= 0 && j->shift <= 30 && (j->act == CK_ACT_NONE || j->act == CK_ACT_RELU) &&
      (j->rule == CK_ROUND_HALF_UP || j->rule == CK_ROUND_HALF_EVEN)) {
    cks_add32(j->a + b, j->la, j->b + b, j->lb, j->sign, j->y + b, e - b, j->shift, j->act == CK_ACT_RELU,
              j->rule == CK_ROUND_HALF_EVEN, j->qmin, j->qmax);
    return;
  }
  for (int64_t i = b; i < e; i++) {
    int64_t s = (int64_t)j->a[i] * ((int64_t)1 << j->la) + j->sign * (int64_t)j->b[i] * ((int64_t)1 << j->lb);
    switch (j->act) {
    case CK_ACT_NONE: break;
    case CK_ACT_RELU: s = s > 0 ? s : 0; break;
    case CK_ACT_RELU6: s *= 256; s = s < 0 ? 0 : (s > j->relu6_limit ? j->relu6_limit : s); break;
    case CK_ACT_LEAKY_DPU: s = s < 0 ? s * 26 : s * 256; break;
    }
    j->y[i] = (int16_t)ck_saturate_i64(ck_shift_round_i64(s, j->shift, (ck_rounding)j->rule), j->qmin, j->qmax);
  }
}

void cks_add(const int16_t *a, int la, const int16_t *b, int lb, int subtract, int16_t *y, int64_t n, int shift,
             ck_rounding rule, int qmin, int qmax, ck_activation act, int64_t relu6_limit) {
  cks_add_job j = {a, b, y, la, lb, subtract ? -1 : 1, shift, rule, qmin, qmax, act, relu6_limit};
  ck_parallel_for(n, CK_GRAIN, cks_add_task, &j);
}

// Quantization of float input: saturate(round(x · 2^f)) into int16 (the fake-quant formula).
typedef struct {
  const float *x;
  int16_t *y;
  float scale;
  int rule, qmin, qmax;
} cks_q_job;

// One loop per rounding rule (the rule is a constant inside), so each vectorizes.
#define CKS_Q_LOOP(RULE)                                                                 \
  for (int64_t i = b; i < e; i++) {                                                      \
    float q = ck_round_f32(x[i] * scale, RULE);                                          \
    q = q < lo ? lo : (q > hi ? hi : q);                                                 \
    y[i] = (int16_t)q;                                                                   \
  }

CK_CLONES static void cks_q_task(void *ctx, int64_t b, int64_t e) {
  const cks_q_job *j = (const cks_q_job *)ctx;
  const float *x = j->x, scale = j->scale, lo = (float)j->qmin, hi = (float)j->qmax;
  int16_t *y = j->y;
  switch ((ck_rounding)j->rule) {
  case CK_ROUND_HALF_EVEN: CKS_Q_LOOP(CK_ROUND_HALF_EVEN) break;
  case CK_ROUND_HALF_UP: CKS_Q_LOOP(CK_ROUND_HALF_UP) break;
  case CK_ROUND_HALF_AWAY: CKS_Q_LOOP(CK_ROUND_HALF_AWAY) break;
  case CK_ROUND_FLOOR: CKS_Q_LOOP(CK_ROUND_FLOOR) break;
  case CK_ROUND_CEIL: CKS_Q_LOOP(CK_ROUND_CEIL) break;
  case CK_ROUND_TOWARD_ZERO: CKS_Q_LOOP(CK_ROUND_TOWARD_ZERO) break;
  }
}

void cks_quantize(const float *x, int16_t *y, int64_t n, float scale, ck_rounding rule, int qmin, int qmax) {
  cks_q_job j = {x, y, scale, rule, qmin, qmax};
  ck_parallel_for(n, CK_GRAIN, cks_q_task, &j);
}
