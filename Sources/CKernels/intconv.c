// Exact integer convolution for the simulator: 8-bit operands widened to int16, products paired
// with vpmaddwd (AVX2) and accumulated in int32 — exact while every pair sum and the total fit in
// int32, which the caller guarantees by choosing the int64 path (`cks_conv2d_i64`) otherwise.
//
// A second form packs four channels per int32 as bytes and multiplies with vpmaddubsw (unsigned
// input bytes × signed weight bytes → int16 sums of two products, then vpmaddwd by ones → int32):
// twice the products per instruction. vpmaddubsw saturates its int16 pair sums, so this form is
// used only when it cannot: inputs in [0, 127] (e.g. 8-bit codes after ReLU) and weights in
// [−128, 127] give |pair sum| ≤ 2·127·128 = 32512 < 32767 — exact (`cks_conv2d_u8s8`).
//
// Direct ("implicit GEMM") convolution: acc[o, p] = Σ_k w[o, k] · x[k, p] with k = (ky, kx,
// channel pair). The input is first rewritten once per call as zero-padded planes of int16
// channel pairs, split into stride phases, so that for every tap the 8 or 16 output pixels of a
// tile read 8 or 16 consecutive int32 pairs — one vector load, no per-tile packing. The tile's
// sums are requantized in registers (bias, ReLU, shift with the rounding rule, saturation) and
// written as int16 codes, or returned as int32 when the requantization needs the general path.
#include "common.h"
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>

#define CKS_MR 8  // weight rows per packed block (the 16-pixel kernel uses half a block)

// The GEMM's k runs over (ky, kx, channel pair): kp = (ky·KW + kx)·CP + cp with CP = ceil(Cg / 2),
// so each int32 pair holds channels 2cp and 2cp + 1 (the latter 0 when Cg is odd) at one tap.
// Packs weights w [O, Cg, KH, KW] into [g][Mb][Kp][MR] int32 pairs.
// With `lanes` = 4 the int32 holds four channels as bytes (4cq … 4cq + 3), CQ = ceil(Cg / 4).
static void cks_pack(const int16_t *w, int o, int groups, int cg, int kh, int kw, int lanes, int32_t *packed) {
  int og = o / groups, cp = (cg + lanes - 1) / lanes, kp = kh * kw * cp, mb = (og + CKS_MR - 1) / CKS_MR;
  int bits = 32 / lanes;
  uint32_t mask = lanes == 2 ? 0xFFFFu : 0xFFu;
  memset(packed, 0, sizeof(int32_t) * (size_t)groups * mb * kp * CKS_MR);
  for (int g = 0; g < groups; g++)
    for (int m = 0; m < og; m++)
      for (int c = 0; c < cg; c++)
        for (int ky = 0; ky < kh; ky++)
          for (int kx = 0; kx < kw; kx++) {
            int block = m / CKS_MR, r = m % CKS_MR, pair = (ky * kw + kx) * cp + c / lanes, lane = c % lanes;
            int32_t *slot = packed + (((size_t)g * mb + block) * kp + pair) * CKS_MR + r;
            uint32_t v = (uint32_t)w[(((size_t)(g * og + m) * cg + c) * kh + ky) * kw + kx] & mask;
            *slot = (int32_t)((uint32_t)*slot | (v << (bits * lane)));
          }
}

void cks_pack_weights(const int16_t *w, int o, int groups, int cg, int kh, int kw, int32_t *packed) {
  cks_pack(w, o, groups, cg, kh, kw, 2, packed);
}

void cks_pack_weights_u8s8(const int16_t *w, int o, int groups, int cg, int kh, int kw, int32_t *packed) {
  cks_pack(w, o, groups, cg, kh, kw, 4, packed);
}

static size_t cks_count(int o, int groups, int cg, int kh, int kw, int lanes) {
  int og = o / groups, kp = kh * kw * ((cg + lanes - 1) / lanes), mb = (og + CKS_MR - 1) / CKS_MR;
  return (size_t)groups * mb * kp * CKS_MR;
}

