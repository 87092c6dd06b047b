#include "common.h"
#include <stdlib.h>

// Fake quantization: q = clamp(round(x * inv_scale) + zero, qmin, qmax), y = (q - zero) * scale.
// With power-of-two scales every step is exact except the rounding itself, which is ck_round_f32 —
// the same function the integer simulator's requantization is tested against.

typedef struct {
  const float *x, *g;
  float *y;
  float inv, scale, zero, qmin, qmax;
  const float *vinv, *vscale, *vzero;
  int64_t c, inner;
  int rule;
} ck_fq_job;

#define CK_FQ_LOOP(RULE)                                                            \
  case RULE:                                                                        \
    for (int64_t i = 0; i < n; i++) {                                               \
      float q = ck_round_f32(x[i] * inv, RULE) + zero;                              \
      q = q < qmin ? qmin : q;                                                      \
      q = q > qmax ? qmax : q;                                                      \
      y[i] = (q - zero) * scale;                                                    \
    }                                                                               \
    break;

CK_CLONES
static void ck_fq_range(const float *x, float *y, int64_t n, float inv, float scale, float zero,
                        float qmin, float qmax, int rule) {
  switch ((ck_rounding)rule) {
    CK_FQ_LOOP(CK_ROUND_HALF_EVEN) CK_FQ_LOOP(CK_ROUND_HALF_UP) CK_FQ_LOOP(CK_ROUND_HALF_AWAY)
    CK_FQ_LOOP(CK_ROUND_FLOOR) CK_FQ_LOOP(CK_ROUND_CEIL) CK_FQ_LOOP(CK_ROUND_TOWARD_ZERO)
  }
}

#define CK_FQ_GRAD_LOOP(RULE)                                                       \
  case RULE:                                                                        \
    for (int64_t i = 0; i < n; i++) {                                               \
      float q = ck_round_f32(x[i] * inv, RULE) + zero;                              \
      gx[i] = (q >= qmin && q <= qmax) ? g[i] : 0.0f;                               \
    }                                                                               \
    break;

CK_CLONES
static void ck_fq_grad_range(const float *g, const float *x, float *gx, int64_t n, float inv, float zero,
                             float qmin, float qmax, int rule) {
  switch ((ck_rounding)rule) {
    CK_FQ_GRAD_LOOP(CK_ROUND_HALF_EVEN) CK_FQ_GRAD_LOOP(CK_ROUND_HALF_UP) CK_FQ_GRAD_LOOP(CK_ROUND_HALF_AWAY)
    CK_FQ_GRAD_LOOP(CK_ROUND_FLOOR) CK_FQ_GRAD_LOOP(CK_ROUND_CEIL) CK_FQ_GRAD_LOOP(CK_ROUND_TOWARD_ZERO)
  }
}

static void ck_fq_task(void *ctx, int64_t b, int64_t e) {
  const ck_fq_job *j = (const ck_fq_job *)ctx;
  ck_fq_range(j->x + b, j->y + b, e - b, j->inv, j->scale, j->zero, j->qmin, j->qmax, j->rule);
}

void ck_fake_quant(const float *x, float *y, int64_t n, float inv_scale, float scale, float zero,
                   float qmin, float qmax, ck_rounding rule) {
  ck_fq_job j = {x, 0, y, inv_scale, scale, zero, qmin, qmax, 0, 0, 0, 0, 0, rule};
  ck_parallel_for(n, CK_GRAIN, ck_fq_task, &j);
}

static void ck_fq_grad_task(void *ctx, int64_t b, int64_t e) {
  const ck_fq_job *j = (const ck_fq_job *)ctx;
  ck_fq_grad_range(j->g + b, j->x + b, j->y + b, e - b, j->inv, j->zero, j->qmin, j->qmax, j->rule);
}

void ck_fake_quant_grad(const float *g, const float *x, float *gx, int64_t n, float inv_scale,
                        float zero, float qmin, float qmax, ck_rounding rule) {
  ck_fq_job j = {x, g, gx, inv_scale, 0, zero, qmin, qmax, 0, 0, 0, 0, 0, rule};
  ck_parallel_for(n, CK_GRAIN, ck_fq_grad_task, &j);
}

// Per-channel variants: x is [outer, C, inner]; one (outer, c) row per step.
static void ck_fqc_task(void *ctx, int64_t b, int64_t e) {
  const ck_fq_job *j = (const ck_fq_job *)ctx;
  for (int64_t r = b; r < e; r++) {
    int64_t c = r % j->c, off = r * j->inner;
    ck_fq_range(j->x + off, j->y + off, j->inner, j->vinv[c], j->vscale[c], j->vzero ? j->vzero[c] : 0.0f,
                j->qmin, j->qmax, j->rule);
  }
}

void ck_fake_quant_channels(const float *x, float *y, int64_t outer, int64_t c, int64_t inner,
                            const float *inv_scale, const float *scale, const float *zero,
                            float qmin, float qmax, ck_rounding rule) {
  ck_fq_job j = {x, 0, y, 0, 0, 0, qmin, qmax, inv_scale, scale, zero, c, inner, rule};
  int64_t grain = inner >= CK_GRAIN ? 1 : CK_GRAIN / (inner ? inner : 1);
  ck_parallel_for(outer * c, grain, ck_fqc_task, &j);
}

