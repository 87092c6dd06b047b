#include "common.h"

// ---------- binary ops with broadcasting ----------

#define CK_BINARY_CASES(X) \
  X(CK_ADD, a + b) X(CK_SUB, a - b) X(CK_MUL, a * b) X(CK_DIV, a / b) \
  X(CK_MAX, (a > b || a != a) ? a : b) X(CK_MIN, (a < b || a != a) ? a : b) \
  X(CK_EQ, a == b ? 1.0f : 0.0f) X(CK_NE, a != b ? 1.0f : 0.0f) X(CK_LT, a < b ? 1.0f : 0.0f) \
  X(CK_LE, a <= b ? 1.0f : 0.0f) X(CK_GT, a > b ? 1.0f : 0.0f) X(CK_GE, a >= b ? 1.0f : 0.0f) \
  X(CK_POW, powf(a, b))

// One inner row: n elements with strides sa, sb (each 0 or 1 in the fast paths).
#define CK_ROW(OP, EXPR)                                                                  \
  case OP:                                                                                \
    if (sa == 1 && sb == 1) { for (int64_t i = 0; i < n; i++) { float a = pa[i], b = pb[i]; o[i] = (EXPR); } } \
    else if (sa == 1 && sb == 0) { float b = pb[0]; for (int64_t i = 0; i < n; i++) { float a = pa[i]; o[i] = (EXPR); } } \
    else if (sa == 0 && sb == 1) { float a = pa[0]; for (int64_t i = 0; i < n; i++) { float b = pb[i]; o[i] = (EXPR); } } \
    else { for (int64_t i = 0; i < n; i++) { float a = pa[i * sa], b = pb[i * sb]; o[i] = (EXPR); } } \
    break;

CK_CLONES
static void ck_binary_row(ck_binary_op op, float *o, const float *pa, int64_t sa, const float *pb, int64_t sb, int64_t n) {
  switch (op) { CK_BINARY_CASES(CK_ROW) }
}

typedef struct {
  int ndim;
  const int64_t *shape;
  const int64_t *strides[3];
  const float *src[3];
  float *out;
  int64_t inner, blocks; // inner row length and blocks per row
  int op;
} ck_nd_job;

// Offsets of outer row `row` (all dims but the last) for each operand.
static void ck_row_offsets(const ck_nd_job *j, int64_t row, int nops, int64_t *off) {
  for (int k = 0; k < nops; k++) off[k] = 0;
  for (int d = j->ndim - 2; d >= 0; d--) {
    int64_t idx = row % j->shape[d];
    row /= j->shape[d];
    for (int k = 0; k < nops; k++) off[k] += idx * j->strides[k][d];
  }
}

static void ck_binary_task(void *ctx, int64_t begin, int64_t end) {
  const ck_nd_job *j = (const ck_nd_job *)ctx;
  int last = j->ndim - 1;
  for (int64_t t = begin; t < end; t++) {
    int64_t row = t / j->blocks, blk = t % j->blocks;
    int64_t off[2];
    ck_row_offsets(j, row, 2, off);
    int64_t i0 = blk * CK_GRAIN, n = j->inner - i0 < CK_GRAIN ? j->inner - i0 : CK_GRAIN;
    int64_t sa = j->strides[0][last], sb = j->strides[1][last];
    ck_binary_row((ck_binary_op)j->op, j->out + row * j->inner + i0, j->src[0] + off[0] + i0 * sa, sa,
                  j->src[1] + off[1] + i0 * sb, sb, n);
  }
}

static int64_t ck_rows(int ndim, const int64_t *shape) {
  int64_t r = 1;
  for (int d = 0; d < ndim - 1; d++) r *= shape[d];
  return r;
}

void ck_binary(ck_binary_op op, int ndim, const int64_t *shape, float *out,
               const float *a, const int64_t *astrides, const float *b, const int64_t *bstrides) {
  if (ndim == 0) { // scalars
    int64_t one = 1, zero = 0;
    ck_binary(op, 1, &one, out, a, &zero, b, &zero);
    return;
  }
  ck_nd_job j = {ndim, shape, {astrides, bstrides, 0}, {a, b, 0}, out, shape[ndim - 1], 0, op};
  j.blocks = (j.inner + CK_GRAIN - 1) / CK_GRAIN;
  if (j.inner == 0) return;
  int64_t tasks = ck_rows(ndim, shape) * j.blocks;
  int64_t grain = j.inner >= CK_GRAIN ? 1 : (CK_GRAIN + j.inner - 1) / j.inner;
  ck_parallel_for(tasks, grain, ck_binary_task, &j);
}

