#include "common.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

// Weight gradient of an ungrouped, undilated convolution with 3-wide kernels and a multiple of
// 8 output channels, for AVX2 + FMA machines:
//   dW[o][c][ky][kx] = sum over (n, oy, ox) of dY[n][o][oy][ox] * X[n][c][oy*sh + ky - pt][ox*sw + kx - pl]
// dY is read channel-blocked (nChw8c, as the next layer's backward produces it), so 8 output
// channels are one vector; X is copied per image into zero-bordered planes so no tap needs a
// bounds check. Registers hold tiles of up to 12 accumulators (24 output channels x 3 taps, or
// 16 x 2 input channels x 3 taps, or 8 x 4 x 3) so FMA latency stays hidden. Images are split
// into fixed chunks (8 images, more when the partial sums would pass 32 MiB), each with its own
// partial sum, added in chunk order: the result does not depend on the thread count.

#define CK_WG_CHUNK 8
#define CK_WG_PARTIAL_BYTES (32 << 20)

typedef struct {
  const float *x, *dy;
  float *partials;  // [chunks][c][kh][3][o]
  int64_t n, per_chunk;
  int failed;
  int x_block, c, h, w, o, oh, ow, kh, sh, sw, pt, pl, hp, wp;
} ck_wg_job;

// One tile: A blocks of 8 output channels x R input channels x the 3 taps of one kernel row, over
// all output pixels of one image: 3AR <= 12 accumulators, A gradient vectors and one broadcast at
// a time stay in the 16 ymm registers. x[r] points at input channel r's padded row ky.
#define CK_WG_TILE(A, R)                                                                           \
  __attribute__((target("avx2,fma"))) static void ck_wg_tile_##A##_##R(                            \
      const float *const *x, const float *d, float *const *acc_p, int oh, int ow, int sh, int sw,  \
      int wp, int es, int64_t dyb) {                                                               \
    __m256 acc[R][3][A];                                                                           \
    for (int r = 0; r < R; r++)                                                                    \
      for (int k = 0; k < 3; k++)                                                                  \
        for (int i = 0; i < A; i++) acc[r][k][i] = _mm256_loadu_ps(acc_p[r * 3 + k] + i * 8);     \
    for (int oy = 0; oy < oh; oy++) {                                                              \
      const int64_t row = (int64_t)oy * sh * wp * es;                                              \
      const float *dr = d + (int64_t)oy * ow * 8;                                                  \
      for (int ox = 0; ox < ow; ox++) {                                                            \
        const int64_t col = row + (int64_t)ox * sw * es;                                           \
        __m256 dv[A];                                                                              \
        for (int i = 0; i < A; i++) dv[i] = _mm256_loadu_ps(dr + ox * 8 + i * dyb);                \
        for (int r = 0; r < R; r++)                                                                \
          for (int k = 0; k < 3; k++) {                                                            \
            __m256 xv = _mm256_broadcast_ss(x[r] + col + k * es);                                  \
            for (int i = 0; i < A; i++) acc[r][k][i] = _mm256_fmadd_ps(dv[i], xv, acc[r][k][i]);  \
          }                                                                                        \
      }                                                                                            \
    }                                                                                              \
    for (int r = 0; r < R; r++)                                                                    \
      for (int k = 0; k < 3; k++)                                                                  \
        for (int i = 0; i < A; i++) _mm256_storeu_ps(acc_p[r * 3 + k] + i * 8, acc[r][k][i]);      \
  }

CK_WG_TILE(3, 1)
CK_WG_TILE(2, 2)
CK_WG_TILE(2, 1)
CK_WG_TILE(1, 4)
CK_WG_TILE(1, 1)

static void ck_wg_image(const ck_wg_job *j, const float *pad, const float *dy, float *part) {
  const int o = j->o, kh = j->kh, es = j->x_block;
  const int64_t plane = (int64_t)j->hp * j->wp, dyb = (int64_t)j->oh * j->ow * 8;
  const int nb = o / 8;
  // channel-block tiles of 2 (12 accumulators with 2 input channels), one of 3 first when the
  // block count is odd, a single block only when there is one
  for (int b0 = 0; b0 < nb;) {
    const int a = nb == 1 ? 1 : (b0 == 0 && nb % 2 == 1) ? 3 : 2;
    const int rmax = a == 3 ? 1 : a == 2 ? 2 : 4;  // input channels per tile
    const float *d = dy + b0 * dyb;
    for (int ci = 0; ci < j->c;) {
      // rmax channels at once when they stay inside one channel block of the input's layout, else one
      const int r = ci + rmax > j->c || (es > 1 && ci % es + rmax > es) ? 1 : rmax;
      for (int ky = 0; ky < kh; ky++) {
        const float *x[4];
        float *acc_p[12];
        for (int q = 0; q < r; q++) {
          // padded planes in the input's own layout: plain [c][hp][wp] or blocked [c/es][hp][wp][es]
          x[q] = pad + ((ci + q) / es) * plane * es + (int64_t)ky * j->wp * es + (ci + q) % es;
          for (int k = 0; k < 3; k++) acc_p[q * 3 + k] = part + (((int64_t)(ci + q) * kh + ky) * 3 + k) * o + b0 * 8;
        }
        if (a == 3) ck_wg_tile_3_1(x, d, acc_p, j->oh, j->ow, j->sh, j->sw, j->wp, es, dyb);
        else if (a == 2 && r == 2) ck_wg_tile_2_2(x, d, acc_p, j->oh, j->ow, j->sh, j->sw, j->wp, es, dyb);
        else if (a == 2) ck_wg_tile_2_1(x, d, acc_p, j->oh, j->ow, j->sh, j->sw, j->wp, es, dyb);
        else if (r == 4) ck_wg_tile_1_4(x, d, acc_p, j->oh, j->ow, j->sh, j->sw, j->wp, es, dyb);
        else ck_wg_tile_1_1(x, d, acc_p, j->oh, j->ow, j->sh, j->sw, j->wp, es, dyb);
      }
      ci += r;
    }
    b0 += a;
  }
}

