#include "common.h"
#include <stdlib.h>
#include <string.h>

// Input gradient of a stride-1, dilation-1, ungrouped convolution with few input channels (the
// image layer), computed directly: for these shapes oneDNN has no direct kernel with a plain
// NCHW result and falls back to im2col + GEMM + col2im at a fifth of its usual speed.
//
// Per image, dY is copied once into zero-bordered planes P[o][H+KH-1][Ws] so that
//   dX[c][y][x] = sum over (o, ky, kx) of W[o][c][ky][kx] * P[o][y + KH-1-ky][x + KW-1-kx]
// needs no bounds checks; each output row is produced 32 columns at a time in registers. The
// sum order is fixed (o, ky, kx), products and sums are rounded separately (no contraction), so
// every clone and thread count gives the same bits.

typedef struct {
  const float *dy, *w;
  float *dx;
  int c, h, wd, o, oh, ow, kh, kw, pt, pl, dy_block;
  int failed;
} ck_bwd_data_job;

#define CK_COLS 32

static CK_CLONES void ck_bwd_data_image(const ck_bwd_data_job *j, int64_t b, float *pad, int64_t ph, int64_t pws) {
  const int o = j->o, oh = j->oh, ow = j->ow, kh = j->kh, kw = j->kw;
  const int qt = kh - 1 - j->pt, ql = kw - 1 - j->pl;
  const int64_t plane = ph * pws;
  memset(pad, 0, sizeof(float) * (size_t)(o * plane));
  const int blk = j->dy_block;
  for (int co = 0; co < o; co++) {
    float *dst = pad + co * plane;
    if (blk <= 1) {
      const float *src = j->dy + ((int64_t)b * o + co) * oh * ow;
      for (int r = 0; r < oh; r++) memcpy(dst + (r + qt) * pws + ql, src + (int64_t)r * ow, sizeof(float) * (size_t)ow);
    } else {  // nChw{blk}c: [N][O/blk][OH][OW][blk]
      const float *src = j->dy + (((int64_t)b * (o / blk) + co / blk) * oh * ow) * blk + co % blk;
      for (int r = 0; r < oh; r++)
        for (int x = 0; x < ow; x++) dst[(r + qt) * pws + ql + x] = src[((int64_t)r * ow + x) * blk];
    }
  }
  for (int ci = 0; ci < j->c; ci++) {
    float *out = j->dx + ((int64_t)b * j->c + ci) * j->h * j->wd;
    for (int y = 0; y < j->h; y++)
      for (int x0 = 0; x0 < j->wd; x0 += CK_COLS) {
        float acc[CK_COLS];
        for (int i = 0; i < CK_COLS; i++) acc[i] = 0.0f;
        for (int co = 0; co < o; co++) {
          const float *wk = j->w + ((int64_t)co * j->c + ci) * kh * kw;
          const float *pp = pad + co * plane;
          for (int ky = 0; ky < kh; ky++) {
            const float *row = pp + (int64_t)(y + kh - 1 - ky) * pws + x0 + kw - 1;
            for (int kx = 0; kx < kw; kx++) {
              const float wv = wk[ky * kw + kx];
              const float *src = row - kx;
              for (int i = 0; i < CK_COLS; i++) acc[i] = acc[i] + wv * src[i];
            }
          }
        }
        int n = j->wd - x0 < CK_COLS ? j->wd - x0 : CK_COLS;
        memcpy(out + (int64_t)y * j->wd + x0, acc, sizeof(float) * (size_t)n);
      }
  }
}

static void ck_bwd_data_task(void *ctx, int64_t b, int64_t e) {
  const ck_bwd_data_job *j = (const ck_bwd_data_job *)ctx;
  int64_t ph = j->h + j->kh - 1;
  // Row stride: every 32-column read of the last chunk stays inside the row.
  int64_t pws = ((j->wd + CK_COLS - 1) / CK_COLS) * CK_COLS + j->kw - 1;
  float *pad = malloc(sizeof(float) * (size_t)(j->o * ph * pws));
  if (!pad) { __atomic_store_n(&((ck_bwd_data_job *)ctx)->failed, 1, __ATOMIC_RELAXED); return; }
  for (int64_t i = b; i < e; i++) ck_bwd_data_image(j, i, pad, ph, pws);
  free(pad);
}

int ck_conv_bwd_data_direct(const float *dy, int dy_block, const float *w, float *dx, int64_t n, int c, int h, int wd,
                            int o, int oh, int ow, int kh, int kw, int pt, int pl) {
  ck_bwd_data_job j = {dy, w, dx, c, h, wd, o, oh, ow, kh, kw, pt, pl, dy_block, 0};
  ck_parallel_for(n, 1, ck_bwd_data_task, &j);
  return j.failed ? -1 : 0;
}