// ---------- select ----------

CK_CLONES
static void ck_select_row(float *o, const float *pc, int64_t sc, const float *pa, int64_t sa,
                          const float *pb, int64_t sb, int64_t n) {
  for (int64_t i = 0; i < n; i++) o[i] = pc[i * sc] != 0.0f ? pa[i * sa] : pb[i * sb];
}

static void ck_select_task(void *ctx, int64_t begin, int64_t end) {
  const ck_nd_job *j = (const ck_nd_job *)ctx;
  int last = j->ndim - 1;
  for (int64_t t = begin; t < end; t++) {
    int64_t row = t / j->blocks, blk = t % j->blocks;
    int64_t off[3];
    ck_row_offsets(j, row, 3, off);
    int64_t i0 = blk * CK_GRAIN, n = j->inner - i0 < CK_GRAIN ? j->inner - i0 : CK_GRAIN;
    int64_t sc = j->strides[0][last], sa = j->strides[1][last], sb = j->strides[2][last];
    ck_select_row(j->out + row * j->inner + i0, j->src[0] + off[0] + i0 * sc, sc,
                  j->src[1] + off[1] + i0 * sa, sa, j->src[2] + off[2] + i0 * sb, sb, n);
  }
}

void ck_select(int ndim, const int64_t *shape, float *out, const float *cond, const int64_t *cstrides,
               const float *a, const int64_t *astrides, const float *b, const int64_t *bstrides) {
  if (ndim == 0) {
    out[0] = cond[0] != 0.0f ? a[0] : b[0];
    return;
  }
  ck_nd_job j = {ndim, shape, {cstrides, astrides, bstrides}, {cond, a, b}, out, shape[ndim - 1], 0, 0};
  if (j.inner == 0) return;
  j.blocks = (j.inner + CK_GRAIN - 1) / CK_GRAIN;
  int64_t tasks = ck_rows(ndim, shape) * j.blocks;
  int64_t grain = j.inner >= CK_GRAIN ? 1 : (CK_GRAIN + j.inner - 1) / j.inner;
  ck_parallel_for(tasks, grain, ck_select_task, &j);
}

// ---------- unary ops ----------

typedef struct {
  const float *x;
  float *y;
  float p0, p1, p2, p3, p4;
  int mode;
} ck_map_job;

CK_CLONES
static void ck_unary_range(ck_unary_op op, const float *x, float *y, int64_t n) {
  switch (op) {
  case CK_NEG: for (int64_t i = 0; i < n; i++) y[i] = -x[i]; break;
  case CK_ABS: for (int64_t i = 0; i < n; i++) y[i] = fabsf(x[i]); break;
  case CK_EXP: for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]); break;
  case CK_LOG: for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]); break;
  case CK_SQRT: for (int64_t i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
  case CK_TANH: for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]); break;
  case CK_SIGMOID:
    for (int64_t i = 0; i < n; i++) {
      float v = x[i];
      // stable in both tails
      y[i] = v >= 0 ? 1.0f / (1.0f + expf(-v)) : expf(v) / (1.0f + expf(v));
    }
    break;
  case CK_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f; break;
  case CK_SQUARE: for (int64_t i = 0; i < n; i++) y[i] = x[i] * x[i]; break;
  case CK_RECIPROCAL: for (int64_t i = 0; i < n; i++) y[i] = 1.0f / x[i]; break;
  case CK_RSQRT: for (int64_t i = 0; i < n; i++) y[i] = 1.0f / sqrtf(x[i]); break;
  case CK_SIGN: for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? 1.0f : (x[i] < 0.0f ? -1.0f : 0.0f); break;
  case CK_STEP: for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? 1.0f : 0.0f; break;
  }
}

static void ck_unary_task(void *ctx, int64_t b, int64_t e) {
  const ck_map_job *j = (const ck_map_job *)ctx;
  ck_unary_range((ck_unary_op)j->mode, j->x + b, j->y + b, e - b);
}

void ck_unary(ck_unary_op op, const float *x, float *y, int64_t n) {
  ck_map_job j = {x, y, 0, 0, 0, 0, 0, op};
  ck_parallel_for(n, CK_GRAIN, ck_unary_task, &j);
}

