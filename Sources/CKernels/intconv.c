// Exact integer convolution for the simulator: 8- or 16-bit operands widened to int16, products
// paired with vpmaddwd (AVX2) and accumulated in int32 — exact while every pair sum and the total
// fit in int32, which the caller guarantees by choosing the int64 path (`cks_conv2d_i64`) otherwise.
//
// Layout: x [N, C, H, W] int16, w [O, C/g, KH, KW] int16, acc [N, O, OH, OW] int32. Per group the
// convolution is a GEMM acc[o, p] = Σ_k w[o, k] · col[k, p] with k = (c, ky, kx) and p = output
// pixel. Weights are packed as int16 pairs per k-pair, [Mblock][Kp][MR]; input columns are packed
// per task as [Kp][NR] int16 pairs, so one 256-bit load holds 8 pixels × 2 k values.
#include "common.h"
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>

#define CKS_MR 4
#define CKS_NR 16

typedef struct {
  const int16_t *x;
  const int32_t *wp;  // packed weights of all groups: [g][Mb][Kp][MR]
  int32_t *acc;
  int64_t n;
  int c, h, w, o, kh, kw, sh, sw, pt, pl, dh, dw, g, oh, ow;
  int cg, og, kp, mb;  // per-group channels and outputs, k-pairs, M blocks
  int64_t pixel_blocks;   // per image, blocks of CKS_NR output pixels
} cks_conv_job;

// The GEMM's k runs over (ky, kx, channel pair): kp = (ky·KW + kx)·CP + cp with CP = ceil(Cg / 2),
// so each int32 pair holds channels 2cp and 2cp + 1 (the latter 0 when Cg is odd) at one tap.
// Packs weights w [O, Cg, KH, KW] into [g][Mb][Kp][MR] int32 pairs.
void cks_pack_weights(const int16_t *w, int o, int groups, int cg, int kh, int kw, int32_t *packed) {
  int og = o / groups, cp = (cg + 1) / 2, kp = kh * kw * cp, mb = (og + CKS_MR - 1) / CKS_MR;
  memset(packed, 0, sizeof(int32_t) * (size_t)groups * mb * kp * CKS_MR);
  for (int g = 0; g < groups; g++)
    for (int m = 0; m < og; m++)
      for (int c = 0; c < cg; c++)
        for (int ky = 0; ky < kh; ky++)
          for (int kx = 0; kx < kw; kx++) {
            int block = m / CKS_MR, r = m % CKS_MR, pair = (ky * kw + kx) * cp + c / 2, half = c % 2;
            int32_t *slot = packed + (((size_t)g * mb + block) * kp + pair) * CKS_MR + r;
            uint32_t v = (uint16_t)w[(((size_t)(g * og + m) * cg + c) * kh + ky) * kw + kx];
            *slot = (int32_t)((uint32_t)*slot | (half ? v << 16 : v));
          }
}

size_t cks_packed_weights_count(int o, int groups, int cg, int kh, int kw) {
  int og = o / groups, kp = kh * kw * ((cg + 1) / 2), mb = (og + CKS_MR - 1) / CKS_MR;
  return (size_t)groups * mb * kp * CKS_MR;
}

