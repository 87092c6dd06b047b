#include "common.h"

// Per-channel kernels for NCHW tensors viewed as [N, C, HW]. Channel statistics are reduced by one
// task per channel, in (n, hw) order, in double: independent of the thread count.

typedef struct {
  const float *x, *g;
  float *y;
  int64_t N, C, HW;
  const float *p0, *p1, *p2, *p3;
  float *f0, *f1;
  double *d0, *d1;
  int flag;
} ck_ch_job;

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

static void ck_stats_task(void *ctx, int64_t b, int64_t e) {
  const ck_ch_job *j = (const ck_ch_job *)ctx;
  for (int64_t c = b; c < e; c++) {
    double s1 = 0, s2 = 0;
    for (int64_t n = 0; n < j->N; n++) ck_plane_sums(j->x + (n * j->C + c) * j->HW, j->HW, &s1, &s2);
    double m = (double)(j->N * j->HW);
    double mean = s1 / m, var = s2 / m - mean * mean;
    j->f0[c] = (float)mean;
    j->f1[c] = (float)(var > 0 ? var : 0);
  }
}

void ck_channel_stats(const float *x, int64_t N, int64_t C, int64_t HW, float *mean, float *var) {
  ck_ch_job j = {x, 0, 0, N, C, HW, 0, 0, 0, 0, mean, var, 0, 0, 0};
  ck_parallel_for(C, 1, ck_stats_task, &j);
}

CK_CLONES
static void ck_plane_sum(const float *x, int64_t n, double *s) {
  double a[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) for (int k = 0; k < 4; k++) a[k] += x[i + k];
  for (; i < n; i++) a[0] += x[i];
  *s += (a[0] + a[1]) + (a[2] + a[3]);
}

static void ck_sums_task(void *ctx, int64_t b, int64_t e) {
  const ck_ch_job *j = (const ck_ch_job *)ctx;
  for (int64_t c = b; c < e; c++) {
    double s = 0;
    for (int64_t n = 0; n < j->N; n++) ck_plane_sum(j->x + (n * j->C + c) * j->HW, j->HW, &s);
    j->d0[c] = s;
  }
}

void ck_channel_sums(const float *x, int64_t N, int64_t C, int64_t HW, double *sums) {
  ck_ch_job j = {x, 0, 0, N, C, HW, 0, 0, 0, 0, 0, 0, sums, 0, 0};
  ck_parallel_for(C, 1, ck_sums_task, &j);
}

CK_CLONES
static void ck_affine_plane(const float *x, float *y, int64_t n, float a, float b, int relu) {
  if (relu) {
    for (int64_t i = 0; i < n; i++) { float v = x[i] * a; v = v + b; y[i] = v > 0.0f ? v : 0.0f; }
  } else {
    for (int64_t i = 0; i < n; i++) { float v = x[i] * a; y[i] = v + b; }
  }
}

static void ck_affine_task(void *ctx, int64_t b, int64_t e) {
  const ck_ch_job *j = (const ck_ch_job *)ctx;
  for (int64_t p = b; p < e; p++) {
    int64_t c = p % j->C;
    ck_affine_plane(j->x + p * j->HW, j->y + p * j->HW, j->HW, j->p0[c], j->p1[c], j->flag);
  }
}

void ck_channel_affine(const float *x, float *y, int64_t N, int64_t C, int64_t HW,
                       const float *scale, const float *shift, int relu) {
  ck_ch_job j = {x, 0, y, N, C, HW, scale, shift, 0, 0, 0, 0, 0, 0, relu};
  int64_t grain = HW >= CK_GRAIN ? 1 : CK_GRAIN / (HW ? HW : 1);
  ck_parallel_for(N * C, grain, ck_affine_task, &j);
}

CK_CLONES
static void ck_grad_plane_sums(const float *g, const float *x, int64_t n, float mean, double *sg, double *sgx) {
  double a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; k++) { double gv = g[i + k]; a[k] += gv; b[k] += gv * (double)(x[i + k] - mean); }
  for (; i < n; i++) { double gv = g[i]; a[0] += gv; b[0] += gv * (double)(x[i] - mean); }
  *sg += (a[0] + a[1]) + (a[2] + a[3]);
  *sgx += (b[0] + b[1]) + (b[2] + b[3]);
}

static void ck_grad_sums_task(void *ctx, int64_t b, int64_t e) {
  const ck_ch_job *j = (const ck_ch_job *)ctx;
  for (int64_t c = b; c < e; c++) {
    double sg = 0, sgx = 0;
    for (int64_t n = 0; n < j->N; n++) {
      int64_t off = (n * j->C + c) * j->HW;
      ck_grad_plane_sums(j->g + off, j->x + off, j->HW, j->p0[c], &sg, &sgx);
    }
    j->d0[c] = sg;
    j->d1[c] = sgx;
  }
}

void ck_channel_grad_sums(const float *g, const float *x, int64_t N, int64_t C, int64_t HW,
                          const float *mean, double *sum_g, double *sum_gx) {
  ck_ch_job j = {x, g, 0, N, C, HW, mean, 0, 0, 0, 0, 0, sum_g, sum_gx, 0};
  ck_parallel_for(C, 1, ck_grad_sums_task, &j);
}

CK_CLONES
static void ck_grad_input_plane(const float *g, const float *x, float *dx, int64_t n, float mean, float a, float b, float d) {
  for (int64_t i = 0; i < n; i++) {
    float t1 = a * g[i];
    float t2 = b * (x[i] - mean);
    dx[i] = (t1 + t2) + d;
  }
}

static void ck_grad_input_task(void *ctx, int64_t b, int64_t e) {
  const ck_ch_job *j = (const ck_ch_job *)ctx;
  for (int64_t p = b; p < e; p++) {
    int64_t c = p % j->C;
    int64_t off = p * j->HW;
    ck_grad_input_plane(j->g + off, j->x + off, j->y + off, j->HW, j->p0[c], j->p1[c], j->p2[c], j->p3[c]);
  }
}

void ck_channel_grad_input(const float *g, const float *x, float *dx, int64_t N, int64_t C, int64_t HW,
                           const float *mean, const float *a, const float *b, const float *d) {
  ck_ch_job j = {x, g, dx, N, C, HW, mean, a, b, d, 0, 0, 0, 0, 0};
  int64_t grain = HW >= CK_GRAIN ? 1 : CK_GRAIN / (HW ? HW : 1);
  ck_parallel_for(N * C, grain, ck_grad_input_task, &j);
}
