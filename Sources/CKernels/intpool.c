// Integer pooling for the simulator (and the exact fake-quant path). Planes x [NC, H, W] of
// int16 codes.
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
