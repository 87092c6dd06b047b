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

// Requantization by an integer multiplier and a right shift per output channel (affine and
// per-channel float scales: Quark Int16Scale / TIDL with 16-bit multipliers, gemmlowp with 32-bit
// ones). The product is exact in 128 bits and rounded once, with the tensor's rule; ReLU and ReLU6
// clamp the rounded code (round is monotone, so this equals rounding the clamped value), the
// DPU's leaky ReLU works at 8 more fractional bits as in cks_requantize.
// The rounding step after a floor shift: q = floor(v / 2^s), r = v − q·2^s, half = 2^(s−1).
#define CKS_ROUND_FLOORED(q, r, half, v, rule)                              \
  switch (rule) {                                                           \
  case CK_ROUND_HALF_EVEN: q += (r > half || (r == half && (q & 1))); break; \
  case CK_ROUND_HALF_UP: q += r >= half; break;                             \
  case CK_ROUND_HALF_AWAY: q += (r > half || (r == half && v > 0)); break;  \
  case CK_ROUND_FLOOR: break;                                               \
  case CK_ROUND_CEIL: q += r != 0; break;                                   \
  case CK_ROUND_TOWARD_ZERO: q += (r != 0 && v < 0); break;                 \
  }

static inline int64_t cks_shift_round_i128(__int128 v, int shift, ck_rounding rule) {
  if (shift <= 0) return (int64_t)v;
  __int128 one = 1;
  __int128 q = v >> shift;  // floor
  __int128 r = v - q * (one << shift);
  __int128 half = one << (shift - 1);
  CKS_ROUND_FLOORED(q, r, half, v, rule)
  // saturate to int64 (the caller clamps to the code range)
  if (q > (__int128)INT64_MAX) return INT64_MAX;
  if (q < (__int128)INT64_MIN) return INT64_MIN;
  return (int64_t)q;
}

typedef struct {
  const int32_t *acc32;
  const int64_t *acc64;
  const float *accf;  // exact integer sums in float (|sum| < 2^24)
  int64_t c, p;
  const int64_t *bias, *mult;
  const int32_t *shift;
  ck_activation act;
  int64_t relu6_code;
  int rule, qmin, qmax;
  int16_t *out;
  float *outf;  // or the dequantized values code · cell
  float cell;
} cks_rqm_job;

// cks_shift_round_i128 for products that fit int64 (the usual case: a 32-bit sum times a
// multiplier below 2^31) and shifts 1 … 62, with the same rules.
static inline int64_t cks_shift_round_i64(int64_t v, int shift, ck_rounding rule) {
  int64_t q = v >> shift;  // floor
  int64_t r = v & (((int64_t)1 << shift) - 1);
  int64_t half = (int64_t)1 << (shift - 1);
  CKS_ROUND_FLOORED(q, r, half, v, rule)
  return q;
}

// One (image, channel) row whose products fit int64: |sum + bias| < 2^32, multiplier < 2^31, no
// leaky slope. Inlined per rounding rule, so the loop carries no switch.
static inline __attribute__((always_inline)) void cks_rqm_row_fast(const cks_rqm_job *j, int64_t row, int64_t bias, int64_t m, int sh,
                                                                   int64_t lo, int64_t hi, ck_rounding rule) {
  const int64_t p = j->p, base = row * p;
  for (int64_t i = 0; i < p; i++) {
    int64_t a = j->acc32 ? (int64_t)j->acc32[base + i] : (int64_t)j->accf[base + i];
    int64_t q = cks_shift_round_i64((a + bias) * m, sh, rule);
    q = q < lo ? lo : (q > hi ? hi : q);
    if (j->outf) j->outf[base + i] = (float)q * j->cell;
    else j->out[base + i] = (int16_t)q;
  }
}