size_t cks_packed_weights_count(int o, int groups, int cg, int kh, int kw) { return cks_count(o, groups, cg, kh, kw, 2); }
size_t cks_packed_weights_count_u8s8(int o, int groups, int cg, int kh, int kw) {
  return cks_count(o, groups, cg, kh, kw, 4);
}

typedef struct {
  const int16_t *x;
  int lo, hi;
  int outside;  // set by any chunk that finds a code outside [lo, hi]
} cks_within_job;

CK_CLONES static void cks_within_task(void *ctx, int64_t b, int64_t e) {
  cks_within_job *j = (cks_within_job *)ctx;
  int16_t mn = INT16_MAX, mx = INT16_MIN;
  for (int64_t i = b; i < e; i++) {
    mn = j->x[i] < mn ? j->x[i] : mn;
    mx = j->x[i] > mx ? j->x[i] : mx;
  }
  if (mn < j->lo || mx > j->hi) __atomic_store_n(&j->outside, 1, __ATOMIC_RELAXED);
}

int cks_codes_within(const int16_t *x, int64_t n, int lo, int hi) {
  cks_within_job j = {x, lo, hi, 0};
  ck_parallel_for(n, 4 * CK_GRAIN, cks_within_task, &j);
  return !__atomic_load_n(&j.outside, __ATOMIC_RELAXED);
}

// ---- input rewrite: [N, C, H, W] int16 -> [N, CPt][phases][HQ][WQ] int32 channel pairs ----
// Phase (py, px), position (i, j) holds padded input pixel (i·SY + py, j·SX + px), i.e. input
// (i·SY + py − pt, j·SX + px − pl), zero outside. Only the phases some tap reads are stored
// (py < min(SY, (KH − 1)·DH + 1), likewise px). CPt = groups · CP (odd group channel counts get a
// zero partner channel).
typedef struct {
  const int16_t *x;
  int32_t *xp;
  int c, h, w, cg, cp, sy, sx, phy, phx, pt, pl, hq, wq;
  int lanes;  // channels per int32: 2 (int16 halves) or 4 (bytes)
} cks_rewrite_job;

// Row fillers: row[jx] for jx in [lo, hi) from input column jx·SX + first of the channel planes
// pl (NULL past the group's last channel), each read from offset `at` (the input row's start).
// Two channels as int16 halves:
static inline __attribute__((always_inline)) void cks_fill_pairs(int32_t *row, const int16_t *const *pl, size_t at, int lo, int hi, int sx, int first) {
  const uint16_t *ra = (const uint16_t *)pl[0] + at;
  if (!pl[1]) {
    for (int jx = lo; jx < hi; jx++) row[jx] = (int32_t)(uint32_t)ra[jx * sx + first];
    return;
  }
  const uint16_t *rb = (const uint16_t *)pl[1] + at;
  if (sx == 1)
    for (int jx = lo; jx < hi; jx++) row[jx] = (int32_t)((uint32_t)ra[jx + first] | ((uint32_t)rb[jx + first] << 16));
  else
    for (int jx = lo; jx < hi; jx++)
      row[jx] = (int32_t)((uint32_t)ra[jx * sx + first] | ((uint32_t)rb[jx * sx + first] << 16));
}