static void ck_fqc_grad_task(void *ctx, int64_t b, int64_t e) {
  const ck_fq_job *j = (const ck_fq_job *)ctx;
  for (int64_t r = b; r < e; r++) {
    int64_t c = r % j->c, off = r * j->inner;
    ck_fq_grad_range(j->g + off, j->x + off, j->y + off, j->inner, j->vinv[c], j->vzero ? j->vzero[c] : 0.0f,
                     j->qmin, j->qmax, j->rule);
  }
}

void ck_fake_quant_channels_grad(const float *g, const float *x, float *gx, int64_t outer, int64_t c,
                                 int64_t inner, const float *inv_scale, const float *zero,
                                 float qmin, float qmax, ck_rounding rule) {
  ck_fq_job j = {x, g, gx, 0, 0, 0, qmin, qmax, inv_scale, 0, zero, c, inner, rule};
  int64_t grain = inner >= CK_GRAIN ? 1 : CK_GRAIN / (inner ? inner : 1);
  ck_parallel_for(outer * c, grain, ck_fqc_grad_task, &j);
}

// Learned-range gradient (LSQ / TQT): with v = x · inv_scale and code q = clamp(round(v)),
// dx = g where qmin <= v <= qmax (else 0), and the returned sum is Σ g · r with
// r = round(v) − v inside the range, qmin below, qmax above (d(q·scale)/d scale).
// Two vectorizable passes per chunk: r and gx elementwise, then Σ g·r with eight independent
// float accumulators (a fixed order), combined in double.
#define CK_LR_LOOP(RULE)                                                            \
  case RULE:                                                                        \
    for (int64_t i = 0; i < n; i++) {                                               \
      float v = x[i] * inv;                                                         \
      float inside = ck_round_f32(v, RULE) - v;                                     \
      float clipped = v < qmin ? qmin : qmax;                                       \
      int in = (v >= qmin) & (v <= qmax);                                           \
      r[i] = in ? inside : clipped;                                                 \
      gx[i] = in ? g[i] : 0.0f;                                                     \
    }                                                                               \
    break;

CK_CLONES
static double ck_lr_range(const float *g, const float *x, float *gx, int64_t n, float inv, float qmin, float qmax, int rule) {
  float r[8192];
  switch ((ck_rounding)rule) {
    CK_LR_LOOP(CK_ROUND_HALF_EVEN) CK_LR_LOOP(CK_ROUND_HALF_UP) CK_LR_LOOP(CK_ROUND_HALF_AWAY)
    CK_LR_LOOP(CK_ROUND_FLOOR) CK_LR_LOOP(CK_ROUND_CEIL) CK_LR_LOOP(CK_ROUND_TOWARD_ZERO)
  }
  float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    a0 += g[i] * r[i]; a1 += g[i + 1] * r[i + 1]; a2 += g[i + 2] * r[i + 2]; a3 += g[i + 3] * r[i + 3];
    a4 += g[i + 4] * r[i + 4]; a5 += g[i + 5] * r[i + 5]; a6 += g[i + 6] * r[i + 6]; a7 += g[i + 7] * r[i + 7];
  }
  for (; i < n; i++) a0 += g[i] * r[i];
  return (((double)a0 + a1) + ((double)a2 + a3)) + (((double)a4 + a5) + ((double)a6 + a7));
}

typedef struct {
  const float *g, *x;
  float *gx;
  int64_t n;
  double *partial;
  float inv, qmin, qmax;
  int rule;
} ck_lr_job;

#define CK_LR_CHUNK 8192

static void ck_lr_task(void *ctx, int64_t b, int64_t e) {
  const ck_lr_job *j = (const ck_lr_job *)ctx;
  for (int64_t c = b; c < e; c++) {
    int64_t s = c * CK_LR_CHUNK, n = j->n - s < CK_LR_CHUNK ? j->n - s : CK_LR_CHUNK;
    j->partial[c] = ck_lr_range(j->g + s, j->x + s, j->gx + s, n, j->inv, j->qmin, j->qmax, j->rule);
  }
}

double ck_learned_range_grad(const float *g, const float *x, float *gx, int64_t n, float inv_scale, float qmin, float qmax,
                             ck_rounding rule) {
  if (n <= 0) return 0;
  int64_t chunks = (n + CK_LR_CHUNK - 1) / CK_LR_CHUNK;
  double *partial = (double *)__builtin_alloca(sizeof(double) * (chunks < 4096 ? chunks : 1));
  double *heap = 0;
  if (chunks >= 4096) { heap = (double *)malloc(sizeof(double) * chunks); partial = heap; }
  ck_lr_job j = {g, x, gx, n, partial, inv_scale, qmin, qmax, rule};
  ck_parallel_for(chunks, 1, ck_lr_task, &j);
  double s = 0;
  for (int64_t c = 0; c < chunks; c++) s += partial[c];
  if (heap) free(heap);
  return s;
}