static void cks_rqm_task(void *ctx, int64_t b, int64_t e) {
  const cks_rqm_job *j = (const cks_rqm_job *)ctx;
  for (int64_t row = b; row < e; row++) {  // row = (image, channel)
    int64_t ch = row % j->c;
    int64_t bias = j->bias ? j->bias[ch] : 0, m = j->mult[ch];
    int leaky = j->act == CK_ACT_LEAKY_DPU;
    int sh = j->shift[ch] + (leaky ? 8 : 0);
    // ReLU / ReLU6 clamp the rounded code, then the code range: one clamp to [lo, hi]
    int64_t lo = j->qmin, hi = j->qmax;
    if ((j->act == CK_ACT_RELU || j->act == CK_ACT_RELU6) && lo < 0) lo = 0;
    if (j->act == CK_ACT_RELU6 && hi > j->relu6_code) hi = j->relu6_code < lo ? lo : j->relu6_code;
    if (!leaky && !j->acc64 && sh >= 1 && sh <= 62 && m < ((int64_t)1 << 31) && bias > -((int64_t)1 << 30) && bias < ((int64_t)1 << 30)) {
      switch ((ck_rounding)j->rule) {
      case CK_ROUND_HALF_EVEN: cks_rqm_row_fast(j, row, bias, m, sh, lo, hi, CK_ROUND_HALF_EVEN); break;
      case CK_ROUND_HALF_UP: cks_rqm_row_fast(j, row, bias, m, sh, lo, hi, CK_ROUND_HALF_UP); break;
      case CK_ROUND_HALF_AWAY: cks_rqm_row_fast(j, row, bias, m, sh, lo, hi, CK_ROUND_HALF_AWAY); break;
      case CK_ROUND_FLOOR: cks_rqm_row_fast(j, row, bias, m, sh, lo, hi, CK_ROUND_FLOOR); break;
      case CK_ROUND_CEIL: cks_rqm_row_fast(j, row, bias, m, sh, lo, hi, CK_ROUND_CEIL); break;
      case CK_ROUND_TOWARD_ZERO: cks_rqm_row_fast(j, row, bias, m, sh, lo, hi, CK_ROUND_TOWARD_ZERO); break;
      }
      continue;
    }
    for (int64_t i = 0; i < j->p; i++) {
      int64_t k = row * j->p + i;
      int64_t a = j->acc32 ? (int64_t)j->acc32[k] : (j->acc64 ? j->acc64[k] : (int64_t)j->accf[k]);
      __int128 s = (__int128)a + bias;
      if (leaky) s = s < 0 ? s * 26 : s * 256;
      int64_t v = cks_shift_round_i128(s * m, sh, (ck_rounding)j->rule);
      if (j->act == CK_ACT_RELU || j->act == CK_ACT_RELU6) v = v > 0 ? v : 0;
      if (j->act == CK_ACT_RELU6 && v > j->relu6_code) v = j->relu6_code;
      v = ck_saturate_i64(v, j->qmin, j->qmax);
      if (j->outf) j->outf[k] = (float)v * j->cell;
      else j->out[k] = (int16_t)v;
    }
  }
}

static void cks_rqm_run(cks_rqm_job *j, int64_t n) {
  int64_t grain = j->p >= 4096 ? 1 : 4096 / (j->p ? j->p : 1);
  ck_parallel_for(n * j->c, grain, cks_rqm_task, j);
}

void cks_requantize_mul(const int32_t *acc32, const int64_t *acc64, int64_t n, int64_t c, int64_t p,
                        const int64_t *bias, const int64_t *mult, const int32_t *shift, ck_activation act,
                        int64_t relu6_code, ck_rounding rule, int qmin, int qmax, int16_t *out) {
  cks_rqm_job j = {acc32, acc64, NULL, c, p, bias, mult, shift, act, relu6_code, rule, qmin, qmax, out, NULL, 0};
  cks_rqm_run(&j, n);
}

void cks_requantize_mul_f32(const float *sums, int64_t n, int64_t c, int64_t p, const int64_t *bias, const int64_t *mult,
                            const int32_t *shift, ck_activation act, int64_t relu6_code, ck_rounding rule, int qmin, int qmax,
                            float cell, float *out) {
  cks_rqm_job j = {NULL, NULL, sums, c, p, bias, mult, shift, act, relu6_code, rule, qmin, qmax, NULL, out, cell};
  cks_rqm_run(&j, n);
}
