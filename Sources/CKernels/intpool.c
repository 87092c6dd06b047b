// Integer pooling and DPU hard-sigmoid / hard-swish for the simulator (and the exact fake-quant
// path). Planes x [NC, H, W] of int16 codes.
#include "common.h"

typedef struct {
  const int16_t *x;
  int16_t *y16;
  int64_t *y64;
  int h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
} cks_pool_job;

static void cks_maxpool_task(void *ctx, int64_t b, int64_t e) {
  const cks_pool_job *j = (const cks_pool_job *)ctx;
  for (int64_t p = b; p < e; p++) {
    const int16_t *x = j->x + p * j->h * j->w;
    int16_t *y = j->y16 + p * j->oh * j->ow;
    for (int oy = 0; oy < j->oh; oy++)
      for (int ox = 0; ox < j->ow; ox++) {
        int best = -32769;
        for (int ky = 0; ky < j->kh; ky++) {
          int iy = oy * j->sh - j->ph + ky * j->dh;
          if (iy < 0 || iy >= j->h) continue;
          for (int kx = 0; kx < j->kw; kx++) {
            int ix = ox * j->sw - j->pw + kx * j->dw;
            if (ix >= 0 && ix < j->w && x[iy * j->w + ix] > best) best = x[iy * j->w + ix];
          }
        }
        y[oy * j->ow + ox] = (int16_t)(best < -32768 ? 0 : best);
      }
  }
}

void cks_maxpool_i16(const int16_t *x, int16_t *y, int64_t nc, int h, int w, int kh, int kw, int sh, int sw,
                     int ph, int pw, int dh, int dw, int oh, int ow) {
  cks_pool_job j = {x, y, 0, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow};
  ck_parallel_for(nc, 16, cks_maxpool_task, &j);
}

// Window sums (padding counts as zeros), the first step of DPU average pooling.
static void cks_sumpool_task(void *ctx, int64_t b, int64_t e) {
  const cks_pool_job *j = (const cks_pool_job *)ctx;
  for (int64_t p = b; p < e; p++) {
    const int16_t *x = j->x + p * j->h * j->w;
    int64_t *y = j->y64 + p * j->oh * j->ow;
    for (int oy = 0; oy < j->oh; oy++)
      for (int ox = 0; ox < j->ow; ox++) {
        int64_t s = 0;
        for (int ky = 0; ky < j->kh; ky++) {
          int iy = oy * j->sh - j->ph + ky;
          if (iy < 0 || iy >= j->h) continue;
          for (int kx = 0; kx < j->kw; kx++) {
            int ix = ox * j->sw - j->pw + kx;
            if (ix >= 0 && ix < j->w) s += x[iy * j->w + ix];
          }
        }
        y[oy * j->ow + ox] = s;
      }
  }
}

void cks_sumpool_i16(const int16_t *x, int64_t *y, int64_t nc, int h, int w, int kh, int kw, int sh, int sw,
                     int ph, int pw, int oh, int ow) {
  cks_pool_job j = {x, 0, y, h, w, kh, kw, sh, sw, ph, pw, 1, 1, oh, ow};
  ck_parallel_for(nc, 16, cks_sumpool_task, &j);
}

// DPU hard-sigmoid: clamp(x + 3, 0, 6) · 2731 / 2^14; hard-swish: x times that. x at fraction f;
// the result is exact at fraction f + 14 (sigmoid) or 2f + 14 (swish), then requantized by
// `shift` with `rule` into [qmin, qmax]. `three` and `six` are 3 and 6 at fraction f.
typedef struct {
  const int16_t *x;
  int16_t *y;
  int64_t three, six;
  int swish, shift, rule, qmin, qmax;
} cks_hs_job;

static void cks_hs_task(void *ctx, int64_t b, int64_t e) {
  const cks_hs_job *j = (const cks_hs_job *)ctx;
  for (int64_t i = b; i < e; i++) {
    int64_t t = (int64_t)j->x[i] + j->three;
    t = t < 0 ? 0 : (t > j->six ? j->six : t);
    int64_t s = t * 2731;
    if (j->swish) s *= j->x[i];
    j->y[i] = (int16_t)ck_saturate_i64(ck_shift_round_i64(s, j->shift, (ck_rounding)j->rule), j->qmin, j->qmax);
  }
}

void cks_hard_sigmoid(const int16_t *x, int16_t *y, int64_t n, int64_t three, int64_t six, int swish, int shift,
                      ck_rounding rule, int qmin, int qmax) {
  cks_hs_job j = {x, y, three, six, swish, shift, rule, qmin, qmax};
  ck_parallel_for(n, CK_GRAIN, cks_hs_task, &j);
}
