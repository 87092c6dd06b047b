#include "common.h"

// Reductions of x viewed as [outer, r, inner] into out [outer, inner]. Sums accumulate in double,
// in index order, so results are independent of the thread count.

typedef struct {
  const float *x;
  float *out;
  int64_t *idx;
  int64_t outer, r, inner;
  int op;
} ck_reduce_job;

CK_CLONES
static void ck_reduce_inner1(int op, const float *x, int64_t r, float *out) {
  if (op == CK_SUM) {
    double s[4] = {0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 4 <= r; k += 4) { s[0] += x[k]; s[1] += x[k + 1]; s[2] += x[k + 2]; s[3] += x[k + 3]; }
    for (; k < r; k++) s[0] += x[k];
    *out = (float)((s[0] + s[1]) + (s[2] + s[3]));
  } else {
    float m = x[0];
    for (int64_t k = 1; k < r; k++) {
      float v = x[k];
      if (op == CK_MAXR ? (v > m || v != v) : (v < m || v != v)) m = v;
      if (m != m) break;
    }
    *out = m;
  }
}

CK_CLONES
static void ck_reduce_strided(int op, const float *x, int64_t r, int64_t inner, float *out, int64_t i0, int64_t i1) {
  int64_t n = i1 - i0;
  if (op == CK_SUM) {
    double acc[256];
    for (int64_t i0b = i0; i0b < i1; i0b += 256) {
      int64_t m = i1 - i0b < 256 ? i1 - i0b : 256;
      for (int64_t i = 0; i < m; i++) acc[i] = 0;
      for (int64_t k = 0; k < r; k++) {
        const float *row = x + k * inner + i0b;
        for (int64_t i = 0; i < m; i++) acc[i] += row[i];
      }
      for (int64_t i = 0; i < m; i++) out[i0b + i] = (float)acc[i];
    }
  } else {
    for (int64_t i = 0; i < n; i++) out[i0 + i] = x[i0 + i];
    for (int64_t k = 1; k < r; k++) {
      const float *row = x + k * inner;
      for (int64_t i = i0; i < i1; i++) {
        float v = row[i], m = out[i];
        if (op == CK_MAXR ? (v > m || v != v) : (v < m || v != v)) out[i] = (m != m) ? m : v;
      }
    }
  }
}

static void ck_reduce_task(void *ctx, int64_t b, int64_t e) {
  const ck_reduce_job *j = (const ck_reduce_job *)ctx;
  if (j->inner == 1) {
    for (int64_t o = b; o < e; o++) ck_reduce_inner1(j->op, j->x + o * j->r, j->r, j->out + o);
  } else {
    // tasks enumerate (outer, inner block of 1024)
    int64_t blocks = (j->inner + 1023) / 1024;
    for (int64_t t = b; t < e; t++) {
      int64_t o = t / blocks, blk = t % blocks;
      int64_t i0 = blk * 1024, i1 = i0 + 1024 < j->inner ? i0 + 1024 : j->inner;
      ck_reduce_strided(j->op, j->x + o * j->r * j->inner, j->r, j->inner, j->out + o * j->inner, i0, i1);
    }
  }
}

void ck_reduce(ck_reduce_op op, const float *x, float *out, int64_t outer, int64_t r, int64_t inner) {
  if (outer == 0 || inner == 0) return;
  if (r == 0) { // empty reduction: sum 0; max/min undefined -> NaN
    for (int64_t i = 0; i < outer * inner; i++) out[i] = op == CK_SUM ? 0.0f : NAN;
    return;
  }
  ck_reduce_job j = {x, out, 0, outer, r, inner, op};
  if (inner == 1) {
    int64_t grain = r >= CK_GRAIN ? 1 : CK_GRAIN / r;
    ck_parallel_for(outer, grain, ck_reduce_task, &j);
  } else {
    int64_t blocks = (inner + 1023) / 1024;
    int64_t per = r * (inner < 1024 ? inner : 1024);
    int64_t grain = per >= CK_GRAIN ? 1 : CK_GRAIN / per;
    ck_parallel_for(outer * blocks, grain, ck_reduce_task, &j);
  }
}

void ck_argmax(const float *x, int64_t *out, int64_t outer, int64_t r, int64_t inner, int take_min) {
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t i = 0; i < inner; i++) {
      const float *p = x + o * r * inner + i;
      int64_t best = 0;
      float m = p[0];
      for (int64_t k = 1; k < r; k++) {
        float v = p[k * inner];
        if (m != m) break; // first NaN wins
        if (v != v || (take_min ? v < m : v > m)) { m = v; best = k; }
      }
      out[o * inner + i] = best;
    }
  }
}

// ---------- softmax ----------

typedef struct {
  const float *x;
  float *y;
  int64_t cols;
  int log;
} ck_softmax_job;

static void ck_softmax_task(void *ctx, int64_t b, int64_t e) {
  const ck_softmax_job *j = (const ck_softmax_job *)ctx;
  for (int64_t row = b; row < e; row++) {
    const float *x = j->x + row * j->cols;
    float *y = j->y + row * j->cols;
    float m = x[0];
    for (int64_t k = 1; k < j->cols; k++) if (x[k] > m) m = x[k];
    double s = 0;
    for (int64_t k = 0; k < j->cols; k++) s += exp((double)(x[k] - m));
    if (j->log) {
      float ls = (float)log(s);
      for (int64_t k = 0; k < j->cols; k++) y[k] = (x[k] - m) - ls;
    } else {
      for (int64_t k = 0; k < j->cols; k++) y[k] = (float)(exp((double)(x[k] - m)) / s);
    }
  }
}

void ck_softmax(const float *x, float *y, int64_t rows, int64_t cols, int log_softmax) {
  if (cols == 0) return;
  ck_softmax_job j = {x, y, cols, log_softmax};
  int64_t grain = cols >= 4096 ? 1 : 4096 / cols;
  ck_parallel_for(rows, grain, ck_softmax_task, &j);
}