// Packs the input columns of CKS_NR output pixels starting at p0 (one image, one group) as
// [Kp][NR] int32 pairs (channel pairs per tap, see cks_pack_weights). Runs of 8 output pixels
// that read 8 consecutive input pixels (stride 1) are interleaved with vector unpacks.
#define CKS_PACK_BODY(PAIR8, PAIR8S2)                                                              \
  int16_t *b16 = (int16_t *)bp;                                                                     \
  int cp = (j->cg + 1) / 2, plane = j->h * j->w, npix = j->oh * j->ow;                              \
  int iy0[CKS_NR], ix0[CKS_NR], live[CKS_NR], off[CKS_NR];                                         \
  for (int t = 0; t < CKS_NR; t++) {                                                                \
    int64_t p = p0 + t;                                                                             \
    live[t] = p < npix;                                                                             \
    int oy = live[t] ? (int)(p / j->ow) : 0, ox = live[t] ? (int)(p % j->ow) : 0;                   \
    iy0[t] = oy * j->sh - j->pt;                                                                    \
    ix0[t] = ox * j->sw - j->pl;                                                                    \
  }                                                                                                 \
  for (int ky = 0; ky < j->kh; ky++)                                                                \
    for (int kx = 0; kx < j->kw; kx++) {                                                            \
      int run[2];                                                                                   \
      for (int t = 0; t < CKS_NR; t++) {                                                            \
        int iy = iy0[t] + ky * j->dh, ix = ix0[t] + kx * j->dw;                                     \
        off[t] = (live[t] && iy >= 0 && iy < j->h && ix >= 0 && ix < j->w) ? iy * j->w + ix : -1;   \
      }                                                                                             \
      for (int hh = 0; hh < 2; hh++) {                                                              \
        int ok = off[8 * hh] >= 0, step = j->sw;                                                    \
        for (int t = 1; t < 8; t++) ok &= off[8 * hh + t] == off[8 * hh] + step * t;                \
        /* stride 2 reads 16 values: the last one must exist */                                     \
        if (ok && step == 2) ok = off[8 * hh] + 15 < plane;                                         \
        run[hh] = ok ? step : 0;                                                                    \
      }                                                                                             \
      for (int c2 = 0; c2 < cp; c2++) {                                                             \
        int16_t *dst = b16 + ((size_t)((ky * j->kw + kx) * cp + c2) * CKS_NR) * 2;                  \
        const int16_t *pa = xg + (size_t)(2 * c2) * plane;                                          \
        int second = 2 * c2 + 1 < j->cg;                                                            \
        const int16_t *pb = second ? pa + plane : zeros;                                            \
        for (int hh = 0; hh < 2; hh++) {                                                            \
          int16_t *d = dst + 16 * hh;                                                               \
          if (run[hh] == 1 && second) {                                                             \
            PAIR8(pa + off[8 * hh], pb + off[8 * hh], d);                                           \
          } else if (run[hh] == 2 && second) {                                                      \
            PAIR8S2(pa + off[8 * hh], pb + off[8 * hh], d);                                         \
          } else {                                                                                  \
            for (int t = 0; t < 8; t++) {                                                           \
              int o = off[8 * hh + t];                                                              \
              d[2 * t] = o >= 0 ? pa[o] : 0;                                                        \
              d[2 * t + 1] = (o >= 0 && second) ? pb[o] : 0;                                        \
            }                                                                                       \
          }                                                                                         \
        }                                                                                           \
      }                                                                                             \
    }

// 8 outputs reading every second input pixel: pick the even int16 of 16 consecutive values.
#define CKS_PAIR8_S2(A, B, D) do {                                                                  \
    const __m128i even = _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);      \
    __m128i a0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(A)), even);                     \
    __m128i a1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)((A) + 8)), even);               \
    __m128i b0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(B)), even);                     \
    __m128i b1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)((B) + 8)), even);               \
    __m128i va = _mm_unpacklo_epi64(a0, a1), vb = _mm_unpacklo_epi64(b0, b1);                       \
    _mm_storeu_si128((__m128i *)(D), _mm_unpacklo_epi16(va, vb));                                   \
    _mm_storeu_si128((__m128i *)((D) + 8), _mm_unpackhi_epi16(va, vb));                             \
  } while (0)

#define CKS_PAIR8_SSE(A, B, D) do {                                                                 \
    __m128i va = _mm_loadu_si128((const __m128i *)(A)), vb = _mm_loadu_si128((const __m128i *)(B)); \
    _mm_storeu_si128((__m128i *)(D), _mm_unpacklo_epi16(va, vb));                                   \
    _mm_storeu_si128((__m128i *)((D) + 8), _mm_unpackhi_epi16(va, vb));                             \
  } while (0)

__attribute__((target("avx2")))
static void cks_pack_columns_avx2(const cks_conv_job *j, const int16_t *xg, int64_t p0, int32_t *bp, const int16_t *zeros) {
  CKS_PACK_BODY(CKS_PAIR8_SSE, CKS_PAIR8_S2)
}

#define CKS_PAIR8_PLAIN(A, B, D) do { for (int t = 0; t < 8; t++) { (D)[2 * t] = (A)[t]; (D)[2 * t + 1] = (B)[t]; } } while (0)
#define CKS_PAIR8_PLAIN_S2(A, B, D) do { for (int t = 0; t < 8; t++) { (D)[2 * t] = (A)[2 * t]; (D)[2 * t + 1] = (B)[2 * t]; } } while (0)
static void cks_pack_columns(const cks_conv_job *j, const int16_t *xg, int64_t p0, int32_t *bp, const int16_t *zeros) {
  CKS_PACK_BODY(CKS_PAIR8_PLAIN, CKS_PAIR8_PLAIN_S2)
}

