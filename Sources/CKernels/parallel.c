// Parallel loops on the GNU OpenMP runtime (libgomp), the runtime Debian's oneDNN is built on, so
// our kernels and oneDNN's share one pool of threads instead of competing for the two cores.
// GOMP_parallel is the entry point GCC emits for `#pragma omp parallel`; calling it directly avoids
// compiler flags (-fopenmp) that SwiftPM would treat as unsafe.
#include "ckernels.h"

void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
int omp_get_max_threads(void);
void omp_set_num_threads(int);
int omp_in_parallel(void);

typedef struct {
  int64_t n, grain, chunks;
  ck_range_fn fn;
  void *ctx;
  int64_t next;  // claimed with __atomic_fetch_add
} ck_job;

static void ck_run_job(void *p) {
  ck_job *job = (ck_job *)p;
  // Threads claim fixed chunks in turn: chunk boundaries never depend on the thread count, and
  // which thread runs a chunk never changes a result (chunks write disjoint outputs, and
  // reductions combine per-chunk partials in chunk order). Claiming balances uneven chunks and
  // a thread that starts late.
  for (;;) {
    int64_t c = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED);
    if (c >= job->chunks) break;
    int64_t b = c * job->grain;
    int64_t e = b + job->grain < job->n ? b + job->grain : job->n;
    job->fn(job->ctx, b, e);
  }
}

void ck_parallel_for(int64_t n, int64_t grain, ck_range_fn fn, void *ctx) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t chunks = (n + grain - 1) / grain;
  if (chunks == 1 || omp_get_max_threads() == 1 || omp_in_parallel()) {
    for (int64_t c = 0; c < chunks; c++) {
      int64_t b = c * grain, e = b + grain < n ? b + grain : n;
      fn(ctx, b, e);
    }
    return;
  }
  ck_job job = {n, grain, chunks, fn, ctx, 0};
  int64_t threads = omp_get_max_threads();
  if (threads > chunks) threads = chunks;
  GOMP_parallel(ck_run_job, &job, (unsigned)threads, 0);
}

void ck_set_num_threads(int n) { omp_set_num_threads(n < 1 ? 1 : n); }
int ck_get_num_threads(void) { return omp_get_max_threads(); }