// Four channels as bytes (inputs known to be in [0, 127]):
static inline __attribute__((always_inline)) void cks_fill_quads(int32_t *row, const int16_t *const *pl, size_t at, int lo, int hi, int sx, int first) {
  if (pl[3]) {  // all four channels present: one pass
    const int16_t *r0 = pl[0] + at, *r1 = pl[1] + at, *r2 = pl[2] + at, *r3 = pl[3] + at;
    if (sx == 1)
      for (int jx = lo; jx < hi; jx++) {
        int k = jx + first;
        row[jx] = (int32_t)((uint32_t)(uint8_t)r0[k] | (uint32_t)(uint8_t)r1[k] << 8 |
                            (uint32_t)(uint8_t)r2[k] << 16 | (uint32_t)(uint8_t)r3[k] << 24);
      }
    else
      for (int jx = lo; jx < hi; jx++) {
        int k = jx * sx + first;
        row[jx] = (int32_t)((uint32_t)(uint8_t)r0[k] | (uint32_t)(uint8_t)r1[k] << 8 |
                            (uint32_t)(uint8_t)r2[k] << 16 | (uint32_t)(uint8_t)r3[k] << 24);
      }
    return;
  }
  for (int jx = lo; jx < hi; jx++) row[jx] = 0;
  for (int l = 0; l < 4; l++) {
    if (!pl[l]) continue;
    const int16_t *r = pl[l] + at;
    for (int jx = lo; jx < hi; jx++) row[jx] = (int32_t)((uint32_t)row[jx] | ((uint32_t)(uint8_t)r[jx * sx + first] << (8 * l)));
  }
}

// Rewrites channel group q (a pair or a quad, by j->lanes) of group g of image img into dst
// (phases × HQ × WQ int32).
CK_CLONES static void cks_rewrite_channels(const cks_rewrite_job *j, int64_t img, int g, int q, int32_t *dst) {
  size_t phase_size = (size_t)j->hq * j->wq, plane = (size_t)j->h * j->w;
  int c0 = g * j->cg + j->lanes * q;
  const int16_t *pl[4] = {NULL, NULL, NULL, NULL};
  for (int l = 0; l < j->lanes; l++)
    if (j->lanes * q + l < j->cg) pl[l] = j->x + ((size_t)img * j->c + c0 + l) * plane;
  for (int py = 0; py < j->phy; py++)
    for (int px = 0; px < j->phx; px++) {
      int32_t *ph = dst + (size_t)(py * j->phx + px) * phase_size;
      // columns jx with 0 <= jx·SX + px − pl < W
      int lo = j->pl - px > 0 ? (j->pl - px + j->sx - 1) / j->sx : 0;
      int hi = (j->w + j->pl - px + j->sx - 1) / j->sx;
      if (hi > j->wq) hi = j->wq;
      if (lo > hi) lo = hi;
      int first = px - j->pl;  // input column of jx = 0
      for (int i = 0; i < j->hq; i++) {
        int32_t *row = ph + (size_t)i * j->wq;
        int iy = i * j->sy + py - j->pt;
        if (iy < 0 || iy >= j->h) { memset(row, 0, sizeof(int32_t) * j->wq); continue; }
        for (int jx = 0; jx < lo; jx++) row[jx] = 0;
        for (int jx = hi; jx < j->wq; jx++) row[jx] = 0;
        size_t at = (size_t)iy * j->w;
        if (j->lanes == 4) cks_fill_quads(row, pl, at, lo, hi, j->sx, first);
        else cks_fill_pairs(row, pl, at, lo, hi, j->sx, first);
      }
    }
}

static void cks_rewrite_task(void *ctx, int64_t b, int64_t e) {
  const cks_rewrite_job *j = (const cks_rewrite_job *)ctx;
  int groups = j->c / j->cg;
  size_t pair_size = (size_t)j->phy * j->phx * j->hq * j->wq;
  for (int64_t t = b; t < e; t++) {  // t = (image, group, pair)
    int rest = (int)(t % (groups * j->cp));
    cks_rewrite_channels(j, t / (groups * j->cp), rest / j->cp, rest % j->cp, j->xp + (size_t)t * pair_size);
  }
}

// ---- tiles ----
typedef struct {
  const int32_t *xp, *wp;
  const cks_conv_requant *rq;
  int32_t *acc;
  int16_t *out;
  int o, og, cp, cpt, kh, kw, sy, sx, phy, phx, dh, dw, hq, wq, oh, ow, groups, mb, kp;
  int nr, blocks;  // pixels per tile (8 or 16), tiles per output row
  int lanes;       // channels per int32: 2 (int16, vpmaddwd) or 4 (bytes, vpmaddubsw)
  const int *taps; // per tap (ky·KW + kx): offset of its first input from the tile's origin
} cks_direct_job;