__attribute__((target("avx2")))
static void cks_kernel_avx2(const int32_t *a, const int32_t *b, int kp, int32_t out[CKS_MR][CKS_NR]) {
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int q = 0; q < kp; q++) {
    __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + q * CKS_NR));
    __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + q * CKS_NR + 8));
    const int32_t *ar = a + q * CKS_MR;
    __m256i a0 = _mm256_set1_epi32(ar[0]), a1 = _mm256_set1_epi32(ar[1]);
    c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(a0, b0));
    c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(a0, b1));
    c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(a1, b0));
    c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(a1, b1));
    __m256i a2 = _mm256_set1_epi32(ar[2]), a3 = _mm256_set1_epi32(ar[3]);
    c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(a2, b0));
    c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(a2, b1));
    c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(a3, b0));
    c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(a3, b1));
  }
  _mm256_storeu_si256((__m256i *)&out[0][0], c00); _mm256_storeu_si256((__m256i *)&out[0][8], c01);
  _mm256_storeu_si256((__m256i *)&out[1][0], c10); _mm256_storeu_si256((__m256i *)&out[1][8], c11);
  _mm256_storeu_si256((__m256i *)&out[2][0], c20); _mm256_storeu_si256((__m256i *)&out[2][8], c21);
  _mm256_storeu_si256((__m256i *)&out[3][0], c30); _mm256_storeu_si256((__m256i *)&out[3][8], c31);
}

static void cks_kernel_scalar(const int32_t *a, const int32_t *b, int kp, int32_t out[CKS_MR][CKS_NR]) {
  for (int r = 0; r < CKS_MR; r++)
    for (int t = 0; t < CKS_NR; t++) {
      int32_t s = 0;
      for (int q = 0; q < kp; q++) {
        int32_t av = a[q * CKS_MR + r], bv = b[q * CKS_NR + t];
        s += (int32_t)(int16_t)(av & 0xFFFF) * (int16_t)(bv & 0xFFFF) + (int32_t)(int16_t)(av >> 16) * (int16_t)(bv >> 16);
      }
      out[r][t] = s;
    }
}

static int cks_has_avx2(void);
static int cks_has_avx2(void) {
  static int cached = -1;
  if (cached < 0) cached = __builtin_cpu_supports("avx2") ? 1 : 0;
  return cached;
}

static void cks_conv_task(void *ctx, int64_t b, int64_t e) {
  const cks_conv_job *j = (const cks_conv_job *)ctx;
  int32_t *bp = aligned_alloc(64, sizeof(int32_t) * (size_t)j->kp * CKS_NR + 64);
  int16_t zeros[CKS_NR] = {0};
  int32_t tile[CKS_MR][CKS_NR] __attribute__((aligned(32)));
  int npix = j->oh * j->ow, avx2 = cks_has_avx2();
  for (int64_t t = b; t < e; t++) {  // t = (image, group, pixel block)
    int64_t pb = t % j->pixel_blocks, rest = t / j->pixel_blocks;
    int g = (int)(rest % j->g);
    int64_t img = rest / j->g;
    const int16_t *xg = j->x + ((size_t)img * j->c + (size_t)g * j->cg) * j->h * j->w;
    int64_t p0 = pb * CKS_NR;
    if (avx2) cks_pack_columns_avx2(j, xg, p0, bp, zeros); else cks_pack_columns(j, xg, p0, bp, zeros);
    for (int mbk = 0; mbk < j->mb; mbk++) {
      const int32_t *a = j->wp + (((size_t)g * j->mb + mbk) * j->kp) * CKS_MR;
      if (avx2) cks_kernel_avx2(a, bp, j->kp, tile); else cks_kernel_scalar(a, bp, j->kp, tile);
      for (int r = 0; r < CKS_MR; r++) {
        int m = mbk * CKS_MR + r;
        if (m >= j->og) break;
        int32_t *dst = j->acc + ((size_t)img * j->o + (size_t)g * j->og + m) * npix + p0;
        int64_t count = npix - p0 < CKS_NR ? npix - p0 : CKS_NR;
        memcpy(dst, tile[r], sizeof(int32_t) * count);
      }
    }
  }
  free(bp);
}

// Copies x [N, C, H, W] into zero-padded planes [N, C, hp, wp] at offset (pt, pl).
typedef struct { const int16_t *x; int16_t *y; int h, w, hp, wp, pt, pl; } cks_pad_job;

static void cks_pad_task(void *ctx, int64_t b, int64_t e) {
  const cks_pad_job *j = (const cks_pad_job *)ctx;
  for (int64_t p = b; p < e; p++) {
    int16_t *dst = j->y + p * j->hp * j->wp;
    const int16_t *src = j->x + p * j->h * j->w;
    memset(dst, 0, sizeof(int16_t) * j->hp * j->wp);
    for (int r = 0; r < j->h; r++) memcpy(dst + (r + j->pt) * j->wp + j->pl, src + r * j->w, sizeof(int16_t) * j->w);
  }
}

