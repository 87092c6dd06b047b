#include "common.h"

// Per-channel kernels for [N, C, H, W] tensors in either layout:
//   block == 1: plain NCHW, element (n, c, s) at (n*C + c)*HW + s
//   block  > 1: channel-blocked nChw{block}c (oneDNN's layout), element (n, c, s) at
//               ((n*(C/block) + c/block)*HW + s)*block + c%block
// Channel statistics are reduced by one task per channel group in (n, s) order, in double:
// independent of the thread count.

typedef struct {
  const float *x, *g;
  float *y;
  int64_t N, C, HW, B;
  const float *p0, *p1, *p2, *p3;
  float *f0, *f1;
  double *d0, *d1;
  int flag;
} ck_ch_job;

#define CK_MAXB 16

// ---- sums of x and x² per channel ----

CK_CLONES
static void ck_plane_sums(const float *x, int64_t n, double *s1, double *s2) {
  double a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; k++) { double v = x[i + k]; a[k] += v; b[k] += v * v; }
  for (; i < n; i++) { double v = x[i]; a[0] += v; b[0] += v * v; }
  *s1 += (a[0] + a[1]) + (a[2] + a[3]);
  *s2 += (b[0] + b[1]) + (b[2] + b[3]);
}

CK_CLONES
static void ck_block_sums(const float *x, int64_t hw, int64_t B, double *s1, double *s2) {
  for (int64_t s = 0; s < hw; s++)
    for (int64_t j = 0; j < B; j++) { double v = x[s * B + j]; s1[j] += v; s2[j] += v * v; }
}

static void ck_stats_task(void *ctx, int64_t b, int64_t e) {
  const ck_ch_job *j = (const ck_ch_job *)ctx;
  double m = (double)(j->N * j->HW);
  for (int64_t t = b; t < e; t++) {  // t = channel (plain) or channel block
    double s1[CK_MAXB] = {0}, s2[CK_MAXB] = {0};
    if (j->B == 1) {
      for (int64_t n = 0; n < j->N; n++) ck_plane_sums(j->x + (n * j->C + t) * j->HW, j->HW, &s1[0], &s2[0]);
    } else {
      int64_t cb = j->C / j->B;
      for (int64_t n = 0; n < j->N; n++) ck_block_sums(j->x + (n * cb + t) * j->HW * j->B, j->HW, j->B, s1, s2);
    }
    for (int64_t k = 0; k < j->B; k++) {
      double mean = s1[k] / m, var = s2[k] / m - mean * mean;
      j->f0[t * j->B + k] = (float)mean;
      j->f1[t * j->B + k] = (float)(var > 0 ? var : 0);
    }
  }
}

void ck_channel_stats(const float *x, int64_t N, int64_t C, int64_t HW, int64_t block, float *mean, float *var) {
  ck_ch_job j = {x, 0, 0, N, C, HW, block, 0, 0, 0, 0, mean, var, 0, 0, 0};
  ck_parallel_for(C / block, 1, ck_stats_task, &j);
}

// ---- sums of x per channel ----

CK_CLONES
static void ck_plane_sum(const float *x, int64_t n, double *s) {
  double a[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) for (int k = 0; k < 4; k++) a[k] += x[i + k];
  for (; i < n; i++) a[0] += x[i];
  *s += (a[0] + a[1]) + (a[2] + a[3]);
}

CK_CLONES
static void ck_block_sum(const float *x, int64_t hw, int64_t B, double *s) {
  for (int64_t p = 0; p < hw; p++) for (int64_t j = 0; j < B; j++) s[j] += x[p * B + j];
}