// Requantizes 8 sums (ck_shift_round_i64 on int32 lanes; the caller guarantees |sum + bias| < 2^31).
__attribute__((target("avx2")))
static inline __m128i cks_rq8(__m256i s, __m256i bias, const cks_conv_requant *rq) {
  int sh = rq->shift;
  if (rq->rule == CK_ROUND_HALF_UP) {
    // round half up = floor((s + 2^(sh−1)) / 2^sh); relu first: max(s, 0) + h = max(s + h, h)
    // (the caller keeps |sum + bias| + 2^(sh−1) below 2^31)
    __m256i h = _mm256_set1_epi32(1 << (sh - 1));
    s = _mm256_add_epi32(s, _mm256_add_epi32(bias, h));
    if (rq->relu) s = _mm256_max_epi32(s, h);
    __m256i q = _mm256_srai_epi32(s, sh);
    if (!rq->relu) q = _mm256_max_epi32(q, _mm256_set1_epi32(rq->qmin));
    q = _mm256_min_epi32(q, _mm256_set1_epi32(rq->qmax));
    return _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  }
  s = _mm256_add_epi32(s, bias);
  if (rq->relu) s = _mm256_max_epi32(s, _mm256_setzero_si256());
  __m256i q = _mm256_srai_epi32(s, sh);
  __m256i r = _mm256_and_si256(s, _mm256_set1_epi32((1 << sh) - 1));
  __m256i half = _mm256_set1_epi32(1 << (sh - 1)), zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1);
  __m256i up;  // all ones where q rounds up
  switch ((ck_rounding)rq->rule) {
  case CK_ROUND_HALF_UP: up = _mm256_cmpgt_epi32(r, _mm256_sub_epi32(half, one)); break;
  case CK_ROUND_HALF_EVEN:
    up = _mm256_or_si256(_mm256_cmpgt_epi32(r, half),
                         _mm256_and_si256(_mm256_cmpeq_epi32(r, half), _mm256_cmpeq_epi32(_mm256_and_si256(q, one), one)));
    break;
  case CK_ROUND_HALF_AWAY:
    up = _mm256_or_si256(_mm256_cmpgt_epi32(r, half), _mm256_and_si256(_mm256_cmpeq_epi32(r, half), _mm256_cmpgt_epi32(s, zero)));
    break;
  case CK_ROUND_FLOOR: up = zero; break;
  case CK_ROUND_CEIL: up = _mm256_xor_si256(_mm256_cmpeq_epi32(r, zero), _mm256_set1_epi32(-1)); break;
  case CK_ROUND_TOWARD_ZERO:
    up = _mm256_andnot_si256(_mm256_cmpeq_epi32(r, zero), _mm256_cmpgt_epi32(zero, s));
    break;
  default: up = zero;
  }
  q = _mm256_sub_epi32(q, up);
  q = _mm256_max_epi32(q, _mm256_set1_epi32(rq->qmin));
  q = _mm256_min_epi32(q, _mm256_set1_epi32(rq->qmax));
  return _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
}

// Writes 8 sums of one output channel (with its bias) as codes, or as int32.
__attribute__((target("avx2")))
static inline void cks_store8(const cks_direct_job *j, __m256i v, int32_t bias, size_t base, int count) {
  if (j->rq) {
    __m128i codes = cks_rq8(v, _mm256_set1_epi32(bias), j->rq);
    int16_t *dst = j->out + base;
    if (count >= 8) _mm_storeu_si128((__m128i *)dst, codes);
    else { int16_t tmp[8]; _mm_storeu_si128((__m128i *)tmp, codes); memcpy(dst, tmp, sizeof(int16_t) * count); }
  } else {
    int32_t *dst = j->acc + base;
    if (count >= 8) _mm256_storeu_si256((__m256i *)dst, v);
    else { int32_t tmp[8]; _mm256_storeu_si256((__m256i *)tmp, v); memcpy(dst, tmp, sizeof(int32_t) * count); }
  }
}

