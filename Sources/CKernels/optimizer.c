#include "common.h"

// Parameter updates (PyTorch semantics), elementwise and deterministic.

typedef struct {
  float *p, *buf, *buf2;
  const float *g;
  float lr, momentum, dampening, wd, beta1, beta2, eps, c1, c2;
  int nesterov, first, decoupled;
} ck_opt_job;

CK_CLONES
static void ck_sgd_range(const ck_opt_job *j, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; i++) {
    float d = j->g[i];
    if (j->wd != 0.0f) { float t = j->wd * j->p[i]; d = d + t; }
    if (j->momentum != 0.0f) {
      float v;
      if (j->first) v = d;
      else { float a = j->momentum * j->buf[i]; float c = (1.0f - j->dampening) * d; v = a + c; }
      j->buf[i] = v;
      if (j->nesterov) { float t = j->momentum * v; d = d + t; } else d = v;
    }
    float s = j->lr * d;
    j->p[i] = j->p[i] - s;
  }
}

static void ck_sgd_task(void *ctx, int64_t b, int64_t e) { ck_sgd_range((const ck_opt_job *)ctx, b, e); }

void ck_sgd_update(float *p, const float *g, float *buf, int64_t n, float lr, float momentum, float dampening,
                   float weight_decay, int nesterov, int first) {
  ck_opt_job j = {p, buf, 0, g, lr, momentum, dampening, weight_decay, 0, 0, 0, 0, 0, nesterov, first, 0};
  ck_parallel_for(n, CK_GRAIN, ck_sgd_task, &j);
}

CK_CLONES
static void ck_adam_range(const ck_opt_job *j, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; i++) {
    float d = j->g[i];
    float p = j->p[i];
    if (j->wd != 0.0f) {
      if (j->decoupled) { float t = j->lr * j->wd; t = t * p; p = p - t; }
      else { float t = j->wd * p; d = d + t; }
    }
    float m = j->beta1 * j->buf[i];
    float m2 = (1.0f - j->beta1) * d;
    m = m + m2;
    float v = j->beta2 * j->buf2[i];
    float v2 = (1.0f - j->beta2) * d;
    v2 = v2 * d;
    v = v + v2;
    j->buf[i] = m;
    j->buf2[i] = v;
    // p -= lr * (m / c1) / (sqrt(v / c2) + eps)
    float mh = m / j->c1;
    float denom = sqrtf(v / j->c2) + j->eps;
    float s = j->lr * mh;
    j->p[i] = p - s / denom;
  }
}

static void ck_adam_task(void *ctx, int64_t b, int64_t e) { ck_adam_range((const ck_opt_job *)ctx, b, e); }

void ck_adam_update(float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, int decoupled, int64_t step) {
  float c1 = 1.0f - powf(beta1, (float)step), c2 = 1.0f - powf(beta2, (float)step);
  ck_opt_job j = {p, m, v, g, lr, 0, 0, weight_decay, beta1, beta2, eps, c1, c2, 0, 0, decoupled};
  ck_parallel_for(n, CK_GRAIN, ck_adam_task, &j);
}