// Zero-bordered copy of one image in the input's layout, row by row (a row is w pixels times the
// channel block): pad[.., r, q, ..] = x[.., r - pt, q - pl, ..].
static void ck_wg_pad(const ck_wg_job *j, int64_t b, float *pad) {
  const int es = j->x_block;
  const int64_t plane = (int64_t)j->hp * j->wp, hw = (int64_t)j->h * j->w;
  memset(pad, 0, sizeof(float) * (size_t)(j->c * plane));
  int rows = j->h < j->hp - j->pt ? j->h : j->hp - j->pt;
  int cols = j->w < j->wp - j->pl ? j->w : j->wp - j->pl;
  if (rows <= 0 || cols <= 0) return;
  for (int g = 0; g < j->c / es; g++) {
    float *dst = pad + ((int64_t)g * plane + (int64_t)j->pt * j->wp + j->pl) * es;
    const float *src = j->x + (b * (j->c / es) + g) * hw * es;
    for (int r = 0; r < rows; r++)
      memcpy(dst + (int64_t)r * j->wp * es, src + (int64_t)r * j->w * es, sizeof(float) * (size_t)(cols * es));
  }
}

static void ck_wg_task(void *ctx, int64_t b, int64_t e) {
  const ck_wg_job *j = (const ck_wg_job *)ctx;
  int64_t psize = (int64_t)j->c * j->kh * 3 * j->o;
  float *pad = malloc(sizeof(float) * (size_t)(j->c * j->hp * j->wp));
  if (!pad) { __atomic_store_n(&((ck_wg_job *)ctx)->failed, 1, __ATOMIC_RELAXED); return; }
  for (int64_t chunk = b; chunk < e; chunk++) {
    float *part = j->partials + chunk * psize;
    memset(part, 0, sizeof(float) * (size_t)psize);
    int64_t first = chunk * j->per_chunk, last = first + j->per_chunk < j->n ? first + j->per_chunk : j->n;
    for (int64_t i = first; i < last; i++) {
      ck_wg_pad(j, i, pad);
      ck_wg_image(j, pad, j->dy + i * (int64_t)j->o * j->oh * j->ow, part);
    }
  }
  free(pad);
}

int ck_conv_bwd_weight_k3_available(void) {
  static int cached = -1;
  if (cached < 0) cached = (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
  return cached;
}

typedef struct {
  const float *partials;
  float *dw;
  int64_t chunks, psize, taps;
  int o;
} ck_wg_sum_job;

// dw[oc][t] = sum over chunks, in chunk order, of partials[chunk][t][oc].
static void ck_wg_sum_task(void *ctx, int64_t b, int64_t e) {
  const ck_wg_sum_job *j = (const ck_wg_sum_job *)ctx;
  for (int64_t t = b; t < e; t++)
    for (int oc = 0; oc < j->o; oc++) {
      float s = j->partials[t * j->o + oc];
      for (int64_t k = 1; k < j->chunks; k++) s += j->partials[k * j->psize + t * j->o + oc];
      j->dw[oc * j->taps + t] = s;
    }
}

int ck_conv_bwd_weight_k3(const float *x, int x_block, const float *dy, float *dw, int64_t n, int c, int h, int w,
                          int o, int oh, int ow, int kh, int sh, int sw, int pt, int pl) {
  int hp = (oh - 1) * sh + kh, wp = (ow - 1) * sw + 3;
  int64_t taps = (int64_t)c * kh * 3, psize = taps * o, per_chunk = CK_WG_CHUNK;
  if (n <= 0) {  // no images: a zero gradient
    memset(dw, 0, sizeof(float) * (size_t)psize);
    return 0;
  }
  while (per_chunk < n && ((n + per_chunk - 1) / per_chunk) * psize * (int64_t)sizeof(float) > CK_WG_PARTIAL_BYTES)
    per_chunk *= 2;
  int64_t chunks = (n + per_chunk - 1) / per_chunk;
  float *partials = malloc(sizeof(float) * (size_t)(chunks * psize));
  if (!partials) return -1;
  ck_wg_job j = {x, dy, partials, n, per_chunk, 0, x_block, c, h, w, o, oh, ow, kh, sh, sw, pt, pl, hp, wp};
  ck_parallel_for(chunks, 1, ck_wg_task, &j);
  if (j.failed) { free(partials); return -1; }
  ck_wg_sum_job s = {partials, dw, chunks, psize, taps, o};
  ck_parallel_for(taps, 16, ck_wg_sum_task, &s);
  free(partials);
  return 0;
}