// Dot products of one int32 weight lane group (broadcast) with 8 input int32s: pairs of int16
// (vpmaddwd) or quads of bytes (vpmaddubsw, then vpmaddwd by ones).
#define CKS_DOT_PAIR(a, b) _mm256_madd_epi16(a, b)
#define CKS_DOT_QUAD(a, b) _mm256_madd_epi16(_mm256_maddubs_epi16(b, a), ones)

// 4 output channels × 16 pixels: a walks one half of a packed 8-row block.
#define CKS_TILE_4x16(NAME, DOT)                                                                                        \
  __attribute__((target("avx2"))) static void NAME(const cks_direct_job *j, const int32_t *a, const int32_t *xb,      \
                                                   const int *taps, const int32_t *bias, int rows, int m0,             \
                                                   size_t obase, int count) {                                          \
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00; \
    const __m256i ones = _mm256_set1_epi16(1);                                                                          \
    (void)ones;                                                                                                         \
    size_t pstride = (size_t)j->phy * j->phx * j->hq * j->wq;                                                          \
    int ntaps = j->kh * j->kw;                                                                                          \
    for (int t = 0; t < ntaps; t++) {                                                                                   \
      const int32_t *b = xb + taps[t];                                                                                  \
      for (int c = 0; c < j->cp; c++, b += pstride, a += CKS_MR) {                                                      \
        __m256i b0 = _mm256_loadu_si256((const __m256i *)b), b1 = _mm256_loadu_si256((const __m256i *)(b + 8));       \
        __m256i a0 = _mm256_set1_epi32(a[0]), a1 = _mm256_set1_epi32(a[1]);                                             \
        c00 = _mm256_add_epi32(c00, DOT(a0, b0));                                                                       \
        c01 = _mm256_add_epi32(c01, DOT(a0, b1));                                                                       \
        c10 = _mm256_add_epi32(c10, DOT(a1, b0));                                                                       \
        c11 = _mm256_add_epi32(c11, DOT(a1, b1));                                                                       \
        __m256i a2 = _mm256_set1_epi32(a[2]), a3 = _mm256_set1_epi32(a[3]);                                             \
        c20 = _mm256_add_epi32(c20, DOT(a2, b0));                                                                       \
        c21 = _mm256_add_epi32(c21, DOT(a2, b1));                                                                       \
        c30 = _mm256_add_epi32(c30, DOT(a3, b0));                                                                       \
        c31 = _mm256_add_epi32(c31, DOT(a3, b1));                                                                       \
      }                                                                                                                 \
    }                                                                                                                   \
    size_t plane = (size_t)j->oh * j->ow;                                                                               \
    __m256i lo[4] = {c00, c10, c20, c30}, hi[4] = {c01, c11, c21, c31};                                                 \
    for (int r = 0; r < rows; r++) {                                                                                    \
      size_t base = (size_t)(m0 + r) * plane + obase;                                                                   \
      int32_t bv = bias ? bias[m0 + r] : 0;                                                                             \
      cks_store8(j, lo[r], bv, base, count < 8 ? count : 8);                                                            \
      if (count > 8) cks_store8(j, hi[r], bv, base + 8, count - 8);                                                     \
    }                                                                                                                   \
  }

