#include <oneapi/dnnl/dnnl.h>
// oneDNN from Debian runs on the GNU OpenMP runtime; its thread count is set through libgomp.
// omp.h lives in GCC's private include directory, so the one function we need is declared here.
void omp_set_num_threads(int num_threads);
int omp_get_max_threads(void);