#define CK_ROUND_LOOP(RULE) \
  case RULE: for (int64_t i = 0; i < n; i++) y[i] = ck_round_f32(x[i], RULE); break;

CK_CLONES
static void ck_round_range(const float *x, float *y, int64_t n, ck_rounding rule) {
  switch (rule) {
    CK_ROUND_LOOP(CK_ROUND_HALF_EVEN) CK_ROUND_LOOP(CK_ROUND_HALF_UP) CK_ROUND_LOOP(CK_ROUND_HALF_AWAY)
    CK_ROUND_LOOP(CK_ROUND_FLOOR) CK_ROUND_LOOP(CK_ROUND_CEIL) CK_ROUND_LOOP(CK_ROUND_TOWARD_ZERO)
  }
}

static void ck_round_task(void *ctx, int64_t b, int64_t e) {
  const ck_map_job *j = (const ck_map_job *)ctx;
  ck_round_range(j->x + b, j->y + b, e - b, (ck_rounding)j->mode);
}

void ck_round(const float *x, float *y, int64_t n, ck_rounding rule) {
  ck_map_job j = {x, y, 0, 0, 0, 0, 0, rule};
  ck_parallel_for(n, CK_GRAIN, ck_round_task, &j);
}

CK_CLONES
static void ck_map_range(const ck_map_job *j, int64_t b, int64_t e) {
  const float *x = j->x;
  float *y = j->y;
  float p0 = j->p0, p1 = j->p1;
  switch (j->mode) {
  case 0: for (int64_t i = b; i < e; i++) { float v = x[i]; v = v < p0 ? p0 : v; y[i] = v > p1 ? p1 : v; } break;
  case 1: for (int64_t i = b; i < e; i++) { float v = x[i] * p0; y[i] = v + p1; } break;
  case 2: for (int64_t i = b; i < e; i++) { float v = x[i] * p0; y[i] = y[i] + v; } break;
  case 3: for (int64_t i = b; i < e; i++) y[i] = p0; break;
  case 4: for (int64_t i = b; i < e; i++) y[i] = (x[i] >= p0 && x[i] <= p1) ? 1.0f : 0.0f; break;
  }
}

static void ck_map_task(void *ctx, int64_t b, int64_t e) { ck_map_range((const ck_map_job *)ctx, b, e); }

void ck_clamp(const float *x, float *y, int64_t n, float lo, float hi) {
  ck_map_job j = {x, y, lo, hi, 0, 0, 0, 0};
  ck_parallel_for(n, CK_GRAIN, ck_map_task, &j);
}

void ck_scale_shift(const float *x, float *y, int64_t n, float a, float b) {
  ck_map_job j = {x, y, a, b, 0, 0, 0, 1};
  ck_parallel_for(n, CK_GRAIN, ck_map_task, &j);
}

void ck_axpy(float a, const float *x, float *y, int64_t n) {
  ck_map_job j = {x, y, a, 0, 0, 0, 0, 2};
  ck_parallel_for(n, CK_GRAIN, ck_map_task, &j);
}

void ck_fill(float *y, int64_t n, float v) {
  ck_map_job j = {0, y, v, 0, 0, 0, 0, 3};
  ck_parallel_for(n, CK_GRAIN, ck_map_task, &j);
}

void ck_in_range_mask(const float *x, float *y, int64_t n, float lo, float hi) {
  ck_map_job j = {x, y, lo, hi, 0, 0, 0, 4};
  ck_parallel_for(n, CK_GRAIN, ck_map_task, &j);
}

// ---------- y = relu(a + b) (a residual sum and the ReLU after it, one pass) ----------

typedef struct {
  const float *a, *b;
  float *y;
} ck_pair_job;

CK_CLONES
static void ck_add_relu_range(const float *a, const float *b, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) { float v = a[i] + b[i]; y[i] = v > 0.0f ? v : 0.0f; }
}

static void ck_add_relu_task(void *ctx, int64_t b, int64_t e) {
  const ck_pair_job *j = (const ck_pair_job *)ctx;
  ck_add_relu_range(j->a + b, j->b + b, j->y + b, e - b);
}

void ck_add_relu(const float *a, const float *b, float *y, int64_t n) {
  ck_pair_job j = {a, b, y};
  ck_parallel_for(n, CK_GRAIN, ck_add_relu_task, &j);
}