static void cks_conv2d_unpadded(const int16_t *x, const int32_t *packed_w, int32_t *acc, int64_t n, int c, int h, int w,
                                int o, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw, int groups, int oh, int ow);

void cks_conv2d_i32(const int16_t *x, const int32_t *packed_w, int32_t *acc, int64_t n, int c, int h, int w,
                    int o, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw, int groups, int oh, int ow) {
  if (pt == 0 && pl == 0) { cks_conv2d_unpadded(x, packed_w, acc, n, c, h, w, o, kh, kw, sh, sw, 0, 0, dh, dw, groups, oh, ow); return; }
  // pad once so every tap of a row run is in bounds (vector packing), plus one spare row for the
  // 16-value loads of stride-2 runs
  int hp = (oh - 1) * sh + (kh - 1) * dh + 2, wp = (ow - 1) * sw + (kw - 1) * dw + 2;
  if (hp < h + pt) hp = h + pt;
  if (wp < w + pl) wp = w + pl;
  int16_t *padded = malloc(sizeof(int16_t) * (size_t)n * c * hp * wp);
  cks_pad_job pj = {x, padded, h, w, hp, wp, pt, pl};
  ck_parallel_for(n * c, 16, cks_pad_task, &pj);
  cks_conv2d_unpadded(padded, packed_w, acc, n, c, hp, wp, o, kh, kw, sh, sw, 0, 0, dh, dw, groups, oh, ow);
  free(padded);
}

static void cks_conv2d_unpadded(const int16_t *x, const int32_t *packed_w, int32_t *acc, int64_t n, int c, int h, int w,
                                int o, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw, int groups, int oh, int ow) {
  cks_conv_job j;
  j.x = x; j.wp = packed_w; j.acc = acc; j.n = n;
  j.c = c; j.h = h; j.w = w; j.o = o; j.kh = kh; j.kw = kw; j.sh = sh; j.sw = sw; j.pt = pt; j.pl = pl;
  j.dh = dh; j.dw = dw; j.g = groups; j.oh = oh; j.ow = ow;
  j.cg = c / groups; j.og = o / groups; j.kp = kh * kw * ((j.cg + 1) / 2);
  j.mb = (j.og + CKS_MR - 1) / CKS_MR;
  j.pixel_blocks = ((int64_t)oh * ow + CKS_NR - 1) / CKS_NR;
  int64_t tasks = n * groups * j.pixel_blocks;
  ck_parallel_for(tasks, 4, cks_conv_task, &j);
}

// Reference path with int64 accumulation (16-bit operands, or sums beyond int32).
typedef struct {
  const int16_t *x, *w;
  int64_t *acc;
  int c, h, wd, o, kh, kw, sh, sw, pt, pl, dh, dw, g, oh, ow;
} cks_conv64_job;

static void cks_conv64_task(void *ctx, int64_t b, int64_t e) {
  const cks_conv64_job *j = (const cks_conv64_job *)ctx;
  int cg = j->c / j->g, og = j->o / j->g;
  for (int64_t t = b; t < e; t++) {  // t = (image, output channel)
    int64_t img = t / j->o;
    int oc = (int)(t % j->o), g = oc / og;
    int64_t *dst = j->acc + t * j->oh * j->ow;
    for (int p = 0; p < j->oh * j->ow; p++) dst[p] = 0;
    for (int ci = 0; ci < cg; ci++) {
      const int16_t *plane = j->x + ((size_t)img * j->c + (size_t)g * cg + ci) * j->h * j->wd;
      for (int ky = 0; ky < j->kh; ky++)
        for (int kx = 0; kx < j->kw; kx++) {
          int64_t wv = j->w[(((size_t)oc * cg + ci) * j->kh + ky) * j->kw + kx];
          if (wv == 0) continue;
          for (int oy = 0; oy < j->oh; oy++) {
            int iy = oy * j->sh - j->pt + ky * j->dh;
            if (iy < 0 || iy >= j->h) continue;
            for (int ox = 0; ox < j->ow; ox++) {
              int ix = ox * j->sw - j->pl + kx * j->dw;
              if (ix >= 0 && ix < j->wd) dst[oy * j->ow + ox] += wv * plane[iy * j->wd + ix];
            }
          }
        }
    }
  }
}

void cks_conv2d_i64(const int16_t *x, const int16_t *w, int64_t *acc, int64_t n, int c, int h, int wd,
                    int o, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw, int groups, int oh, int ow) {
  cks_conv64_job j = {x, w, acc, c, h, wd, o, kh, kw, sh, sw, pt, pl, dh, dw, groups, oh, ow};
  ck_parallel_for(n * o, 1, cks_conv64_task, &j);
}