static void ck_sums_task(void *ctx, int64_t b, int64_t e) {
  const ck_ch_job *j = (const ck_ch_job *)ctx;
  for (int64_t t = b; t < e; t++) {
    double s[CK_MAXB] = {0};
    if (j->B == 1) {
      for (int64_t n = 0; n < j->N; n++) ck_plane_sum(j->x + (n * j->C + t) * j->HW, j->HW, &s[0]);
    } else {
      int64_t cb = j->C / j->B;
      for (int64_t n = 0; n < j->N; n++) ck_block_sum(j->x + (n * cb + t) * j->HW * j->B, j->HW, j->B, s);
    }
    for (int64_t k = 0; k < j->B; k++) j->d0[t * j->B + k] = s[k];
  }
}

void ck_channel_sums(const float *x, int64_t N, int64_t C, int64_t HW, int64_t block, double *sums) {
  ck_ch_job j = {x, 0, 0, N, C, HW, block, 0, 0, 0, 0, 0, 0, sums, 0, 0};
  ck_parallel_for(C / block, 1, ck_sums_task, &j);
}

// ---- y = x * scale[c] + shift[c] (optionally ReLU) ----

CK_CLONES
static void ck_affine_plane(const float *x, float *y, int64_t n, float a, float b, int relu) {
  if (relu) {
    for (int64_t i = 0; i < n; i++) { float v = x[i] * a; v = v + b; y[i] = v > 0.0f ? v : 0.0f; }
  } else {
    for (int64_t i = 0; i < n; i++) { float v = x[i] * a; y[i] = v + b; }
  }
}

CK_CLONES
static void ck_affine_block(const float *x, float *y, int64_t hw, int64_t B, const float *a, const float *b, int relu) {
  for (int64_t p = 0; p < hw; p++) {
    for (int64_t j = 0; j < B; j++) {
      float v = x[p * B + j] * a[j];
      v = v + b[j];
      y[p * B + j] = relu ? (v > 0.0f ? v : 0.0f) : v;
    }
  }
}

static void ck_affine_task(void *ctx, int64_t b, int64_t e) {
  const ck_ch_job *j = (const ck_ch_job *)ctx;
  int64_t groups = j->C / j->B, len = j->HW * j->B;
  for (int64_t p = b; p < e; p++) {  // p = (n, channel or channel block)
    int64_t c = (p % groups) * j->B;
    if (j->B == 1) ck_affine_plane(j->x + p * len, j->y + p * len, len, j->p0[c], j->p1[c], j->flag);
    else ck_affine_block(j->x + p * len, j->y + p * len, j->HW, j->B, j->p0 + c, j->p1 + c, j->flag);
  }
}

static int64_t ck_plane_grain(int64_t len) { return len >= CK_GRAIN ? 1 : CK_GRAIN / (len ? len : 1); }

void ck_channel_affine(const float *x, float *y, int64_t N, int64_t C, int64_t HW, int64_t block,
                       const float *scale, const float *shift, int relu) {
  ck_ch_job j = {x, 0, y, N, C, HW, block, scale, shift, 0, 0, 0, 0, 0, 0, relu};
  ck_parallel_for(N * (C / block), ck_plane_grain(HW * block), ck_affine_task, &j);
}

// ---- gradient sums: Σ g and Σ g·(x − mean[c]) per channel ----
// With a ReLU mask (ms, mt non-null), g counts only where x·ms[c] + mt[c] > 0: the backward of
// batch norm fused with the ReLU after it, computed exactly as the forward affine computed it.
// g is passed by value, so it is loaded unconditionally (a conditional load keeps the loops from
// vectorizing).
static inline float ck_relu_gated(float g, float x, float s, float t) {
  float v = x * s;
  v = v + t;
  return v > 0.0f ? g : 0.0f;
}