// 8 output channels × 8 pixels (narrow rows).
#define CKS_TILE_8x8(NAME, DOT)                                                                                         \
  __attribute__((target("avx2"))) static void NAME(const cks_direct_job *j, const int32_t *a, const int32_t *xb,      \
                                                   const int *taps, const int32_t *bias, int rows, int m0,             \
                                                   size_t obase, int count) {                                          \
    __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;               \
    const __m256i ones = _mm256_set1_epi16(1);                                                                          \
    (void)ones;                                                                                                         \
    size_t pstride = (size_t)j->phy * j->phx * j->hq * j->wq;                                                          \
    int ntaps = j->kh * j->kw;                                                                                          \
    for (int t = 0; t < ntaps; t++) {                                                                                   \
      const int32_t *b = xb + taps[t];                                                                                  \
      for (int c = 0; c < j->cp; c++, b += pstride, a += CKS_MR) {                                                      \
        __m256i b0 = _mm256_loadu_si256((const __m256i *)b);                                                            \
        c0 = _mm256_add_epi32(c0, DOT(_mm256_set1_epi32(a[0]), b0));                                                    \
        c1 = _mm256_add_epi32(c1, DOT(_mm256_set1_epi32(a[1]), b0));                                                    \
        c2 = _mm256_add_epi32(c2, DOT(_mm256_set1_epi32(a[2]), b0));                                                    \
        c3 = _mm256_add_epi32(c3, DOT(_mm256_set1_epi32(a[3]), b0));                                                    \
        c4 = _mm256_add_epi32(c4, DOT(_mm256_set1_epi32(a[4]), b0));                                                    \
        c5 = _mm256_add_epi32(c5, DOT(_mm256_set1_epi32(a[5]), b0));                                                    \
        c6 = _mm256_add_epi32(c6, DOT(_mm256_set1_epi32(a[6]), b0));                                                    \
        c7 = _mm256_add_epi32(c7, DOT(_mm256_set1_epi32(a[7]), b0));                                                    \
      }                                                                                                                 \
    }                                                                                                                   \
    size_t plane = (size_t)j->oh * j->ow;                                                                               \
    __m256i v[8] = {c0, c1, c2, c3, c4, c5, c6, c7};                                                                    \
    for (int r = 0; r < rows; r++) cks_store8(j, v[r], bias ? bias[m0 + r] : 0, (size_t)(m0 + r) * plane + obase, count); \
  }

CKS_TILE_4x16(cks_tile_4x16, CKS_DOT_PAIR)
CKS_TILE_4x16(cks_tile_4x16_u8s8, CKS_DOT_QUAD)
CKS_TILE_8x8(cks_tile_8x8, CKS_DOT_PAIR)
CKS_TILE_8x8(cks_tile_8x8_u8s8, CKS_DOT_QUAD)

// Portable tile: any shape, scalar arithmetic, the same results.
static void cks_tile_scalar(const cks_direct_job *j, const int32_t *a, const int32_t *xb, const int *taps, const int32_t *bias, int rows,
                            int m0, size_t obase, int count) {
  size_t pstride = (size_t)j->phy * j->phx * j->hq * j->wq, plane = (size_t)j->oh * j->ow;
  int ntaps = j->kh * j->kw;
  for (int r = 0; r < rows; r++)
    for (int p = 0; p < count; p++) {
      int32_t sum = 0;
      const int32_t *ar = a + r;
      for (int t = 0; t < ntaps; t++) {
        const int32_t *b = xb + taps[t] + p;
        for (int c = 0; c < j->cp; c++, b += pstride, ar += CKS_MR) {
          int32_t av = *ar, bv = *b;
          if (j->lanes == 4) {
            for (int l = 0; l < 4; l++) sum += (int32_t)(int8_t)(av >> (8 * l)) * (int32_t)(uint8_t)(bv >> (8 * l));
          } else {
            sum += (int32_t)(int16_t)(av & 0xFFFF) * (int16_t)(bv & 0xFFFF) + (int32_t)(int16_t)(av >> 16) * (int16_t)(bv >> 16);
          }
        }
      }
      size_t at = (size_t)(m0 + r) * plane + obase + p;
      if (j->rq) {
        int64_t v = (int64_t)sum + (bias ? bias[m0 + r] : 0);
        if (j->rq->relu && v < 0) v = 0;
        j->out[at] = (int16_t)ck_saturate_i64(ck_shift_round_i64(v, j->rq->shift, (ck_rounding)j->rq->rule), j->rq->qmin, j->rq->qmax);
      } else {
        j->acc[at] = sum;
      }
    }
}

static _Atomic int cks_portable_only = 0;
void cks_use_portable_conv(int on) { cks_portable_only = on != 0; }

static int cks_has_avx2(void) {
  static int cached = -1;
  if (cached < 0) cached = __builtin_cpu_supports("avx2") ? 1 : 0;
  return cached && !cks_portable_only;
}

