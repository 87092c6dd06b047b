#include "common.h"

// 2-D pooling over planes x [NC, H, W]; one plane per task.

typedef struct {
  const float *x;
  float *y;
  int32_t *arg;
  const int32_t *carg;
  int h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, count_pad;
  float divisor;
  int64_t in_plane, out_plane;
} ck_pool_job;

static void ck_maxpool_task(void *ctx, int64_t b, int64_t e) {
  const ck_pool_job *j = (const ck_pool_job *)ctx;
  for (int64_t p = b; p < e; p++) {
    const float *x = j->x + p * j->in_plane;
    float *y = j->y + p * j->out_plane;
    int32_t *arg = j->arg + p * j->out_plane;
    for (int oy = 0; oy < j->oh; oy++)
      for (int ox = 0; ox < j->ow; ox++) {
        float m = -INFINITY;
        int32_t best = -1;
        for (int ky = 0; ky < j->kh; ky++) {
          int iy = oy * j->sh - j->ph + ky * j->dh;
          if (iy < 0 || iy >= j->h) continue;
          for (int kx = 0; kx < j->kw; kx++) {
            int ix = ox * j->sw - j->pw + kx * j->dw;
            if (ix < 0 || ix >= j->w) continue;
            float v = x[iy * j->w + ix];
            if (best < 0 || v > m || v != v) { m = v; best = iy * j->w + ix; }
            if (m != m) goto done;
          }
        }
      done:
        y[oy * j->ow + ox] = m;
        arg[oy * j->ow + ox] = best;
      }
  }
}

void ck_maxpool2d(const float *x, float *y, int32_t *argmax, int64_t nc, int h, int w,
                  int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw, int oh, int ow) {
  ck_pool_job j = {x, y, argmax, 0, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, 0, 0,
                   (int64_t)h * w, (int64_t)oh * ow};
  ck_parallel_for(nc, 16, ck_maxpool_task, &j);
}

static void ck_maxpool_back_task(void *ctx, int64_t b, int64_t e) {
  const ck_pool_job *j = (const ck_pool_job *)ctx;
  for (int64_t p = b; p < e; p++) {
    float *gx = j->y + p * j->in_plane;
    const float *gy = j->x + p * j->out_plane;
    const int32_t *arg = j->carg + p * j->out_plane;
    for (int64_t i = 0; i < j->in_plane; i++) gx[i] = 0;
    for (int64_t i = 0; i < j->out_plane; i++) if (arg[i] >= 0) gx[arg[i]] += gy[i];
  }
}

void ck_maxpool2d_backward(const float *gy, const int32_t *argmax, float *gx, int64_t nc,
                           int64_t in_plane, int64_t out_plane) {
  ck_pool_job j = {gy, gx, 0, argmax, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, in_plane, out_plane};
  ck_parallel_for(nc, 16, ck_maxpool_back_task, &j);
}

// Number of cells that divide the window sum at (oy, ox).
static float ck_avg_divisor(const ck_pool_job *j, int oy, int ox) {
  if (j->divisor > 0) return j->divisor;
  int y0 = oy * j->sh - j->ph, x0 = ox * j->sw - j->pw;
  int y1 = y0 + j->kh, x1 = x0 + j->kw;
  if (j->count_pad) {
    // padded cells count, cells beyond the padding do not (PyTorch semantics)
    int ye = y1 < j->h + j->ph ? y1 : j->h + j->ph, xe = x1 < j->w + j->pw ? x1 : j->w + j->pw;
    return (float)((ye - y0) * (xe - x0));
  }
  int ys = y0 < 0 ? 0 : y0, xs = x0 < 0 ? 0 : x0;
  int ye = y1 < j->h ? y1 : j->h, xe = x1 < j->w ? x1 : j->w;
  return (float)((ye - ys) * (xe - xs));
}

static void ck_avgpool_task(void *ctx, int64_t b, int64_t e) {
  const ck_pool_job *j = (const ck_pool_job *)ctx;
  for (int64_t p = b; p < e; p++) {
    const float *x = j->x + p * j->in_plane;
    float *y = j->y + p * j->out_plane;
    for (int oy = 0; oy < j->oh; oy++)
      for (int ox = 0; ox < j->ow; ox++) {
        double s = 0;
        for (int ky = 0; ky < j->kh; ky++) {
          int iy = oy * j->sh - j->ph + ky;
          if (iy < 0 || iy >= j->h) continue;
          for (int kx = 0; kx < j->kw; kx++) {
            int ix = ox * j->sw - j->pw + kx;
            if (ix >= 0 && ix < j->w) s += x[iy * j->w + ix];
          }
        }
        y[oy * j->ow + ox] = (float)(s / ck_avg_divisor(j, oy, ox));
      }
  }
}

void ck_avgpool2d(const float *x, float *y, int64_t nc, int h, int w, int kh, int kw, int sh, int sw,
                  int ph, int pw, int oh, int ow, int count_pad, float divisor) {
  ck_pool_job j = {x, y, 0, 0, h, w, kh, kw, sh, sw, ph, pw, 1, 1, oh, ow, count_pad, divisor,
                   (int64_t)h * w, (int64_t)oh * ow};
  ck_parallel_for(nc, 16, ck_avgpool_task, &j);
}

static void ck_avgpool_back_task(void *ctx, int64_t b, int64_t e) {
  const ck_pool_job *j = (const ck_pool_job *)ctx;
  for (int64_t p = b; p < e; p++) {
    const float *gy = j->x + p * j->out_plane;
    float *gx = j->y + p * j->in_plane;
    for (int64_t i = 0; i < j->in_plane; i++) gx[i] = 0;
    for (int oy = 0; oy < j->oh; oy++)
      for (int ox = 0; ox < j->ow; ox++) {
        float g = gy[oy * j->ow + ox] / ck_avg_divisor(j, oy, ox);
        for (int ky = 0; ky < j->kh; ky++) {
          int iy = oy * j->sh - j->ph + ky;
          if (iy < 0 || iy >= j->h) continue;
          for (int kx = 0; kx < j->kw; kx++) {
            int ix = ox * j->sw - j->pw + kx;
            if (ix >= 0 && ix < j->w) gx[iy * j->w + ix] += g;
          }
        }
      }
  }
}

void ck_avgpool2d_backward(const float *gy, float *gx, int64_t nc, int h, int w, int kh, int kw,
                           int sh, int sw, int ph, int pw, int oh, int ow, int count_pad, float divisor) {
  ck_pool_job j = {gy, gx, 0, 0, h, w, kh, kw, sh, sw, ph, pw, 1, 1, oh, ow, count_pad, divisor,
                   (int64_t)h * w, (int64_t)oh * ow};
  ck_parallel_for(nc, 16, ck_avgpool_back_task, &j);
}