CK_CLONES
static void ck_grad_plane_sums(const float *g, const float *x, int64_t n, float mean, const float *ms, const float *mt,
                               double *sg, double *sgx) {
  double a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0};
  int64_t i = 0;
  if (ms) {
    const float s = *ms, t = *mt;
    for (; i + 4 <= n; i += 4)
      for (int k = 0; k < 4; k++) {
        double gv = ck_relu_gated(g[i + k], x[i + k], s, t);
        a[k] += gv;
        b[k] += gv * (double)(x[i + k] - mean);
      }
    for (; i < n; i++) {
      double gv = ck_relu_gated(g[i], x[i], s, t);
      a[0] += gv;
      b[0] += gv * (double)(x[i] - mean);
    }
  } else {
    for (; i + 4 <= n; i += 4)
      for (int k = 0; k < 4; k++) { double gv = g[i + k]; a[k] += gv; b[k] += gv * (double)(x[i + k] - mean); }
    for (; i < n; i++) { double gv = g[i]; a[0] += gv; b[0] += gv * (double)(x[i] - mean); }
  }
  *sg += (a[0] + a[1]) + (a[2] + a[3]);
  *sgx += (b[0] + b[1]) + (b[2] + b[3]);
}

CK_CLONES
static void ck_grad_block_sums(const float *g, const float *x, int64_t hw, int64_t B, const float *mean,
                               const float *ms, const float *mt, double *sg, double *sgx) {
  if (ms) {
    for (int64_t p = 0; p < hw; p++)
      for (int64_t j = 0; j < B; j++) {
        double gv = ck_relu_gated(g[p * B + j], x[p * B + j], ms[j], mt[j]);
        sg[j] += gv;
        sgx[j] += gv * (double)(x[p * B + j] - mean[j]);
      }
  } else {
    for (int64_t p = 0; p < hw; p++)
      for (int64_t j = 0; j < B; j++) {
        double gv = g[p * B + j];
        sg[j] += gv;
        sgx[j] += gv * (double)(x[p * B + j] - mean[j]);
      }
  }
}

static void ck_grad_sums_task(void *ctx, int64_t b, int64_t e) {
  const ck_ch_job *j = (const ck_ch_job *)ctx;
  const float *ms = j->p1, *mt = j->p2;
  for (int64_t t = b; t < e; t++) {
    double sg[CK_MAXB] = {0}, sgx[CK_MAXB] = {0};
    if (j->B == 1) {
      for (int64_t n = 0; n < j->N; n++) {
        int64_t off = (n * j->C + t) * j->HW;
        ck_grad_plane_sums(j->g + off, j->x + off, j->HW, j->p0[t], ms ? ms + t : 0, ms ? mt + t : 0, &sg[0], &sgx[0]);
      }
    } else {
      int64_t cb = j->C / j->B;
      for (int64_t n = 0; n < j->N; n++) {
        int64_t off = (n * cb + t) * j->HW * j->B, c = t * j->B;
        ck_grad_block_sums(j->g + off, j->x + off, j->HW, j->B, j->p0 + c, ms ? ms + c : 0, ms ? mt + c : 0, sg, sgx);
      }
    }
    for (int64_t k = 0; k < j->B; k++) { j->d0[t * j->B + k] = sg[k]; j->d1[t * j->B + k] = sgx[k]; }
  }
}

void ck_channel_grad_sums(const float *g, const float *x, int64_t N, int64_t C, int64_t HW, int64_t block,
                          const float *mean, const float *mask_scale, const float *mask_shift,
                          double *sum_g, double *sum_gx) {
  ck_ch_job j = {x, g, 0, N, C, HW, block, mean, mask_scale, mask_shift, 0, 0, 0, sum_g, sum_gx, 0};
  ck_parallel_for(C / block, 1, ck_grad_sums_task, &j);
}

// ---- dx = a[c]·g + b[c]·(x − mean[c]) + d[c] (g masked as above when ms, mt are given) ----

CK_CLONES
static void ck_grad_input_plane(const float *g, const float *x, float *dx, int64_t n, float mean, float a, float b, float d,
                                const float *ms, const float *mt) {
  if (ms) {
    const float s = *ms, t = *mt;
    for (int64_t i = 0; i < n; i++) {
      float gv = ck_relu_gated(g[i], x[i], s, t);
      float t1 = a * gv;
      float t2 = b * (x[i] - mean);
      dx[i] = (t1 + t2) + d;
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      float t1 = a * g[i];
      float t2 = b * (x[i] - mean);
      dx[i] = (t1 + t2) + d;
    }
  }
}