// One output tile: row oy, pixels from tile blk, all output channels of group g of image img,
// reading the rewritten input of that image and group at xb.
static void cks_direct_tile(const cks_direct_job *j, int avx2, const int32_t *xb, int64_t img, int g, int oy,
                            int blk, int mbk) {
  int ox0 = blk * j->nr, count = j->ow - ox0 < j->nr ? j->ow - ox0 : j->nr;
  const int *tp = j->taps;
  xb += (size_t)oy * j->wq + ox0;  // the tile's origin in phase 0
  size_t obase = ((size_t)img * j->o + (size_t)g * j->og) * j->oh * j->ow + (size_t)oy * j->ow + ox0;
  const int32_t *bias = j->rq && j->rq->bias ? j->rq->bias + (size_t)g * j->og : NULL;  // this group's channels
  const int32_t *a = j->wp + (((size_t)g * j->mb + mbk) * j->kp) * CKS_MR;
  int m0 = mbk * CKS_MR, rows = j->og - m0 < CKS_MR ? j->og - m0 : CKS_MR;
  if (!avx2) { cks_tile_scalar(j, a, xb, tp, bias, rows, m0, obase, count); return; }
  if (j->lanes == 4) {
    if (j->nr == 8) { cks_tile_8x8_u8s8(j, a, xb, tp, bias, rows, m0, obase, count); return; }
    cks_tile_4x16_u8s8(j, a, xb, tp, bias, rows < 4 ? rows : 4, m0, obase, count);
    if (rows > 4) cks_tile_4x16_u8s8(j, a + 4, xb, tp, bias, rows - 4, m0 + 4, obase, count);
    return;
  }
  if (j->nr == 8) { cks_tile_8x8(j, a, xb, tp, bias, rows, m0, obase, count); return; }
  cks_tile_4x16(j, a, xb, tp, bias, rows < 4 ? rows : 4, m0, obase, count);
  if (rows > 4) cks_tile_4x16(j, a + 4, xb, tp, bias, rows - 4, m0 + 4, obase, count);
}

static size_t cks_pair_size(const cks_direct_job *j) { return (size_t)j->phy * j->phx * j->hq * j->wq; }

// Whole-batch rewrite done first (few images): t = (image, group, output row, tile).
static void cks_direct_task(void *ctx, int64_t b, int64_t e) {
  const cks_direct_job *j = (const cks_direct_job *)ctx;
  int avx2 = cks_has_avx2();
  for (int64_t t = b; t < e; t++) {
    int blk = (int)(t % j->blocks);
    int64_t rest = t / j->blocks;
    int oy = (int)(rest % j->oh);
    rest /= j->oh;
    int g = (int)(rest % j->groups);
    int64_t img = rest / j->groups;
    const int32_t *xb = j->xp + ((size_t)img * j->cpt + (size_t)g * j->cp) * cks_pair_size(j);
    for (int mbk = 0; mbk < j->mb; mbk++) cks_direct_tile(j, avx2, xb, img, g, oy, blk, mbk);
  }
}

// Image by image (large batches): each task rewrites one image into its own small buffer, which
// stays in cache while all of that image's tiles read it.
typedef struct { const cks_direct_job *j; const cks_rewrite_job *rj; } cks_image_job;

static void cks_image_task(void *ctx, int64_t b, int64_t e) {
  const cks_image_job *ij = (const cks_image_job *)ctx;
  const cks_direct_job *j = ij->j;
  int avx2 = cks_has_avx2();
  size_t pair_size = cks_pair_size(j);
  int32_t *buf = aligned_alloc(64, (sizeof(int32_t) * j->cpt * pair_size + 63) / 64 * 64);
  for (int64_t img = b; img < e; img++) {
    for (int g = 0; g < j->groups; g++)
      for (int pr = 0; pr < j->cp; pr++) cks_rewrite_channels(ij->rj, img, g, pr, buf + ((size_t)g * j->cp + pr) * pair_size);
    for (int g = 0; g < j->groups; g++) {
      const int32_t *xb = buf + (size_t)g * j->cp * pair_size;
      for (int mbk = 0; mbk < j->mb; mbk++)
        for (int oy = 0; oy < j->oh; oy++)
          for (int blk = 0; blk < j->blocks; blk++) cks_direct_tile(j, avx2, xb, img, g, oy, blk, mbk);
    }
  }
  free(buf);
}