CK_CLONES
static void ck_grad_input_block(const float *g, const float *x, float *dx, int64_t hw, int64_t B, const float *mean,
                                const float *a, const float *b, const float *d, const float *ms, const float *mt) {
  if (ms) {
    for (int64_t p = 0; p < hw; p++)
      for (int64_t j = 0; j < B; j++) {
        float gv = ck_relu_gated(g[p * B + j], x[p * B + j], ms[j], mt[j]);
        float t1 = a[j] * gv;
        float t2 = b[j] * (x[p * B + j] - mean[j]);
        dx[p * B + j] = (t1 + t2) + d[j];
      }
  } else {
    for (int64_t p = 0; p < hw; p++)
      for (int64_t j = 0; j < B; j++) {
        float t1 = a[j] * g[p * B + j];
        float t2 = b[j] * (x[p * B + j] - mean[j]);
        dx[p * B + j] = (t1 + t2) + d[j];
      }
  }
}

typedef struct {
  const float *g, *x, *mean, *a, *b, *d, *ms, *mt;
  float *dx;
  int64_t C, HW, B;
} ck_grad_input_job;

static void ck_grad_input_task(void *ctx, int64_t b, int64_t e) {
  const ck_grad_input_job *j = (const ck_grad_input_job *)ctx;
  int64_t groups = j->C / j->B, len = j->HW * j->B;
  for (int64_t p = b; p < e; p++) {
    int64_t c = (p % groups) * j->B, off = p * len;
    const float *ms = j->ms ? j->ms + c : 0, *mt = j->ms ? j->mt + c : 0;
    if (j->B == 1)
      ck_grad_input_plane(j->g + off, j->x + off, j->dx + off, len, j->mean[c], j->a[c], j->b[c], j->d[c], ms, mt);
    else
      ck_grad_input_block(j->g + off, j->x + off, j->dx + off, j->HW, j->B, j->mean + c, j->a + c, j->b + c, j->d + c, ms, mt);
  }
}

void ck_channel_grad_input(const float *g, const float *x, float *dx, int64_t N, int64_t C, int64_t HW, int64_t block,
                           const float *mean, const float *a, const float *b, const float *d,
                           const float *mask_scale, const float *mask_shift) {
  ck_grad_input_job j = {g, x, mean, a, b, d, mask_scale, mask_shift, dx, C, HW, block};
  ck_parallel_for(N * (C / block), ck_plane_grain(HW * block), ck_grad_input_task, &j);
}

// ---- layout conversion between NCHW and nChw{block}c ----

typedef struct {
  const float *x;
  float *y;
  int64_t C, HW, B;
  int to_blocked;
} ck_layout_job;

CK_CLONES
static void ck_layout_range(const ck_layout_job *j, int64_t b, int64_t e) {
  int64_t groups = j->C / j->B;
  for (int64_t p = b; p < e; p++) {  // p = (n, channel block)
    int64_t n = p / groups, cb = p % groups;
    for (int64_t k = 0; k < j->B; k++) {
      int64_t c = cb * j->B + k;
      int64_t poff = (n * j->C + c) * j->HW, boff = p * j->HW * j->B + k;
      if (j->to_blocked) for (int64_t s = 0; s < j->HW; s++) j->y[boff + s * j->B] = j->x[poff + s];
      else for (int64_t s = 0; s < j->HW; s++) j->y[poff + s] = j->x[boff + s * j->B];
    }
  }
}

static void ck_layout_task(void *ctx, int64_t b, int64_t e) { ck_layout_range((const ck_layout_job *)ctx, b, e); }

void ck_convert_layout(const float *x, float *y, int64_t N, int64_t C, int64_t HW, int64_t block, int to_blocked) {
  ck_layout_job j = {x, y, C, HW, block, to_blocked};
  ck_parallel_for(N * (C / block), ck_plane_grain(HW * block), ck_layout_task, &j);
}