static void cks_conv2d(const int16_t *x, const int32_t *packed_w, int32_t *acc, const cks_conv_requant *rq, int16_t *out,
                       int64_t n, int c, int h, int w, int o, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw,
                       int groups, int oh, int ow, int lanes) {
  cks_direct_job j;
  int cg = c / groups;
  j.lanes = lanes;
  j.cp = (cg + lanes - 1) / lanes; j.cpt = groups * j.cp;
  j.o = o; j.og = o / groups; j.kh = kh; j.kw = kw; j.dh = dh; j.dw = dw; j.oh = oh; j.ow = ow; j.groups = groups;
  j.sy = sh; j.sx = sw;
  j.phy = sh < (kh - 1) * dh + 1 ? sh : (kh - 1) * dh + 1;
  j.phx = sw < (kw - 1) * dw + 1 ? sw : (kw - 1) * dw + 1;
  j.mb = (j.og + CKS_MR - 1) / CKS_MR; j.kp = kh * kw * j.cp;
  j.nr = ow <= 8 ? 8 : 16;
  j.blocks = (ow + j.nr - 1) / j.nr;
  j.hq = oh + ((kh - 1) * dh) / sh;
  j.wq = j.blocks * j.nr + ((kw - 1) * dw) / sw;
  j.rq = rq; j.acc = acc; j.out = out; j.wp = packed_w;
  cks_rewrite_job rj = {x, NULL, c, h, w, cg, j.cp, sh, sw, j.phy, j.phx, pt, pl, j.hq, j.wq, lanes};
  int ntaps = kh * kw, taps_local[64];
  int *taps = ntaps <= 64 ? taps_local : malloc(sizeof(int) * ntaps);
  for (int ky = 0; ky < kh; ky++)
    for (int kx = 0; kx < kw; kx++) {
      int dy = ky * dh, dx = kx * dw, phase = (dy % sh) * j.phx + dx % sw;
      taps[ky * kw + kx] = (int)(phase * (size_t)j.hq * j.wq + (size_t)(dy / sh) * j.wq + dx / sw);
    }
  j.taps = taps;
  if (n >= 2 * ck_get_num_threads()) {
    cks_image_job ij = {&j, &rj};
    ck_parallel_for(n, 1, cks_image_task, &ij);
    if (taps != taps_local) free(taps);
    return;
  }
  int32_t *xp = malloc(sizeof(int32_t) * ((size_t)n * j.cpt * cks_pair_size(&j)));
  rj.xp = xp;
  ck_parallel_for(n * j.cpt, 1, cks_rewrite_task, &rj);
  j.xp = xp;
  ck_parallel_for(n * groups * oh * j.blocks, 8, cks_direct_task, &j);
  free(xp);
  if (taps != taps_local) free(taps);
}

void cks_conv2d_i32(const int16_t *x, const int32_t *packed_w, int32_t *acc, const cks_conv_requant *rq, int16_t *out,
                    int64_t n, int c, int h, int w, int o, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw,
                    int groups, int oh, int ow) {
  cks_conv2d(x, packed_w, acc, rq, out, n, c, h, w, o, kh, kw, sh, sw, pt, pl, dh, dw, groups, oh, ow, 2);
}

void cks_conv2d_u8s8(const int16_t *x, const int32_t *packed_w, int32_t *acc, const cks_conv_requant *rq, int16_t *out,
                     int64_t n, int c, int h, int w, int o, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw,
                     int groups, int oh, int ow) {
  cks_conv2d(x, packed_w, acc, rq, out, n, c, h, w, o, kh, kw, sh, sw, pt, pl, dh, dw, groups, oh, ow, 4);
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
